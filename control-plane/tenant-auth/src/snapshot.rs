//! The snapshot's wire types (JSON). Both sides compile against these, so a
//! change here is a change of the contract: add fields with `#[serde(default)]`.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything a cell needs to authorise tenants, as of `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    /// Rises on every change that can alter an authorisation decision.
    pub version: u64,
    /// The control plane's public keys; API keys name theirs by `kid`.
    pub signing_keys: Vec<SigningKey>,
    /// The namespaces placed on the polling cell.
    pub namespaces: Vec<NamespaceAuth>,
    /// The API keys that are enabled, not deleted and not expired, each with
    /// the principal it was issued to: a key is accepted only for that
    /// principal, so a token signed for `{sub: victim, jti: own key}` (by
    /// anyone who got hold of a signing key) still acts as no one else.
    pub active_api_keys: Vec<ActiveApiKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveApiKey {
    /// The key's id, the `jti` of its token.
    pub id: String,
    /// `user:<id>` or `service-account:<id>`: the token's `sub` must be this.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "user:0190..."))]
    pub principal: Principal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKey {
    pub kid: String,
    pub alg: KeyAlgorithm,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key: String,
}

/// The only algorithm API keys are signed with. Being a closed enum, a
/// snapshot cannot smuggle in `none` or an HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyAlgorithm {
    EdDSA,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceAuth {
    /// `<name>.<account slug>`.
    pub namespace: String,
    /// Absent when the namespace accepts no client certificates.
    pub mtls: Option<MtlsConfig>,
    /// Effective permissions, account roles already folded in.
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MtlsConfig {
    /// CA certificates, one PEM block each; several while a CA rotates.
    pub ca_pems: Vec<String>,
    /// A certificate passes if it matches any filter; none means any
    /// certificate the CAs issued.
    #[serde(default)]
    pub filters: Vec<CertificateFilter>,
}

/// Every field that is set must match (a trailing `*` matches any suffix);
/// unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_alt_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    /// `user:<id>` or `service-account:<id>`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "user:0190..."))]
    pub principal: Principal,
    pub permission: Permission,
}

/// Namespace permissions, ordered so that `p >= Permission::Write` reads as
/// "may write".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

impl FromStr for Permission {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "admin" => Ok(Permission::Admin),
            _ => Err(()),
        }
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    User(String),
    ServiceAccount(String),
    /// A client certificate accepted for one namespace; `subject` is its
    /// subject's common name (or the whole subject when it has none), for logs.
    Certificate {
        namespace: String,
        subject: String,
    },
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(id) => write!(f, "user:{id}"),
            Principal::ServiceAccount(id) => write!(f, "service-account:{id}"),
            Principal::Certificate { namespace, .. } => write!(f, "certificate:{namespace}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a principal is `user:<id>` or `service-account:<id>`")]
pub struct ParsePrincipalError;

/// Only users and service accounts can be named: certificate principals
/// come from a namespace's mTLS settings, never from a grant.
impl FromStr for Principal {
    type Err = ParsePrincipalError;
    fn from_str(s: &str) -> Result<Self, ParsePrincipalError> {
        let valid =
            |id: &str| !id.is_empty() && id.len() <= 128 && !id.contains(char::is_whitespace);
        if let Some(id) = s.strip_prefix("user:").filter(|id| valid(id)) {
            Ok(Principal::User(id.to_owned()))
        } else if let Some(id) = s.strip_prefix("service-account:").filter(|id| valid(id)) {
            Ok(Principal::ServiceAccount(id.to_owned()))
        } else {
            Err(ParsePrincipalError)
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
