//! A namespace's custom search attributes. They live at the namespace's
//! cell alone (OperatorService List/Add/RemoveSearchAttributes through
//! `CellAdmin`); the control plane checks who may ask, checks the input
//! as the cell would, and audits each change.
//!
//! The cell, like Temporal, keeps a name it has already whatever type is
//! asked for, so a duplicate is found by listing first: two racing adds of
//! the same name both succeed at the cell, and the first type stays.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audited;
use super::namespaces::namespace_for;
use crate::app::AppState;
use crate::auth::Caller;
use crate::cell_admin::{SearchAttributeType, SettingError};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses, FieldError};
use crate::store::{Cell, Namespace, NamespaceState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_search_attributes, add_search_attribute))
        .routes(routes!(remove_search_attribute))
}

/// One custom search attribute.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchAttribute {
    /// Not empty, at most 256 bytes, not a system attribute's name nor
    /// reserved (`Temporal…`, `NamespaceId`, `Memo`, `MemoEncoding`,
    /// `VisibilityTaskKey`).
    pub name: String,
    #[serde(rename = "type")]
    pub ty: SearchAttributeType,
}

/// The cell's bound on a search attribute alias, which is what a custom
/// name is in Temporal's SQL visibility.
const MAX_NAME_BYTES: usize = 256;

/// Names the cell reserves besides the system attributes' (which it
/// checks itself, and whose refusal maps to the same 422).
const RESERVED: &[&str] = &["NamespaceId", "Memo", "MemoEncoding", "VisibilityTaskKey"];
const RESERVED_PREFIX: &str = "Temporal";

fn check_name(name: &str) -> Result<(), FieldError> {
    let message = if name.trim().is_empty() {
        "must not be empty".to_owned()
    } else if name.len() > MAX_NAME_BYTES {
        format!("at most {MAX_NAME_BYTES} bytes")
    } else if name.starts_with(RESERVED_PREFIX) || RESERVED.contains(&name) {
        format!("{name} is reserved by the system")
    } else if name.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(FieldError::new("name", message))
}

/// The request body, checked only once the caller may change the
/// namespace: one who may not learns nothing from how their body is
/// refused (ApiJson has already checked the media type and the syntax).
pub(crate) fn body_of<T: serde::de::DeserializeOwned>(
    body: &serde_json::Value,
) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    crate::extract::parse_json(&bytes)
}

