//! Certificate filters, as Temporal Cloud applies them: a certificate passes
//! if any filter matches, a filter matches if each of its set fields does.
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

use crate::error::AuthError;
use crate::snapshot::CertificateFilter;

/// Returns the subject to name the principal by, if the certificate passes.
pub(crate) fn check_filters(
    leaf_der: &[u8],
    filters: &[CertificateFilter],
) -> Result<String, AuthError> {
    let (_, cert) =
        X509Certificate::from_der(leaf_der).map_err(|_| AuthError::MalformedCertificate)?;
    let subject = cert.subject();
    let common_names = values(subject.iter_common_name());
    let sans = subject_alt_names(&cert);
    let passes = filters.is_empty()
        || filters.iter().any(|f| {
            field_matches(&f.common_name, &common_names)
                && field_matches(&f.organization, &values(subject.iter_organization()))
                && field_matches(
                    &f.organizational_unit,
                    &values(subject.iter_organizational_unit()),
                )
                && field_matches(&f.subject_alt_name, &sans)
        });
    if !passes {
        return Err(AuthError::CertificateFilterMismatch);
    }
    Ok(common_names
        .into_iter()
        .next()
        .unwrap_or_else(|| name_string(subject)))
}

/// A certificate's validity period, if it parses.
pub(crate) fn validity(der: &[u8]) -> Option<(std::time::SystemTime, std::time::SystemTime)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let at = |t: x509_parser::time::ASN1Time| {
        let secs = u64::try_from(t.timestamp()).unwrap_or(0);
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    };
    let validity = cert.validity();
    Some((at(validity.not_before), at(validity.not_after)))
}

fn values<'a>(
    attrs: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> Vec<String> {
    attrs
        .filter_map(|a| a.as_str().ok().map(str::to_owned))
        .collect()
}

fn name_string(name: &X509Name) -> String {
    name.to_string()
}

fn subject_alt_names(cert: &X509Certificate) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some((*s).to_owned())
            }
            GeneralName::IPAddress(bytes) => ip_string(bytes),
            _ => None,
        })
        .collect()
}

fn ip_string(bytes: &[u8]) -> Option<String> {
    use std::net::IpAddr;
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

/// An unset field matches anything; a set one must equal one of the
/// certificate's values, or be a prefix of one when it ends in `*`.
fn field_matches(pattern: &Option<String>, values: &[String]) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    match pattern.strip_suffix('*') {
        Some(prefix) => values.iter().any(|v| v.starts_with(prefix)),
        None => values.iter().any(|v| v == pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::field_matches;

    #[test]
    fn wildcard_is_a_suffix_only() {
        let values = vec!["worker-1.acme".to_owned()];
        assert!(field_matches(&None, &values));
        assert!(field_matches(&Some("worker-*".into()), &values));
        assert!(field_matches(&Some("worker-1.acme".into()), &values));
        assert!(!field_matches(&Some("worker-".into()), &values));
        assert!(!field_matches(&Some("*.acme".into()), &values));
        assert!(!field_matches(&Some("x".into()), &[]));
    }
}
