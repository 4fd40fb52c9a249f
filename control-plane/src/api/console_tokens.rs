//! Console tokens: how the web console, signed in with a session cookie,
//! calls a cell's Temporal HTTP API (workflow views) as its user. The token
//! is a JWT of the API-key kind with its own audience, a user's, living
//! five minutes; a cell accepts it for exactly the grants that user holds in
//! the auth snapshot (docs/security.md), so a reader's token cannot
//! terminate and no token reaches another account's namespace.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::{CONSOLE_TOKEN_MAX_TTL, Permission};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::namespaces::{http_endpoint, namespace_for};
use super::{now_ms, time};
use crate::app::AppState;
use crate::auth::{Caller, Credential};
use crate::extract::ApiPath;
use crate::problem::{ApiError, ErrorResponses};
use crate::roles::effective_permission;

/// How long a console token lives; the console asks for a new one before.
const CONSOLE_TOKEN_TTL_SECS: u64 = 300;
const _: () = assert!(CONSOLE_TOKEN_TTL_SECS <= CONSOLE_TOKEN_MAX_TTL);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_console_token))
}

/// A short-lived credential for the namespace's Temporal HTTP API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleToken {
    /// Send as `authorization: Bearer <token>` to `http_endpoint`.
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The cell's HTTP API (`http(s)://host:port`); empty when its cell
    /// serves none.
    pub http_endpoint: String,
    /// The Temporal namespace to name in its routes (the namespace id).
    pub namespace: String,
    /// What the token may do there: the caller's own permission.
    pub permission: Permission,
}

/// A console token for one namespace (users only, with a permission on it).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/console-token", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    responses((status = 201, body = ConsoleToken), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn create_console_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<ConsoleToken>), ApiError> {
    // Another account's namespace is not found, whoever asks.
    let ns = namespace_for(&state, &caller, &id, Some(Permission::Read)).await?;
    let Some(user) = caller.user_id() else {
        return Err(ApiError::forbidden(
            "console tokens are for users; a service account uses its API key",
        ));
    };
    // A signed-in browser only: minted with an API key, a token could
    // outlive the key that asked for it.
    if !matches!(caller.credential, Credential::Session { .. }) {
        return Err(ApiError::forbidden(
            "console tokens are minted for a signed-in session; a program uses its API key",
        ));
    }
    let granted = state
        .store
        .grant(&ns.id, &caller.principal.to_string())
        .await?;
    let permission = effective_permission(caller.role, granted)
        .ok_or_else(|| ApiError::forbidden(format!("no permission on namespace {}", ns.id)))?;
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let expires = now + CONSOLE_TOKEN_TTL_SECS;
    let minted = state
        .signer
        .mint_console(
            &uuid::Uuid::new_v4().to_string(),
            &format!("user:{user}"),
            &caller.account_id,
            &ns.id,
            now,
            expires,
        )
        .await
        .map_err(|e| ApiError::Internal(format!("signing a console token: {e}")))?;
    let cell = state.store.cell(&ns.cell_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsoleToken {
            token: minted.token,
            expires_at: time(i64::try_from(expires).unwrap_or(0) * 1000),
            http_endpoint: http_endpoint(&state, &ns, cell.as_ref()),
            namespace: ns.id,
            permission,
        }),
    ))
}
