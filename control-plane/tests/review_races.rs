//! Follow-ups to issue 14's review: replicas starting together agree on one
//! control key and one API-key signing key; a re-registered cell's
//! credential names the row it is stored on; a duplicate namespace name is
//! a conflict even at the quota; an API-key caller's certificates and CAs
//! end before its key does.
mod common;

use std::sync::Arc;

use common::{Backend, TestApp};
use futures::future::join_all;
use orrery_control_plane::keys::{ControlKey, Signer};
use orrery_control_plane::sealing::Sealer;
use orrery_control_plane::store::{ControlStore, KeyPurpose, PostgresStore, SqliteStore};
use serde_json::json;

on_both!(
    replicas_starting_together_create_one_control_key_and_one_signing_key,
    a_duplicate_namespace_name_at_the_quota_is_a_conflict,
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
