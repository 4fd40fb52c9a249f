//! The cell's admin listener: where the control plane creates, updates and
//! deletes namespaces. Only the control plane gets through, by a token it
//! signs with its control key for this one cell
//! ([`orrery_tenant_auth::control`]); it is served over TLS with the cell's
//! certificate, and plaintext only when the cell was explicitly told to be
//! insecure (`orrery dev`, everything on one host's loopback).
use std::io;
use std::sync::Arc;
use std::time::Duration;

use orrery_core::caller::Caller;
use orrery_tenant_auth::control::ControlVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
pub use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;

use crate::tls::{Identity, provider};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; the control plane needs a handful.
const MAX_HANDSHAKES: usize = 64;

/// Authenticates the control plane on the admin listener.
pub struct OperatorAuth {
    verifier: Arc<ControlVerifier>,
}

impl OperatorAuth {
    pub fn new(verifier: Arc<ControlVerifier>) -> Arc<Self> {
        Arc::new(Self { verifier })
    }

    /// The operator, if the request carries a valid admin token for this
    /// cell. Nothing else is accepted here: no API key, no certificate.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Caller, String> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::bearer)
            .ok_or("Request unauthorized: this is the cell's admin endpoint; tenants use the tenant endpoint.")?;
        self.verifier
            .admin_token(token)
            .map(|()| Caller::Operator)
            .map_err(|e| format!("Request unauthorized: not the control plane ({e})."))
    }
}

/// The admin listener's TLS config: the cell's own certificate, no client
/// certificates (the control plane signs a token instead).
pub fn server_config(identity: &Identity) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| format!("the cell's TLS certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// TLS connections accepted on `listener`, handshakes side by side (each
/// under a timeout, a bounded number at once).
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> impl futures::Stream<Item = io::Result<TlsStream<TcpStream>>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<TlsStream<TcpStream>>>(16);
    let acceptor = TlsAcceptor::from(config);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting an admin connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            let _ = tcp.set_nodelay(true);
            let (acceptor, sender) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(err)) => tracing::debug!(error = %err, "admin TLS handshake failed"),
                    Err(_) => tracing::debug!("admin TLS handshake timed out"),
                }
            });
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
