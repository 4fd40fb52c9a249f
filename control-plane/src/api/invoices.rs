//! `GET /api/v1/invoices/preview?month=YYYY-MM`: what the account's month
//! costs so far on the configured rate card. Owners, admins and finance
//! admins only.
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::usage::{Range, completeness};
use super::{now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, ErrorResponses};
use crate::usage::invoice::{InvoiceBuilder, InvoiceLine};
use crate::usage::report::parse_month;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview_invoice))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    /// `YYYY-MM` (UTC), not after the current month. Required.
    pub month: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicePreview {
    pub account_id: String,
    pub month: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// ISO 4217, from the rate card.
    pub currency: String,
    /// Actions lines per namespace and tier, then storage lines per
    /// namespace, then the plan minimum's top-up if usage is below it.
    pub lines: Vec<InvoiceLine>,
    pub total_actions: i64,
    /// Integer cents: the sum of the usage lines.
    pub usage_cents: i64,
    pub plan_minimum_cents: i64,
    /// `max(usage_cents, plan_minimum_cents)`.
    pub total_cents: i64,
    /// As in `GET /api/v1/usage`: usage may still be missing (always so
    /// for the current month until it has ended and been pulled).
    pub incomplete: bool,
}

/// The month's invoice as it stands: Actions priced in tiers over the
/// account's total for the month, storage per GB-hour, the plan minimum;
/// every amount in integer cents.
#[utoipa::path(get, path = "/api/v1/invoices/preview", tag = "usage",
    params(InvoiceQuery),
    responses((status = 200, body = InvoicePreview), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn preview_invoice(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<InvoiceQuery>,
) -> Result<Json<InvoicePreview>, ApiError> {
    caller.require_usage_reader()?;
    let month = q
        .month
        .ok_or_else(|| ApiError::field("month", "required (YYYY-MM)"))?;
    let (from_ms, to_ms) = parse_month(&month).map_err(|why| ApiError::field("month", why))?;
    if from_ms > now_ms() {
        return Err(ApiError::field("month", "is in the future"));
    }
    let range = Range { from_ms, to_ms };
    let incomplete = completeness(&state, &caller, None, &range).await?;
    // Summed by the database and streamed in hour order: what is held is
    // per namespace and tier, not per hour.
    let mut invoice = InvoiceBuilder::new(&state.usage.rate_card);
    state
        .store
        .account_action_hours(&caller.account_id, from_ms, to_ms, &mut |h| {
            invoice.add_actions(h.hour_ms, h.namespace_id, h.actions)
        })
        .await?;
    for s in state
        .store
        .account_storage(&caller.account_id, from_ms, to_ms)
        .await?
    {
        invoice.add_storage(
            s.namespace_id,
            s.active_byte_seconds,
            s.retained_byte_seconds,
        );
    }
    let totals = invoice.finish();
    Ok(Json(InvoicePreview {
        account_id: caller.account_id,
        month,
        period_start: time(from_ms),
        period_end: time(to_ms),
        currency: totals.currency,
        lines: totals.lines,
        total_actions: totals.total_actions,
        usage_cents: totals.usage_cents,
        plan_minimum_cents: totals.plan_minimum_cents,
        total_cents: totals.total_cents,
        incomplete,
    }))
}
