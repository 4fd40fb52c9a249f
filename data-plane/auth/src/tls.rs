//! TLS on the tenant endpoint. The client's server name (SNI) picks the
//! namespace, `<namespace>.<domain>`, and with it the CAs the handshake asks
//! a client certificate from; a connection naming no namespace is offered
//! every namespace's CAs, without naming them (no tenant learns another's CA
//! subjects), and its certificate is checked again per call against the
//! namespace the call names. A client certificate is optional at this level:
//! API-key clients connect without one.
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{Acceptor, WebPkiClientVerifier};
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;

use crate::Verifier;

/// A slow or stuck handshake is dropped, never waited on by the others.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the connection told about its client, handed to each of its
/// requests (tonic puts it in the request extensions).
#[derive(Clone, Debug, Default)]
pub struct ConnectionInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The namespace the server name picked, if it named one.
    pub sni_namespace: Option<String>,
    /// The client certificate chain, leaf first, if one was presented.
    pub peer_chain: Option<Arc<[CertificateDer<'static>]>>,
}

/// The cell's own certificate and key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("reading the TLS certificate {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("no certificate in {}", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("reading the TLS key {}: {e}", key.display()))?;
        Ok(Self { chain, key })
    }
}

/// `payments.acme.tmprl.example` with domain `tmprl.example` names
/// namespace `payments.acme`.
pub fn namespace_from_server_name(server_name: &str, domain: &str) -> Option<String> {
    let prefix = server_name
        .to_ascii_lowercase()
        .strip_suffix(&domain.to_ascii_lowercase())?
        .strip_suffix('.')?
        .to_string();
    (!prefix.is_empty()).then_some(prefix)
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A root store of the CAs that are usable; one bad CA (they were validated
/// upstream) must not lock out the rest.
pub(crate) fn root_store(
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
) -> RootCertStore {
    let mut store = RootCertStore::empty();
    for root in roots {
        if let Err(err) = store.add(root) {
            tracing::warn!(error = %err, "skipping an unusable client CA");
        }
    }
    store
}

/// Server configs by SNI namespace (`None`: a connection naming none).
type ConfigsByNamespace = HashMap<Option<String>, Arc<ServerConfig>>;

/// Builds (and caches, per verifier version) the server configs.
pub struct TlsConfigs {
    identity: Identity,
    domain: Option<String>,
    verifier: Arc<dyn Verifier>,
    cache: Mutex<(u64, ConfigsByNamespace)>,
}

impl TlsConfigs {
    pub fn new(identity: Identity, domain: Option<String>, verifier: Arc<dyn Verifier>) -> Self {
        Self {
            identity,
            domain,
            verifier,
            cache: Mutex::new((u64::MAX, HashMap::new())),
        }
    }

    fn namespace_of(&self, server_name: Option<&str>) -> Option<String> {
        let domain = self.domain.as_deref()?;
        namespace_from_server_name(server_name?, domain)
    }

    fn config(&self, namespace: Option<&str>) -> Result<Arc<ServerConfig>, String> {
        let version = self.verifier.version();
        let key = namespace.map(str::to_owned);
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0 == version
                && let Some(config) = cache.1.get(&key)
            {
                return Ok(config.clone());
            }
        }
        let roots = match namespace {
            Some(ns) => self.verifier.client_roots(ns),
            None => self.verifier.all_client_roots(),
        };
        let config = Arc::new(self.build(roots, namespace.is_some())?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != version {
            *cache = (version, HashMap::new());
        }
        cache.1.insert(key, config.clone());
        Ok(config)
    }

    fn build(
        &self,
        roots: Vec<CertificateDer<'static>>,
        hint_subjects: bool,
    ) -> Result<ServerConfig, String> {
        let store = root_store(roots);
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if store.is_empty() {
            builder.with_no_client_auth()
        } else {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
                .allow_unauthenticated();
            let verifier = if hint_subjects {
                verifier
            } else {
                verifier.clear_root_hint_subjects()
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        };
        let mut config = builder
            .with_single_cert(self.identity.chain.clone(), self.identity.key.clone_key())
            .map_err(|e| format!("the cell's TLS certificate: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }

    async fn handshake(&self, tcp: TcpStream) -> io::Result<TenantStream> {
        let remote_addr = tcp.peer_addr().ok();
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
        let sni_namespace = self.namespace_of(start.client_hello().server_name());
        let config = self
            .config(sni_namespace.as_deref())
            .map_err(io::Error::other)?;
        let stream = start.into_stream(config).await?;
        let peer_chain = stream
            .get_ref()
            .1
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect());
        Ok(TenantStream {
            inner: stream,
            info: ConnectionInfo {
                remote_addr,
                sni_namespace,
                peer_chain,
            },
        })
    }
}

/// A tenant's TLS connection, with what it told about its client.
pub struct TenantStream {
    inner: TlsStream<TcpStream>,
    info: ConnectionInfo,
}

impl tonic::transport::server::Connected for TenantStream {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl AsyncRead for TenantStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TenantStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts TCP connections and yields them once their TLS handshake is
/// done; handshakes run side by side, each under a timeout.
pub fn incoming(
    listener: TcpListener,
    configs: Arc<TlsConfigs>,
) -> impl futures::Stream<Item = io::Result<TenantStream>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<TenantStream>>(64);
    tokio::spawn(async move {
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (configs, sender) = (configs.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, configs.handshake(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
            if tx.is_closed() {
                break;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_names_the_namespace_under_the_domain_only() {
        let ns = |name| namespace_from_server_name(name, "tmprl.example");
        assert_eq!(
            ns("payments.acme.tmprl.example").as_deref(),
            Some("payments.acme")
        );
        assert_eq!(
            ns("Payments.ACME.tmprl.example").as_deref(),
            Some("payments.acme")
        );
        assert_eq!(ns("tmprl.example"), None);
        assert_eq!(ns(".tmprl.example"), None);
        assert_eq!(ns("payments.acme.other.example"), None);
        assert_eq!(ns("xtmprl.example"), None);
    }
}
