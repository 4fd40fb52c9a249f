//! Follow-ups to issue 14's review: replicas starting together agree on one
//! control key and one API-key signing key; a re-registered cell's
//! credential names the row it is stored on; a duplicate namespace name is
//! a conflict even at the quota; an API-key caller's certificates and CAs
//! end before its key does.
mod common;

use std::sync::Arc;

use common::{ADMIN_TOKEN, Backend, TestApp};
use futures::future::join_all;
use orrery_control_plane::keys::{ControlKey, Signer};
use orrery_control_plane::roles::AccountRole;
use orrery_control_plane::sealing::Sealer;
use orrery_control_plane::store::{
    Audit, ControlStore, KeyPurpose, OwnerGuarded, PostgresStore, SqliteStore,
};
use serde_json::json;

on_both!(
    replicas_starting_together_create_one_control_key_and_one_signing_key,
    a_duplicate_namespace_name_at_the_quota_is_a_conflict,
    a_cell_registered_twice_at_once_gets_credentials_naming_its_row,
    an_api_key_cannot_make_certificates_or_cas_that_outlive_it,
    an_owner_made_meanwhile_is_not_demoted_or_removed_by_an_admin,
);

/// `n` stores on one database, as `n` replicas of the control plane hold.
async fn replicas(
    backend: Backend,
    n: usize,
) -> (Vec<Arc<dyn ControlStore>>, Option<tempfile::TempDir>) {
    let mut stores: Vec<Arc<dyn ControlStore>> = Vec::new();
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/control-plane.db", dir.path().display());
            for _ in 0..n {
                stores.push(Arc::new(SqliteStore::open(&url).await.unwrap()));
            }
            (stores, Some(dir))
        }
        Backend::Postgres => {
            let options = common::fresh_postgres_schema().await;
            for _ in 0..n {
                stores.push(Arc::new(
                    PostgresStore::open_with(options.clone()).await.unwrap(),
                ));
            }
            (stores, None)
        }
    }
}

async fn replicas_starting_together_create_one_control_key_and_one_signing_key(backend: Backend) {
    const REPLICAS: usize = 8;
    let (stores, _dir) = replicas(backend, REPLICAS).await;
    let sealer = Sealer::new(common::test_kek());
    let barrier = Arc::new(tokio::sync::Barrier::new(REPLICAS));
    let started = join_all(stores.iter().cloned().map(|store| {
        let (sealer, barrier) = (sealer.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let control = ControlKey::load_or_create(store.as_ref(), &sealer)
                .await
                .unwrap();
            Signer::load_or_create(store.clone(), sealer).await.unwrap();
            control.kid().to_owned()
        })
    }))
    .await;
    let kids: Vec<String> = started.into_iter().map(Result::unwrap).collect();
    let control = stores[0].signing_keys(KeyPurpose::Control).await.unwrap();
    assert_eq!(control.len(), 1, "{control:?}");
    // Every replica signs with the one stored key.
    assert!(kids.iter().all(|kid| *kid == control[0].kid), "{kids:?}");
    let signing = stores[0].signing_keys(KeyPurpose::ApiKey).await.unwrap();
    assert_eq!(signing.len(), 1, "{signing:?}");
}

async fn a_duplicate_namespace_name_at_the_quota_is_a_conflict(backend: Backend) {
    let (store, dir) = common::open_store(backend).await;
    let app = TestApp::on_store(store, dir, |config| config.namespace_quota = 2)
        .await
        .unwrap();
    let (owner, _) = app.signup("o@example.com").await;
    for name in ["first", "second"] {
        owner
            .post("/api/v1/namespaces", json!({"name": name}))
            .await
            .ok(201);
    }
    // A retry of a create that succeeded: the name is taken, whatever the count.
    let again = owner
        .post("/api/v1/namespaces", json!({"name": "second"}))
        .await;
    assert!(
        again.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("exists"),
        "{}",
        again.body
    );
    // A new name is still refused for the quota.
    let res = owner
        .post("/api/v1/namespaces", json!({"name": "third"}))
        .await;
    assert_eq!(
        res.problem(422)["type"],
        "urn:orrery:problem:quota-exceeded"
    );
}

async fn a_cell_registered_twice_at_once_gets_credentials_naming_its_row(backend: Backend) {
    use orrery_control_plane::secret::sha256_hex;
    use orrery_tenant_auth::control::cell_id_of_credential;
    let app = TestApp::start(backend).await;
    let admin = app.bearer(ADMIN_TOKEN);
    let register = || {
        admin.post(
            "/api/v1/admin/cells",
            json!({"name": "cell-b", "grpc_endpoint": app.cell.url, "capacity": 5}),
        )
    };
    let answers = join_all((0..6).map(|_| register())).await;
    let credentials: Vec<String> = answers
        .iter()
        .map(|r| r.ok(201)["credential"].as_str().unwrap().to_owned())
        .collect();
    let stored: Vec<_> = (app.store.cell_loads().await.unwrap())
        .into_iter()
        .map(|l| l.cell)
        .filter(|c| c.name == "cell-b")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let id = stored[0].id.as_str();
    for (credential, answer) in credentials.iter().zip(&answers) {
        assert_eq!(cell_id_of_credential(credential), Some(id));
        assert_eq!(answer.body["cell"]["id"], id, "{}", answer.body);
    }
    // The one written last is the cell's credential; the others are not.
    let mut working = Vec::new();
    for credential in &credentials {
        if let Some(cell) = (app.store)
            .cell_by_credential_hash(&sha256_hex(credential))
            .await
            .unwrap()
        {
            assert_eq!(cell.id, id);
            working.push(credential.clone());
        }
    }
    assert_eq!(working.len(), 1, "{working:?}");

    // Registering again replaces it, under the same id.
    let again = register().await;
    let newest = again.ok(201)["credential"].as_str().unwrap().to_owned();
    assert_eq!(cell_id_of_credential(&newest), Some(id));
    let hash_of = |c: &str| sha256_hex(c);
    let found = app.store.cell_by_credential_hash(&hash_of(&newest)).await;
    assert_eq!(found.unwrap().unwrap().id, id);
    let replaced = app
        .store
        .cell_by_credential_hash(&hash_of(&working[0]))
        .await;
    assert!(replaced.unwrap().is_none());
}

