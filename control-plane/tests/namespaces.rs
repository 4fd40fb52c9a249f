//! Namespaces through a real gRPC client against a fake cell, placement,
//! API keys, and the auth snapshot read back through `orrery-tenant-auth`.
mod common;

use std::time::SystemTime;

use common::{ADMIN_TOKEN, Backend, FakeCell, TestApp};
use orrery_tenant_auth::control::{ControlVerifier, cell_id_of_credential};
use orrery_tenant_auth::{AuthError, Authorizer, Permission, Principal};
use serde_json::{Value, json};

on_both!(
    create_reaches_the_cell_with_its_token,
    names_are_validated_and_unique_per_account,
    a_refusing_cell_leaves_nothing_behind,
    update_and_delete_go_through_the_cell,
    placement_picks_the_least_loaded_cell,
    admin_routes_need_the_bootstrap_token,
    api_key_lifecycle_reaches_the_snapshot,
    service_account_keys_act_with_their_grants,
    snapshot_answers_unchanged_until_something_changes,
    each_cell_has_a_credential_and_a_snapshot_of_its_own,
    a_cell_reports_its_capacity_when_it_polls,
);

fn slug(account: &Value) -> String {
    account["account"]["slug"].as_str().unwrap().to_owned()
}

async fn create_reaches_the_cell_with_its_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, account) = app.signup("o@example.com").await;
    let res = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await;
    let ns = res.ok(201);
    let id = format!("orders.{}", slug(&account));
    assert_eq!(ns["id"], id);
    assert_eq!(ns["state"], "active");
    assert_eq!(ns["retention_days"], 30);
    assert_eq!(
        ns["grpc_endpoint"],
        app.cell.url.trim_start_matches("http://")
    );
    assert_eq!(app.cell.namespaces().get(&id), Some(&(30 * 86_400)));
    // Each call (RegisterNamespace, then DescribeNamespace for the id the
    // cell gave it) carries a token signed with the control key for this
    // cell alone: the control plane holds no secret of the cell's.
    let auth = app.cell.state.authorization.lock().unwrap().clone();
    assert_eq!(auth.len(), 2);
    let cell_a = cell_id_of_credential(&app.cell_credential).unwrap();
    let verifier = |cell: &str| ControlVerifier::new([app.control_public_key.as_str()], cell);
    for auth in &auth {
        let token = auth.strip_prefix("Bearer ").unwrap();
        verifier(cell_a).unwrap().admin_token(token).unwrap();
        assert!(
            verifier("another-cell")
                .unwrap()
                .admin_token(token)
                .is_err()
        );
    }
    let list = owner.get("/api/v1/namespaces").await;
    assert_eq!(list.ok(200).as_array().unwrap().len(), 1);
    assert_eq!(
        owner.get(&format!("/api/v1/namespaces/{id}")).await.ok(200)["name"],
        "orders"
    );
    owner.get("/api/v1/namespaces/orders").await.problem(404);
}

async fn names_are_validated_and_unique_per_account(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    for bad in [
        "a",
        "Orders",
        "with_underscore",
        "-lead",
        &"x".repeat(40),
        "dot.ted",
    ] {
        let res = owner.post("/api/v1/namespaces", json!({"name": bad})).await;
        assert_eq!(res.fields(), ["name"], "{bad}");
    }
    for days in [0, 91] {
        let res = owner
            .post(
                "/api/v1/namespaces",
                json!({"name": "ok-name", "retention_days": days}),
            )
            .await;
        assert_eq!(res.fields(), ["retention_days"]);
    }
    let res = owner
        .post(
            "/api/v1/namespaces",
            json!({"name": "x", "retention_days": 0}),
        )
        .await;
    assert_eq!(res.fields().len(), 2, "all errors at once");
    owner
        .post(
            "/api/v1/namespaces",
            json!({"name": "ok-name", "retention_days": "7"}),
        )
        .await
        .problem(422);
    assert!(app.cell.namespaces().is_empty());
    owner
        .post(
            "/api/v1/namespaces",
            json!({"name": "ok-name", "retention_days": 90}),
        )
        .await
        .ok(201);
    let dup = owner
        .post("/api/v1/namespaces", json!({"name": "ok-name"}))
        .await;
    dup.problem(409);
    // Another account may use the same name: ids differ by slug.
    let (other, _) = app.signup("p@example.com").await;
    other
        .post("/api/v1/namespaces", json!({"name": "ok-name"}))
        .await
        .ok(201);
    assert_eq!(app.cell.namespaces().len(), 2);
}

