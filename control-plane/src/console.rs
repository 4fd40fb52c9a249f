//! The web console: the bundle `build.rs` builds from `web/` (TypeScript and
//! React, bundled by Vite), compiled into the binary and served at `/` and
//! `/assets/*`. It is a client of the public REST API only; its routes are
//! not in the OpenAPI document. It routes on the History API
//! (`/namespaces/orders.acme`), so any other page path outside `/api/`,
//! `/internal/` and `/assets/` answers the same page.
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::problem::ApiError;

// `INDEX_HTML: &[u8]` and `ASSETS: &[(name, content type, bytes)]`, the
// files of the build's `assets/` directory.
include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// Scripts and styles from this origin only, no inline code, no plugins, no
/// framing, requests to this origin only: the assets' policy, and the
/// page's but for what it may connect to ([`page_policy`]).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// What the page may connect to besides its origin: the cells' HTTP APIs
/// (workflow views) and the namespaces' codec servers, which tenants name
/// (`https://` anywhere, or plain HTTP on the user's own machine). Scripts
/// stay this origin's only, which is what keeps injected code out; this
/// only lets the page's own code call those servers.
const CODEC_SOURCES: &str = "https: http://localhost:* http://127.0.0.1:*";

/// How long a page policy is reused: page loads are anyone's to make, and
/// each reading of the policy lists the cells.
const POLICY_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// The last page policy read, and when.
#[derive(Default)]
pub struct PolicyCache(std::sync::Mutex<Option<(std::time::Instant, String)>>);

/// The page's policy: [`CONTENT_SECURITY_POLICY`] with `connect-src`
/// widened to [`CODEC_SOURCES`] and the origin of every registered cell's
/// HTTP API that is plain HTTP (a development cell; `https:` covers the
/// rest). Read again after [`POLICY_FRESH_FOR`], so a newly registered cell
/// needs no restart.
async fn page_policy(state: &AppState) -> String {
    let cache = &state.console_policy.0;
    if let Some((at, policy)) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        && at.elapsed() < POLICY_FRESH_FOR
    {
        return policy.clone();
    }
    let policy = read_page_policy(state).await;
    *cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((std::time::Instant::now(), policy.clone()));
    policy
}

async fn read_page_policy(state: &AppState) -> String {
    let mut sources = vec!["'self'".to_string(), CODEC_SOURCES.to_string()];
    // A store error leaves the page stricter, never looser.
    if let Ok(cells) = state.store.cell_loads().await {
        for load in cells {
            if let Some(origin) = http_origin(&load.cell.http_endpoint)
                && !sources.contains(&origin)
            {
                sources.push(origin);
            }
        }
    }
    CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'",
        &format!("connect-src {}", sources.join(" ")),
    )
}

/// `http://host:port` of a plain-HTTP endpoint, if it is one and its host
/// is a plain name (nothing that could end the directive).
fn http_origin(endpoint: &str) -> Option<String> {
    let uri: Uri = endpoint.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let authority = uri.authority()?.as_str();
    authority
        .chars()
        // CSP host sources have no IPv6 literals; such a cell is left out.
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        .then(|| format!("http://{authority}"))
}

/// The page: revalidated every time, so a new binary's console (and the
/// asset names it refers to) is picked up at once.
const PAGE_CACHE: &str = "no-cache";
/// Assets are named by the hash of their content: a name never changes
/// meaning, so browsers keep them a year without asking.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// Routes for the console's files; merged beside the API, outside the
/// OpenAPI document.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

fn file(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
    file_with_policy(
        content_type,
        cache,
        body,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    )
}

fn file_with_policy(
    content_type: &'static str,
    cache: &'static str,
    body: &'static [u8],
    policy: HeaderValue,
) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_SECURITY_POLICY, policy),
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

async fn index(State(state): State<AppState>) -> Response {
    page(&state).await
}

async fn page(state: &AppState) -> Response {
    let policy = HeaderValue::from_str(&page_policy(state).await)
        .unwrap_or(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    file_with_policy("text/html; charset=utf-8", PAGE_CACHE, INDEX_HTML, policy)
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
pub async fn fallback(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let api = ["/api/", "/internal/", "/assets/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path == "/api"
        || path == "/internal";
    if api || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::NotFound.into_response();
    }
    page(&state).await
}

#[cfg(test)]
mod tests {
    use super::http_origin;

    #[test]
    fn only_plain_http_cell_origins_are_added() {
        assert_eq!(
            http_origin("http://127.0.0.1:7243").as_deref(),
            Some("http://127.0.0.1:7243")
        );
        assert_eq!(
            http_origin("http://cell-a.test:7243/").as_deref(),
            Some("http://cell-a.test:7243")
        );
        assert_eq!(http_origin("https://cell-a.test:7243"), None);
        assert_eq!(http_origin(""), None);
        assert_eq!(http_origin("http://a;script-src *"), None);
        assert_eq!(http_origin("http://[::1]:7243"), None);
    }
}
