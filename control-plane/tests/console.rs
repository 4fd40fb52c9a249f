//! The web console: the bundle build.rs embeds is served with its types, a
//! strict policy and cache headers fit for hashed names; it changes nothing
//! the API answers and is not in the OpenAPI document; every API call in
//! web/src is a documented operation; web/openapi.json (the console's API
//! types come from it) is the document the control plane serves.
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::body::Body;
use common::{Backend, TestApp};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use orrery_control_plane::auth::{CSRF_COOKIE, CSRF_HEADER};
use orrery_control_plane::console::{ASSETS, INDEX_HTML};
use orrery_control_plane::roles::AccountRole;
use tower::ServiceExt;

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every hand-written source file of the console under web/src (relative
/// name, text), read when the test runs so a file added there is checked
/// without anyone remembering this test. Generated types are left out.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
                continue;
            }
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            let code = name.ends_with(".ts") || name.ends_with(".tsx");
            if code && !name.ends_with(".gen.ts") {
                out.push((name, read(&path)));
            }
        }
    }
    let root = web_dir().join("src");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    assert!(files.iter().any(|(n, _)| n == "api/http.ts"), "{files:?}");
    files
}

fn source(name: &str) -> String {
    read(&web_dir().join("src").join(name))
}

struct Page {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Page {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
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
        body: bytes.to_vec(),
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
    assert_eq!(
        page.header(header::REFERRER_POLICY),
        "no-referrer",
        "{what}"
    );
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
    // Revalidated each time: a new binary's page (naming new assets) is seen at once.
    assert_eq!(page.header(header::CACHE_CONTROL), "no-cache");
    assert_eq!(page.body, INDEX_HTML);
    let html = page.text();
    // The page loads the bundle's script and stylesheet from /assets/, each
    // of them embedded; nothing inline that the policy would (rightly) block.
    let tag = regex::Regex::new(r"(?i)<script\b[^>]*>").unwrap();
    let scripts: Vec<_> = tag.find_iter(&html).map(|m| m.as_str()).collect();
    assert!(!scripts.is_empty(), "{html}");
    for script in &scripts {
        assert!(
            script.contains(" src=\"/assets/"),
            "inline script: {script}"
        );
    }
    let linked = regex::Regex::new(r#"(?:src|href)="/assets/([^"]+)""#).unwrap();
    let names: Vec<_> = linked
        .captures_iter(&html)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".js")), "{html}");
    assert!(names.iter().any(|n| n.ends_with(".css")), "{html}");
    for name in &names {
        assert!(
            ASSETS.iter().any(|(asset, _, _)| asset == name),
            "index.html loads /assets/{name}, which is not embedded"
        );
    }
    let inline =
        regex::Regex::new(r#"(?i)<style\b|\son[a-z]+\s*=|\sstyle\s*=|javascript:"#).unwrap();
    assert!(!inline.is_match(&html), "inline code in index.html");

    // HEAD answers too; other methods on the page are not allowed.
    assert_eq!(fetch(&app, Method::HEAD, "/").await.status, StatusCode::OK);
    let post = fetch(&app, Method::POST, "/").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        post.header(header::CONTENT_TYPE),
        "application/problem+json"
    );

    // The console's own routes (History API) answer the page, so a reload
    // or a shared link lands on it; so does a stray path (the console says
    // it has no such page).
    let routes = regex::Regex::new(r#"pattern: "(/[^"]*)""#).unwrap();
    let app_tsx = source("App.tsx");
    let mut paths: Vec<String> = routes
        .captures_iter(&app_tsx)
        .map(|c| c[1].replace(":id", "orders.acme"))
        .collect();
    assert!(paths.len() >= 8, "{paths:?}");
    paths.extend(["/login", "/signup", "/accept-invitation", "/some/page?x=1"].map(String::from));
    for path in &paths {
        let page = fetch(&app, Method::GET, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.body, INDEX_HTML, "{path}");
        assert_hardened(&page, path);
    }
}

