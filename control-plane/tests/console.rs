//! The web console: its files are served with their types and a strict
//! policy, it changes nothing the API answers, it is not in the OpenAPI
//! document, and every API call in web/app.js is a documented operation.
mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use common::{Backend, TestApp};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use orrery_control_plane::auth::{CSRF_COOKIE, CSRF_HEADER};
use tower::ServiceExt;

const APP_JS: &str = include_str!("../../web/app.js");
const INDEX_HTML: &str = include_str!("../../web/index.html");

struct Page {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn fetch(app: &TestApp, method: Method, path: &str) -> Page {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "127.0.0.1:40000".parse().unwrap(),
        ));
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn assert_hardened(page: &Page, what: &str) {
    let csp = page.header(header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp:?} lacks {directive}"
        );
    }
    assert!(!csp.contains("unsafe-"), "{what}: CSP {csp:?}");
    assert_eq!(
        page.header(header::X_CONTENT_TYPE_OPTIONS),
        "nosniff",
        "{what}"
    );
    assert_eq!(page.header(header::X_FRAME_OPTIONS), "DENY", "{what}");
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy() {
    let app = TestApp::start(Backend::Sqlite).await;
    let page = fetch(&app, Method::GET, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header(header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_hardened(&page, "/");
    assert_eq!(page.body, INDEX_HTML);
    assert!(
        page.body
            .contains(r#"<script type="module" src="/assets/app.js"></script>"#)
    );
    assert!(
        page.body
            .contains(r#"<link rel="stylesheet" href="/assets/style.css">"#)
    );
    // Nothing inline that the policy would (rightly) block.
    let tag = regex::Regex::new(r"(?i)<script\b[^>]*>").unwrap();
    for script in tag.find_iter(&page.body) {
        assert!(
            script.as_str().contains(" src="),
            "inline script: {}",
            script.as_str()
        );
    }
    let inline =
        regex::Regex::new(r#"(?i)<style\b|\son[a-z]+\s*=|\sstyle\s*=|javascript:"#).unwrap();
    assert!(!inline.is_match(&page.body), "inline code in index.html");

    // HEAD answers too; other methods on the page are not allowed.
    assert_eq!(fetch(&app, Method::HEAD, "/").await.status, StatusCode::OK);
    let post = fetch(&app, Method::POST, "/").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        post.header(header::CONTENT_TYPE),
        "application/problem+json"
    );

    // Page paths outside the API answer the console (navigation is by
    // fragment; a reload of a stray path still lands in the console).
    for path in ["/namespaces", "/some/page?x=1"] {
        let page = fetch(&app, Method::GET, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.body, INDEX_HTML, "{path}");
        assert_hardened(&page, path);
    }
}

#[tokio::test]
async fn assets_have_their_content_types() {
    let app = TestApp::start(Backend::Sqlite).await;
    for (path, content_type, body) in [
        ("/assets/app.js", "text/javascript; charset=utf-8", APP_JS),
        (
            "/assets/style.css",
            "text/css; charset=utf-8",
            include_str!("../../web/style.css"),
        ),
    ] {
        let page = fetch(&app, Method::GET, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header(header::CONTENT_TYPE), content_type, "{path}");
        assert_hardened(&page, path);
        assert_eq!(page.body, body, "{path}");
    }
    let missing = fetch(&app, Method::GET, "/assets/nope.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.header(header::CONTENT_TYPE),
        "application/problem+json"
    );
}

#[tokio::test]
async fn the_api_still_answers_problems_for_unknown_routes() {
    let app = TestApp::start(Backend::Sqlite).await;
    for path in [
        "/api/v1/nonexistent",
        "/api/v1",
        "/api",
        "/api/v2/namespaces",
        "/internal/v1/nonexistent",
    ] {
        app.anon().get(path).await.problem(404);
        app.anon().delete(path).await.problem(404);
    }
    // Unknown non-GET requests outside the API are not the console either.
    let res = app.anon().post("/namespaces", serde_json::json!({})).await;
    res.problem(404);
    // The API's own answers carry no console headers.
    let me = app.anon().get("/api/v1/me").await;
    me.problem(401);
    assert!(!me.headers.contains_key(header::CONTENT_SECURITY_POLICY));
}

#[tokio::test]
async fn the_openapi_document_lists_no_console_route() {
    let app = TestApp::start(Backend::Sqlite).await;
    let doc = app.anon().get("/api/v1/openapi.json").await.ok(200).clone();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            path.starts_with("/api/v1/") || path.starts_with("/internal/v1/"),
            "{path} is in the document"
        );
        assert!(!path.starts_with("/assets"), "{path}");
    }
}

/// `/api/v1/namespaces/{namespace}` and `/api/v1/namespaces/${enc(id)}` are
/// the same route: every parameter becomes `{}`.
fn shape(path: &str) -> String {
    let param = regex::Regex::new(r"\$\{[^}]*\}|\{[^}]*\}").unwrap();
    param.replace_all(path, "{}").into_owned()
}

/// The `(method, path)` of every `api("METHOD", "/api/v1/…")` call in app.js.
fn calls_in_app_js() -> Vec<(String, String)> {
    let call = regex::Regex::new(r#"\bapi\(\s*"([A-Z]+)",\s*[`"](/api/v1/[^`"?]*)"#).unwrap();
    call.captures_iter(APP_JS)
        .map(|c| (c[1].to_lowercase(), shape(&c[2])))
        .collect()
}

#[tokio::test]
async fn every_call_the_console_makes_is_in_the_openapi_document() {
    let app = TestApp::start(Backend::Sqlite).await;
    let doc = app.anon().get("/api/v1/openapi.json").await.ok(200).clone();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), shape(path)));
        }
    }
    let calls = calls_in_app_js();
    // Every call site was understood (none escapes the check with a path
    // built elsewhere), and the one fetch is inside `api`.
    let sites = APP_JS.matches("api(\"").count();
    assert_eq!(
        calls.len(),
        sites,
        "a call in app.js is not api(\"METHOD\", \"/api/v1/…\")"
    );
    assert_eq!(
        APP_JS.matches("fetch(").count(),
        1,
        "app.js fetches outside api()"
    );
    assert!(!APP_JS.contains("XMLHttpRequest") && !APP_JS.contains("sendBeacon"));
    let used: BTreeSet<_> = calls.into_iter().collect();
    assert!(
        used.len() >= 25,
        "only {} distinct calls found: {used:?}",
        used.len()
    );
    let undocumented: Vec<_> = used.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in the OpenAPI document: {undocumented:?}"
    );
    // Nothing private: the console is a tenant's client.
    assert!(
        used.iter()
            .all(|(_, p)| !p.starts_with("/api/v1/admin") && !p.starts_with("/internal")),
        "{used:?}"
    );
    // The screens the console has.
    for needed in [
        ("post", "/api/v1/signup"),
        ("post", "/api/v1/login"),
        ("post", "/api/v1/logout"),
        ("get", "/api/v1/namespaces"),
        ("post", "/api/v1/namespaces"),
        ("patch", "/api/v1/namespaces/{}"),
        ("delete", "/api/v1/namespaces/{}"),
        ("put", "/api/v1/namespaces/{}/mtls"),
        ("post", "/api/v1/namespaces/{}/mtls/generated-ca"),
        ("post", "/api/v1/namespaces/{}/mtls/client-certificates"),
        ("post", "/api/v1/api-keys"),
        ("post", "/api/v1/api-keys/{}/disable"),
        ("post", "/api/v1/api-keys/{}/enable"),
        ("delete", "/api/v1/api-keys/{}"),
        ("post", "/api/v1/users"),
        ("post", "/api/v1/service-accounts"),
        ("get", "/api/v1/audit-log"),
    ] {
        let needed = (needed.0.to_owned(), needed.1.to_owned());
        assert!(used.contains(&needed), "app.js never calls {needed:?}");
    }
}

#[test]
fn the_console_sends_the_csrf_token_the_api_checks() {
    // The header and cookie names are the server's, not copies that could drift.
    assert!(
        APP_JS.contains(&format!(r#"headers["{CSRF_HEADER}"]"#)),
        "app.js does not set the {CSRF_HEADER} header"
    );
    assert!(
        APP_JS.contains(&format!(r#"const CSRF_COOKIE = "{CSRF_COOKIE}";"#)),
        "app.js does not read the {CSRF_COOKIE} cookie"
    );
    assert!(APP_JS.contains(r#"credentials: "same-origin""#));
    // No HTML parsing of data: pages are built with DOM calls only.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!APP_JS.contains(sink), "app.js uses {sink}");
    }
}