/// The namespace's cell, once the namespace is active.
pub(crate) async fn settings_cell(state: &AppState, ns: &Namespace) -> Result<Cell, ApiError> {
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

/// What the tenant hears of a failed settings call: the cell's refusal of
/// their input through `invalid`, a namespace the cell lost as 404, and
/// anything else as the cell being unavailable (details logged only).
pub(crate) fn setting_failed(
    cell: &Cell,
    namespace: &str,
    call: &str,
    err: SettingError,
    invalid: impl FnOnce(String) -> ApiError,
) -> ApiError {
    match err {
        SettingError::Invalid(message) => invalid(message),
        SettingError::AlreadyExists(message) => ApiError::Conflict(message),
        SettingError::NotFound => {
            tracing::warn!(namespace, cell = %cell.name, call, "the cell does not know an active namespace");
            ApiError::NotFound
        }
        SettingError::Cell(e) => {
            tracing::warn!(namespace, cell = %cell.name, call, error = %e, "a cell call failed");
            ApiError::CellUnavailable
        }
    }
}

/// The field a refused add is about: a type's limit is a quota on `type`,
/// a type the cell does not know is `type`, the rest is the name.
fn refused_add(message: String) -> ApiError {
    if message.contains("the most it may have") {
        ApiError::QuotaExceeded(FieldError::new("type", message))
    } else if message.contains("search attribute type") {
        ApiError::field("type", message)
    } else {
        ApiError::field("name", message)
    }
}

/// The namespace's custom search attributes, by name (read: any account
/// role that reads namespaces). System attributes are not listed.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/search-attributes", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id, `<name>.<slug>`")),
    responses(
        (status = 200, body = Vec<SearchAttribute>),
        (status = 502, description = "The namespace's cell is unavailable", body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_search_attributes(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<SearchAttribute>>, ApiError> {
    let ns = namespace_for(&state, &caller, &id, None).await?;
    let cell = settings_cell(&state, &ns).await?;
    let attributes = state
        .cells
        .search_attributes(&cell, &ns.id)
        .await
        .map_err(|e| {
            setting_failed(
                &cell,
                &ns.id,
                "list search attributes",
                e,
                ApiError::BadRequest,
            )
        })?;
    Ok(Json(
        attributes
            .into_iter()
            .map(|(name, ty)| SearchAttribute { name, ty })
            .collect(),
    ))
}

/// Adds a custom search attribute (admin permission on the namespace).
/// A name the namespace has already is 409; a reserved name or a type at
/// its per-namespace limit (Temporal Cloud's: 40 Keyword, 20 each of Int,
/// Double, Bool and Datetime, 5 each of Text and KeywordList) is 422.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/search-attributes", tag = "namespaces",
    params(("namespace" = String, Path, description = "The namespace id")),
    request_body = SearchAttribute,
    responses(
        (status = 201, body = SearchAttribute),
        (status = 502, description = "The namespace's cell is unavailable", body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn add_search_attribute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<SearchAttribute>), ApiError> {
    let mut audit = caller.audit("namespace.search_attribute.add", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let req: SearchAttribute = body_of(&body)?;
        audit.detail = format!("{} {:?}", req.name, req.ty);
        check_name(&req.name).map_err(|e| ApiError::Validation(vec![e]))?;
        let cell = settings_cell(&state, &ns).await?;
        let failed = |call, e| setting_failed(&cell, &ns.id, call, e, refused_add);
        let existing = state
            .cells
            .search_attributes(&cell, &ns.id)
            .await
            .map_err(|e| failed("list search attributes", e))?;
        if let Some(ty) = existing.get(&req.name) {
            return Err(ApiError::Conflict(format!(
                "the namespace has a search attribute {} already (type {ty:?})",
                req.name
            )));
        }
        state
            .cells
            .add_search_attribute(&cell, &ns.id, &req.name, req.ty)
            .await
            .map_err(|e| failed("add search attribute", e))?;
        state.store.record_audit(&audit, "success").await?;
        Ok((StatusCode::CREATED, Json(req)))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Removes a custom search attribute and the values runs hold for it
/// (admin permission on the namespace). A name the namespace lacks, a
/// system attribute's included, is 404.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/search-attributes/{name}", tag = "namespaces",
    params(
        ("namespace" = String, Path, description = "The namespace id"),
        ("name" = String, Path, description = "The search attribute's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 502, description = "The namespace's cell is unavailable", body = crate::problem::Problem, content_type = "application/problem+json"),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn remove_search_attribute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let mut audit = caller.audit(
        "namespace.search_attribute.remove",
        format!("namespace:{id}"),
    );
    audit.detail = name.clone();
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let cell = settings_cell(&state, &ns).await?;
        let failed =
            |call, e| setting_failed(&cell, &ns.id, call, e, |m| ApiError::field("name", m));
        let existing = state
            .cells
            .search_attributes(&cell, &ns.id)
            .await
            .map_err(|e| failed("list search attributes", e))?;
        if !existing.contains_key(&name) {
            return Err(ApiError::NotFound);
        }
        state
            .cells
            .remove_search_attribute(&cell, &ns.id, &name)
            .await
            .map_err(|e| failed("remove search attribute", e))?;
        state.store.record_audit(&audit, "success").await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&state, &audit, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_cells_rule() {
        for good in ["CustomerId", "a", "with space", "Ünïcode", &"x".repeat(256)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "  ",
            "TemporalThing",
            "Memo",
            "NamespaceId",
            "tab\there",
            &"x".repeat(257),
        ] {
            assert_eq!(check_name(bad).unwrap_err().field, "name", "{bad:?}");
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let quota = refused_add("Unable to create search attribute X: the namespace n already has 5 custom search attributes of type Text, the most it may have.".into());
        assert!(matches!(quota, ApiError::QuotaExceeded(ref f) if f.field == "type"));
        let ty = refused_add("Unknown search attribute type: 99.".into());
        assert!(matches!(ty, ApiError::Validation(ref f) if f[0].field == "type"));
        let name = refused_add("Search attribute WorkflowId is reserved by system.".into());
        assert!(matches!(name, ApiError::Validation(ref f) if f[0].field == "name"));
    }
}
