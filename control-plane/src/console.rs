//! The web console: the bundle `build.rs` builds from `web/` (TypeScript and
//! React, bundled by Vite), compiled into the binary and served at `/` and
//! `/assets/*`. It is a client of the public REST API only; its routes are
//! not in the OpenAPI document. It routes on the History API
//! (`/namespaces/orders.acme`), so any other page path outside `/api/`,
//! `/internal/` and `/assets/` answers the same page.
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::problem::ApiError;

// `INDEX_HTML: &[u8]` and `ASSETS: &[(name, content type, bytes)]`, the
// files of the build's `assets/` directory.
include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// Scripts and styles from this origin only, no inline code, no plugins, no
/// framing, requests to this origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// The page: revalidated every time, so a new binary's console (and the
/// asset names it refers to) is picked up at once.
const PAGE_CACHE: &str = "no-cache";
/// Assets are named by the hash of their content: a name never changes
/// meaning, so browsers keep them a year without asking.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// Routes for the console's files; merged beside the API, outside the
/// OpenAPI document.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

fn file(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
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
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
    ];
    (headers, body).into_response()
}

async fn index() -> Response {
    file("text/html; charset=utf-8", PAGE_CACHE, INDEX_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some(&(_, content_type, body)) => file(content_type, ASSET_CACHE, body),
        None => ApiError::NotFound.into_response(),
    }
}

/// What the router answers for a path no route matched: the API's 404
/// problem under `/api/`, `/internal/` and `/assets/`, and for anything but
/// GET or HEAD; the console's page otherwise (a client route, or one the
/// console itself reports as not found).
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
