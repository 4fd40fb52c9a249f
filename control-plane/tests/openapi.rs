//! The OpenAPI document: served, 3.1, and lists every route with its
//! security and problem responses.
mod common;

use std::collections::BTreeSet;

use common::{Backend, TestApp};

const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/signup"),
    ("get", "/api/v1/account"),
    ("post", "/api/v1/login"),
    ("post", "/api/v1/logout"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/me/password"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("post", "/api/v1/invitations/accept"),
    ("get", "/api/v1/service-accounts"),
    ("post", "/api/v1/service-accounts"),
    ("get", "/api/v1/service-accounts/{id}"),
    ("patch", "/api/v1/service-accounts/{id}"),
    ("delete", "/api/v1/service-accounts/{id}"),
    ("get", "/api/v1/namespaces"),
    ("post", "/api/v1/namespaces"),
    ("get", "/api/v1/namespaces/{namespace}"),
    ("patch", "/api/v1/namespaces/{namespace}"),
    ("delete", "/api/v1/namespaces/{namespace}"),
    ("get", "/api/v1/namespaces/{namespace}/permissions"),
    (
        "put",
        "/api/v1/namespaces/{namespace}/permissions/{principal}",
    ),
    (
        "delete",
        "/api/v1/namespaces/{namespace}/permissions/{principal}",
    ),
    ("get", "/api/v1/namespaces/{namespace}/mtls"),
    ("put", "/api/v1/namespaces/{namespace}/mtls"),
    ("delete", "/api/v1/namespaces/{namespace}/mtls"),
    ("post", "/api/v1/namespaces/{namespace}/console-token"),
    ("get", "/api/v1/namespaces/{namespace}/codec-server"),
    ("put", "/api/v1/namespaces/{namespace}/codec-server"),
    ("delete", "/api/v1/namespaces/{namespace}/codec-server"),
    ("get", "/api/v1/namespaces/{namespace}/search-attributes"),
    ("post", "/api/v1/namespaces/{namespace}/search-attributes"),
    (
        "delete",
        "/api/v1/namespaces/{namespace}/search-attributes/{name}",
    ),
    ("get", "/api/v1/namespaces/{namespace}/archival"),
    ("put", "/api/v1/namespaces/{namespace}/archival"),
    ("post", "/api/v1/namespaces/{namespace}/mtls/generated-ca"),
    (
        "post",
        "/api/v1/namespaces/{namespace}/mtls/client-certificates",
    ),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys/{id}"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("post", "/api/v1/api-keys/{id}/disable"),
    ("post", "/api/v1/api-keys/{id}/enable"),
    ("get", "/api/v1/audit-log"),
    ("get", "/api/v1/metrics"),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/usage/export.csv"),
    ("get", "/api/v1/invoices/preview"),
    ("get", "/api/v1/admin/cells"),
    ("post", "/api/v1/admin/cells"),
    ("get", "/api/v1/admin/signing-keys"),
    ("post", "/api/v1/admin/signing-keys/rotate"),
    ("get", "/internal/v1/auth-snapshot"),
    ("get", "/internal/v1/control-key"),
];

const PUBLIC: &[&str] = &[
    "/api/v1/signup",
    "/api/v1/login",
    "/api/v1/invitations/accept",
    // A public key: cells may fetch it before they can present anything.
    "/internal/v1/control-key",
];

#[tokio::test]
async fn the_document_lists_every_route() {
    let app = TestApp::start(Backend::Sqlite).await;
    let res = app.anon().get("/api/v1/openapi.json").await;
    let doc = res.ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            listed.insert((method.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents no success"
            );
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]
                            .get("application/problem+json")
                            .is_some(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
            let secured = op
                .get("security")
                .and_then(|s| s.as_array())
                .is_some_and(|s| !s.is_empty());
            assert_eq!(
                secured,
                !PUBLIC.contains(&path.as_str()),
                "{method} {path} security"
            );
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(listed, expected);
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["session_cookie", "bearer", "bootstrap_admin", "cell_token"] {
        assert!(schemes.contains_key(scheme), "{scheme}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "Problem",
        "FieldError",
        "Snapshot",
        "NamespaceView",
        "ApiKeyCreated",
        "MtlsPut",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    // The document the binary can write out is the one served.
    let offline = serde_json::to_value(orrery_control_plane::openapi::document()).unwrap();
    assert_eq!(&offline, doc);
}
