//! A namespace's payload codec server, as Temporal Cloud offers it: the
//! console's browser posts payloads to `<endpoint>/decode` before showing
//! them, so payloads a tenant encrypts stay unreadable to us. We keep the
//! address and two browser options; the control plane never calls it.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::namespaces::namespace_for;
use super::search_attributes::body_of;
use super::{audited, now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses, FieldError};
use crate::store::CodecServer;

/// The longest endpoint kept.
const MAX_ENDPOINT_LEN: usize = 512;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        get_codec_server,
        put_codec_server,
        delete_codec_server
    ))
}

/// What the browser does with payloads of this namespace.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodecServerView {
    /// Empty: none; payloads are shown as the API returns them.
    pub endpoint: String,
    /// Send the user's console token (`authorization: Bearer …`).
    pub pass_access_token: bool,
    /// Include the browser's cookies for the codec server's origin.
    pub include_credentials: bool,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodecServerPut {
    /// `https://…`; `http://` only on loopback (`localhost`, `127.0.0.1`),
    /// for a codec server on the user's own machine (the console's page
    /// policy lets it connect to those, and to any `https://` origin).
    pub endpoint: String,
    #[serde(default)]
    pub pass_access_token: bool,
    #[serde(default)]
    pub include_credentials: bool,
}

fn view(codec: Option<CodecServer>) -> CodecServerView {
    match codec {
        Some(c) => CodecServerView {
            endpoint: c.endpoint,
            pass_access_token: c.pass_access_token,
            include_credentials: c.include_credentials,
            updated_at: Some(time(c.updated_ms)),
        },
        None => CodecServerView {
            endpoint: String::new(),
            pass_access_token: false,
            include_credentials: false,
            updated_at: None,
        },
    }
}

/// A codec server must be reached over TLS, except on the user's own
/// machine: the browser sends it payloads and, if asked, a credential.
fn check_endpoint(endpoint: &str) -> Result<String, FieldError> {
    let bad = || {
        FieldError::new(
            "endpoint",
            "an https:// URL (http:// only for localhost), without query or fragment",
        )
    };
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.len() > MAX_ENDPOINT_LEN || endpoint.contains(['?', '#', ' ']) {
        return Err(bad());
    }
    let uri: http::Uri = endpoint.parse().map_err(|_| bad())?;
    let host = uri.host().ok_or_else(bad)?;
    let loopback = matches!(host, "localhost" | "127.0.0.1");
    match uri.scheme_str() {
        Some("https") => Ok(endpoint.to_owned()),
        Some("http") if loopback => Ok(endpoint.to_owned()),
        _ => Err(bad()),
    }
}

/// The namespace's codec server (read permission).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/codec-server", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    responses((status = 200, body = CodecServerView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_codec_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CodecServerView>, ApiError> {
    let ns = namespace_for(&state, &caller, &id, Some(Permission::Read)).await?;
    Ok(Json(view(state.store.codec_server(&ns.id).await?)))
}

/// Sets the namespace's codec server (admin permission on the namespace).
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/codec-server", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    request_body = CodecServerPut,
    responses((status = 200, body = CodecServerView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn put_codec_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<CodecServerView>, ApiError> {
    let mut audit = caller.audit("namespace.codec_server.set", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        // Read only once the caller may change it: one who may not learns
        // nothing from how its body is refused.
        let req: CodecServerPut = body_of(&body)?;
        audit.detail = format!(
            "pass_access_token {}, include_credentials {}",
            req.pass_access_token, req.include_credentials
        );
        let endpoint = check_endpoint(&req.endpoint).map_err(|e| ApiError::Validation(vec![e]))?;
        let codec = CodecServer {
            namespace_id: ns.id,
            endpoint,
            pass_access_token: req.pass_access_token,
            include_credentials: req.include_credentials,
            updated_ms: now_ms(),
        };
        state.store.put_codec_server(&codec, &audit).await?;
        Ok(Json(view(Some(codec))))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Removes the namespace's codec server (admin permission on the namespace).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/codec-server", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    responses((status = 204), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_codec_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let audit = caller.audit("namespace.codec_server.delete", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        if state.store.delete_codec_server(&ns.id, &audit).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &audit, result).await
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_tls_or_loopback() {
        assert_eq!(
            check_endpoint(" https://codec.example.com/v1/ ").unwrap(),
            "https://codec.example.com/v1"
        );
        assert!(check_endpoint("http://localhost:8081").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8081").is_ok());
        assert!(check_endpoint("http://codec.example.com").is_err());
        assert!(check_endpoint("ftp://codec.example.com").is_err());
        assert!(check_endpoint("https://codec.example.com/?x=1").is_err());
        assert!(check_endpoint("not a url").is_err());
        assert!(check_endpoint(&format!("https://a.example/{}", "x".repeat(600))).is_err());
    }
}
