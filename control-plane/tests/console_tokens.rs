//! Console tokens: a signed-in user gets a short-lived credential for a
//! namespace's Temporal HTTP API that a cell (its `Authorizer`, built from
//! the auth snapshot) accepts for exactly that user's grants, and nothing
//! for anyone else's namespaces.
mod common;

use std::time::{Duration, SystemTime};

use base64::Engine;
use common::{Backend, CELL_HTTP_API, TestApp};
use orrery_tenant_auth::{AuthError, Authorizer, Permission, Principal};
use serde_json::{Value, json};

on_both!(
    a_user_gets_a_short_lived_token_for_its_own_grants,
    a_reader_gets_a_read_token_and_strangers_get_none,
);

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn a_user_gets_a_short_lived_token_for_its_own_grants(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let ns = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)
        .clone();
    let id = ns["id"].as_str().unwrap().to_owned();
    assert_eq!(ns["http_endpoint"], CELL_HTTP_API);

    let res = owner
        .post(&format!("/api/v1/namespaces/{id}/console-token"), json!({}))
        .await;
    let body = res.ok(201);
    assert_eq!(body["namespace"], id.as_str());
    assert_eq!(body["http_endpoint"], CELL_HTTP_API);
    assert_eq!(body["permission"], "admin");
    let token = body["token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(c["aud"], "orrery-cell-console");
    assert_eq!(
        c["namespace"],
        id.as_str(),
        "a token for this namespace only"
    );
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        300,
        "five minutes"
    );

    // What a cell decides, from the snapshot it is sent.
    let auth = Authorizer::new(app.verify_snapshot(app.snapshot(None).await.ok(200)));
    let bearer = auth.verify_bearer(&token, SystemTime::now()).unwrap();
    assert_eq!(bearer.namespace.as_deref(), Some(id.as_str()));
    let principal = bearer.principal;
    assert!(matches!(principal, Principal::User(_)));
    assert!(
        auth.verify_api_key(&token, SystemTime::now()).is_err(),
        "not an API key"
    );
    assert_eq!(
        auth.namespace_permission(&principal, &id),
        Some(Permission::Admin)
    );
    let later = SystemTime::now() + Duration::from_secs(400);
    assert_eq!(auth.verify_bearer(&token, later), Err(AuthError::Expired));

    // Not with an API key, even the user's own: a token must not outlive
    // the key that asked for it.
    let own_key = owner
        .post(
            "/api/v1/api-keys",
            json!({"name": "mine", "expiry_days": 1}),
        )
        .await
        .ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&own_key)
        .post(&format!("/api/v1/namespaces/{id}/console-token"), json!({}))
        .await
        .problem(403);

    // Without the CSRF header a browser session cannot mint one.
    owner
        .without_csrf()
        .post(&format!("/api/v1/namespaces/{id}/console-token"), json!({}))
        .await
        .problem(403);
}

async fn a_reader_gets_a_read_token_and_strangers_get_none(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let id = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/namespaces/{id}/console-token");

    let (reader, _) = app.invite(&owner, "r@example.com", "read").await;
    // Without a grant on the namespace, no token.
    reader.post(&path, json!({})).await.problem(403);
    let principal = reader.get("/api/v1/me").await.body["principal"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .put(
            &format!("/api/v1/namespaces/{id}/permissions/{principal}"),
            json!({"permission": "read"}),
        )
        .await
        .ok(200);
    let body = reader.post(&path, json!({})).await.ok(201).clone();
    assert_eq!(body["permission"], "read");
    let auth = Authorizer::new(app.verify_snapshot(app.snapshot(None).await.ok(200)));
    let principal = auth
        .verify_bearer(body["token"].as_str().unwrap(), SystemTime::now())
        .unwrap()
        .principal;
    assert_eq!(
        auth.namespace_permission(&principal, &id),
        Some(Permission::Read)
    );

    // Another account's user: the namespace does not exist for it.
    let (stranger, _) = app.signup("s@example.com").await;
    stranger.post(&path, json!({})).await.problem(404);

    // A service account's API key: it has its own key for the cell.
    let sa = owner
        .post(
            "/api/v1/service-accounts",
            json!({"name": "worker", "role": "developer"}),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = owner
        .post(
            "/api/v1/api-keys",
            json!({"name": "w", "expiry_days": 1, "owner": format!("service-account:{sa}")}),
        )
        .await
        .ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&key).post(&path, json!({})).await.problem(403);
}
