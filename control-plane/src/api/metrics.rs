//! `GET /api/v1/metrics`: the caller's account's namespaces' metrics in
//! Temporal Cloud's OpenMetrics format (`temporal_cloud_v1_*` gauges), for
//! an API key of a `metrics_read` service account as Cloud's "Metrics
//! Read-Only" role, or for owners and admins. See `crate::tenant_metrics`.
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::now_ms;
use crate::app::AppState;
use crate::auth::{Caller, authenticate};
use crate::problem::{ApiError, ErrorResponses};
use crate::store::NamespaceState;
use crate::tenant_metrics::render::{CONTENT_TYPE, render};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// A caller whose role may read metrics: the one route `metrics_read`
/// reaches, since it authenticates without `Caller`'s refusal of that role.
pub struct MetricsReader(pub Caller);

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if !caller.role.reads_metrics() {
            return Err(ApiError::forbidden(
                "this needs the owner, admin or metrics_read account role",
            ));
        }
        Ok(MetricsReader(caller))
    }
}

/// The account's namespaces' metrics, as Temporal Cloud's OpenMetrics
/// endpoint serves them: every metric a gauge, rates per second and
/// latency percentiles (seconds) over the last minute, current values;
/// labelled `temporal_namespace`, `temporal_account`, `region` (the cell).
/// Figures are at most one sampling interval (15 s) old; a namespace with
/// no activity yet, or whose cell has not answered lately, has no series.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics",
    responses(
        (status = 200, description = "OpenMetrics text ending in `# EOF`",
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        ErrorResponses),
    security(("bearer" = []), ("session_cookie" = [])))]
async fn metrics(
    State(state): State<AppState>,
    MetricsReader(caller): MetricsReader,
) -> Result<Response, ApiError> {
    let namespaces: Vec<_> = (state.store.namespaces(&caller.account_id).await?)
        .into_iter()
        .filter(|ns| ns.state == NamespaceState::Active)
        .collect();
    let series = state
        .tenant_metrics
        .account_series(&caller.account_id, &namespaces, now_ms());
    Ok((
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(&series),
    )
        .into_response())
}
