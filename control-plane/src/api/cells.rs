//! Cells, managed by the operator with the bootstrap admin token (no
//! account owns them). Tenants never see them; they see endpoints.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{audited, new_id, now_ms, time};
use crate::app::AppState;
use crate::auth::BootstrapAdmin;
use crate::extract::ApiJson;
use crate::problem::{ApiError, ErrorResponses, FieldError};
use crate::secret::{random_token, sha256_hex};
use crate::store::{Audit, Cell};
use crate::validate::{Checks, check_name};
use orrery_tenant_auth::control::new_cell_credential;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_cells, register_cell))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CellView {
    pub id: String,
    pub name: String,
    pub grpc_endpoint: String,
    pub admin_endpoint: String,
    /// Its Temporal HTTP API for tenants; empty when it serves none.
    pub http_endpoint: String,
    pub capacity: i64,
    /// What the cell itself last reported it takes; placement fills the
    /// smaller of the two.
    pub reported_capacity: Option<i64>,
    pub namespaces: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn cell_view(cell: Cell, namespaces: i64) -> CellView {
    CellView {
        id: cell.id,
        name: cell.name,
        grpc_endpoint: cell.grpc_endpoint,
        admin_endpoint: cell.admin_endpoint,
        http_endpoint: cell.http_endpoint,
        capacity: cell.capacity,
        reported_capacity: cell.reported_capacity,
        namespaces,
        created_at: time(cell.created_ms),
    }
}

/// Registered cells and their load.
#[utoipa::path(get, path = "/api/v1/admin/cells", tag = "admin",
    responses((status = 200, body = Vec<CellView>), ErrorResponses),
    security(("bootstrap_admin" = [])))]
async fn list_cells(
    State(state): State<AppState>,
    _admin: BootstrapAdmin,
) -> Result<Json<Vec<CellView>>, ApiError> {
    let loads = state.store.cell_loads().await?;
    Ok(Json(
        loads
            .into_iter()
            .map(|l| cell_view(l.cell, l.namespaces))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CellRegister {
    /// Unique; registering an existing name updates that cell.
    pub name: String,
    /// Shown to tenants (`http(s)://host:port`).
    pub grpc_endpoint: String,
    /// Where the control plane calls the cell (its admin listener,
    /// `https://`); the gRPC endpoint if omitted.
    pub admin_endpoint: Option<String>,
    /// Where tenants reach its Temporal HTTP API (`orrery cell
    /// --http-api-addr`), shown to them and called by the console; none if
    /// omitted.
    pub http_endpoint: Option<String>,
    /// How many namespaces it takes.
    pub capacity: i64,
}

/// A registered cell and its new credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct CellRegistered {
    pub cell: CellView,
    /// The cell's credential (`--cell-credential`), shown only here: the
    /// control plane keeps its hash. Registering the cell again issues a
    /// new one and the old one stops working.
    pub credential: String,
}

fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() <= 512 {
        Ok(())
    } else {
        Err(FieldError::new(field, "an http:// or https:// URL"))
    }
}

/// Registers or updates a cell, and issues it a new credential.
#[utoipa::path(post, path = "/api/v1/admin/cells", tag = "admin",
    request_body = CellRegister,
    responses((status = 201, body = CellRegistered), ErrorResponses),
    security(("bootstrap_admin" = [])))]
async fn register_cell(
    State(state): State<AppState>,
    admin: BootstrapAdmin,
    ApiJson(req): ApiJson<CellRegister>,
) -> Result<(StatusCode, Json<CellRegistered>), ApiError> {
    let audit = Audit {
        actor: "bootstrap-admin".into(),
        action: "cell.register".into(),
        target: format!("cell-name:{}", req.name),
        source_ip: admin.ip,
        ..Default::default()
    };
    let result = async {
        let admin_endpoint = req
            .admin_endpoint
            .clone()
            .unwrap_or_else(|| req.grpc_endpoint.clone());
        let mut checks = Checks::default();
        checks
            .add(check_name("name", &req.name, 64))
            .add(check_url("grpc_endpoint", &req.grpc_endpoint))
            .add(check_url("admin_endpoint", &admin_endpoint));
        if let Some(http) = &req.http_endpoint {
            checks.add(check_url("http_endpoint", http));
        }
        if req.capacity < 0 {
            checks.add(Err(FieldError::new("capacity", "zero or more")));
        }
        checks.done()?;
        let cell = Cell {
            id: new_id(),
            name: req.name.trim().to_owned(),
            grpc_endpoint: req.grpc_endpoint,
            admin_endpoint,
            http_endpoint: req.http_endpoint.clone().unwrap_or_default(),
            capacity: req.capacity,
            reported_capacity: None,
            created_ms: now_ms(),
        };
        // The credential names the cell's id, and an existing cell keeps its
        // id: so the row is written first and the credential made from the
        // id it has, in the writer's answer (a lookup by name beforehand
        // could race another registration or lag on a replica).
        let stored = state.store.upsert_cell(&cell, None, &audit).await?;
        let credential = new_cell_credential(&stored.id, &random_token());
        if !(state.store)
            .set_cell_credential(&stored.id, &sha256_hex(&credential))
            .await?
        {
            return Err(ApiError::Conflict(format!(
                "cell {} was removed while it was registered",
                stored.name
            )));
        }
        let load = state
            .store
            .cell_loads()
            .await?
            .into_iter()
            .find(|l| l.cell.id == stored.id)
            .map_or(0, |l| l.namespaces);
        Ok((
            StatusCode::CREATED,
            Json(CellRegistered {
                cell: cell_view(stored, load),
                credential,
            }),
        ))
    }
    .await;
    audited(&state, &audit, result).await
}
