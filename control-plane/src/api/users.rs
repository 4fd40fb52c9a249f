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
use crate::store::{User, UserState};
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

/// Only an owner hands out or takes away the owner role.
fn check_owner_change(
    caller: &Caller,
    from: Option<AccountRole>,
    to: Option<AccountRole>,
) -> Result<(), ApiError> {
    let touches_owner = from == Some(AccountRole::Owner) || to == Some(AccountRole::Owner);
    if touches_owner && caller.role != AccountRole::Owner {
        return Err(ApiError::forbidden(
            "only an owner can grant or remove the owner role",
        ));
    }
    Ok(())
}

async fn last_owner(state: &AppState, user: &User) -> Result<bool, ApiError> {
    if user.role != AccountRole::Owner {
        return Ok(false);
    }
    let owners = state
        .store
        .users(&user.account_id)
        .await?
        .into_iter()
        .filter(|u| u.role == AccountRole::Owner && u.state == UserState::Active)
        .count();
    Ok(owners <= 1)
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
        check_owner_change(&caller, Some(user.role), Some(req.role))?;
        if req.role != AccountRole::Owner && last_owner(&state, &user).await? {
            return Err(ApiError::Conflict(
                "the account's last owner keeps the owner role".into(),
            ));
        }
        if !state
            .store
            .update_user_role(&caller.account_id, &id, req.role, &audit)
            .await?
        {
            return Err(ApiError::NotFound);
        }
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
        if last_owner(&state, &user).await? {
            return Err(ApiError::Conflict(
                "the account's last owner cannot be removed".into(),
            ));
        }
        if !state
            .store
            .delete_user(&caller.account_id, &id, &audit)
            .await?
        {
            return Err(ApiError::NotFound);
        }
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

/// Accepts an invitation with a password; then log in as usual.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "users",
    request_body = AcceptInvitation,
    responses((status = 200, body = UserView), ErrorResponses))]
async fn accept_invitation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> Result<Json<UserView>, ApiError> {
    // The email is checked against the password once the token named the user.
    check_password("password", &req.password, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let hash = hash_password(req.password.clone()).await?;
    let user = state
        .store
        .accept_invite(&sha256_hex(&req.token), &hash, now_ms(), &ip)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(user.into()))
}
