//! Per-namespace settings kept at the cell: custom search attributes and
//! archival, through the REST API and a real gRPC client against the fake
//! cell (which checks as the cell does and answers with its messages).
mod common;

use common::{Backend, Client, TestApp};
use serde_json::{Value, json};

on_both!(
    search_attributes_round_trip_through_the_cell,
    readers_list_but_only_admins_change,
    another_account_sees_nothing,
    duplicates_and_bad_input_are_refused_naming_the_field,
    archival_is_switched_at_the_cell_and_read_back,
    changes_are_audited,
    an_unavailable_cell_is_a_problem_not_a_500,
);

/// Signs up, creates namespace `orders` and returns its id.
async fn namespace(client: &Client<'_>) -> String {
    let res = client
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await;
    res.ok(201)["id"].as_str().unwrap().to_owned()
}

fn sa_path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/search-attributes")
}

async fn search_attributes_round_trip_through_the_cell(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    assert_eq!(owner.get(&sa_path(&ns)).await.ok(200), &json!([]));
    for (name, ty) in [
        ("CustomerId", "Keyword"),
        ("Amount", "Double"),
        ("Tags", "KeywordList"),
        ("Notes", "Text"),
        ("Due", "Datetime"),
        ("Priority", "Int"),
        ("Vip", "Bool"),
    ] {
        let res = owner
            .post(&sa_path(&ns), json!({"name": name, "type": ty}))
            .await;
        assert_eq!(res.ok(201), &json!({"name": name, "type": ty}));
    }
    // The cell holds them with Temporal's IndexedValueType numbers.
    let at_cell = app.cell.search_attributes(&ns);
    assert_eq!(at_cell["Notes"], 1);
    assert_eq!(at_cell["CustomerId"], 2);
    assert_eq!(at_cell["Priority"], 3);
    assert_eq!(at_cell["Amount"], 4);
    assert_eq!(at_cell["Vip"], 5);
    assert_eq!(at_cell["Due"], 6);
    assert_eq!(at_cell["Tags"], 7);
    // Custom ones only (the cell lists system attributes too), by name.
    let list = owner.get(&sa_path(&ns)).await;
    let names: Vec<&str> = (list.ok(200).as_array().unwrap().iter())
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Amount",
            "CustomerId",
            "Due",
            "Notes",
            "Priority",
            "Tags",
            "Vip"
        ]
    );
    assert_eq!(
        list.body[1],
        json!({"name": "CustomerId", "type": "Keyword"})
    );

    let res = owner.delete(&format!("{}/CustomerId", sa_path(&ns))).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(!app.cell.search_attributes(&ns).contains_key("CustomerId"));
    let list = owner.get(&sa_path(&ns)).await;
    assert_eq!(list.ok(200).as_array().unwrap().len(), 6);
    // Gone now, and system attributes were never custom ones.
    for name in ["CustomerId", "WorkflowId", "Nothing"] {
        owner
            .delete(&format!("{}/{name}", sa_path(&ns)))
            .await
            .problem(404);
    }
    // A removed name can be added again, with another type.
    owner
        .post(&sa_path(&ns), json!({"name": "CustomerId", "type": "Int"}))
        .await
        .ok(201);
    assert_eq!(app.cell.search_attributes(&ns)["CustomerId"], 3);
    // Calls carry the control plane's signed token, as every cell call.
    let auth = app.cell.state.authorization.lock().unwrap().clone();
    assert!(auth.iter().all(|a| a.starts_with("Bearer ")));
}

async fn readers_list_but_only_admins_change(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    owner
        .post(
            &sa_path(&ns),
            json!({"name": "CustomerId", "type": "Keyword"}),
        )
        .await
        .ok(201);
    let (reader, _) = app.invite(&owner, "r@example.com", "read").await;
    let list = reader.get(&sa_path(&ns)).await;
    assert_eq!(list.ok(200)[0]["name"], "CustomerId");
    let denied = reader
        .post(&sa_path(&ns), json!({"name": "Other", "type": "Keyword"}))
        .await;
    assert!(
        denied.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("admin")
    );
    reader
        .delete(&format!("{}/CustomerId", sa_path(&ns)))
        .await
        .problem(403);
    // Refused before the body is looked at: no hint of what it should be.
    reader.post(&sa_path(&ns), json!({})).await.problem(403);
    reader
        .put(&format!("/api/v1/namespaces/{ns}/archival"), json!({}))
        .await
        .problem(403);
    reader
        .put(
            &format!("/api/v1/namespaces/{ns}/archival"),
            json!({"history": true, "visibility": true}),
        )
        .await
        .problem(403);
    assert_eq!(
        reader
            .get(&format!("/api/v1/namespaces/{ns}/archival"))
            .await
            .ok(200),
        &json!({"history": false, "visibility": false})
    );
    // Nothing reached the cell.
    assert_eq!(app.cell.search_attributes(&ns).len(), 1);
    assert_eq!(app.cell.archival(&ns), (1, 1));
    // A developer holding the namespace's read grant is no admin either;
    // with the admin grant they are.
    let (dev, dev_id) = app.invite(&owner, "d@example.com", "developer").await;
    let grant = |permission: &'static str| {
        let owner = &owner;
        let path = format!("/api/v1/namespaces/{ns}/permissions/user:{dev_id}");
        async move {
            owner
                .put(&path, json!({"permission": permission}))
                .await
                .ok(200);
        }
    };
    grant("read").await;
    dev.post(&sa_path(&ns), json!({"name": "Other", "type": "Keyword"}))
        .await
        .problem(403);
    grant("admin").await;
    dev.post(&sa_path(&ns), json!({"name": "Other", "type": "Keyword"}))
        .await
        .ok(201);
}

