//! The web console: the static files of `web/`, compiled into the binary
//! and served at `/` and `/assets/*`. It is a client of the public
//! REST API only; its routes are not in the OpenAPI document. Navigation is
//! by URL fragment (`#/namespaces`), so any other page path outside `/api/`
//! and `/internal/` answers the same page.
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::problem::ApiError;

const INDEX_HTML: &str = include_str!("../../web/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of `web/` but the page, served as `/assets/<name>`: the
/// scripts are ES modules importing each other by relative path. A file
/// added to `web/` must be listed here; `tests/console.rs` serves each file
/// of the directory and fails on one missing.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("../../web/app.js")),
    ("dom.js", JS, include_str!("../../web/dom.js")),
    ("usage.js", JS, include_str!("../../web/usage.js")),
    ("style.css", CSS, include_str!("../../web/style.css")),
];

/// Scripts and styles from this origin only, no inline code, no plugins, no
/// framing, requests to this origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// Routes for the console's files; merged beside the API, outside the
/// OpenAPI document.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(
        Router::new().route("/", get(index)),
        |router, &(name, content_type, body)| {
            router.route(
                &format!("/assets/{name}"),
                get(move || async move { file(content_type, body) }),
            )
        },
    )
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        // Small files without content hashes: revalidate every time so a
        // new binary's console is picked up at once.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}

async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX_HTML)
}

/// What the router answers for a path no route matched: the API's 404
/// problem under `/api/`, `/internal/` and `/assets/`, and for anything but
/// GET or HEAD; the console's page otherwise.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let api = ["/api/", "/internal/", "/assets/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path == "/api"
        || path == "/internal";
    if api || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::NotFound.into_response();
    }
    index().await
}
