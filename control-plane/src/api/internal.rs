//! The routes cells use: their auth snapshot, signed for them, and the
//! public half of the key it is signed with.
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use orrery_tenant_auth::control::ControlSigner;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::now_ms;
use crate::app::AppState;
use crate::auth::CellCaller;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, ErrorResponses};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth_snapshot))
        .routes(routes!(control_key))
}

/// The media type of a signed snapshot: a compact JWS (EdDSA).
pub const SNAPSHOT_MEDIA_TYPE: &str = "application/jwt";
/// A cell may say it takes no more than this many namespaces.
const MAX_REPORTED_CAPACITY: i64 = 1_000_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    /// The version the cell has; while it is still current the answer is
    /// a signed "unchanged" message instead of the whole snapshot.
    pub since: Option<u64>,
    /// How many namespaces the cell takes (its `--max-namespaces`);
    /// placement fills no more than this.
    pub capacity: Option<i64>,
}

/// The polling cell's auth snapshot (its namespaces with effective grants
/// and mTLS settings, the signing keys and the active API keys), as a JWS
/// signed with the control key for that cell alone.
#[utoipa::path(get, path = "/internal/v1/auth-snapshot", tag = "internal",
    params(SnapshotQuery),
    responses(
        (status = 200, body = String, content_type = "application/jwt",
            description = "Compact JWS (EdDSA, the control key) with claims `version`, `iat` and, unless unchanged since `since`, `snapshot` (the cell's Snapshot)"),
        ErrorResponses),
    security(("cell_token" = [])))]
async fn auth_snapshot(
    State(state): State<AppState>,
    CellCaller(cell): CellCaller,
    ApiQuery(q): ApiQuery<SnapshotQuery>,
) -> Result<Response, ApiError> {
    // A figure out of range is ignored, never a reason to withhold the
    // snapshot: a cell without it would stop authenticating its tenants.
    match q.capacity {
        Some(capacity) if !(0..=MAX_REPORTED_CAPACITY).contains(&capacity) => {
            tracing::warn!(cell = %cell.name, capacity, "ignoring an out-of-range reported capacity");
        }
        Some(capacity) if cell.reported_capacity != Some(capacity) => {
            state.store.report_cell_capacity(&cell.id, capacity).await?;
        }
        _ => {}
    }
    let signer = ControlSigner {
        kid: state.control_key.kid(),
        key: state.control_key.encoding_key(),
    };
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    // The cheap check first: most polls find nothing new, and are told so
    // in a few signed bytes (one indexed read, one signature).
    let signed = match q.since {
        Some(since)
            if since == u64::try_from(state.store.snapshot_version().await?).unwrap_or(0) =>
        {
            signer.unchanged(&cell.id, since, now)
        }
        _ => {
            let data = state.store.snapshot_data(&cell.id, now_ms()).await?;
            signer.snapshot(&cell.id, &crate::snapshot::build(data), now)
        }
    }
    .map_err(|e| ApiError::Internal(format!("signing the snapshot: {e}")))?;
    Ok(([(header::CONTENT_TYPE, SNAPSHOT_MEDIA_TYPE)], signed).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ControlKeyView {
    pub kid: String,
    /// Always `EdDSA` (Ed25519).
    pub alg: String,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key: String,
}

/// The public key cells verify snapshots and admin calls with. Public, so
/// a cell may fetch it once over verified TLS instead of being configured
/// with it (`--control-plane-public-key`).
#[utoipa::path(get, path = "/internal/v1/control-key", tag = "internal",
    responses((status = 200, body = ControlKeyView), ErrorResponses))]
async fn control_key(State(state): State<AppState>) -> Json<ControlKeyView> {
    Json(ControlKeyView {
        kid: state.control_key.kid().to_owned(),
        alg: "EdDSA".into(),
        public_key: state.control_key.public_key_pem().to_owned(),
    })
}
