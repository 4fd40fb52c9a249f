//! The route cells poll for what they enforce.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orrery_tenant_auth::Snapshot;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::now_ms;
use crate::app::AppState;
use crate::auth::CellCaller;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, ErrorResponses};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(auth_snapshot))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    /// The version the cell has; 304 while it is still current.
    pub since: Option<u64>,
}

/// The polling cell's auth snapshot: its namespaces with effective grants
/// and mTLS settings, the signing keys and the active API keys.
#[utoipa::path(get, path = "/internal/v1/auth-snapshot", tag = "internal",
    params(SnapshotQuery),
    responses(
        (status = 200, body = Snapshot),
        (status = 304, description = "Unchanged since `since`"),
        ErrorResponses),
    security(("cell_token" = [])))]
async fn auth_snapshot(
    State(state): State<AppState>,
    CellCaller(cell): CellCaller,
    ApiQuery(q): ApiQuery<SnapshotQuery>,
) -> Result<Response, ApiError> {
    // The cheap check first: most polls find nothing new.
    if let Some(since) = q.since {
        let version = u64::try_from(state.store.snapshot_version().await?).unwrap_or(0);
        if since == version {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
    }
    let data = state.store.snapshot_data(&cell.id, now_ms()).await?;
    Ok(Json(crate::snapshot::build(data)).into_response())
}
