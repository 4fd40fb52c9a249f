//! Namespaces: placed into a cell at creation and changed there through
//! `CellAdmin`. A namespace is written as *pending* before the cell is
//! asked and becomes *active* once the cell created it; if the cell refuses,
//! the pending row is dropped and the request fails (nothing is created). A
//! pending row left by a crash is retried by whichever replica's
//! reconciler finds it older than [`PENDING_GRACE`] ([`reconcile_pending`],
//! every [`RECONCILE_EVERY`]); registering is idempotent at the cell.
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::Permission;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{audited, now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::cell_admin::CellAdminError;
use crate::extract::{ApiJson, ApiPath};
use crate::placement::pick_cell;
use crate::problem::{ApiError, ErrorResponses, FieldError};
use crate::roles::{AccountRole, effective_permission};
use crate::store::{Audit, Cell, Namespace, NamespaceState, Reserved, StoreError};
use crate::validate::{check_namespace_name, check_range};

pub const DEFAULT_RETENTION_DAYS: u32 = 30;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_namespaces, create_namespace))
        .routes(routes!(get_namespace, update_namespace, delete_namespace))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceView {
    /// `<name>.<account slug>`: what SDKs pass as the namespace.
    pub id: String,
    pub name: String,
    /// `pending` while the cell is being asked to create it.
    pub state: NamespaceState,
    pub retention_days: u32,
    /// Where SDKs connect (`host:port`).
    pub grpc_endpoint: String,
    /// Temporal's HTTP API for this namespace (`http(s)://host:port`;
    /// routes under `/api/v1/namespaces/{id}/…`); empty when its cell
    /// serves none.
    pub http_endpoint: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn endpoint(state: &AppState, ns: &Namespace, cell: Option<&Cell>) -> String {
    match (&state.settings.namespace_domain, cell) {
        (Some(domain), _) => format!("{}.{domain}:7233", ns.id),
        (None, Some(cell)) => {
            let url = &cell.grpc_endpoint;
            url.strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or(url)
                .trim_end_matches('/')
                .to_owned()
        }
        (None, None) => String::new(),
    }
}

/// The namespace's Temporal HTTP API: `https://<id>.<domain>:7243` under a
/// namespace domain (the cell serves it with the tenant endpoint's TLS and
/// names), else the endpoint its cell was registered with.
pub(crate) fn http_endpoint(state: &AppState, ns: &Namespace, cell: Option<&Cell>) -> String {
    match (&state.settings.namespace_domain, cell) {
        (_, Some(cell)) if cell.http_endpoint.is_empty() => String::new(),
        (Some(domain), Some(_)) => format!("https://{}.{domain}:7243", ns.id),
        (None, Some(cell)) => cell.http_endpoint.trim_end_matches('/').to_owned(),
        (_, None) => String::new(),
    }
}

pub(crate) async fn view(state: &AppState, ns: Namespace) -> Result<NamespaceView, ApiError> {
    let cell = state.store.cell(&ns.cell_id).await?;
    Ok(NamespaceView {
        grpc_endpoint: endpoint(state, &ns, cell.as_ref()),
        http_endpoint: http_endpoint(state, &ns, cell.as_ref()),
        retention_days: u32::try_from(ns.retention_days).unwrap_or(0),
        created_at: time(ns.created_ms),
        updated_at: time(ns.updated_ms),
        id: ns.id,
        name: ns.name,
        state: ns.state,
    })
}

/// The caller's namespace `id`, checked for `needed`. Reading needs an
/// account role that reads; changing needs that namespace permission.
/// Another account's namespace is 404, like a missing one.
pub(crate) async fn namespace_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    needed: Option<Permission>,
) -> Result<Namespace, ApiError> {
    let ns = state
        .store
        .namespace(&caller.account_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match needed {
        None => caller.require_reader()?,
        Some(needed) => {
            let granted = state
                .store
                .grant(&ns.id, &caller.principal.to_string())
                .await?;
            if effective_permission(caller.role, granted) < Some(needed) {
                return Err(ApiError::forbidden(format!(
                    "this needs the {} permission on namespace {}",
                    needed.as_str(),
                    ns.id
                )));
            }
        }
    }
    Ok(ns)
}

/// The account's namespaces.
#[utoipa::path(get, path = "/api/v1/namespaces", tag = "namespaces",
    responses((status = 200, body = Vec<NamespaceView>), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_namespaces(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<NamespaceView>>, ApiError> {
    caller.require_reader()?;
    let mut out = Vec::new();
    for ns in state.store.namespaces(&caller.account_id).await? {
        out.push(view(&state, ns).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceCreate {
    /// `[a-z0-9-]{2,39}`, unique in the account.
    pub name: String,
    /// 1–90 days; 30 if omitted.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

fn default_retention() -> u32 {
    DEFAULT_RETENTION_DAYS
}

/// Creates a namespace in the least loaded cell (owner, admin, developer;
/// a developer becomes its namespace admin). An account holds at most
/// `--namespace-quota` namespaces (10 by default): beyond, 422 naming `name`.
#[utoipa::path(post, path = "/api/v1/namespaces", tag = "namespaces",
    request_body = NamespaceCreate,
    responses(
        (status = 201, body = NamespaceView),
        (status = 502, description = "The cell refused or could not be reached; nothing was created", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No cell has capacity", body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn create_namespace(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NamespaceCreate>,
) -> Result<(StatusCode, Json<NamespaceView>), ApiError> {
    let mut audit = caller.audit("namespace.create", format!("namespace-name:{}", req.name));
    let result = async {
        if !caller.role.creates_namespaces() {
            return Err(ApiError::forbidden(
                "creating namespaces needs the owner, admin or developer role",
            ));
        }
        let mut checks = crate::validate::Checks::default();
        checks
            .add(check_namespace_name(&req.name))
            .add(check_range("retention_days", req.retention_days, 1, 90));
        checks.done()?;
        let account = state
            .store
            .account(&caller.account_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let id = format!("{}.{}", req.name, account.slug);
        audit.target = format!("namespace:{id}");
        let loads = state.store.cell_loads().await?;
        let cell = pick_cell(&loads).ok_or(ApiError::NoCapacity)?.clone();
        let now = now_ms();
        let mut ns = Namespace {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            name: req.name.clone(),
            cell_id: cell.id.clone(),
            retention_days: i64::from(req.retention_days),
            state: NamespaceState::Pending,
            created_by: caller.principal.to_string(),
            created_ms: now,
            updated_ms: now,
        };
        // Owners and admins hold admin everywhere already; a developer
        // needs the grant to manage what they created.
        let creator = caller.principal.to_string();
        let grant = (caller.role == AccountRole::Developer)
            .then_some((creator.as_str(), Permission::Admin));
        let quota = state.bounds.namespace_quota;
        match state.store.insert_pending_namespace(&ns, grant, quota).await {
            Err(StoreError::Conflict) => {
                return Err(ApiError::Conflict(format!("namespace {id} exists")));
            }
            Ok(Reserved::QuotaReached) => {
                return Err(ApiError::QuotaExceeded(FieldError::new(
                    "name",
                    format!("the account has reached its namespace quota ({quota})"),
                )));
            }
            other => other?,
        };
        if let Err(e) = state
            .cells
            .register_namespace(&cell, &id, req.retention_days)
            .await
        {
            tracing::warn!(namespace = %id, cell = %cell.name, error = %e, "cell refused a namespace");
            state.store.discard_pending_namespace(&id).await?;
            return Err(ApiError::CellUnavailable);
        }
        if let Err(e) = map_cell_namespace(&state, &cell, &id).await {
            // Unmapped, its usage could go unbilled (see
            // `map_cell_namespace`): undo the create rather than activate it.
            tracing::warn!(namespace = %id, cell = %cell.name, error = %e, "could not learn the cell's id of a new namespace; undoing the create");
            if let Err(e) = state.cells.delete_namespace(&cell, &id).await {
                // Nobody holds a credential for it yet: an empty leftover,
                // which a retried create adopts (registering is idempotent).
                tracing::warn!(namespace = %id, cell = %cell.name, error = %e, "deleting the unmapped namespace at its cell");
            }
            state.store.discard_pending_namespace(&id).await?;
            return Err(ApiError::CellUnavailable);
        }
        state.store.activate_namespace(&id, &audit).await?;
        ns.state = NamespaceState::Active;
        Ok((StatusCode::CREATED, Json(view(&state, ns).await?)))
    }
    .await;
    audited(&state, &audit, result).await
}

/// One namespace.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    responses((status = 200, body = NamespaceView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_namespace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NamespaceView>, ApiError> {
    let ns = namespace_for(&state, &caller, &id, None).await?;
    Ok(Json(view(&state, ns).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceUpdate {
    /// 1–90 days.
    pub retention_days: u32,
}

/// Changes the retention (namespace admin). The cell is changed first; the
/// record follows only if it accepted.
#[utoipa::path(patch, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id")),
    request_body = NamespaceUpdate,
    responses((status = 200, body = NamespaceView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn update_namespace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NamespaceUpdate>,
) -> Result<Json<NamespaceView>, ApiError> {
    let mut audit = caller.audit("namespace.update", format!("namespace:{id}"));
    audit.detail = format!("retention_days {}", req.retention_days);
    let result = async {
        let mut ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        check_range("retention_days", req.retention_days, 1, 90)
            .map_err(|e| ApiError::Validation(vec![e]))?;
        let cell = active_cell(&state, &ns).await?;
        state
            .cells
            .update_namespace(&cell, &ns.id, req.retention_days)
            .await
            .map_err(|e| cell_unavailable(&cell, &ns.id, "update", e))?;
        let now = now_ms();
        let days = i64::from(req.retention_days);
        if !state
            .store
            .update_retention(&caller.account_id, &ns.id, days, now, &audit)
            .await?
        {
            return Err(ApiError::NotFound);
        }
        ns.retention_days = days;
        ns.updated_ms = now;
        Ok(Json(view(&state, ns).await?))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Logs what the cell said in full; the tenant hears only that the cell is
/// unavailable (its name, address and messages are the operator's).
fn cell_unavailable(cell: &Cell, namespace: &str, call: &str, err: CellAdminError) -> ApiError {
    tracing::warn!(namespace, cell = %cell.name, call, error = %err, "a cell call failed");
    ApiError::CellUnavailable
}

async fn active_cell(state: &AppState, ns: &Namespace) -> Result<Cell, ApiError> {
    if ns.state != NamespaceState::Active {
        return Err(ApiError::Conflict(
            "the namespace is still being created".into(),
        ));
    }
    state
        .store
        .cell(&ns.cell_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("namespace {} has no cell", ns.id)))
}

/// Deletes the namespace at its cell, then here (namespace admin).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id")),
    responses((status = 204, description = "Deleted"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_namespace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let audit = caller.audit("namespace.delete", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let cell = active_cell(&state, &ns).await?;
        state
            .cells
            .delete_namespace(&cell, &ns.id)
            .await
            .map_err(|e| cell_unavailable(&cell, &ns.id, "delete", e))?;
        if !state
            .store
            .delete_namespace(&caller.account_id, &ns.id, &audit)
            .await?
        {
            return Err(ApiError::NotFound);
        }
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&state, &audit, result).await
}

#[derive(Debug, thiserror::Error)]
enum MapError {
    #[error(transparent)]
    Cell(#[from] CellAdminError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cell does not know the namespace it just registered")]
    Unknown,
    #[error("the control plane holds no such namespace in this cell")]
    NotPlaced,
}

/// Asks the cell for the id it gave the namespace (which its usage rows
/// carry) and records which namespace and account that id is, before the
/// namespace becomes active. The usage puller also learns ids lazily (for
/// namespaces created before this existed), but only while the namespace
/// lives: one created, used and deleted between two pulls would otherwise
/// have its usage attributed to nobody.
async fn map_cell_namespace(state: &AppState, cell: &Cell, id: &str) -> Result<(), MapError> {
    let cell_namespace_id = state
        .cells
        .namespace_id(cell, id)
        .await?
        .ok_or(MapError::Unknown)?;
    if state
        .store
        .map_usage_namespace(&cell.id, &cell_namespace_id, id)
        .await?
    {
        Ok(())
    } else {
        Err(MapError::NotPlaced)
    }
}

/// How old a pending namespace must be before a reconciler takes it over.
/// A younger one may still be in the hands of the request creating it, on
/// this replica or another: finishing it meanwhile would race that
/// request, which undoes a create the cell refused (its cell calls time out
/// after 10 s each, three at most). A crash's leftovers wait this long.
pub const PENDING_GRACE: Duration = Duration::from_secs(120);
/// How often each replica looks for namespaces a crash left pending.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// Runs [`reconcile_pending`] every [`RECONCILE_EVERY`] (the first time at
/// start) until the process ends. Every replica runs it: two finishing the
/// same namespace register it twice (idempotent at the cell) and activate
/// it once (activation only moves a pending row).
pub async fn run_reconciler(state: AppState) {
    crate::limits::every(RECONCILE_EVERY, || {
        let state = state.clone();
        async move { reconcile_pending(state, PENDING_GRACE).await }
            .instrument(tracing::info_span!("reconcile_pending"))
    })
    .await
}

/// Finishes namespaces a crash left pending, once older than `grace`: asks
/// their cell again (and for the id it gave the namespace) and activates
/// those it accepts. Those it refuses stay pending for the next round.
pub async fn reconcile_pending(state: AppState, grace: Duration) {
    let cutoff_ms = now_ms() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX / 2);
    let pending = match state.store.pending_namespaces().await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "listing pending namespaces");
            return;
        }
    };
    for ns in pending.into_iter().filter(|ns| ns.created_ms <= cutoff_ms) {
        let Ok(Some(cell)) = state.store.cell(&ns.cell_id).await else {
            continue;
        };
        let days = u32::try_from(ns.retention_days).unwrap_or(DEFAULT_RETENTION_DAYS);
        let registered = match state.cells.register_namespace(&cell, &ns.id, days).await {
            Ok(()) => map_cell_namespace(&state, &cell, &ns.id)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match registered {
            Ok(()) => {
                let audit = Audit {
                    account_id: Some(ns.account_id.clone()),
                    actor: ns.created_by.clone(),
                    action: "namespace.create".into(),
                    target: format!("namespace:{}", ns.id),
                    source_ip: "reconciler".into(),
                    detail: "completed by the reconciler".into(),
                };
                if let Err(e) = state.store.activate_namespace(&ns.id, &audit).await {
                    tracing::warn!(namespace = %ns.id, error = %e, "activating a pending namespace");
                }
            }
            Err(e) => {
                tracing::warn!(namespace = %ns.id, error = %e, "a pending namespace is still refused")
            }
        }
    }
}
