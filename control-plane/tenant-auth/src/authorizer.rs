//! The checks a cell makes, built once per snapshot so each request is a few
//! hash lookups plus, for API keys, one signature verification.
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::certificates;
use crate::error::AuthError;
use crate::snapshot::{KeyAlgorithm, MtlsConfig, Permission, Principal, Snapshot};

pub const API_KEY_ISSUER: &str = "orrery-control-plane";
pub const API_KEY_AUDIENCE: &str = "orrery-cell";
/// The audience of a console token: a user's short-lived stand-in for an
/// API key, minted for the web console's calls to a cell's HTTP API.
pub const CONSOLE_TOKEN_AUDIENCE: &str = "orrery-cell-console";
/// The longest a console token may live (exp - iat), in seconds. It is not
/// in the snapshot's active keys, so this bounds how long one outlives the
/// session it came from; what it grants is the user's grants in the
/// snapshot, so a changed or removed permission takes effect at once.
pub const CONSOLE_TOKEN_MAX_TTL: u64 = 600;
/// Clock skew tolerated between the control plane and a cell, in seconds.
pub const CLOCK_LEEWAY: u64 = 30;

/// The claims of an API key. The control plane signs exactly this struct,
/// so the two sides cannot drift apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyClaims {
    pub iss: String,
    pub aud: String,
    /// `user:<id>` or `service-account:<id>`.
    pub sub: String,
    /// The API key's id; revocation is by leaving it out of the snapshot.
    pub jti: String,
    pub account: String,
    pub iat: u64,
    pub exp: u64,
    /// A console token's one namespace: it acts there only, whatever else
    /// its user holds. Absent from API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What a bearer token stands for: its principal and, for a console token,
/// the one namespace it may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    pub principal: Principal,
    pub namespace: Option<String>,
}

struct NamespaceEntry {
    grants: HashMap<Principal, Permission>,
    mtls: Option<MtlsConfig>,
    roots: Vec<CertificateDer<'static>>,
}

pub struct Authorizer {
    version: u64,
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    namespaces: HashMap<String, NamespaceEntry>,
    /// Key id → the principal it was issued to.
    active_api_keys: HashMap<String, Principal>,
    /// When the set of CAs valid changes next: the first trusted one
    /// expires, or the first one not valid yet (a successor uploaded ahead
    /// of a rotation) becomes valid. The cell builds a new authorizer from
    /// the same snapshot then.
    next_ca_change: Option<SystemTime>,
}

impl Authorizer {
    /// Never fails: a signing key or CA certificate that does not parse is
    /// left out, so it can only make requests fail, never pass.
    pub fn new(snapshot: Snapshot) -> Self {
        Self::new_at(snapshot, SystemTime::now())
    }

    /// As [`Authorizer::new`], trusting only the CA certificates valid at
    /// `now`: TLS libraries do not check a trust anchor's own validity, so an
    /// expired namespace CA would otherwise stay trusted.
    pub fn new_at(snapshot: Snapshot, now: SystemTime) -> Self {
        let mut next_ca_change: Option<SystemTime> = None;
        let mut change_at = |t: SystemTime| {
            next_ca_change = Some(next_ca_change.map_or(t, |c| c.min(t)));
        };
        let keys = snapshot
            .signing_keys
            .into_iter()
            .filter_map(|key| {
                let alg = match key.alg {
                    KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                };
                let decoding = DecodingKey::from_ed_pem(key.public_key.as_bytes()).ok()?;
                Some((key.kid, (alg, decoding)))
            })
            .collect();
        let namespaces = snapshot
            .namespaces
            .into_iter()
            .map(|ns| {
                let grants = ns
                    .grants
                    .into_iter()
                    .fold(HashMap::new(), |mut grants, grant| {
                        let entry = grants.entry(grant.principal).or_insert(grant.permission);
                        *entry = (*entry).max(grant.permission);
                        grants
                    });
                let roots = ns
                    .mtls
                    .iter()
                    .flat_map(|mtls| &mtls.ca_pems)
                    .flat_map(|pem| CertificateDer::pem_slice_iter(pem.as_bytes()))
                    .filter_map(Result::ok)
                    .filter(|ca| match certificates::validity(ca.as_ref()) {
                        Some((not_before, not_after)) if not_before <= now && now < not_after => {
                            change_at(not_after);
                            true
                        }
                        Some((not_before, not_after))
                            if now < not_before && not_before < not_after =>
                        {
                            change_at(not_before);
                            false
                        }
                        _ => false,
                    })
                    .collect();
                let entry = NamespaceEntry {
                    grants,
                    mtls: ns.mtls,
                    roots,
                };
                (ns.namespace, entry)
            })
            .collect();
        Self {
            version: snapshot.version,
            keys,
            namespaces,
            active_api_keys: (snapshot.active_api_keys.into_iter())
                .map(|key| (key.id, key.principal))
                .collect(),
            next_ca_change,
        }
    }

    /// When the CAs this authorizer trusts change next (one expires or one
    /// becomes valid), if ever: build a new one from the same snapshot then.
    pub fn next_ca_change(&self) -> Option<SystemTime> {
        self.next_ca_change
    }

