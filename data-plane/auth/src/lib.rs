//! The tenant endpoint of a cell, and its admin listener. Before any RPC
//! runs, the caller is worked out from its credential and put in the request
//! as a [`orrery_core::caller::Caller`]; the frontend then checks it against
//! the RPC and the namespace. Credentials on the tenant endpoint:
//! - an API key (`authorization: Bearer <jwt>`), checked by a [`Verifier`];
//! - a client certificate, chained (by TLS, then again here) to the CA of
//!   the namespace named by SNI (`<namespace>.<domain>`) or by the
//!   `temporal-namespace` header, and passing its certificate filters.
//!
//! What a credential grants comes from a [`Verifier`] (in a cell, the
//! control plane's latest auth snapshot, signed by it: `control_channel`),
//! so a revoked key or a changed permission takes effect on the next
//! request. The control plane itself ([`Caller::Operator`]) is known only on
//! the admin listener (`admin`), by a token it signs for this cell; no
//! credential the tenant endpoint accepts makes anyone the operator.
pub mod admin;
pub mod control_channel;
mod layer;
mod snapshot;
pub mod tls;

use std::sync::Arc;

pub use layer::AuthLayer;
use orrery_core::caller::Caller;
pub use snapshot::SnapshotVerifier;
use tokio_rustls::rustls::pki_types::CertificateDer;

/// Checks tenant credentials. Implemented over the control plane's auth
/// snapshot; errors are messages fit for an UNAUTHENTICATED status.
pub trait Verifier: Send + Sync + 'static {
    /// The caller an API key stands for.
    fn api_key(&self, token: &str) -> Result<Caller, String>;
    /// The caller a client certificate chain stands for in `namespace`: the
    /// chain must lead to one of the namespace's CAs and the leaf pass its
    /// certificate filters.
    fn certificate(
        &self,
        namespace: &str,
        chain: &[CertificateDer<'static>],
    ) -> Result<Caller, String>;
    /// A client certificate presented with no namespace (SNI named none and
    /// the call carries no `temporal-namespace`, as GetSystemInfo): the
    /// caller holds the namespaces whose CAs and filters accept it.
    fn certificate_any(&self, chain: &[CertificateDer<'static>]) -> Result<Caller, String>;
    /// The namespace's client CAs (DER), for the TLS handshake.
    fn client_roots(&self, namespace: &str) -> Vec<CertificateDer<'static>>;
    /// Every namespace's client CAs: the handshake of a connection whose SNI
    /// names no namespace (the namespace then comes from a header).
    fn all_client_roots(&self) -> Vec<CertificateDer<'static>>;
    /// Changes whenever the CAs change, so TLS configs can be cached.
    fn version(&self) -> u64;
}

/// How the cell authenticates tenants.
pub struct TenantAuth {
    verifier: Arc<dyn Verifier>,
}

impl TenantAuth {
    pub fn new(verifier: Arc<dyn Verifier>) -> Arc<Self> {
        Arc::new(Self { verifier })
    }

    pub fn verifier(&self) -> &Arc<dyn Verifier> {
        &self.verifier
    }

    /// The caller of a request with these headers on this connection.
    pub fn authenticate(
        &self,
        headers: &http::HeaderMap,
        connection: Option<&tls::ConnectionInfo>,
    ) -> Result<Caller, String> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let token =
                value.to_str().ok().and_then(bearer).ok_or(
                    "Request unauthorized: the authorization header is not `Bearer <key>`.",
                )?;
            return self.verifier.api_key(token);
        }
        if let Some(chain) = connection.and_then(|c| c.peer_chain.as_deref()) {
            let namespace = connection
                .and_then(|c| c.sni_namespace.as_deref())
                .or_else(|| {
                    headers
                        .get("temporal-namespace")
                        .and_then(|v| v.to_str().ok())
                })
                .filter(|n| !n.is_empty());
            return match namespace {
                Some(namespace) => self.verifier.certificate(namespace, chain),
                None => self.verifier.certificate_any(chain),
            };
        }
        Err("Request unauthorized: no credentials (an API key or a client certificate).".into())
    }
}

pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_never_empty() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
