//! A namespace's client-certificate settings: the CA bundle clients chain
//! to and optional certificate filters. The CA is uploaded, or generated
//! here; a generated CA can issue client certificates, whose private key is
//! returned once and never stored.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orrery_tenant_auth::{CertificateFilter, Permission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api_keys::{outlives_presenting_key, presenting_key_expiry};
use super::namespaces::namespace_for;
use super::{audited, now_ms};
use crate::app::AppState;
use crate::auth::Caller;
use crate::certs::{self, CaCertificateInfo, MAX_BUNDLE_CERTS};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, ErrorResponses};
use crate::store::{GeneratedCa, NamespaceMtls};
use crate::validate::{Checks, check_name, check_range};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_mtls, put_mtls, delete_mtls))
        .routes(routes!(generate_ca))
        .routes(routes!(issue_certificate))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MtlsView {
    /// False when the namespace takes no client certificates.
    pub enabled: bool,
    pub ca_certificates: Vec<CaCertificateInfo>,
    pub filters: Vec<CertificateFilter>,
    /// Whether a CA generated here is in the bundle (and can issue certificates).
    pub generated_ca: bool,
}

fn mtls_view(mtls: Option<NamespaceMtls>) -> MtlsView {
    match mtls {
        None => MtlsView {
            enabled: false,
            ca_certificates: Vec::new(),
            filters: Vec::new(),
            generated_ca: false,
        },
        Some(m) => MtlsView {
            enabled: true,
            ca_certificates: m
                .ca_pems
                .iter()
                .filter_map(|p| certs::describe(p))
                .collect(),
            filters: m.filters,
            generated_ca: m.generated_ca.is_some(),
        },
    }
}

