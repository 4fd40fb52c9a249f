//! Archival on or off per namespace. The state lives at the namespace's
//! cell (UpdateNamespace / DescribeNamespace through `CellAdmin`); where
//! the archive is, is the cell operator's choice (the cell's default
//! archive), so tenants only switch it.
use axum::Json;
use axum::extract::State;
use orrery_tenant_auth::Permission;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audited;
use super::namespaces::namespace_for;
use super::search_attributes::{body_of, setting_failed, settings_cell};
use crate::app::AppState;
use crate::auth::Caller;
use crate::cell_admin::Archival;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_archival, set_archival))
}

/// The cell names the setting it refused (`HistoryArchivalUri`,
/// `VisibilityArchivalState`…); the tenant's field is `history` or
/// `visibility`. A refusal is typically a cell with no archive, or one its
/// archive cannot be reached at: the cell's message names the operator's
/// bucket or path and the storage's error, so it is logged, and the tenant
/// is told only that archiving is not available.
fn refused(message: String) -> ApiError {
    let field = if message.starts_with("Visibility") {
        "visibility"
    } else {
        "history"
    };
    tracing::warn!(field, cell_message = %message, "a cell refused to change archival");
    ApiError::field(
        field,
        "archiving is not available for this namespace's cell; ask the operator",
    )
}

/// Whether the namespace archives closed runs' histories and visibility
/// records (read: any account role that reads namespaces).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/archival", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    responses(
        (status = 200, body = Archival),
        (status = 502, description = "The namespace's cell is unavailable", body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_archival(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Archival>, ApiError> {
    let ns = namespace_for(&state, &caller, &id, None).await?;
    let cell = settings_cell(&state, &ns).await?;
    let archival = state
        .cells
        .archival(&cell, &ns.id)
        .await
        .map_err(|e| setting_failed(&cell, &ns.id, "read archival", e, refused))?;
    Ok(Json(archival))
}

/// Turns history and visibility archival on or off (admin permission on
/// the namespace), to the archive of the namespace's cell. A cell without
/// an archive refuses to turn it on: 422 naming `history` or `visibility`.
/// Answers the states set.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/archival", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id")),
    request_body = Archival,
    responses(
        (status = 200, body = Archival),
        (status = 502, description = "The namespace's cell is unavailable", body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn set_archival(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<Archival>, ApiError> {
    let on_off = |on: bool| if on { "on" } else { "off" };
    let mut audit = caller.audit("namespace.archival.update", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let req: Archival = body_of(&body)?;
        audit.detail = format!(
            "history {}, visibility {}",
            on_off(req.history),
            on_off(req.visibility)
        );
        let cell = settings_cell(&state, &ns).await?;
        state
            .cells
            .set_archival(&cell, &ns.id, req)
            .await
            .map_err(|e| setting_failed(&cell, &ns.id, "set archival", e, refused))?;
        state.store.record_audit(&audit, "success").await?;
        Ok(Json(req))
    }
    .await;
    audited(&state, &audit, result).await
}