async fn an_api_key_cannot_make_certificates_or_cas_that_outlive_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let namespace = |name: &'static str| {
        let owner = &owner;
        async move {
            let res = owner
                .post("/api/v1/namespaces", json!({"name": name}))
                .await;
            format!(
                "/api/v1/namespaces/{}/mtls",
                res.ok(201)["id"].as_str().unwrap()
            )
        }
    };
    let (orders, billing) = (namespace("orders").await, namespace("billing").await);
    let key = owner
        .post("/api/v1/api-keys", json!({"name": "ci", "expiry_days": 7}))
        .await;
    let key_expires = key.ok(201)["api_key"]["expires_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = key.body["token"].as_str().unwrap().to_owned();
    let program = app.bearer(&token);
    let names_the_key = |res: &common::Resp, field: &str| {
        assert_eq!(res.fields(), [field]);
        let message = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("cannot outlive"), "{message}");
    };

    let (ca_path, cert_path) = (
        format!("{orders}/generated-ca"),
        format!("{orders}/client-certificates"),
    );
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    let cert = |days: u32| {
        program.post(
            &cert_path,
            json!({"common_name": "worker", "validity_days": days}),
        )
    };
    // A client certificate from a CA of ten years (a session made it):
    // refused past the key, issued within it.
    owner
        .post(&ca_path, json!({"validity_days": 3650}))
        .await
        .ok(201);
    names_the_key(&cert(30).await, "validity_days");
    let issued = cert(5).await;
    let expires_at = issued.ok(201)["expires_at"].as_str().unwrap();
    assert!(
        parse(expires_at) <= parse(&key_expires),
        "{expires_at} > {key_expires}"
    );

    // A generated CA: the default year, or anything past the key, is refused.
    let ca = |days: Option<u32>| {
        let body = days.map_or(json!({}), |d| json!({"validity_days": d}));
        program.post(&ca_path, body)
    };
    names_the_key(&ca(None).await, "validity_days");
    names_the_key(&ca(Some(8)).await, "validity_days");
    ca(Some(6)).await.ok(201);
    // Its certificates end with it, so any days asked for are within the key.
    let clamped = cert(30).await;
    let expires_at = clamped.ok(201)["expires_at"].as_str().unwrap();
    assert!(
        parse(expires_at) <= parse(&key_expires),
        "{expires_at} > {key_expires}"
    );

    // An uploaded CA that outlives the key is refused; a session's CA
    // already in a bundle may be put back by the key.
    let long = owner
        .post(
            &format!("{billing}/generated-ca"),
            json!({"validity_days": 3650}),
        )
        .await;
    let long_pem = long.ok(201)["ca_pem"].as_str().unwrap().to_owned();
    names_the_key(
        &program.put(&orders, json!({"ca_pem": long_pem})).await,
        "ca_pem",
    );
    program
        .put(
            &billing,
            json!({"ca_pem": long_pem, "filters": [{"common_name": "w*"}]}),
        )
        .await
        .ok(200);

    // A session is bound by no key.
    owner
        .post(
            &format!("{orders}/generated-ca"),
            json!({"validity_days": 3650}),
        )
        .await
        .ok(201);
    owner
        .post(
            &format!("{orders}/client-certificates"),
            json!({"common_name": "worker", "validity_days": 365}),
        )
        .await
        .ok(201);
}

/// An admin's request reads the user's role, then the store changes it: an
/// owner promoting that user in between must not let the admin demote or
/// remove an owner. The store re-checks in the change's transaction.
async fn an_owner_made_meanwhile_is_not_demoted_or_removed_by_an_admin(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, signed_up) = app.signup("o@example.com").await;
    let account = signed_up["account"]["id"].as_str().unwrap().to_owned();
    let (_, user) = app.invite(&owner, "u@example.com", "admin").await;
    // What the admin's request saw was an admin; an owner promotes them now.
    owner
        .patch(&format!("/api/v1/users/{user}"), json!({"role": "owner"}))
        .await
        .ok(200);
    let audit = Audit::default();
    let store = app.store.as_ref();
    assert_eq!(
        store
            .update_user_role(&account, &user, AccountRole::Developer, false, &audit)
            .await
            .unwrap(),
        OwnerGuarded::OwnerOnly
    );
    assert_eq!(
        store
            .delete_user(&account, &user, false, &audit)
            .await
            .unwrap(),
        OwnerGuarded::OwnerOnly
    );
    let now = store.user(&account, &user).await.unwrap().unwrap();
    assert_eq!(now.role, AccountRole::Owner);
    // An owner may, the other owner remaining.
    assert_eq!(
        store
            .update_user_role(&account, &user, AccountRole::Admin, true, &audit)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
    // Through the API the answer is the 403 the role read first gives.
    let (admin, _) = app.invite(&owner, "a@example.com", "admin").await;
    owner
        .patch(&format!("/api/v1/users/{user}"), json!({"role": "owner"}))
        .await
        .ok(200);
    admin
        .patch(&format!("/api/v1/users/{user}"), json!({"role": "read"}))
        .await
        .problem(403);
    admin
        .delete(&format!("/api/v1/users/{user}"))
        .await
        .problem(403);
}
