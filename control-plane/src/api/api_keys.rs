//! API keys: JWTs signed by the control plane, shown once. Only their
//! sha256 is stored. A key acts as its owner (a user or a service account)
//! both on cells and on this API.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::Principal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{audited, new_id, now_ms, time};
use crate::app::AppState;
use crate::auth::{Caller, Credential};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses};
use crate::secret::sha256_hex;
use crate::store::ApiKey;
use crate::validate::{Checks, check_name, check_range};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(get_api_key, delete_api_key))
        .routes(routes!(disable_api_key))
        .routes(routes!(enable_api_key))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Also the token's `jti`.
    pub id: String,
    /// `user:<id>` or `service-account:<id>`.
    pub owner: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            owner: k.owner,
            name: k.name,
            description: k.description,
            enabled: k.enabled,
            expires_at: time(k.expires_ms),
            created_by: k.created_by,
            created_at: time(k.created_ms),
        }
    }
}

/// Managers see every key of the account; everyone else only their own.
/// A key the caller may not see is 404.
async fn key_for(state: &AppState, caller: &Caller, id: &Uuid) -> Result<ApiKey, ApiError> {
    let key = state
        .store
        .api_key(&caller.account_id, &id.to_string())
        .await?
        .ok_or(ApiError::NotFound)?;
    if caller.role.manages_account() || key.owner == caller.principal.to_string() {
        Ok(key)
    } else {
        Err(ApiError::NotFound)
    }
}

/// API keys of the caller (all of the account's for owners and admins).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = Vec<ApiKeyView>), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let me = caller.principal.to_string();
    let owner = (!caller.role.manages_account()).then_some(me.as_str());
    let keys = state.store.api_keys(&caller.account_id, owner).await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `service-account:<id>` to create a key for a service account (owner
    /// and admin only); the caller if omitted.
    pub owner: Option<String>,
    /// 1–90 days.
    pub expiry_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub api_key: ApiKeyView,
    /// The secret, shown once: send it as `authorization: Bearer <token>`.
    pub token: String,
}

/// When the API key the caller presented expires (ms); None for a session.
/// Whatever such a caller creates that authenticates on its own (API keys,
/// client certificates, CAs) must expire no later: a leaked key, otherwise,
/// could extend itself for ever.
pub(crate) async fn presenting_key_expiry(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<i64>, ApiError> {
    let Credential::ApiKey { id } = &caller.credential else {
        return Ok(None);
    };
    let presenting = state
        .store
        .api_key(&caller.account_id, id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Some(presenting.expires_ms))
}

/// The 422 for a credential `what` that would outlive the presenting key,
/// naming `field`. Refused (not clamped) so the caller sees why.
pub(crate) fn outlives_presenting_key(field: &str, what: &str, key_expires_ms: i64) -> ApiError {
    ApiError::field(
        field,
        format!(
            "{what} created with an API key cannot outlive it: the presenting key expires at {}",
            time(key_expires_ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    )
}

async fn check_outlives_presenting_key(
    state: &AppState,
    caller: &Caller,
    expires_ms: i64,
) -> Result<(), ApiError> {
    match presenting_key_expiry(state, caller).await? {
        Some(key_expires) if expires_ms > key_expires => {
            Err(outlives_presenting_key("expiry_days", "a key", key_expires))
        }
        _ => Ok(()),
    }
}

/// Creates an API key. Created with an API key, it expires no later than
/// that key (422 naming `expiry_days` otherwise).
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys",
    request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyCreated), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ApiKeyCreate>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let id = new_id();
    let audit = caller.audit("api_key.create", format!("api-key:{id}"));
    let result = async {
        let mut checks = Checks::default();
        checks
            .add(check_name("name", &req.name, 64))
            .add(check_range("expiry_days", req.expiry_days, 1, 90));
        checks.done()?;
        let owner = match req.owner.as_deref() {
            None => caller.principal.clone(),
            Some(text) => text
                .parse::<Principal>()
                .map_err(|_| ApiError::field("owner", "expected service-account:<id>"))?,
        };
        if owner != caller.principal {
            let Principal::ServiceAccount(sa_id) = &owner else {
                return Err(ApiError::forbidden(
                    "keys are created for oneself or for a service account",
                ));
            };
            caller.require_manager()?;
            if state
                .store
                .service_account(&caller.account_id, sa_id)
                .await?
                .is_none()
            {
                return Err(ApiError::field(
                    "owner",
                    "no such service account in this account",
                ));
            }
        }
        let now = now_ms();
        let expires_ms = now + i64::from(req.expiry_days) * 86_400_000;
        check_outlives_presenting_key(&state, &caller, expires_ms).await?;
        let minted = state
            .signer
            .mint(
                &id,
                &owner.to_string(),
                &caller.account_id,
                u64::try_from(now / 1000).unwrap_or(0),
                u64::try_from(expires_ms / 1000).unwrap_or(0),
            )
            .await
            .map_err(|e| ApiError::Internal(format!("signing an API key: {e}")))?;
        let token = minted.token;
        let key = ApiKey {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            owner: owner.to_string(),
            name: req.name.trim().to_owned(),
            description: req.description,
            enabled: true,
            expires_ms,
            created_by: caller.principal.to_string(),
            created_ms: now,
        };
        state
            .store
            .create_api_key(&key, &sha256_hex(&token), &minted.kid, &audit)
            .await?;
        Ok((
            StatusCode::CREATED,
            Json(ApiKeyCreated {
                api_key: key.into(),
                token,
            }),
        ))
    }
    .await;
    audited(&state, &audit, result).await
}

/// One API key (never its secret).
#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApiKeyView>, ApiError> {
    Ok(Json(key_for(&state, &caller, &id).await?.into()))
}

async fn set_enabled(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    enabled: bool,
) -> Result<Json<ApiKeyView>, ApiError> {
    let action = if enabled {
        "api_key.enable"
    } else {
        "api_key.disable"
    };
    let audit = caller.audit(action, format!("api-key:{id}"));
    let result = async {
        let mut key = key_for(state, caller, &id).await?;
        if !state
            .store
            .set_api_key_enabled(&caller.account_id, &key.id, enabled, &audit)
            .await?
        {
            return Err(ApiError::NotFound);
        }
        key.enabled = enabled;
        Ok(Json(key.into()))
    }
    .await;
    audited(state, &audit, result).await
}

/// Disables a key: cells refuse it within a snapshot poll.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/disable", tag = "api-keys",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn disable_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApiKeyView>, ApiError> {
    set_enabled(&state, &caller, id, false).await
}

/// Enables a disabled key again.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/enable", tag = "api-keys",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn enable_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApiKeyView>, ApiError> {
    set_enabled(&state, &caller, id, true).await
}

/// Deletes a key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let audit = caller.audit("api_key.delete", format!("api-key:{id}"));
    let result = async {
        let key = key_for(&state, &caller, &id).await?;
        if state
            .store
            .delete_api_key(&caller.account_id, &key.id, &audit)
            .await?
        {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &audit, result).await
}