async fn a_refusing_cell_leaves_nothing_behind(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    app.cell.set_failing(true);
    let res = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await;
    assert_eq!(
        res.problem(502)["type"],
        "urn:orrery:problem:cell-unavailable"
    );
    assert!(
        owner
            .get("/api/v1/namespaces")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty()
    );
    let audit = owner.get("/api/v1/audit-log").await;
    let failed = &audit.ok(200)["entries"][0];
    assert_eq!(failed["action"], "namespace.create");
    assert_eq!(failed["outcome"], "failure: cell-unavailable");
    app.cell.set_failing(false);
    owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201);
}

async fn update_and_delete_go_through_the_cell(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let id = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/namespaces/{id}");
    let res = owner.patch(&path, json!({"retention_days": 7})).await;
    assert_eq!(res.ok(200)["retention_days"], 7);
    assert_eq!(app.cell.namespaces()[&id], 7 * 86_400);
    assert_eq!(
        owner
            .patch(&path, json!({"retention_days": 91}))
            .await
            .fields(),
        ["retention_days"]
    );
    owner
        .patch(&path, json!({"retention": 5}))
        .await
        .problem(422);
    app.cell.set_failing(true);
    owner
        .patch(&path, json!({"retention_days": 3}))
        .await
        .problem(502);
    owner.delete(&path).await.problem(502);
    assert_eq!(owner.get(&path).await.ok(200)["retention_days"], 7);
    app.cell.set_failing(false);
    owner.delete(&path).await.ok(204);
    assert!(app.cell.namespaces().is_empty());
    owner.get(&path).await.problem(404);
    owner.delete(&path).await.problem(404);
}

async fn register_cell(app: &TestApp, name: &str, cell: &FakeCell, capacity: i64) -> Value {
    let res = app
        .bearer(ADMIN_TOKEN)
        .post(
            "/api/v1/admin/cells",
            json!({"name": name, "grpc_endpoint": cell.url, "capacity": capacity}),
        )
        .await;
    res.ok(201).clone()
}

async fn placement_picks_the_least_loaded_cell(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let create = |name: &str| owner.post("/api/v1/namespaces", json!({"name": name}));
    create("ns1").await.ok(201);
    let b = FakeCell::start().await;
    register_cell(&app, "cell-b", &b, 10).await;
    // a: 1/100, b: 0/10 → b; then a: 1/100 < b: 1/10 → a, twice.
    create("ns2").await.ok(201);
    create("ns3").await.ok(201);
    create("ns4").await.ok(201);
    let names = |cell: &FakeCell| {
        cell.namespaces()
            .keys()
            .map(|k| k.split('.').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&app.cell), ["ns1", "ns3", "ns4"]);
    assert_eq!(names(&b), ["ns2"]);
    // Full cells take nothing.
    register_cell(&app, "cell-a", &app.cell, 3).await;
    register_cell(&app, "cell-b", &b, 1).await;
    create("ns5").await.problem(503);
    let cells = app.bearer(ADMIN_TOKEN).get("/api/v1/admin/cells").await;
    let loads: Vec<(String, i64)> = cells
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["namespaces"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(loads, [("cell-a".to_owned(), 3), ("cell-b".to_owned(), 1)]);
}

async fn admin_routes_need_the_bootstrap_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    app.anon().get("/api/v1/admin/cells").await.problem(401);
    app.bearer("wrong-token")
        .get("/api/v1/admin/cells")
        .await
        .problem(401);
    // An account owner is not the operator.
    owner.get("/api/v1/admin/cells").await.problem(401);
    let res = app
        .bearer(ADMIN_TOKEN)
        .post(
            "/api/v1/admin/cells",
            json!({"name": "c", "grpc_endpoint": "ftp://x", "capacity": -1}),
        )
        .await;
    let mut fields = res.fields();
    fields.sort();
    assert_eq!(fields, ["admin_endpoint", "capacity", "grpc_endpoint"]);
}