async fn another_account_sees_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    owner
        .post(
            &sa_path(&ns),
            json!({"name": "CustomerId", "type": "Keyword"}),
        )
        .await
        .ok(201);
    let (other, _) = app.signup("x@example.com").await;
    other.get(&sa_path(&ns)).await.problem(404);
    other
        .post(&sa_path(&ns), json!({"name": "Mine", "type": "Keyword"}))
        .await
        .problem(404);
    other.post(&sa_path(&ns), json!({})).await.problem(404);
    other
        .delete(&format!("{}/CustomerId", sa_path(&ns)))
        .await
        .problem(404);
    other
        .get(&format!("/api/v1/namespaces/{ns}/archival"))
        .await
        .problem(404);
    other
        .put(
            &format!("/api/v1/namespaces/{ns}/archival"),
            json!({"history": true, "visibility": false}),
        )
        .await
        .problem(404);
    assert_eq!(
        app.cell.search_attributes(&ns).keys().collect::<Vec<_>>(),
        ["CustomerId"]
    );
    assert_eq!(app.cell.archival(&ns), (1, 1));
}

async fn duplicates_and_bad_input_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    let add = |name: Value, ty: Value| {
        let owner = &owner;
        let path = sa_path(&ns);
        async move { owner.post(&path, json!({"name": name, "type": ty})).await }
    };
    add(json!("CustomerId"), json!("Keyword")).await.ok(201);
    // The cell would keep the first silently: the control plane says so.
    for ty in ["Keyword", "Int"] {
        let dup = add(json!("CustomerId"), json!(ty)).await;
        assert!(
            dup.problem(409)["detail"]
                .as_str()
                .unwrap()
                .contains("CustomerId")
        );
    }
    assert_eq!(app.cell.search_attributes(&ns)["CustomerId"], 2);
    // Checked here: empty, reserved, too long, control characters.
    for bad in ["", "   ", "TemporalChangeVersion", "Memo", "a\nb"] {
        assert_eq!(
            add(json!(bad), json!("Keyword")).await.fields(),
            ["name"],
            "{bad:?}"
        );
    }
    assert_eq!(
        add(json!("x".repeat(257)), json!("Keyword")).await.fields(),
        ["name"]
    );
    // Refused by the cell (a system attribute's name): still 422 on name.
    let system = add(json!("WorkflowId"), json!("Keyword")).await;
    assert_eq!(system.fields(), ["name"]);
    assert!(
        system.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("reserved")
    );
    // Types are Temporal's names, nothing else.
    for ty in [json!("Float"), json!("keyword"), json!(2), json!(null)] {
        assert_eq!(
            add(json!("Ok"), ty.clone()).await.fields(),
            ["type"],
            "{ty}"
        );
    }
    assert_eq!(
        owner
            .post(
                &sa_path(&ns),
                json!({"name": "A", "type": "Int", "extra": 1})
            )
            .await
            .fields(),
        ["extra"]
    );
    // A type's per-namespace limit (5 Text): the sixth is a quota on type.
    for i in 0..5 {
        add(json!(format!("Text{i}")), json!("Text")).await.ok(201);
    }
    let sixth = add(json!("Text5"), json!("Text")).await;
    assert_eq!(sixth.fields(), ["type"]);
    assert_eq!(sixth.body["type"], "urn:orrery:problem:quota-exceeded");
    assert!(!app.cell.search_attributes(&ns).contains_key("Text5"));
    // The archival body is checked too.
    let path = format!("/api/v1/namespaces/{ns}/archival");
    assert_eq!(
        owner
            .put(&path, json!({"history": "yes", "visibility": true}))
            .await
            .fields(),
        ["history"]
    );
    assert_eq!(
        owner.put(&path, json!({"history": true})).await.fields(),
        ["visibility"]
    );
}

