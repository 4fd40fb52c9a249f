//! A namespace's payload codec server through the REST API, on both
//! databases: admins set and remove it, readers only read it, other
//! accounts see nothing, bad endpoints are refused naming the field, and
//! every change is in the audit log.
mod common;

use common::{Backend, TestApp};
use serde_json::json;

on_both!(
    admins_set_and_remove_it_and_readers_read_it,
    bad_endpoints_are_refused_naming_the_field,
);

async fn admins_set_and_remove_it_and_readers_read_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let id = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/namespaces/{id}/codec-server");

    let none = owner.get(&path).await.ok(200).clone();
    assert_eq!(none["endpoint"], "");
    assert_eq!(none["pass_access_token"], false);

    let set = owner
        .put(
            &path,
            json!({"endpoint": "https://codec.example.com/", "pass_access_token": true}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(set["endpoint"], "https://codec.example.com");
    assert_eq!(set["pass_access_token"], true);
    assert_eq!(set["include_credentials"], false);
    assert_eq!(
        owner.get(&path).await.ok(200)["endpoint"],
        "https://codec.example.com"
    );

    // A reader with a grant reads it and cannot change it.
    let (reader, _) = app.invite(&owner, "r@example.com", "read").await;
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
    assert_eq!(
        reader.get(&path).await.ok(200)["endpoint"],
        "https://codec.example.com"
    );
    reader
        .put(&path, json!({"endpoint": "https://evil.example.com"}))
        .await
        .problem(403);
    reader.delete(&path).await.problem(403);

    // Another account: the namespace does not exist for it.
    let (stranger, _) = app.signup("s@example.com").await;
    stranger.get(&path).await.problem(404);
    stranger
        .put(&path, json!({"endpoint": "https://evil.example.com"}))
        .await
        .problem(404);

    owner.delete(&path).await.ok(204);
    owner.delete(&path).await.problem(404);
    assert_eq!(owner.get(&path).await.ok(200)["endpoint"], "");

    let log = owner.get("/api/v1/audit-log").await.ok(200).clone();
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .or_else(|| log.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"namespace.codec_server.set"),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"namespace.codec_server.delete"),
        "{actions:?}"
    );
}

async fn bad_endpoints_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let id = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/namespaces/{id}/codec-server");
    for endpoint in [
        "http://codec.example.com",
        "javascript:alert(1)",
        "https://x.example/?a=b",
        "",
    ] {
        let res = owner.put(&path, json!({ "endpoint": endpoint })).await;
        res.problem(422);
        assert_eq!(res.fields(), vec!["endpoint".to_string()], "{endpoint}");
    }
    owner
        .put(
            &path,
            json!({"endpoint": "https://codec.example.com", "extra": 1}),
        )
        .await
        .problem(422);
    // Loopback may be plain HTTP: a codec server on the user's own machine.
    owner
        .put(&path, json!({"endpoint": "http://localhost:8888"}))
        .await
        .ok(200);
    assert_eq!(
        owner.get(&path).await.ok(200)["endpoint"],
        "http://localhost:8888"
    );
}