async fn first_namespace(app: &TestApp, owner: &common::Client<'_>) -> String {
    let _ = app;
    owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn api_key_lifecycle_reaches_the_snapshot(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, account) = app.signup("o@example.com").await;
    let owner_id = account["user"]["id"].as_str().unwrap().to_owned();
    let ns = first_namespace(&app, &owner).await;
    for days in [0, 91] {
        let res = owner
            .post(
                "/api/v1/api-keys",
                json!({"name": "ci", "expiry_days": days}),
            )
            .await;
        assert_eq!(res.fields(), ["expiry_days"]);
    }
    owner
        .post("/api/v1/api-keys", json!({"name": "ci"}))
        .await
        .problem(422);
    let created = owner
        .post("/api/v1/api-keys", json!({"name": "ci", "expiry_days": 30}))
        .await;
    let body = created.ok(201).clone();
    let token = body["token"].as_str().unwrap().to_owned();
    let key_id = body["api_key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(body["api_key"]["owner"], format!("user:{owner_id}"));
    // Only a hash is stored, and the listing never shows the secret.
    assert!(
        app.store
            .api_key_by_token_hash(&token)
            .await
            .unwrap()
            .is_none()
    );
    let listed = owner.get("/api/v1/api-keys").await;
    assert!(!listed.ok(200).to_string().contains(&token));

    // The key works on this API as its owner, without CSRF.
    let program = app.bearer(&token);
    let me = program.get("/api/v1/me").await;
    assert_eq!(me.ok(200)["principal"], format!("user:{owner_id}"));
    assert_eq!(me.body["authenticated_by"], "api_key");
    program
        .post("/api/v1/namespaces", json!({"name": "by-key"}))
        .await
        .ok(201);

    // And on cells, through the snapshot.
    let snap = app.snapshot(None).await;
    let snapshot = app.verify_snapshot(snap.ok(200));
    assert_eq!(
        snapshot
            .active_api_keys
            .iter()
            .map(|k| &k.id)
            .collect::<Vec<_>>(),
        [&key_id]
    );
    // Each key with the principal it was issued to (the cell checks `sub`).
    assert!(
        snapshot.active_api_keys[0]
            .principal
            .to_string()
            .starts_with("user:")
    );
    assert_eq!(snapshot.signing_keys.len(), 1);
    let entry = snapshot
        .namespaces
        .iter()
        .find(|n| n.namespace == ns)
        .unwrap();
    assert!(entry.mtls.is_none());
    let auth = Authorizer::new(snapshot.clone());
    let principal = auth.verify_api_key(&token, SystemTime::now()).unwrap();
    assert_eq!(principal, Principal::User(owner_id.clone()));
    assert_eq!(
        auth.namespace_permission(&principal, &ns),
        Some(Permission::Admin)
    );

    let path = format!("/api/v1/api-keys/{key_id}");
    let disabled = owner.post(&format!("{path}/disable"), json!({})).await;
    assert_eq!(disabled.ok(200)["enabled"], false);
    program.get("/api/v1/me").await.problem(401);
    let after = app.verify_snapshot(app.snapshot(None).await.ok(200));
    assert!(after.version > snapshot.version);
    assert!(after.active_api_keys.is_empty());
    assert_eq!(
        Authorizer::new(after).verify_api_key(&token, SystemTime::now()),
        Err(AuthError::KeyNotActive)
    );
    owner
        .post(&format!("{path}/enable"), json!({}))
        .await
        .ok(200);
    program.get("/api/v1/me").await.ok(200);
    assert_eq!(
        app.verify_snapshot(app.snapshot(None).await.ok(200))
            .active_api_keys
            .iter()
            .map(|k| &k.id)
            .collect::<Vec<_>>(),
        [&key_id]
    );
    owner.delete(&path).await.ok(204);
    owner.get(&path).await.problem(404);
    program.get("/api/v1/me").await.problem(401);
    assert!(
        app.verify_snapshot(app.snapshot(None).await.ok(200))
            .active_api_keys
            .is_empty()
    );
}

async fn service_account_keys_act_with_their_grants(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = first_namespace(&app, &owner).await;
    let sa = owner
        .post(
            "/api/v1/service-accounts",
            json!({"name": "worker", "role": "read"}),
        )
        .await;
    let sa_id = sa.ok(201)["id"].as_str().unwrap().to_owned();
    let principal = format!("service-account:{sa_id}");
    owner
        .put(
            &format!("/api/v1/namespaces/{ns}/permissions/{principal}"),
            json!({"permission": "write"}),
        )
        .await
        .ok(200);
    let created = owner
        .post(
            "/api/v1/api-keys",
            json!({"name": "w", "expiry_days": 1, "owner": principal}),
        )
        .await;
    let token = created.ok(201)["token"].as_str().unwrap().to_owned();
    let auth = Authorizer::new(app.verify_snapshot(app.snapshot(None).await.ok(200)));
    let p = auth.verify_api_key(&token, SystemTime::now()).unwrap();
    assert_eq!(p, Principal::ServiceAccount(sa_id.clone()));
    assert_eq!(auth.namespace_permission(&p, &ns), Some(Permission::Write));
    // On this API the key has the service account's role: read.
    let program = app.bearer(&token);
    assert_eq!(program.get("/api/v1/me").await.ok(200)["role"], "read");
    program
        .post("/api/v1/namespaces", json!({"name": "nope"}))
        .await
        .problem(403);

    // A developer may not mint keys for service accounts or for other users.
    let (dev, _) = app.invite(&owner, "d@example.com", "developer").await;
    dev.post(
        "/api/v1/api-keys",
        json!({"name": "x", "expiry_days": 1, "owner": principal}),
    )
    .await
    .problem(403);
    let owner_principal = owner.get("/api/v1/me").await.body["principal"].clone();
    dev.post(
        "/api/v1/api-keys",
        json!({"name": "x", "expiry_days": 1, "owner": owner_principal}),
    )
    .await
    .problem(403);
    // Nor see them.
    assert!(
        dev.get("/api/v1/api-keys")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Deleting the service account revokes its key.
    owner
        .delete(&format!("/api/v1/service-accounts/{sa_id}"))
        .await
        .ok(204);
    program.get("/api/v1/me").await.problem(401);
    let after = app.verify_snapshot(app.snapshot(None).await.ok(200));
    assert!(after.active_api_keys.is_empty());
    assert!(after.namespaces[0].grants.iter().all(|g| g.principal != p));
}

/// While nothing changed, a poll gets a small signed "still version v"
/// (never an unsigned 304 a relay could forge to freeze the cell's view).
async fn snapshot_answers_unchanged_until_something_changes(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.anon()
        .get("/internal/v1/auth-snapshot")
        .await
        .problem(401);
    app.bearer("not-a-cell")
        .get("/internal/v1/auth-snapshot")
        .await
        .problem(401);
    app.bearer(ADMIN_TOKEN)
        .get("/internal/v1/auth-snapshot")
        .await
        .problem(401);
    let first = app.verify_snapshot(app.snapshot(None).await.ok(200));
    let unchanged = app.snapshot(Some(first.version)).await;
    let signed = app.verify_signed(unchanged.ok(200));
    assert_eq!((signed.version, signed.snapshot), (first.version, None));
    let unchanged_len = unchanged.body.as_str().unwrap().len();
    assert!(unchanged_len < 1024, "{unchanged_len} bytes");
    let (owner, _) = app.signup("o@example.com").await;
    // A login changes nothing a cell enforces.
    let v = app
        .verify_snapshot(app.snapshot(None).await.ok(200))
        .version;
    app.login("o@example.com", common::PASSWORD).await;
    let still = app.verify_signed(app.snapshot(Some(v)).await.ok(200));
    assert!(still.snapshot.is_none());
    first_namespace(&app, &owner).await;
    let changed = app.snapshot(Some(v)).await;
    let snap = app.verify_snapshot(changed.ok(200));
    assert!(snap.version > v);
    assert_eq!(snap.namespaces.len(), 1);
    app.snapshot(Some(0)).await.ok(200);
}

/// Two cells, two credentials: each fetches only its own namespaces, signed
/// for it alone, and registering a cell again retires its old credential.
async fn each_cell_has_a_credential_and_a_snapshot_of_its_own(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let b = FakeCell::start().await;
    let registered = register_cell(&app, "cell-b", &b, 10).await;
    let b_credential = registered["credential"].as_str().unwrap().to_owned();
    let b_id = registered["cell"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cell_id_of_credential(&b_credential), Some(b_id.as_str()));
    assert_ne!(b_credential, app.cell_credential);
    // The credential is shown once: the list never has it.
    let listed = app.bearer(ADMIN_TOKEN).get("/api/v1/admin/cells").await;
    assert!(!listed.ok(200).to_string().contains(&b_credential));
    // a: 0/100, b: 0/10 → a (the bigger); then b.
    owner
        .post("/api/v1/namespaces", json!({"name": "ns1"}))
        .await
        .ok(201);
    owner
        .post("/api/v1/namespaces", json!({"name": "ns2"}))
        .await
        .ok(201);
    let names = |snapshot: orrery_tenant_auth::Snapshot| {
        (snapshot.namespaces.into_iter())
            .map(|n| n.namespace.split('.').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(app.verify_snapshot(app.snapshot(None).await.ok(200))),
        ["ns1"]
    );
    let b_signed = app
        .bearer(&b_credential)
        .get("/internal/v1/auth-snapshot")
        .await;
    let b_signed = b_signed.ok(200).as_str().unwrap().to_owned();
    let verifier =
        |cell: &str| ControlVerifier::new([app.control_public_key.as_str()], cell).unwrap();
    let b_snapshot = verifier(&b_id).snapshot(&b_signed).unwrap().snapshot;
    assert_eq!(names(b_snapshot.unwrap()), ["ns2"]);
    // b's snapshot is not a's, even though the same key signed it.
    let a_id = cell_id_of_credential(&app.cell_credential).unwrap();
    assert!(verifier(a_id).snapshot(&b_signed).is_err());
    // Registering b again issues a new credential; the old one is refused.
    let again = register_cell(&app, "cell-b", &b, 10).await;
    assert_eq!(again["cell"]["id"], b_id.as_str());
    let new_credential = again["credential"].as_str().unwrap();
    assert_ne!(new_credential, b_credential);
    app.bearer(&b_credential)
        .get("/internal/v1/auth-snapshot")
        .await
        .problem(401);
    app.bearer(new_credential)
        .get("/internal/v1/auth-snapshot")
        .await
        .ok(200);
    // A stored credential that names another cell's id is refused.
    let mut row = (app.store.cell_loads().await.unwrap())
        .into_iter()
        .map(|l| l.cell)
        .find(|c| c.id == b_id)
        .unwrap();
    let mismatched = orrery_tenant_auth::control::new_cell_credential(
        "not-this-cell",
        &orrery_control_plane::secret::random_token(),
    );
    row.reported_capacity = None;
    let hash = orrery_control_plane::secret::sha256_hex(&mismatched);
    app.store
        .upsert_cell(&row, Some(&hash), &Default::default())
        .await
        .unwrap();
    app.bearer(&mismatched)
        .get("/internal/v1/auth-snapshot")
        .await
        .problem(401);
    // The public half of the control key is public.
    let key = app.anon().get("/internal/v1/control-key").await;
    assert_eq!(key.ok(200)["public_key"], app.control_public_key.as_str());
}

/// What a cell says it takes caps placement on it.
async fn a_cell_reports_its_capacity_when_it_polls(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let uri = |q: &str| format!("/internal/v1/auth-snapshot?{q}");
    let cell = app.bearer(&app.cell_credential);
    // Out of range: ignored, and the snapshot is served all the same.
    cell.get(&uri("capacity=-1")).await.ok(200);
    cell.get(&uri("capacity=10000000")).await.ok(200);
    let cells = app.bearer(ADMIN_TOKEN).get("/api/v1/admin/cells").await;
    assert!(cells.ok(200)[0]["reported_capacity"].is_null());
    cell.get(&uri("capacity=1")).await.ok(200);
    let cells = app.bearer(ADMIN_TOKEN).get("/api/v1/admin/cells").await;
    assert_eq!(cells.ok(200)[0]["reported_capacity"], 1);
    owner
        .post("/api/v1/namespaces", json!({"name": "ns1"}))
        .await
        .ok(201);
    // Registered for 100, but the cell takes 1: full.
    owner
        .post("/api/v1/namespaces", json!({"name": "ns2"}))
        .await
        .problem(503);
    cell.get(&uri("capacity=5")).await.ok(200);
    owner
        .post("/api/v1/namespaces", json!({"name": "ns2"}))
        .await
        .ok(201);
}

/// Passwords, sessions and cells' credentials travel to this listener:
/// plain HTTP only when asked for by name.
#[tokio::test]
async fn a_control_plane_without_tls_refuses_to_start_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cp.db");
    let mut config = orrery_control_plane::Config::new(
        format!("sqlite://{}", db.display()),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.key_encryption = Some(common::test_kek());
    let refused = orrery_control_plane::ControlPlane::start(config.clone()).await;
    assert!(matches!(
        refused,
        Err(orrery_control_plane::RunError::NoTls)
    ));
    assert!(!db.exists(), "nothing is created before the refusal");
    config.insecure_http = true;
    let started = orrery_control_plane::ControlPlane::start(config)
        .await
        .unwrap();
    assert_eq!(started.scheme(), "http");
}