async fn archival_is_switched_at_the_cell_and_read_back(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    let path = format!("/api/v1/namespaces/{ns}/archival");
    assert_eq!(
        owner.get(&path).await.ok(200),
        &json!({"history": false, "visibility": false})
    );
    let (enabled, disabled) = (2, 1);
    for (history, visibility) in [(true, false), (true, true), (false, true), (false, false)] {
        let body = json!({"history": history, "visibility": visibility});
        assert_eq!(owner.put(&path, body.clone()).await.ok(200), &body);
        let state = |on: bool| if on { enabled } else { disabled };
        assert_eq!(app.cell.archival(&ns), (state(history), state(visibility)));
        assert_eq!(owner.get(&path).await.ok(200), &body);
    }
    // Retention is untouched by an archival change.
    assert_eq!(app.cell.namespaces()[&ns], 30 * 86_400);
    // A cell without an archive refuses to turn it on: 422 on the field.
    app.cell
        .state
        .no_archive
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = owner
        .put(&path, json!({"history": false, "visibility": true}))
        .await;
    assert_eq!(refused.fields(), ["visibility"]);
    let refused = owner
        .put(&path, json!({"history": true, "visibility": true}))
        .await;
    assert_eq!(refused.fields(), ["history"]);
    // The cell's words name the operator's archive: the tenant never sees them.
    let text = refused.body.to_string();
    assert!(text.contains("archiving is not available"), "{text}");
    assert!(!text.contains("HistoryArchival"), "{text}");
    assert_eq!(app.cell.archival(&ns), (disabled, disabled));
    owner
        .put(&path, json!({"history": false, "visibility": false}))
        .await
        .ok(200);
}

async fn audit_entries(owner: &Client<'_>) -> Vec<Value> {
    owner.get("/api/v1/audit-log?limit=200").await.ok(200)["entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn changes_are_audited(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    owner
        .post(
            &sa_path(&ns),
            json!({"name": "CustomerId", "type": "Keyword"}),
        )
        .await
        .ok(201);
    owner
        .post(
            &sa_path(&ns),
            json!({"name": "CustomerId", "type": "Keyword"}),
        )
        .await
        .problem(409);
    owner.delete(&format!("{}/CustomerId", sa_path(&ns))).await;
    owner
        .put(
            &format!("/api/v1/namespaces/{ns}/archival"),
            json!({"history": true, "visibility": false}),
        )
        .await
        .ok(200);
    // Reads are not audited.
    owner.get(&sa_path(&ns)).await.ok(200);
    let entries = audit_entries(&owner).await;
    let ours: Vec<(&str, &str, &str)> = entries
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("namespace."))
        .filter(|e| e["action"] != "namespace.create")
        .map(|e| {
            assert_eq!(e["target"], format!("namespace:{ns}"));
            assert!(e["actor"].as_str().unwrap().starts_with("user:"));
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(ours.len(), 4, "{ours:?}");
    assert_eq!(
        ours[0],
        (
            "namespace.archival.update",
            "success",
            "history on, visibility off"
        )
    );
    assert_eq!(
        ours[1],
        ("namespace.search_attribute.remove", "success", "CustomerId")
    );
    assert_eq!(ours[2].0, "namespace.search_attribute.add");
    assert_eq!(ours[2].1, "failure: conflict");
    assert_eq!(
        ours[3],
        (
            "namespace.search_attribute.add",
            "success",
            "CustomerId Keyword"
        )
    );
}

async fn an_unavailable_cell_is_a_problem_not_a_500(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner).await;
    app.cell.set_failing(true);
    let archival = format!("/api/v1/namespaces/{ns}/archival");
    let answers = [
        owner.get(&sa_path(&ns)).await,
        owner
            .post(
                &sa_path(&ns),
                json!({"name": "CustomerId", "type": "Keyword"}),
            )
            .await,
        owner.delete(&format!("{}/CustomerId", sa_path(&ns))).await,
        owner.get(&archival).await,
        owner
            .put(&archival, json!({"history": true, "visibility": true}))
            .await,
    ];
    for res in &answers {
        let problem = res.problem(502);
        assert_eq!(problem["type"], "urn:orrery:problem:cell-unavailable");
        // Nothing of the cell (its name, address or message) leaks.
        let text = problem.to_string();
        assert!(!text.contains("cell-a") && !text.contains("down"), "{text}");
    }
    app.cell.set_failing(false);
    owner.get(&sa_path(&ns)).await.ok(200);
}
