//! The control plane's signing keys, for the operator (bootstrap admin
//! token): list them, rotate the API-key signing key. Private halves are
//! never shown.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{audited, time};
use crate::app::AppState;
use crate::auth::BootstrapAdmin;
use crate::problem::{ApiError, ErrorResponses};
use crate::store::{Audit, KeyPurpose, SigningKeyRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_signing_keys))
        .routes(routes!(rotate_signing_key))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyView {
    /// The `kid` in the header of what it signs.
    pub kid: String,
    /// `api_key`: signs API keys; `control`: signs what is sent to cells.
    pub purpose: KeyPurpose,
    pub alg: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When a newer key took over signing. A retired API-key signing key
    /// still verifies the API keys it signed until they expire.
    pub retired_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<SigningKeyRow> for SigningKeyView {
    fn from(row: SigningKeyRow) -> Self {
        Self {
            kid: row.kid,
            purpose: row.purpose,
            alg: row.alg,
            public_key_pem: row.public_key_pem,
            created_at: time(row.created_ms),
            retired_at: row.retired_ms.map(time),
        }
    }
}

/// The stored signing keys, oldest first: API-key signing keys, then the
/// control key (unless one is configured from a file, which is not listed).
#[utoipa::path(get, path = "/api/v1/admin/signing-keys", tag = "admin",
    responses((status = 200, body = Vec<SigningKeyView>), ErrorResponses),
    security(("bootstrap_admin" = [])))]
async fn list_signing_keys(
    State(state): State<AppState>,
    _admin: BootstrapAdmin,
) -> Result<Json<Vec<SigningKeyView>>, ApiError> {
    let mut keys = state.store.signing_keys(KeyPurpose::ApiKey).await?;
    keys.extend(state.store.signing_keys(KeyPurpose::Control).await?);
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

/// Creates a new API-key signing key: API keys created from now on are
/// signed with it. Keys signed by the older ones keep working until they
/// expire; cells are sent every key still needed.
#[utoipa::path(post, path = "/api/v1/admin/signing-keys/rotate", tag = "admin",
    responses((status = 201, body = SigningKeyView), ErrorResponses),
    security(("bootstrap_admin" = [])))]
async fn rotate_signing_key(
    State(state): State<AppState>,
    admin: BootstrapAdmin,
) -> Result<(StatusCode, Json<SigningKeyView>), ApiError> {
    let audit = Audit {
        actor: "bootstrap-admin".into(),
        action: "signing_key.rotate".into(),
        target: "signing-keys".into(),
        source_ip: admin.ip,
        ..Default::default()
    };
    let result = async {
        let row = state.signer.rotate(&audit).await?;
        Ok((StatusCode::CREATED, Json(row.into())))
    }
    .await;
    audited(&state, &audit, result).await
}