    /// The snapshot version this authorizer was built from (for `?since=`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Checks an API key (the JWT after `Bearer `): the signature with the
    /// key its `kid` names, only with that key's algorithm; issuer, audience,
    /// expiry against `now`; and that the key is still active. A console
    /// token is refused here: it is not an API key ([`Self::verify_bearer`]).
    pub fn verify_api_key(&self, token: &str, now: SystemTime) -> Result<Principal, AuthError> {
        match self.verify_bearer(token, now)? {
            Bearer {
                principal,
                namespace: None,
            } => Ok(principal),
            Bearer { .. } => Err(AuthError::InvalidClaims(
                "a console token is not an API key",
            )),
        }
    }

    /// An API key, or a console token (a user's, for one namespace, living
    /// at most [`CONSOLE_TOKEN_MAX_TTL`], not revoked one by one).
    pub fn verify_bearer(&self, token: &str, now: SystemTime) -> Result<Bearer, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::MalformedToken)?;
        let kid = header.kid.ok_or(AuthError::UnknownSigningKey)?;
        let (alg, key) = self.keys.get(&kid).ok_or(AuthError::UnknownSigningKey)?;
        if header.alg != *alg {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let mut validation = Validation::new(*alg);
        validation.algorithms = vec![*alg];
        validation.set_issuer(&[API_KEY_ISSUER]);
        validation.set_audience(&[API_KEY_AUDIENCE, CONSOLE_TOKEN_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against the caller's clock, so tests and
        // cells with an injected clock see the same decision.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<ApiKeyClaims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::InvalidSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::AlgorithmNotAllowed
                }
                ErrorKind::InvalidIssuer => AuthError::InvalidClaims("wrong issuer"),
                ErrorKind::InvalidAudience => AuthError::InvalidClaims("wrong audience"),
                ErrorKind::MissingRequiredClaim(_) => AuthError::InvalidClaims("missing claim"),
                ErrorKind::Json(_) => AuthError::InvalidClaims("malformed claims"),
                _ => AuthError::MalformedToken,
            })?
            .claims;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now > claims.exp.saturating_add(CLOCK_LEEWAY) {
            return Err(AuthError::Expired);
        }
        if claims.iat > now.saturating_add(CLOCK_LEEWAY) {
            return Err(AuthError::InvalidClaims("issued in the future"));
        }
        let subject: Principal =
            (claims.sub.parse()).map_err(|_| AuthError::InvalidClaims("malformed subject"))?;
        if claims.aud == CONSOLE_TOKEN_AUDIENCE {
            // A user's, short-lived, never revoked one by one: it lives at
            // most CONSOLE_TOKEN_MAX_TTL and grants only the user's grants
            // in its one namespace.
            if !matches!(subject, Principal::User(_)) {
                return Err(AuthError::InvalidClaims("a console token names a user"));
            }
            if claims.exp.saturating_sub(claims.iat) > CONSOLE_TOKEN_MAX_TTL {
                return Err(AuthError::InvalidClaims("a console token lives too long"));
            }
            let Some(namespace) = claims.namespace.filter(|n| !n.is_empty()) else {
                return Err(AuthError::InvalidClaims(
                    "a console token names its namespace",
                ));
            };
            return Ok(Bearer {
                principal: subject,
                namespace: Some(namespace),
            });
        }
        let owner = (self.active_api_keys.get(&claims.jti)).ok_or(AuthError::KeyNotActive)?;
        // The signature alone does not bind a key id to a subject: whoever
        // holds a signing key could pair their own live key id with someone
        // else's subject. The control plane says whose each key is.
        if subject != *owner {
            return Err(AuthError::SubjectMismatch);
        }
        Ok(Bearer {
            principal: subject,
            namespace: None,
        })
    }

    /// The principal's effective permission on `namespace`, if any. A
    /// certificate principal is admin of the namespace it was accepted for
    /// and of nothing else.
    pub fn namespace_permission(
        &self,
        principal: &Principal,
        namespace: &str,
    ) -> Option<Permission> {
        match principal {
            Principal::Certificate { namespace: own, .. } => (own == namespace
                && self.namespaces.contains_key(namespace))
            .then_some(Permission::Admin),
            _ => self
                .namespaces
                .get(namespace)?
                .grants
                .get(principal)
                .copied(),
        }
    }

    /// `Ok` if the principal holds at least `needed` on `namespace`.
    pub fn authorize(
        &self,
        principal: &Principal,
        namespace: &str,
        needed: Permission,
    ) -> Result<(), AuthError> {
        match self.namespace_permission(principal, namespace) {
            Some(held) if held >= needed => Ok(()),
            _ => Err(AuthError::NamespaceNotGranted(namespace.to_owned())),
        }
    }

    /// Applies the namespace's certificate filters to a client certificate
    /// whose chain the TLS layer has already verified against
    /// [`Authorizer::ca_roots`].
    pub fn verify_client_certificate(
        &self,
        namespace: &str,
        leaf_der: &[u8],
    ) -> Result<Principal, AuthError> {
        let mtls = self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.mtls.as_ref())
            .ok_or_else(|| AuthError::MtlsNotConfigured(namespace.to_owned()))?;
        let subject = certificates::check_filters(leaf_der, &mtls.filters)?;
        Ok(Principal::Certificate {
            namespace: namespace.to_owned(),
            subject,
        })
    }

    /// The CA certificates a client certificate for `namespace` must chain
    /// to; empty when the namespace takes no certificates.
    pub fn ca_roots(&self, namespace: &str) -> Vec<CertificateDer<'static>> {
        self.namespaces
            .get(namespace)
            .map(|ns| ns.roots.clone())
            .unwrap_or_default()
    }
}
