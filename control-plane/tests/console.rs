//! The web console: its files are served with their types and a strict
//! policy, it changes nothing the API answers, it is not in the OpenAPI
//! document, and every API call in web/*.js is a documented operation.
mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use common::{Backend, TestApp};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use orrery_control_plane::auth::{CSRF_COOKIE, CSRF_HEADER};
use orrery_control_plane::roles::AccountRole;
use tower::ServiceExt;

const APP_JS: &str = include_str!("../../web/app.js");
const INDEX_HTML: &str = include_str!("../../web/index.html");

/// Every file of `web/` as it is on disk (name, text), read when the test
/// runs rather than listed here, so a file added there is checked (and must
/// be served) without anyone remembering this test.
fn web_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The console's scripts: every `web/*.js`.
fn scripts() -> Vec<(String, String)> {
    let scripts: Vec<_> = web_files()
        .into_iter()
        .filter(|(name, _)| name.ends_with(".js"))
        .collect();
    assert!(
        scripts.iter().any(|(name, _)| name == "app.js"),
        "{scripts:?}"
    );
    scripts
}

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
    let files = web_files();
    let mut served = 0;
    for (name, body) in &files {
        if name == "index.html" {
            continue;
        }
        let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => panic!("web/{name}: the console serves scripts and styles only"),
        };
        // Every file of web/ is served as it is on disk (a module app.js
        // imports but the binary does not embed would break the console).
        let path = format!("/assets/{name}");
        let page = fetch(&app, Method::GET, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path} is not served");
        assert_eq!(page.header(header::CONTENT_TYPE), content_type, "{path}");
        assert_hardened(&page, &path);
        assert_eq!(&page.body, body, "{path}");
        served += 1;
    }
    assert!(served >= 4, "{files:?}");
    // Modules import each other by relative path, each of them served.
    let import = regex::Regex::new(r#"(?m)^import\s[^;]*?from\s+"\./([^"]+)";"#).unwrap();
    for (name, text) in scripts() {
        for module in import.captures_iter(&text) {
            assert!(
                files.iter().any(|(file, _)| file == &module[1]),
                "web/{name} imports ./{} that web/ lacks",
                &module[1]
            );
        }
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

/// The `(method, path)` of every `api("METHOD", "/api/v1/…")` call in a
/// script.
fn calls_in(script: &str) -> Vec<(String, String)> {
    let call = regex::Regex::new(r#"\bapi\(\s*"([A-Z]+)",\s*[`"](/api/v1/[^`"?]*)"#).unwrap();
    call.captures_iter(script)
        .map(|c| (c[1].to_lowercase(), shape(&c[2])))
        .collect()
}

/// The API paths a script links to (`href: "/api/v1/…"` or
/// `setAttribute("href", "/api/v1/…")`): downloads the browser makes itself,
/// GETs authenticated by the session cookie.
fn links_in(script: &str) -> Vec<(String, String)> {
    let link =
        regex::Regex::new(r#"(?:\bhref:\s*|setAttribute\(\s*"href",\s*)[`"](/api/v1/[^`"?]*)"#)
            .unwrap();
    link.captures_iter(script)
        .map(|c| ("get".to_owned(), shape(&c[1])))
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
    let mut used = BTreeSet::new();
    let mut links = BTreeSet::new();
    for (name, script) in scripts() {
        let calls = calls_in(&script);
        // Every call site was understood (none escapes the check with a
        // path built elsewhere), and the one fetch is inside `api` in
        // app.js: the other modules are handed that function.
        let sites = script.matches("api(\"").count();
        assert_eq!(
            calls.len(),
            sites,
            "a call in web/{name} is not api(\"METHOD\", \"/api/v1/…\")"
        );
        let fetches = if name == "app.js" { 1 } else { 0 };
        assert_eq!(
            script.matches("fetch(").count(),
            fetches,
            "web/{name} fetches outside api()"
        );
        for sink in ["XMLHttpRequest", "sendBeacon", "EventSource", "WebSocket"] {
            assert!(!script.contains(sink), "web/{name} uses {sink}");
        }
        used.extend(calls);
        links.extend(links_in(&script));
    }
    // A link is a GET the document must have too.
    used.extend(links.iter().cloned());
    assert!(
        links.contains(&("get".to_owned(), "/api/v1/usage/export.csv".to_owned())),
        "{links:?}"
    );
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
        ("get", "/api/v1/usage"),
        ("get", "/api/v1/invoices/preview"),
    ] {
        let needed = (needed.0.to_owned(), needed.1.to_owned());
        assert!(used.contains(&needed), "the console never calls {needed:?}");
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
    for (name, script) in scripts() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!script.contains(sink), "web/{name} uses {sink}");
        }
    }
}

/// The role lists app.js decides its navigation by are the server's.
#[test]
fn the_console_shows_each_role_the_pages_the_api_lets_it_use() {
    let roles = [
        "owner",
        "admin",
        "developer",
        "finance_admin",
        "read",
        "metrics_read",
    ]
    .map(|r| r.parse::<AccountRole>().unwrap());
    let list = |name: &str| -> BTreeSet<String> {
        let re = regex::Regex::new(&format!(r#"const {name} = \[([^\]]*)\];"#)).unwrap();
        let found = re
            .captures(APP_JS)
            .unwrap_or_else(|| panic!("app.js has no {name} list"));
        found[1]
            .split(',')
            .map(|r| r.trim().trim_matches('"').to_owned())
            .filter(|r| !r.is_empty())
            .collect()
    };
    let server = |pick: fn(AccountRole) -> bool| -> BTreeSet<String> {
        roles
            .iter()
            .filter(|r| pick(**r))
            .map(|r| r.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        list("MANAGES_ACCOUNT"),
        server(AccountRole::manages_account)
    );
    assert_eq!(list("READS_USAGE"), server(AccountRole::reads_usage));
    assert_eq!(
        list("READS_NO_ACCOUNT_DATA"),
        server(|r| !r.reads_account())
    );
    assert!(INDEX_HTML.contains(r##"<a href="#/usage">Usage</a>"##));
}
