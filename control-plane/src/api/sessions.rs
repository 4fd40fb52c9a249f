//! Login, logout, the caller, password change.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::AccountView;
use super::users::UserView;
use super::{audited, hash_password, now_ms, time, verify_password};
use crate::app::AppState;
use crate::auth::{CSRF_COOKIE, Caller, Credential, SESSION_COOKIE};
use crate::extract::{ApiJson, ClientIp};
use crate::problem::{ApiError, ErrorResponses};
use crate::roles::AccountRole;
use crate::secret::{random_token, sha256_hex};
use crate::store::{Audit, Session, UserState};
use crate::validate::{check_password, normalize_email};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
    /// Send it back as `x-csrf-token` on every mutating request made with
    /// the session cookie. Also set as the (script-readable) `orrery_csrf` cookie.
    pub csrf_token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The most of a submitted email kept in the audit log and as a rate-limit
/// key: RFC 5321's longest address. A login body may be 256 KiB.
const MAX_LOGGED_EMAIL: usize = 254;

/// `email` cut to [`MAX_LOGGED_EMAIL`] characters, marked when cut.
fn bounded_email(email: &str) -> String {
    match email.char_indices().nth(MAX_LOGGED_EMAIL) {
        None => email.to_owned(),
        Some((end, _)) => format!("{}…[truncated]", &email[..end]),
    }
}

fn cookie(name: &str, value: &str, max_age: u64, http_only: bool) -> HeaderValue {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}{http_only}; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Starts a browser session: sets the `orrery_session` cookie (HttpOnly)
/// and the `orrery_csrf` cookie. Rate-limited per email and per address.
#[utoipa::path(post, path = "/api/v1/login", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse, headers(("set-cookie" = String, description = "orrery_session and orrery_csrf"))),
        (status = 401, description = "Wrong email or password", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; `Retry-After` says when to retry", headers(("retry-after" = u64, description = "Seconds")), body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = req.email.trim().to_lowercase();
    // What was submitted is attacker-chosen text: only a bounded copy is
    // kept, in the limiter's map and in the audit row (never the password).
    let logged = bounded_email(&email);
    state.limits.check(&logged, &ip).await?;
    let mut audit = Audit {
        actor: format!("email:{logged}"),
        action: "session.login".into(),
        target: format!("email:{logged}"),
        source_ip: ip,
        ..Default::default()
    };
    let user = match normalize_email("email", &email) {
        Ok(email) => state.store.user_by_email(&email).await?,
        Err(_) => None,
    };
    let active = user
        .as_ref()
        .filter(|u| u.state == UserState::Active)
        .and_then(|u| u.password_hash.clone());
    let matched = verify_password(&state, req.password, active.clone()).await?;
    let user = match (user, matched && active.is_some()) {
        (Some(user), true) => user,
        (user, _) => {
            audit.account_id = user.map(|u| u.account_id);
            return audited(&state, &audit, Err(ApiError::InvalidCredentials)).await;
        }
    };
    audit.account_id = Some(user.account_id.clone());
    audit.actor = format!("user:{}", user.id);
    let session_id = random_token();
    let csrf_token = random_token();
    let ttl = state.settings.session_ttl;
    let expires_ms = now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    state
        .store
        .create_session(
            &sha256_hex(&session_id),
            &Session {
                user_id: user.id.clone(),
                csrf_token: csrf_token.clone(),
                expires_ms,
            },
            &audit,
        )
        .await?;
    let max_age = ttl.as_secs();
    Ok((
        AppendHeaders([
            (
                header::SET_COOKIE,
                cookie(SESSION_COOKIE, &session_id, max_age, true),
            ),
            (
                header::SET_COOKIE,
                cookie(CSRF_COOKIE, &csrf_token, max_age, false),
            ),
        ]),
        Json(LoginResponse {
            user: user.into(),
            csrf_token,
            expires_at: time(expires_ms),
        }),
    )
        .into_response())
}

/// Ends the browser session and clears its cookies.
#[utoipa::path(post, path = "/api/v1/logout", tag = "sessions",
    params(("x-csrf-token" = String, Header, description = "The session's CSRF token")),
    responses((status = 204, description = "Logged out"), ErrorResponses),
    security(("session_cookie" = [])))]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Credential::Session { id_hash } = &caller.credential else {
        return Err(ApiError::BadRequest(
            "logout ends a cookie session; disable or delete an API key instead".into(),
        ));
    };
    let audit = caller.audit("session.logout", caller.principal.to_string());
    state.store.delete_session(id_hash, &audit).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([
            (header::SET_COOKIE, cookie(SESSION_COOKIE, "", 0, true)),
            (header::SET_COOKIE, cookie(CSRF_COOKIE, "", 0, false)),
        ]),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// `user:<id>` or `service-account:<id>`.
    pub principal: String,
    pub role: AccountRole,
    pub account: AccountView,
    /// Set when the caller is a user.
    pub email: Option<String>,
    /// `session` or `api_key`.
    pub authenticated_by: String,
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/me", tag = "sessions",
    responses((status = 200, body = MeResponse), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<MeResponse>, ApiError> {
    let account = state
        .store
        .account(&caller.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let email = match caller.user_id() {
        Some(id) => state
            .store
            .user(&caller.account_id, id)
            .await?
            .map(|u| u.email),
        None => None,
    };
    Ok(Json(MeResponse {
        principal: caller.principal.to_string(),
        role: caller.role,
        account: account.into(),
        email,
        authenticated_by: match caller.credential {
            Credential::Session { .. } => "session".into(),
            Credential::ApiKey { .. } => "api_key".into(),
        },
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// Changes the caller's password and ends every other session of theirs.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "sessions",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let audit = caller.audit("user.password_change", caller.principal.to_string());
    let result = async {
        let user_id = caller
            .user_id()
            .ok_or_else(|| ApiError::forbidden("service accounts have no password"))?;
        let user = state
            .store
            .user(&caller.account_id, user_id)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        check_password("new_password", &req.new_password, &user.email)
            .map_err(|e| ApiError::Validation(vec![e]))?;
        // A stolen session must not become a password oracle.
        state.limits.check(&user.email, &caller.ip).await?;
        if !verify_password(&state, req.current_password, user.password_hash.clone()).await? {
            return Err(ApiError::field("current_password", "does not match"));
        }
        let hash = hash_password(&state, req.new_password).await?;
        let keep = match &caller.credential {
            Credential::Session { id_hash } => Some(id_hash.as_str()),
            Credential::ApiKey { .. } => None,
        };
        state
            .store
            .set_password(&user.id, &hash, keep, &audit)
            .await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&state, &audit, result).await
}
