//! The web console: three static files from `web/`, compiled into the
//! binary and served at `/` and `/assets/*`. It is a client of the public
//! REST API only; its routes are not in the OpenAPI document. Navigation is
//! by URL fragment (`#/namespaces`), so any other page path outside `/api/`
//! and `/internal/` answers the same page.
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::problem::ApiError;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// Scripts and styles from this origin only, no inline code, no plugins, no
/// framing, requests to this origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// Routes for the console's files; merged beside the API, outside the
/// OpenAPI document.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/style.css", get(style_css))
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

async fn app_js() -> Response {
    file("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> Response {
    file("text/css; charset=utf-8", STYLE_CSS)
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
