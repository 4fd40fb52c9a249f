//! Namespace permissions of users and service accounts. What is stored is
//! the explicit grant; owners and admins hold admin on every namespace
//! without one (see `roles::effective_permission`).
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::{Permission, Principal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audited;
use super::namespaces::namespace_for;
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses};
use crate::store::GrantRow;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_permissions))
        .routes(routes!(set_permission, delete_permission))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermissionView {
    /// `user:<id>` or `service-account:<id>`.
    pub principal: String,
    pub permission: Permission,
}

/// The namespace's explicit permissions.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/permissions", tag = "namespaces",
    params(("namespace" = String, Path)),
    responses((status = 200, body = Vec<PermissionView>), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_permissions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<PermissionView>>, ApiError> {
    let ns = namespace_for(&state, &caller, &id, None).await?;
    let grants = state.store.grants(&ns.id).await?;
    Ok(Json(
        grants
            .into_iter()
            .map(|g| PermissionView {
                principal: g.principal,
                permission: g.permission,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionSet {
    pub permission: Permission,
}

/// A principal of the caller's account, or 422: grants to strangers or to
/// another account's principals are refused rather than stored.
async fn own_principal(
    state: &AppState,
    caller: &Caller,
    text: &str,
) -> Result<Principal, ApiError> {
    let unknown = || {
        ApiError::field(
            "principal",
            "no such user or service account in this account",
        )
    };
    let principal: Principal = text
        .parse()
        .map_err(|_| ApiError::field("principal", "expected user:<id> or service-account:<id>"))?;
    let exists = match &principal {
        Principal::User(id) => state.store.user(&caller.account_id, id).await?.is_some(),
        Principal::ServiceAccount(id) => state
            .store
            .service_account(&caller.account_id, id)
            .await?
            .is_some(),
        Principal::Certificate { .. } => false,
    };
    if exists {
        Ok(principal)
    } else {
        Err(unknown())
    }
}

/// Grants (or changes) a principal's permission (namespace admin).
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/permissions/{principal}", tag = "namespaces",
    params(("namespace" = String, Path), ("principal" = String, Path, description = "`user:<id>` or `service-account:<id>`")),
    request_body = PermissionSet,
    responses((status = 200, body = PermissionView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn set_permission(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, principal)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PermissionSet>,
) -> Result<Json<PermissionView>, ApiError> {
    let mut audit = caller.audit("namespace.permission_set", format!("namespace:{id}"));
    audit.detail = format!("{principal} {}", req.permission.as_str());
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let principal = own_principal(&state, &caller, &principal).await?;
        let grant = GrantRow {
            namespace_id: ns.id,
            principal: principal.to_string(),
            permission: req.permission,
        };
        state.store.set_grant(&grant, &audit).await?;
        Ok(Json(PermissionView {
            principal: grant.principal,
            permission: grant.permission,
        }))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Removes a principal's explicit permission (namespace admin).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/permissions/{principal}", tag = "namespaces",
    params(("namespace" = String, Path), ("principal" = String, Path)),
    responses((status = 204, description = "Removed"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_permission(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, principal)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let mut audit = caller.audit("namespace.permission_delete", format!("namespace:{id}"));
    audit.detail = principal.clone();
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        if state.store.delete_grant(&ns.id, &principal, &audit).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &audit, result).await
}
