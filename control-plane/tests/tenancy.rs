//! Account roles, isolation between accounts, namespace permissions,
//! service accounts and the audit log.
mod common;

use common::{Backend, Client, TestApp};
use orrery_tenant_auth::{Permission, Principal, Snapshot};
use serde_json::json;

on_both!(
    roles_are_enforced,
    developers_administer_what_they_create,
    another_accounts_ids_answer_404,
    permissions_are_granted_to_own_principals_only,
    owner_role_is_guarded,
    removing_a_user_removes_their_access,
    audit_log_records_who_did_what,
);

async fn namespace(owner: &Client<'_>, name: &str) -> String {
    owner
        .post("/api/v1/namespaces", json!({"name": name}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn snapshot(app: &TestApp) -> Snapshot {
    app.verify_snapshot(app.snapshot(None).await.ok(200))
}

async fn roles_are_enforced(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let ns = namespace(&owner, "orders").await;
    let (admin, _) = app.invite(&owner, "admin@example.com", "admin").await;
    let (read, _) = app.invite(&owner, "read@example.com", "read").await;
    let (finance, _) = app.invite(&owner, "fin@example.com", "finance_admin").await;
    let ns_path = format!("/api/v1/namespaces/{ns}");

    // read: reads account data, changes nothing.
    read.get("/api/v1/namespaces").await.ok(200);
    read.get(&ns_path).await.ok(200);
    read.get("/api/v1/users").await.ok(200);
    read.post("/api/v1/namespaces", json!({"name": "mine"}))
        .await
        .problem(403);
    read.patch(&ns_path, json!({"retention_days": 3}))
        .await
        .problem(403);
    read.delete(&ns_path).await.problem(403);
    read.post(
        "/api/v1/users",
        json!({"email": "x@example.com", "role": "read"}),
    )
    .await
    .problem(403);
    read.post("/api/v1/service-accounts", json!({"name": "s"}))
        .await
        .problem(403);
    read.get("/api/v1/audit-log").await.problem(403);
    // …but its own API keys, yes.
    read.post("/api/v1/api-keys", json!({"name": "k", "expiry_days": 1}))
        .await
        .ok(201);

    // finance_admin: no account data beyond the account itself.
    finance.get("/api/v1/account").await.ok(200);
    finance.get("/api/v1/me").await.ok(200);
    finance.get("/api/v1/namespaces").await.problem(403);
    finance.get(&ns_path).await.problem(403);
    finance.get("/api/v1/users").await.problem(403);
    finance.get("/api/v1/service-accounts").await.problem(403);

    // admin: everything but the owner role.
    admin
        .patch(&ns_path, json!({"retention_days": 3}))
        .await
        .ok(200);
    admin.get("/api/v1/audit-log").await.ok(200);
    admin
        .post(
            "/api/v1/users",
            json!({"email": "y@example.com", "role": "developer"}),
        )
        .await
        .ok(201);
    admin
        .post(
            "/api/v1/users",
            json!({"email": "z@example.com", "role": "owner"}),
        )
        .await
        .problem(403);
    assert_eq!(app.cell.namespaces()[&ns], 3 * 86_400);

    // In the snapshot, owners and admins are namespace admins; the others hold nothing.
    let snap = snapshot(&app).await;
    let grants = &snap.namespaces[0].grants;
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(grants.iter().all(|g| g.permission == Permission::Admin));
}

async fn developers_administer_what_they_create(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let theirs = namespace(&owner, "owners").await;
    let (dev, dev_id) = app.invite(&owner, "dev@example.com", "developer").await;
    let mine = namespace(&dev, "devs").await;
    dev.patch(
        &format!("/api/v1/namespaces/{mine}"),
        json!({"retention_days": 5}),
    )
    .await
    .ok(200);
    dev.patch(
        &format!("/api/v1/namespaces/{theirs}"),
        json!({"retention_days": 5}),
    )
    .await
    .problem(403);
    dev.delete(&format!("/api/v1/namespaces/{theirs}"))
        .await
        .problem(403);
    let perms = dev
        .get(&format!("/api/v1/namespaces/{mine}/permissions"))
        .await;
    assert_eq!(perms.ok(200)[0]["principal"], format!("user:{dev_id}"));
    assert_eq!(perms.body[0]["permission"], "admin");
    let snap = snapshot(&app).await;
    let dev_principal = Principal::User(dev_id);
    let auth = orrery_tenant_auth::Authorizer::new(snap);
    assert_eq!(
        auth.namespace_permission(&dev_principal, &mine),
        Some(Permission::Admin)
    );
    assert_eq!(auth.namespace_permission(&dev_principal, &theirs), None);
    // A namespace admin may grant on their namespace.
    let (read, read_id) = app.invite(&owner, "read@example.com", "read").await;
    dev.put(
        &format!("/api/v1/namespaces/{mine}/permissions/user:{read_id}"),
        json!({"permission": "write"}),
    )
    .await
    .ok(200);
    // Write is not admin: the read user still cannot change the namespace.
    read.patch(
        &format!("/api/v1/namespaces/{mine}"),
        json!({"retention_days": 9}),
    )
    .await
    .problem(403);
}

async fn another_accounts_ids_answer_404(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (a, _) = app.signup("a@example.com").await;
    let (b, b_account) = app.signup("b@example.com").await;
    let b_user = b_account["user"]["id"].as_str().unwrap().to_owned();
    let b_ns = namespace(&b, "secret").await;
    let b_key = b
        .post("/api/v1/api-keys", json!({"name": "k", "expiry_days": 1}))
        .await
        .ok(201)["api_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_sa = b
        .post("/api/v1/service-accounts", json!({"name": "s"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = uuid::Uuid::new_v4().to_string();
    for (resource, id) in [
        ("users", &b_user),
        ("api-keys", &b_key),
        ("service-accounts", &b_sa),
        ("namespaces", &b_ns),
    ] {
        let path = format!("/api/v1/{resource}/{id}");
        let foreign = a.get(&path).await;
        let absent = a.get(&format!("/api/v1/{resource}/{missing}")).await;
        assert_eq!(
            foreign.problem(404),
            absent.problem(404),
            "{resource}: no existence leak"
        );
        a.delete(&path).await.problem(404);
    }
    a.patch(&format!("/api/v1/users/{b_user}"), json!({"role": "read"}))
        .await
        .problem(404);
    a.patch(
        &format!("/api/v1/namespaces/{b_ns}"),
        json!({"retention_days": 1}),
    )
    .await
    .problem(404);
    a.post(&format!("/api/v1/api-keys/{b_key}/disable"), json!({}))
        .await
        .problem(404);
    a.get(&format!("/api/v1/namespaces/{b_ns}/permissions"))
        .await
        .problem(404);
    a.get(&format!("/api/v1/namespaces/{b_ns}/mtls"))
        .await
        .problem(404);
    a.post(
        &format!("/api/v1/namespaces/{b_ns}/mtls/generated-ca"),
        json!({}),
    )
    .await
    .problem(404);
    // Nor can A mint a key for B's service account.
    let res = a
        .post(
            "/api/v1/api-keys",
            json!({"name": "x", "expiry_days": 1, "owner": format!("service-account:{b_sa}")}),
        )
        .await;
    assert_eq!(res.fields(), ["owner"]);
    // Everything of B's is intact.
    b.get(&format!("/api/v1/users/{b_user}")).await.ok(200);
    assert_eq!(
        b.get(&format!("/api/v1/api-keys/{b_key}")).await.ok(200)["enabled"],
        true
    );
    b.get(&format!("/api/v1/namespaces/{b_ns}")).await.ok(200);
    assert!(
        a.get("/api/v1/namespaces")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.get("/api/v1/users")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn permissions_are_granted_to_own_principals_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (a, _) = app.signup("a@example.com").await;
    let (_b, b_account) = app.signup("b@example.com").await;
    let b_user = b_account["user"]["id"].as_str().unwrap().to_owned();
    let ns = namespace(&a, "orders").await;
    let base = format!("/api/v1/namespaces/{ns}/permissions");
    let res = a
        .put(
            &format!("{base}/user:{b_user}"),
            json!({"permission": "read"}),
        )
        .await;
    assert_eq!(res.fields(), ["principal"]);
    let res = a
        .put(&format!("{base}/root"), json!({"permission": "read"}))
        .await;
    assert_eq!(res.fields(), ["principal"]);
    let sa = a
        .post("/api/v1/service-accounts", json!({"name": "s"}))
        .await
        .ok(201)["principal"]
        .as_str()
        .unwrap()
        .to_owned();
    a.put(&format!("{base}/{sa}"), json!({"permission": "superuser"}))
        .await
        .problem(422);
    a.put(&format!("{base}/{sa}"), json!({"permission": "read"}))
        .await
        .ok(200);
    a.put(&format!("{base}/{sa}"), json!({"permission": "write"}))
        .await
        .ok(200);
    let listed = a.get(&base).await;
    assert_eq!(listed.ok(200).as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["permission"], "write");
    let snap = snapshot(&app).await;
    let grant = snap.namespaces[0]
        .grants
        .iter()
        .find(|g| g.principal.to_string() == sa)
        .unwrap();
    assert_eq!(grant.permission, Permission::Write);
    a.delete(&format!("{base}/{sa}")).await.ok(204);
    a.delete(&format!("{base}/{sa}")).await.problem(404);
    let snap = snapshot(&app).await;
    assert!(
        snap.namespaces[0]
            .grants
            .iter()
            .all(|g| g.principal.to_string() != sa)
    );
}

async fn owner_role_is_guarded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, account) = app.signup("o@example.com").await;
    let owner_id = account["user"]["id"].as_str().unwrap().to_owned();
    let (admin, admin_id) = app.invite(&owner, "admin@example.com", "admin").await;
    admin
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            json!({"role": "read"}),
        )
        .await
        .problem(403);
    admin
        .delete(&format!("/api/v1/users/{owner_id}"))
        .await
        .problem(403);
    admin
        .patch(
            &format!("/api/v1/users/{admin_id}"),
            json!({"role": "owner"}),
        )
        .await
        .problem(403);
    // The last owner stays an owner.
    owner
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            json!({"role": "admin"}),
        )
        .await
        .problem(409);
    owner
        .delete(&format!("/api/v1/users/{owner_id}"))
        .await
        .problem(409);
    owner
        .patch(
            &format!("/api/v1/users/{admin_id}"),
            json!({"role": "owner"}),
        )
        .await
        .ok(200);
    owner
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            json!({"role": "admin"}),
        )
        .await
        .ok(200);
    assert_eq!(owner.get("/api/v1/me").await.ok(200)["role"], "admin");
    owner
        .patch(
            &format!("/api/v1/users/{admin_id}"),
            json!({"role": "nobody"}),
        )
        .await
        .problem(422);
    let res = owner
        .post(
            "/api/v1/service-accounts",
            json!({"name": "s", "role": "owner"}),
        )
        .await;
    assert_eq!(res.fields(), ["role"]);
}

async fn removing_a_user_removes_their_access(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = namespace(&owner, "orders").await;
    let (dev, dev_id) = app.invite(&owner, "d@example.com", "developer").await;
    let token = dev
        .post("/api/v1/api-keys", json!({"name": "k", "expiry_days": 1}))
        .await
        .ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .put(
            &format!("/api/v1/namespaces/{ns}/permissions/user:{dev_id}"),
            json!({"permission": "write"}),
        )
        .await
        .ok(200);
    owner
        .delete(&format!("/api/v1/users/{dev_id}"))
        .await
        .ok(204);
    dev.get("/api/v1/me").await.problem(401);
    app.bearer(&token).get("/api/v1/me").await.problem(401);
    let snap = snapshot(&app).await;
    assert!(snap.active_api_keys.is_empty());
    assert!(
        snap.namespaces[0]
            .grants
            .iter()
            .all(|g| g.principal != Principal::User(dev_id.clone()))
    );
    owner
        .get(&format!("/api/v1/users/{dev_id}"))
        .await
        .problem(404);
}

async fn audit_log_records_who_did_what(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, account) = app.signup("o@example.com").await;
    let owner_id = account["user"]["id"].as_str().unwrap().to_owned();
    let ns = namespace(&owner, "orders").await;
    let (read, read_id) = app.invite(&owner, "r@example.com", "read").await;
    read.post("/api/v1/namespaces", json!({"name": "denied"}))
        .await
        .problem(403);
    owner
        .patch(
            &format!("/api/v1/namespaces/{ns}"),
            json!({"retention_days": 2}),
        )
        .await
        .ok(200);
    // Failed logins are recorded under the account of the email.
    app.anon()
        .post(
            "/api/v1/login",
            json!({"email": "o@example.com", "password": "wrong password!"}),
        )
        .await
        .problem(401);

    let page = owner.get("/api/v1/audit-log").await;
    let entries = page.ok(200)["entries"].as_array().unwrap().clone();
    let find = |action: &str, outcome: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["outcome"].as_str().unwrap().starts_with(outcome))
            .unwrap_or_else(|| panic!("no {action} {outcome} in {entries:?}"))
            .clone()
    };
    let signup = find("account.signup", "success");
    assert_eq!(signup["actor"], format!("user:{owner_id}"));
    let created = find("namespace.create", "success");
    assert_eq!(created["target"], format!("namespace:{ns}"));
    assert_eq!(created["source_ip"], "127.0.0.1");
    let denied = find("namespace.create", "failure: forbidden");
    assert_eq!(denied["actor"], format!("user:{read_id}"));
    let updated = find("namespace.update", "success");
    assert_eq!(updated["detail"], "retention_days 2");
    find("user.invite", "success");
    find("invitation.accept", "success");
    find("session.login", "failure: invalid-credentials");
    find("session.login", "success");
    // Newest first, paged by id.
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
    let first = owner.get("/api/v1/audit-log?limit=2").await;
    let next = first.ok(200)["next_before"].as_i64().unwrap();
    assert_eq!(first.body["entries"].as_array().unwrap().len(), 2);
    let second = owner
        .get(&format!("/api/v1/audit-log?limit=2&before={next}"))
        .await;
    assert!(second.ok(200)["entries"][0]["id"].as_i64().unwrap() < next);
    // Another account sees none of it.
    let (other, _) = app.signup("x@example.com").await;
    let theirs = other.get("/api/v1/audit-log").await;
    assert!(
        theirs.ok(200)["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "namespace.create")
    );
}
