//! Who is calling. Browsers authenticate with the session cookie and must
//! echo the CSRF token on every mutating request; programs send
//! `authorization: Bearer <api key>` and need no CSRF token (a browser never
//! attaches that header by itself). Cells and the operator have bearer
//! tokens of their own, checked by [`CellCaller`] and [`BootstrapAdmin`].
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use orrery_tenant_auth::Principal;

use crate::app::AppState;
use crate::extract::ClientIp;
use crate::problem::ApiError;
use crate::roles::AccountRole;
use crate::secret::{constant_time_eq, sha256_hex};
use crate::store::{Audit, Cell, UserState};

pub const SESSION_COOKIE: &str = "orrery_session";
pub const CSRF_COOKIE: &str = "orrery_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone)]
pub enum Credential {
    /// The sha256 of the session id.
    Session {
        id_hash: String,
    },
    ApiKey {
        id: String,
    },
}

/// An authenticated caller of the tenant API, always within one account.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub principal: Principal,
    pub role: AccountRole,
    pub credential: Credential,
    pub ip: String,
}

impl Caller {
    pub fn user_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User(id) => Some(id),
            _ => None,
        }
    }

    /// Owners and admins only.
    pub fn require_manager(&self) -> Result<(), ApiError> {
        if self.role.manages_account() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this needs the owner or admin account role",
            ))
        }
    }

    /// Everyone who may read account data (all roles but finance_admin).
    pub fn require_reader(&self) -> Result<(), ApiError> {
        if self.role.reads_account() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "the finance_admin role sees usage and billing only",
            ))
        }
    }

    /// Usage and invoices: owners, admins and finance admins.
    pub fn require_usage_reader(&self) -> Result<(), ApiError> {
        if self.role.reads_usage() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "usage and invoices need the owner, admin or finance_admin account role",
            ))
        }
    }

    pub fn audit(&self, action: &str, target: impl Into<String>) -> Audit {
        Audit {
            account_id: Some(self.account_id.clone()),
            actor: self.principal.to_string(),
            action: action.into(),
            target: target.into(),
            source_ip: self.ip.clone(),
            detail: String::new(),
        }
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated),
    )
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Every tenant route but `GET /api/v1/metrics` (which authenticates
    /// through [`authenticate`] itself) refuses a metrics reader here, once,
    /// so no route can forget to.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if caller.role == AccountRole::MetricsRead {
            return Err(ApiError::forbidden(
                "the metrics_read role reads GET /api/v1/metrics and nothing else",
            ));
        }
        Ok(caller)
    }
}

/// The caller by session cookie (and CSRF token) or API key, whatever its role.
pub(crate) async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
        .await
        .unwrap_or_else(|e| match e {});
    if let Some(token) = bearer(&parts.headers) {
        return api_key_caller(state, token?, ip).await;
    }
    let Some(session_id) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(ApiError::Unauthenticated);
    };
    let id_hash = sha256_hex(session_id);
    let session = state
        .store
        .session(&id_hash, now_ms())
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(ApiError::CsrfMismatch);
        }
    }
    let user = state
        .store
        .user_by_id(&session.user_id)
        .await?
        .filter(|u| u.state == UserState::Active)
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Caller {
        account_id: user.account_id,
        principal: Principal::User(user.id),
        role: user.role,
        credential: Credential::Session { id_hash },
        ip,
    })
}

async fn api_key_caller(state: &AppState, token: &str, ip: String) -> Result<Caller, ApiError> {
    let key = state
        .store
        .api_key_by_token_hash(&sha256_hex(token))
        .await?
        .filter(|k| k.enabled && k.expires_ms > now_ms())
        .ok_or(ApiError::Unauthenticated)?;
    let principal: Principal = key.owner.parse().map_err(|_| ApiError::Unauthenticated)?;
    let role = match &principal {
        Principal::User(id) => state
            .store
            .user(&key.account_id, id)
            .await?
            .filter(|u| u.state == UserState::Active)
            .map(|u| u.role),
        Principal::ServiceAccount(id) => state
            .store
            .service_account(&key.account_id, id)
            .await?
            .map(|sa| sa.role),
        Principal::Certificate { .. } => None,
    }
    .ok_or(ApiError::Unauthenticated)?;
    Ok(Caller {
        account_id: key.account_id,
        principal,
        role,
        credential: Credential::ApiKey { id: key.id },
        ip,
    })
}

/// A cell polling its auth snapshot, by its admin token.
pub struct CellCaller(pub Cell);

impl FromRequestParts<AppState> for CellCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthenticated)??;
        let cell = state
            .store
            .cell_by_credential_hash(&sha256_hex(token))
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        // The credential names the cell it was issued for; a row that says
        // otherwise is not this credential's cell (the cell would refuse
        // everything signed for that row anyway).
        if orrery_tenant_auth::control::cell_id_of_credential(token) != Some(cell.id.as_str()) {
            tracing::warn!(cell = %cell.name, "a cell credential names another cell id; refused");
            return Err(ApiError::Unauthenticated);
        }
        Ok(CellCaller(cell))
    }
}

/// The operator, by the bootstrap admin token from the configuration. Its
/// routes do not exist (404) when no token is configured.
pub struct BootstrapAdmin {
    pub ip: String,
}

impl FromRequestParts<AppState> for BootstrapAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = state.settings.bootstrap_admin_token.as_deref() else {
            return Err(ApiError::NotFound);
        };
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthenticated)??;
        if !constant_time_eq(
            sha256_hex(token).as_bytes(),
            sha256_hex(expected).as_bytes(),
        ) {
            return Err(ApiError::Unauthenticated);
        }
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        Ok(BootstrapAdmin { ip })
    }
}
