//! Signup and the caller's account.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::UserView;
use super::{audited, hash_password, new_id, now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, ClientIp};
use crate::problem::{ApiError, ErrorResponses};
use crate::roles::AccountRole;
use crate::store::{Account, Audit, StoreError, User, UserState};
use crate::validate::{Checks, check_name, check_password, normalize_email};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(get_account))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// The account's display name.
    pub account_name: String,
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    /// Namespace ids of the account end in `.<slug>`.
    pub slug: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            name: a.name,
            slug: a.slug,
            created_at: time(a.created_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub account: AccountView,
    /// The account's owner; log in with its email and password.
    pub user: UserView,
}

/// Creates an account and its owner. Limited per source address
/// (`--signups-per-ip` a minute): beyond, 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/signup", tag = "accounts",
    request_body = SignupRequest,
    responses(
        (status = 201, body = SignupResponse),
        (status = 429, description = "Too many signups from this address; `Retry-After` says when to retry", headers(("retry-after" = u64, description = "Seconds")), body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every password-hashing slot is busy; `Retry-After` says when to retry", headers(("retry-after" = u64, description = "Seconds")), body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses))]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), ApiError> {
    // Charged before anything else: every signup costs an Argon2 hash and
    // may create an account, and no credential stands behind it.
    state.bounds.signups.check(&ip).await?;
    let email = normalize_email("email", &req.email);
    let mut checks = Checks::default();
    checks
        .add(check_name("account_name", &req.account_name, 100))
        .add(email.as_ref().map(|_| ()).map_err(Clone::clone));
    if let Ok(email) = &email {
        checks.add(check_password("password", &req.password, email));
    }
    checks.done()?;
    let email = email.map_err(|e| ApiError::Validation(vec![e]))?;
    let taken = || ApiError::Conflict("an account with this email exists".into());
    // Before the hash: a taken email costs no Argon2 work.
    if state.store.user_by_email(&email).await?.is_some() {
        return Err(taken());
    }
    let password_hash = hash_password(&state, req.password).await?;
    let user_id = new_id();
    let mut audit = Audit {
        actor: format!("user:{user_id}"),
        action: "account.signup".into(),
        source_ip: ip,
        ..Default::default()
    };
    // A slug collision (36^8 of them) only costs a retry.
    for _ in 0..3 {
        let now = now_ms();
        let account = Account {
            id: new_id(),
            name: req.account_name.trim().to_owned(),
            slug: crate::secret::random_slug(8),
            created_ms: now,
        };
        let user = User {
            id: user_id.clone(),
            account_id: account.id.clone(),
            email: email.clone(),
            role: AccountRole::Owner,
            state: UserState::Active,
            password_hash: Some(password_hash.clone()),
            created_ms: now,
        };
        audit.account_id = Some(account.id.clone());
        audit.target = format!("account:{}", account.id);
        match state.store.create_account(&account, &user, &audit).await {
            Ok(()) => {
                return Ok((
                    StatusCode::CREATED,
                    Json(SignupResponse {
                        account: account.into(),
                        user: user.into(),
                    }),
                ));
            }
            Err(StoreError::Conflict) => {
                if state.store.user_by_email(&email).await?.is_some() {
                    return audited(&state, &audit, Err(taken())).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal(
        "no free account slug after 3 tries".into(),
    ))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/account", tag = "accounts",
    responses((status = 200, body = AccountView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccountView>, ApiError> {
    let account = state
        .store
        .account(&caller.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(account.into()))
}
