//! Service accounts: principals for programs. They hold an account role
//! (never owner) and namespace permissions, and own API keys.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{audited, new_id, now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses};
use crate::roles::AccountRole;
use crate::store::{ServiceAccount, StoreError};
use crate::validate::{Checks, check_name};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_service_accounts, create_service_account))
        .routes(routes!(
            get_service_account,
            update_service_account,
            delete_service_account
        ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    pub id: String,
    /// `service-account:<id>`, as namespace permissions and API keys name it.
    pub principal: String,
    pub name: String,
    pub description: String,
    pub role: AccountRole,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ServiceAccount> for ServiceAccountView {
    fn from(sa: ServiceAccount) -> Self {
        Self {
            principal: format!("service-account:{}", sa.id),
            id: sa.id,
            name: sa.name,
            description: sa.description,
            role: sa.role,
            created_at: time(sa.created_ms),
        }
    }
}

fn check_role(role: AccountRole) -> Result<(), ApiError> {
    if role == AccountRole::Owner {
        Err(ApiError::field(
            "role",
            "a service account cannot be an owner",
        ))
    } else {
        Ok(())
    }
}

/// The account's service accounts.
#[utoipa::path(get, path = "/api/v1/service-accounts", tag = "service-accounts",
    responses((status = 200, body = Vec<ServiceAccountView>), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_service_accounts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ServiceAccountView>>, ApiError> {
    caller.require_reader()?;
    let all = state.store.service_accounts(&caller.account_id).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountCreate {
    /// Unique within the account.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Any role but owner; `read` if omitted.
    #[serde(default = "default_role")]
    pub role: AccountRole,
}

fn default_role() -> AccountRole {
    AccountRole::Read
}

/// Creates a service account (owner and admin only).
#[utoipa::path(post, path = "/api/v1/service-accounts", tag = "service-accounts",
    request_body = ServiceAccountCreate,
    responses((status = 201, body = ServiceAccountView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn create_service_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ServiceAccountCreate>,
) -> Result<(StatusCode, Json<ServiceAccountView>), ApiError> {
    let sa = ServiceAccount {
        id: new_id(),
        account_id: caller.account_id.clone(),
        name: req.name.trim().to_owned(),
        description: req.description,
        role: req.role,
        created_ms: now_ms(),
    };
    let audit = caller.audit(
        "service_account.create",
        format!("service-account:{}", sa.id),
    );
    let result = async {
        caller.require_manager()?;
        let mut checks = Checks::default();
        checks.add(check_name("name", &sa.name, 64));
        if sa.description.chars().count() > 500 {
            checks.add(Err(crate::problem::FieldError::new(
                "description",
                "at most 500 characters",
            )));
        }
        checks.done()?;
        check_role(sa.role)?;
        match state.store.create_service_account(&sa, &audit).await {
            Err(StoreError::Conflict) => Err(ApiError::Conflict(
                "a service account with this name exists".into(),
            )),
            other => other.map_err(ApiError::from),
        }?;
        Ok((StatusCode::CREATED, Json(sa.into())))
    }
    .await;
    audited(&state, &audit, result).await
}

/// One service account.
#[utoipa::path(get, path = "/api/v1/service-accounts/{id}", tag = "service-accounts",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ServiceAccountView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_service_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ServiceAccountView>, ApiError> {
    caller.require_reader()?;
    let sa = state
        .store
        .service_account(&caller.account_id, &id.to_string())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(sa.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountUpdate {
    pub role: AccountRole,
}

/// Changes a service account's role (owner and admin only).
#[utoipa::path(patch, path = "/api/v1/service-accounts/{id}", tag = "service-accounts",
    params(("id" = Uuid, Path)),
    request_body = ServiceAccountUpdate,
    responses((status = 200, body = ServiceAccountView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn update_service_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<ServiceAccountUpdate>,
) -> Result<Json<ServiceAccountView>, ApiError> {
    let id = id.to_string();
    let audit = caller.audit(
        "service_account.update_role",
        format!("service-account:{id}"),
    );
    let result = async {
        caller.require_manager()?;
        let mut sa = state
            .store
            .service_account(&caller.account_id, &id)
            .await?
            .ok_or(ApiError::NotFound)?;
        check_role(req.role)?;
        if !state
            .store
            .update_service_account_role(&caller.account_id, &id, req.role, &audit)
            .await?
        {
            return Err(ApiError::NotFound);
        }
        sa.role = req.role;
        Ok(Json(sa.into()))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Deletes a service account with its API keys and namespace permissions.
#[utoipa::path(delete, path = "/api/v1/service-accounts/{id}", tag = "service-accounts",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_service_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let id = id.to_string();
    let audit = caller.audit("service_account.delete", format!("service-account:{id}"));
    let result = async {
        caller.require_manager()?;
        if state
            .store
            .delete_service_account(&caller.account_id, &id, &audit)
            .await?
        {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &audit, result).await
}
