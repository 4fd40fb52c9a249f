//! Users of an account, their roles and invitations.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{audited, hash_password, new_id, now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, ClientIp};
use crate::problem::{ApiError, ErrorResponses};
use crate::roles::AccountRole;
use crate::secret::{random_token, sha256_hex};
use crate::store::{OwnerGuarded, User, UserState};
use crate::validate::{check_password, normalize_email};

const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, invite_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(accept_invitation))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: AccountRole,
    /// `invited` until the invitation is accepted.
    pub state: UserState,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            role: u.role,
            state: u.state,
            created_at: time(u.created_ms),
        }
    }
}

const OWNER_ONLY: &str = "only an owner can grant or remove the owner role";

/// Only an owner hands out or takes away the owner role. Checked here on the
/// role read before the change, and again by the store in the change's
/// transaction (the user may have been made an owner in between).
fn check_owner_change(
    caller: &Caller,
    from: Option<AccountRole>,
    to: Option<AccountRole>,
) -> Result<(), ApiError> {
    let touches_owner = from == Some(AccountRole::Owner) || to == Some(AccountRole::Owner);
    if touches_owner && caller.role != AccountRole::Owner {
        return Err(ApiError::forbidden(OWNER_ONLY));
    }
    Ok(())
}

/// The store checks the last owner in the transaction that changes it
/// (a check made here first would race with a concurrent demotion).
fn owner_guarded(outcome: OwnerGuarded, last_owner: &str) -> Result<(), ApiError> {
    match outcome {
        OwnerGuarded::Done => Ok(()),
        OwnerGuarded::NotFound => Err(ApiError::NotFound),
        OwnerGuarded::LastOwner => Err(ApiError::Conflict(last_owner.into())),
        OwnerGuarded::OwnerOnly => Err(ApiError::forbidden(OWNER_ONLY)),
    }
}

/// The account's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserView>), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require_reader()?;
    let users = state.store.users(&caller.account_id).await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    pub role: AccountRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteResponse {
    pub user: UserView,
    /// Shown once: the invitee accepts with it at `POST /api/v1/invitations/accept`.
    pub invite_token: String,
    pub invite_expires_at: chrono::DateTime<chrono::Utc>,
}

/// `metrics_read` is a service account's role (Cloud's Metrics Read-Only):
/// a user holding it could sign in and then do nothing, not even sign out.
fn check_user_role(role: AccountRole) -> Result<(), ApiError> {
    if role == AccountRole::MetricsRead {
        return Err(ApiError::field(
            "role",
            "metrics_read is for service accounts (an API key that scrapes /api/v1/metrics), not users",
        ));
    }
    Ok(())
}

/// Invites a user into the account with a role (owner and admin only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = InviteRequest,
    responses((status = 201, body = InviteResponse), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn invite_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<InviteResponse>), ApiError> {
    let id = new_id();
    let mut audit = caller.audit("user.invite", format!("user:{id}"));
    audit.detail = format!("role {}", req.role.as_str());
    let result = async {
        caller.require_manager()?;
        check_user_role(req.role)?;
        check_owner_change(&caller, None, Some(req.role))?;
        let email =
            normalize_email("email", &req.email).map_err(|e| ApiError::Validation(vec![e]))?;
        if state.store.user_by_email(&email).await?.is_some() {
            return Err(ApiError::Conflict("a user with this email exists".into()));
        }
        let token = random_token();
        let now = now_ms();
        let user = User {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            email,
            role: req.role,
            state: UserState::Invited,
            password_hash: None,
            created_ms: now,
        };
        let expires = now + INVITE_TTL_MS;
        state
            .store
            .invite_user(&user, &sha256_hex(&token), expires, &audit)
            .await?;
        Ok((
            StatusCode::CREATED,
            Json(InviteResponse {
                user: user.into(),
                invite_token: token,
                invite_expires_at: time(expires),
            }),
        ))
    }
    .await;
    audited(&state, &audit, result).await
}

/// One user of the account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_reader()?;
    let user = state
        .store
        .user(&caller.account_id, &id.to_string())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(user.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub role: AccountRole,
}

/// Changes a user's account role (owner and admin only; the owner role
/// only by an owner; the last owner keeps it).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path)),
    request_body = UserUpdate,
    responses((status = 200, body = UserView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> Result<Json<UserView>, ApiError> {
    let id = id.to_string();
    let mut audit = caller.audit("user.update_role", format!("user:{id}"));
    audit.detail = format!("role {}", req.role.as_str());
    let result = async {
        caller.require_manager()?;
        let mut user = state
            .store
            .user(&caller.account_id, &id)
            .await?
            .ok_or(ApiError::NotFound)?;
        check_user_role(req.role)?;
        check_owner_change(&caller, Some(user.role), Some(req.role))?;
        let by_owner = caller.role == AccountRole::Owner;
        owner_guarded(
            state
                .store
                .update_user_role(&caller.account_id, &id, req.role, by_owner, &audit)
                .await?,
            "the account's last owner keeps the owner role",
        )?;
        user.role = req.role;
        Ok(Json(user.into()))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Removes a user with their sessions, API keys and namespace permissions.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let id = id.to_string();
    let audit = caller.audit("user.delete", format!("user:{id}"));
    let result = async {
        caller.require_manager()?;
        let user = state
            .store
            .user(&caller.account_id, &id)
            .await?
            .ok_or(ApiError::NotFound)?;
        check_owner_change(&caller, Some(user.role), None)?;
        let by_owner = caller.role == AccountRole::Owner;
        owner_guarded(
            state
                .store
                .delete_user(&caller.account_id, &id, by_owner, &audit)
                .await?,
            "the account's last owner cannot be removed",
        )?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&state, &audit, result).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    /// At least 12 characters.
    pub password: String,
}

/// Accepts an invitation with a password; then log in as usual. Limited
/// per source address (429 with `Retry-After`); an unknown, spent or
/// expired token is 404.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "users",
    request_body = AcceptInvitation,
    responses(
        (status = 200, body = UserView),
        (status = 429, description = "Too many attempts from this address; `Retry-After` says when to retry", headers(("retry-after" = u64, description = "Seconds")), body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every password-hashing slot is busy; `Retry-After` says when to retry", headers(("retry-after" = u64, description = "Seconds")), body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses))]
async fn accept_invitation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> Result<Json<UserView>, ApiError> {
    state.bounds.invitation_accepts.check(&ip).await?;
    let token_hash = sha256_hex(&req.token);
    // The token first: without a live invitation there is nothing to hash
    // a password for, so an anonymous caller buys no Argon2 work.
    let invited = state
        .store
        .invitation(&token_hash, now_ms())
        .await?
        .ok_or(ApiError::NotFound)?;
    check_password("password", &req.password, &invited.email)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let hash = hash_password(&state, req.password).await?;
    // Accepting re-checks the token: a concurrent accept spends it once.
    let user = state
        .store
        .accept_invite(&token_hash, &hash, now_ms(), &ip)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(user.into()))
}

/// Removes expired invitations every `interval` until the process ends
/// (they could not be accepted anyway; this keeps them from piling up and
/// frees their emails).
pub async fn purge_expired_invitations(state: AppState, interval: std::time::Duration) {
    use tracing::Instrument;
    crate::limits::every(interval, || {
        async {
            match state.store.purge_expired_invitations(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired invitations removed"),
                Err(e) => tracing::warn!(error = %e, "removing expired invitations"),
            }
        }
        .instrument(tracing::info_span!("purge_expired_invitations"))
    })
    .await
}