/// The namespace's mTLS settings.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/mtls", tag = "mtls",
    params(("namespace" = String, Path)),
    responses((status = 200, body = MtlsView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_mtls(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MtlsView>, ApiError> {
    let ns = namespace_for(&state, &caller, &id, None).await?;
    Ok(Json(mtls_view(state.store.mtls(&ns.id).await?)))
}

/// A certificate filter; set fields must all match, `*` at the end matches any suffix.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterInput {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub subject_alt_name: Option<String>,
}

impl From<FilterInput> for CertificateFilter {
    fn from(f: FilterInput) -> Self {
        CertificateFilter {
            common_name: f.common_name,
            organization: f.organization,
            organizational_unit: f.organizational_unit,
            subject_alt_name: f.subject_alt_name,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MtlsPut {
    /// PEM CA certificates, up to 16 and 64 KiB; all must be unexpired CAs.
    /// Put with an API key, those the bundle does not hold yet must expire
    /// no later than that key (422 otherwise).
    pub ca_pem: String,
    /// A certificate passes if it matches any filter; none: any certificate of the CAs.
    #[serde(default)]
    pub filters: Vec<FilterInput>,
}

/// Replaces the CA bundle and filters (namespace admin). Put old and new
/// CA together to rotate without downtime.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/mtls", tag = "mtls",
    params(("namespace" = String, Path)),
    request_body = MtlsPut,
    responses((status = 200, body = MtlsView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn put_mtls(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<MtlsPut>,
) -> Result<Json<MtlsView>, ApiError> {
    let audit = caller.audit("namespace.mtls_put", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let filters: Vec<CertificateFilter> = req.filters.into_iter().map(Into::into).collect();
        certs::validate_filters(&filters)?;
        let ca_pems = certs::parse_ca_bundle(&req.ca_pem, chrono::Utc::now().timestamp())?;
        let current = state.store.mtls(&ns.id).await?;
        if let Some(key_expires) = presenting_key_expiry(&state, &caller).await? {
            // A CA the bundle holds already was not brought by this key.
            let held = current.as_ref().map_or(&[][..], |m| &m.ca_pems[..]);
            let outlives = ca_pems
                .iter()
                .filter(|pem| !held.contains(pem))
                .filter_map(|pem| certs::describe(pem))
                .any(|ca| ca.not_after.timestamp_millis() > key_expires);
            if outlives {
                return Err(outlives_presenting_key(
                    "ca_pem",
                    "a CA certificate",
                    key_expires,
                ));
            }
        }
        // A generated CA stays usable only while it is in the bundle.
        let generated_ca = current.and_then(|m| m.generated_ca).filter(|ca| {
            certs::parse_ca_bundle(&ca.cert_pem, 0)
                .map(|p| p.iter().all(|pem| ca_pems.contains(pem)))
                .unwrap_or(false)
        });
        let mtls = NamespaceMtls {
            namespace_id: ns.id,
            ca_pems,
            filters,
            generated_ca,
            updated_ms: now_ms(),
        };
        state.store.put_mtls(&mtls, &audit).await?;
        Ok(Json(mtls_view(Some(mtls))))
    }
    .await;
    audited(&state, &audit, result).await
}

/// Turns client certificates off for the namespace (namespace admin).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/mtls", tag = "mtls",
    params(("namespace" = String, Path)),
    responses((status = 204, description = "Removed"), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_mtls(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let audit = caller.audit("namespace.mtls_delete", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        if state.store.delete_mtls(&ns.id, &audit).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &audit, result).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateCa {
    /// 1–3650 days; 365 if omitted. With an API key, ending no later than
    /// that key (422 otherwise).
    #[serde(default = "default_ca_days")]
    pub validity_days: u32,
}

fn default_ca_days() -> u32 {
    365
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeneratedCaView {
    pub ca_pem: String,
    pub mtls: MtlsView,
}

/// Generates a CA for the namespace and adds it to the bundle, replacing a
/// previously generated one as the issuer (namespace admin).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/mtls/generated-ca", tag = "mtls",
    params(("namespace" = String, Path)),
    request_body = GenerateCa,
    responses((status = 201, body = GeneratedCaView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn generate_ca(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<GenerateCa>,
) -> Result<(StatusCode, Json<GeneratedCaView>), ApiError> {
    let audit = caller.audit("namespace.mtls_generate_ca", format!("namespace:{id}"));
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        check_range("validity_days", req.validity_days, 1, 3650)
            .map_err(|e| ApiError::Validation(vec![e]))?;
        if let Some(key_expires) = presenting_key_expiry(&state, &caller).await? {
            let ends = now_ms().saturating_add(i64::from(req.validity_days) * 86_400_000);
            if ends > key_expires {
                return Err(outlives_presenting_key(
                    "validity_days",
                    "a CA",
                    key_expires,
                ));
            }
        }
        let ca = certs::generate_ca(&ns.id, req.validity_days)?;
        let mut mtls = state.store.mtls(&ns.id).await?.unwrap_or(NamespaceMtls {
            namespace_id: ns.id.clone(),
            ca_pems: Vec::new(),
            filters: Vec::new(),
            generated_ca: None,
            updated_ms: 0,
        });
        if mtls.ca_pems.len() >= MAX_BUNDLE_CERTS {
            return Err(ApiError::Conflict(format!(
                "the bundle holds {MAX_BUNDLE_CERTS} certificates already; replace it first"
            )));
        }
        mtls.ca_pems
            .extend(certs::parse_ca_bundle(&ca.cert_pem, 0)?);
        mtls.generated_ca = Some(GeneratedCa {
            cert_pem: ca.cert_pem.clone(),
            key_sealed: state
                .sealer
                .seal(&ca.key_pem, &GeneratedCa::seal_context(&ns.id))?,
        });
        mtls.updated_ms = now_ms();
        state.store.put_mtls(&mtls, &audit).await?;
        Ok((
            StatusCode::CREATED,
            Json(GeneratedCaView {
                ca_pem: ca.cert_pem,
                mtls: mtls_view(Some(mtls)),
            }),
        ))
    }
    .await;
    audited(&state, &audit, result).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    pub common_name: String,
    pub organizational_unit: Option<String>,
    /// 1–365 days; 30 if omitted. Never beyond the CA's own expiry; with
    /// an API key, ending no later than that key (422 otherwise).
    #[serde(default = "default_cert_days")]
    pub validity_days: u32,
}

fn default_cert_days() -> u32 {
    30
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCertificateView {
    pub certificate_pem: String,
    /// PKCS#8 PEM. Shown once: it is not stored anywhere.
    pub private_key_pem: String,
    pub ca_pem: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Issues a client certificate from the namespace's generated CA (namespace admin).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/mtls/client-certificates", tag = "mtls",
    params(("namespace" = String, Path)),
    request_body = IssueCertificate,
    responses((status = 201, body = IssuedCertificateView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn issue_certificate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<IssueCertificate>,
) -> Result<(StatusCode, Json<IssuedCertificateView>), ApiError> {
    let mut audit = caller.audit(
        "namespace.mtls_issue_certificate",
        format!("namespace:{id}"),
    );
    audit.detail = format!("CN={}", req.common_name);
    let result = async {
        let ns = namespace_for(&state, &caller, &id, Some(Permission::Admin)).await?;
        let mut checks = Checks::default();
        checks
            .add(check_name("common_name", &req.common_name, 64))
            .add(check_range("validity_days", req.validity_days, 1, 365));
        if let Some(ou) = &req.organizational_unit {
            checks.add(check_name("organizational_unit", ou, 64));
        }
        checks.done()?;
        let stored = state
            .store
            .mtls(&ns.id)
            .await?
            .and_then(|m| m.generated_ca)
            .ok_or_else(|| {
                ApiError::Conflict("the namespace has no generated CA; generate one first".into())
            })?;
        let ca = certs::CaKeyPair {
            key_pem: state.sealer.open(
                &stored.key_sealed,
                &GeneratedCa::seal_context(&ns.id),
                &format!("the generated CA key of namespace {}", ns.id),
            )?,
            cert_pem: stored.cert_pem,
        };
        if let Some(key_expires) = presenting_key_expiry(&state, &caller).await? {
            // What the certificate would get: the days asked for, cut at
            // the CA's own expiry.
            let asked = now_ms().saturating_add(i64::from(req.validity_days) * 86_400_000);
            let ends = certs::describe(&ca.cert_pem)
                .map_or(asked, |info| asked.min(info.not_after.timestamp_millis()));
            if ends > key_expires {
                return Err(outlives_presenting_key(
                    "validity_days",
                    "a client certificate",
                    key_expires,
                ));
            }
        }
        let issued = certs::issue_client_certificate(
            &ca,
            req.common_name.trim(),
            req.organizational_unit.as_deref(),
            req.validity_days,
        )?;
        state.store.record_audit(&audit, "success").await?;
        Ok((
            StatusCode::CREATED,
            Json(IssuedCertificateView {
                certificate_pem: issued.certificate_pem,
                private_key_pem: issued.private_key_pem,
                ca_pem: ca.cert_pem,
                expires_at: issued.not_after,
            }),
        ))
    }
    .await;
    audited(&state, &audit, result).await
}
