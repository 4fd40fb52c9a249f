//! Namespace CA bundles: validating uploads, generating a CA, issuing client
//! certificates from it. The TLS layer of a cell chains client certificates
//! to these; the filters are applied by `orrery-tenant-auth`.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use orrery_tenant_auth::CertificateFilter;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::problem::{ApiError, FieldError};

pub const MAX_BUNDLE_BYTES: usize = 64 * 1024;
/// Enough for a CA, its successor and a few more during rotations.
pub const MAX_BUNDLE_CERTS: usize = 16;
pub const MAX_FILTERS: usize = 25;
const MAX_FILTER_VALUE: usize = 255;

/// What the API shows of a CA certificate.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CaCertificateInfo {
    pub subject: String,
    pub not_before: chrono::DateTime<chrono::Utc>,
    pub not_after: chrono::DateTime<chrono::Utc>,
    /// Hex sha256 of the DER encoding.
    pub fingerprint_sha256: String,
    pub pem: String,
}

fn bundle_error(message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError::new("ca_pem", message)])
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Splits a PEM bundle into one normalised PEM per certificate, refusing
/// anything that is not an unexpired CA certificate.
pub fn parse_ca_bundle(pem: &str, now_secs: i64) -> Result<Vec<String>, ApiError> {
    if pem.len() > MAX_BUNDLE_BYTES {
        return Err(bundle_error(format!(
            "the bundle is {} bytes; at most {MAX_BUNDLE_BYTES} are accepted",
            pem.len()
        )));
    }
    let mut out = Vec::new();
    for (i, block) in Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
        let n = i + 1;
        let block = block.map_err(|e| bundle_error(format!("block {n} is not valid PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            return Err(bundle_error(format!(
                "block {n} is a {}; only CERTIFICATE blocks are accepted",
                block.label
            )));
        }
        let (rest, cert) = X509Certificate::from_der(&block.contents)
            .map_err(|_| bundle_error(format!("block {n} is not an X.509 certificate")))?;
        if !rest.is_empty() {
            return Err(bundle_error(format!("block {n} has trailing data")));
        }
        if !cert.is_ca() {
            return Err(bundle_error(format!(
                "certificate {n} ({}) is not a CA certificate (basicConstraints CA:TRUE is required)",
                cert.subject()
            )));
        }
        if let Ok(Some(usage)) = cert.key_usage()
            && !usage.value.key_cert_sign()
        {
            return Err(bundle_error(format!(
                "certificate {n} ({}) may not sign certificates (keyUsage lacks keyCertSign)",
                cert.subject()
            )));
        }
        if cert.validity().not_after.timestamp() <= now_secs {
            return Err(bundle_error(format!(
                "certificate {n} ({}) expired on {}",
                cert.subject(),
                cert.validity().not_after
            )));
        }
        out.push(pem_encode("CERTIFICATE", &block.contents));
        if out.len() > MAX_BUNDLE_CERTS {
            return Err(bundle_error(format!(
                "at most {MAX_BUNDLE_CERTS} certificates are accepted"
            )));
        }
    }
    if out.is_empty() {
        return Err(bundle_error("no PEM CERTIFICATE block found"));
    }
    out.dedup();
    Ok(out)
}

pub fn describe(pem: &str) -> Option<CaCertificateInfo> {
    let block = Pem::iter_from_buffer(pem.as_bytes()).next()?.ok()?;
    let (_, cert) = X509Certificate::from_der(&block.contents).ok()?;
    let time = |t: x509_parser::time::ASN1Time| {
        chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
    };
    Some(CaCertificateInfo {
        subject: cert.subject().to_string(),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        fingerprint_sha256: hex::encode(Sha256::digest(&block.contents)),
        pem: pem.to_owned(),
    })
}

pub fn validate_filters(filters: &[CertificateFilter]) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if filters.len() > MAX_FILTERS {
        errors.push(FieldError::new(
            "filters",
            format!("at most {MAX_FILTERS} filters are accepted"),
        ));
    }
    for (i, f) in filters.iter().enumerate() {
        let fields = [
            ("common_name", &f.common_name),
            ("organization", &f.organization),
            ("organizational_unit", &f.organizational_unit),
            ("subject_alt_name", &f.subject_alt_name),
        ];
        if fields.iter().all(|(_, v)| v.is_none()) {
            errors.push(FieldError::new(
                format!("filters[{i}]"),
                "a filter sets at least one field",
            ));
        }
        for (name, value) in fields {
            if let Some(v) = value
                && (v.is_empty() || v.len() > MAX_FILTER_VALUE || v[..v.len() - 1].contains('*'))
            {
                errors.push(FieldError::new(
                    format!("filters[{i}].{name}"),
                    format!("1 to {MAX_FILTER_VALUE} characters; `*` only at the end"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn internal(e: rcgen::Error) -> ApiError {
    ApiError::Internal(format!("certificate generation: {e}"))
}

/// A CA this control plane generated, its key in the clear: it is sealed
/// before it is stored (`crate::sealing`).
#[derive(Clone)]
pub struct CaKeyPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CaKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKeyPair")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// A new CA (ECDSA P-256) that may sign leaf certificates only.
pub fn generate_ca(namespace: &str, validity_days: u32) -> Result<CaKeyPair, ApiError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(internal)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{namespace} client CA"));
    dn.push(DnType::OrganizationName, "Orrery");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(validity_days));
    let key = KeyPair::generate().map_err(internal)?;
    let cert = params.self_signed(&key).map_err(internal)?;
    Ok(CaKeyPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub private_key_pem: String,
    pub not_after: chrono::DateTime<chrono::Utc>,
}

/// A client certificate signed by the namespace's generated CA, never
/// outliving it. The private key exists only in the returned value.
pub fn issue_client_certificate(
    ca: &CaKeyPair,
    common_name: &str,
    organizational_unit: Option<&str>,
    validity_days: u32,
) -> Result<IssuedCertificate, ApiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(internal)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(internal)?;
    let ca_not_after = describe(&ca.cert_pem)
        .map(|i| i.not_after.timestamp())
        .ok_or_else(|| ApiError::Internal("the stored CA does not parse".into()))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(internal)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(ou) = organizational_unit {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    let wanted = now + time::Duration::days(i64::from(validity_days));
    let ca_end = time::OffsetDateTime::from_unix_timestamp(ca_not_after)
        .map_err(|e| ApiError::Internal(format!("the stored CA's expiry is out of range: {e}")))?;
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = wanted.min(ca_end);
    let key = KeyPair::generate().map_err(internal)?;
    let cert = params.signed_by(&key, &issuer).map_err(internal)?;
    Ok(IssuedCertificate {
        certificate_pem: cert.pem(),
        private_key_pem: key.serialize_pem(),
        not_after: chrono::DateTime::from_timestamp(params.not_after.unix_timestamp(), 0)
            .unwrap_or_default(),
    })
}