#[tokio::test]
async fn assets_have_their_content_types_and_are_cached_for_good() {
    let app = TestApp::start(Backend::Sqlite).await;
    let hashed = regex::Regex::new(r"-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$").unwrap();
    for &(name, content_type, body) in ASSETS {
        let extension = name.rsplit_once('.').map(|(_, ext)| ext);
        let expected = match extension {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => content_type,
        };
        let path = format!("/assets/{name}");
        let page = fetch(&app, Method::GET, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path} is not served");
        assert_eq!(page.header(header::CONTENT_TYPE), expected, "{path}");
        assert_hardened(&page, &path);
        assert_eq!(page.body, body, "{path}");
        // Vite names each file by its content's hash: a year, immutable.
        assert!(
            hashed.is_match(name),
            "{name} has no content hash in its name: it must not be cached for good"
        );
        assert_eq!(
            page.header(header::CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(
            fetch(&app, Method::HEAD, &path).await.status,
            StatusCode::OK
        );
    }
    assert!(
        ASSETS.len() >= 2,
        "{:?}",
        ASSETS.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    // What the bundle does not have is the API's 404, not the page.
    for path in ["/assets/nope.js", "/assets/", "/assets/x/y.js"] {
        let missing = fetch(&app, Method::GET, path).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            missing.header(header::CONTENT_TYPE),
            "application/problem+json",
            "{path}"
        );
    }
    // No code built from strings in the bundle either.
    for &(name, _, body) in ASSETS {
        if name.ends_with(".js") {
            let text = String::from_utf8_lossy(body);
            assert!(!text.contains("eval("), "{name} calls eval");
        }
    }
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

/// `/api/v1/namespaces/{namespace}` and `/api/v1/namespaces/{id}` are the
/// same route: every parameter becomes `{}`.
fn shape(path: &str) -> String {
    let param = regex::Regex::new(r"\{[^}]*\}").unwrap();
    param.replace_all(path, "{}").into_owned()
}

/// The `(method, path)` of every `.request("METHOD", "/api/v1/…")` call
/// and `.url("GET", "/api/v1/…")` link (downloads the browser makes itself,
/// GETs authenticated by the session cookie) in a source file.
type Call = (String, String);

/// The control plane's calls and links, and the calls made on a cell's
/// Temporal HTTP API (`cell.request(…)`, web/src/api/cell.ts), which the
/// control plane's document does not describe.
struct Calls {
    calls: Vec<Call>,
    links: Vec<Call>,
    cell: Vec<Call>,
}

fn calls_in(code: &str) -> Calls {
    let call = regex::Regex::new(r#"(\w+)\s*\.(request|url)\(\s*"([A-Z]+)",\s*"(/api/v1/[^"?]*)""#)
        .unwrap();
    let mut found = Calls {
        calls: Vec::new(),
        links: Vec::new(),
        cell: Vec::new(),
    };
    for c in call.captures_iter(code) {
        let one = (c[3].to_lowercase(), shape(&c[4]));
        match (&c[1], &c[2]) {
            ("cell", "request") => found.cell.push(one),
            (_, "url") => found.links.push(one),
            _ => found.calls.push(one),
        }
    }
    found
}

/// The `(method, path)` operations of Temporal's OpenAPI v3 document in the
/// `temporalio-protos` crate (the one web/scripts/cell-api-types.mjs types
/// the cell client from), found as that script finds it.
fn cell_operations() -> BTreeSet<Call> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("ORRERY_TEMPORALIO_PROTOS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let lock = read(&root.join("Cargo.lock"));
            let version = lock
                .split("[[package]]")
                .find(|p| p.contains("name = \"temporalio-protos\""))
                .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .expect("Cargo.lock pins temporalio-protos");
            let home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
            let registry = home.join("registry/src");
            std::fs::read_dir(&registry)
                .unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
                .map(|e| {
                    e.unwrap()
                        .path()
                        .join(format!("temporalio-protos-{version}"))
                })
                .find(|p| p.is_dir())
                .expect("temporalio-protos unpacked under CARGO_HOME (cargo fetch)")
        }
    };
    let doc = read(&dir.join("protos/api_upstream/openapi/openapiv3.yaml"));
    // `paths:` maps each path (2 spaces in) to its methods (4 spaces in).
    let mut ops = BTreeSet::new();
    let mut path: Option<String> = None;
    let mut in_paths = false;
    for line in doc.lines() {
        if line.trim().is_empty() {
            continue; // inside a block of text
        }
        if !line.starts_with(' ') {
            in_paths = line == "paths:";
            path = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = Some(shape(&format!("/{p}")));
        } else if let (Some(p), Some(m)) = (
            &path,
            line.strip_prefix("    ").and_then(|m| m.strip_suffix(':')),
        ) && ["get", "post", "put", "delete", "patch"].contains(&m)
        {
            ops.insert((m.to_owned(), p.clone()));
        }
    }
    assert!(ops.len() > 100, "too few operations read: {}", ops.len());
    ops
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
    let mut cell_used = BTreeSet::new();
    let site = regex::Regex::new(r"\.(request|url)\(").unwrap();
    for (name, code) in sources() {
        let Calls {
            calls,
            links: urls,
            cell,
        } = calls_in(&code);
        // Every call site was understood (none escapes the check with a
        // path built elsewhere), and the one fetch is inside the client in
        // api/http.ts: pages call it with a literal path template
        // (TypeScript checks each against the generated types too).
        // api/cell.ts wraps the cell's client to renew its token first: its
        // one generic `client.request(...args)` forwards the pages' calls.
        if name != "api/http.ts" && name != "api/cell.ts" {
            assert_eq!(
                calls.len() + urls.len() + cell.len(),
                site.find_iter(&code).count(),
                "a call in web/src/{name} is not .request(\"METHOD\", \"/api/v1/…\")"
            );
        }
        let fetches = if name == "api/http.ts" { 1 } else { 0 };
        assert_eq!(
            code.matches("fetch(").count(),
            fetches,
            "web/src/{name} fetches outside api/http.ts"
        );
        for sink in ["XMLHttpRequest", "sendBeacon", "EventSource", "WebSocket"] {
            assert!(!code.contains(sink), "web/src/{name} uses {sink}");
        }
        used.extend(calls);
        links.extend(urls);
        cell_used.extend(cell);
    }
    // The workflow and schedule pages call routes Temporal's HTTP API has.
    let cell_documented = cell_operations();
    let cell_undocumented: Vec<_> = cell_used.difference(&cell_documented).collect();
    assert!(
        cell_undocumented.is_empty(),
        "not routes of Temporal's HTTP API: {cell_undocumented:?}"
    );
    for needed in [
        ("get", "/api/v1/namespaces/{}/workflows"),
        ("get", "/api/v1/namespaces/{}/workflow-count"),
        ("get", "/api/v1/namespaces/{}/workflows/{}/history"),
        ("post", "/api/v1/namespaces/{}/workflows/{}/terminate"),
        ("get", "/api/v1/namespaces/{}/schedules"),
    ] {
        let needed = (needed.0.to_owned(), needed.1.to_owned());
        assert!(
            cell_used.contains(&needed),
            "the console never calls {needed:?} on a cell"
        );
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
        ("get", "/api/v1/me"),
        ("post", "/api/v1/invitations/accept"),
        ("get", "/api/v1/namespaces"),
        ("post", "/api/v1/namespaces"),
        ("patch", "/api/v1/namespaces/{}"),
        ("delete", "/api/v1/namespaces/{}"),
        ("put", "/api/v1/namespaces/{}/mtls"),
        ("post", "/api/v1/namespaces/{}/mtls/generated-ca"),
        ("post", "/api/v1/namespaces/{}/mtls/client-certificates"),
        ("put", "/api/v1/namespaces/{}/permissions/{}"),
        ("post", "/api/v1/api-keys"),
        ("post", "/api/v1/api-keys/{}/disable"),
        ("post", "/api/v1/api-keys/{}/enable"),
        ("delete", "/api/v1/api-keys/{}"),
        ("post", "/api/v1/users"),
        ("patch", "/api/v1/users/{}"),
        ("post", "/api/v1/service-accounts"),
        ("get", "/api/v1/audit-log"),
        ("get", "/api/v1/usage"),
        ("get", "/api/v1/invoices/preview"),
        ("post", "/api/v1/me/password"),
        ("post", "/api/v1/namespaces/{}/console-token"),
    ] {
        let needed = (needed.0.to_owned(), needed.1.to_owned());
        assert!(used.contains(&needed), "the console never calls {needed:?}");
    }
}

#[test]
fn the_console_sends_the_csrf_token_the_api_checks() {
    // The header and cookie names are the server's, not copies that could drift.
    let client = source("api/control-plane.ts");
    assert!(
        client.contains(&format!(r#"const CSRF_HEADER = "{CSRF_HEADER}";"#)),
        "api/control-plane.ts does not send the {CSRF_HEADER} header"
    );
    assert!(
        client.contains(&format!(r#"const CSRF_COOKIE = "{CSRF_COOKIE}";"#)),
        "api/control-plane.ts does not read the {CSRF_COOKIE} cookie"
    );
    assert!(client.contains("[CSRF_HEADER]: token"));
    assert!(source("api/http.ts").contains(r#"credentials: "same-origin""#));
    // No HTML parsing of data, no code from strings: React builds the pages.
    for (name, code) in sources() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "dangerouslySetInnerHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!code.contains(sink), "web/src/{name} uses {sink}");
        }
    }
}

/// The role lists web/src/roles.ts decides its navigation by are the server's.
#[test]
fn the_console_shows_each_role_the_pages_the_api_lets_it_use() {
    let roles_ts = source("roles.ts");
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
        let re = regex::Regex::new(&format!(
            r#"export const {name}: AccountRole\[\] = \[([^\]]*)\];"#
        ))
        .unwrap();
        let found = re
            .captures(&roles_ts)
            .unwrap_or_else(|| panic!("roles.ts has no {name} list"));
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
    // The pages are gated by those lists.
    let app_tsx = source("App.tsx");
    for route in [
        r#"pattern: "/usage", title: "Usage", nav: "Usage", allowed: readsUsage"#,
        r#"pattern: "/audit", title: "Audit log", nav: "Audit log", allowed: managesAccount"#,
        r#"pattern: "/namespaces", title: "Namespaces", nav: "Namespaces", allowed: readsAccount"#,
    ] {
        assert!(app_tsx.contains(route), "App.tsx lacks {route}");
    }
}

/// The console's API types are generated from web/openapi.json
/// (`npm run generate-api`); that copy must be the document the control
/// plane serves, or the types describe an API that is not there.
#[tokio::test]
async fn the_consoles_copy_of_the_openapi_document_is_current() {
    let app = TestApp::start(Backend::Sqlite).await;
    let served = app.anon().get("/api/v1/openapi.json").await.ok(200).clone();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/openapi.json");
    let fresh = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("ORRERY_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap_or_default();
    assert!(
        committed == served,
        "web/openapi.json is not the document the control plane serves at /api/v1/openapi.json; \
         refresh it and the console's types with\n  \
         ORRERY_UPDATE_OPENAPI=1 cargo test -p orrery-control-plane --test console openapi \
         && (cd web && npm run generate-api)"
    );
}
