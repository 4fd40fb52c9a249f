//! The account's audit log, newest first, paged by id.
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::time;
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, ErrorResponses};
use crate::store::AuditEntry;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id (`next_before` of the previous page).
    pub before: Option<i64>,
    /// 1–200; 50 if omitted.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    /// `user:<id>`, `service-account:<id>`, `email:<address>` for failed logins.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source_ip: String,
    /// `success` or `failure: <problem kind>`.
    pub outcome: String,
    pub detail: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            action: e.action,
            target: e.target,
            source_ip: e.source_ip,
            outcome: e.outcome,
            detail: e.detail,
            at: time(e.at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Every mutation in the account, who made it, from where and how it ended
/// (owner and admin only).
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require_manager()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "between 1 and 200"));
    }
    let entries = state
        .store
        .audit_log(&caller.account_id, q.before, i64::from(limit))
        .await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(Into::into).collect(),
        next_before,
    }))
}
