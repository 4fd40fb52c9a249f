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

/// The most server configs kept: one per namespace that takes client
/// certificates, and the shared one; past it one is dropped (and rebuilt on
/// its next handshake).
const MAX_CACHED_CONFIGS: usize = 1024;

/// Server configs by SNI namespace (`None`: the shared one), for one
/// verifier version.
struct ConfigCache<C> {
    version: u64,
    configs: HashMap<Option<String>, C>,
}

impl<C: Clone> ConfigCache<C> {
    fn new() -> Self {
        Self {
            version: u64::MAX,
            configs: HashMap::new(),
        }
    }

    fn get(&self, version: u64, namespace: Option<&str>) -> Option<C> {
        if self.version != version {
            return None;
        }
        self.configs.get(&namespace.map(str::to_owned)).cloned()
    }

    fn insert(&mut self, version: u64, namespace: Option<&str>, config: C) {
        if self.version != version {
            *self = Self {
                version,
                configs: HashMap::new(),
            };
        }
        if self.configs.len() >= MAX_CACHED_CONFIGS
            && let Some(evicted) = self.configs.keys().find(|k| k.is_some()).cloned()
        {
            self.configs.remove(&evicted);
        }
        self.configs.insert(namespace.map(str::to_owned), config);
    }
}

/// The config for a handshake whose server name picked `namespace`. Only a
/// namespace with client CAs of its own gets its own config (asking for a
/// certificate from those CAs, naming them); any other name (no such
/// namespace, or one that takes API keys only) shares the config of a
/// connection naming none, so server names an unauthenticated client makes
/// up add nothing to the cache.
fn cached_config<C: Clone>(
    cache: &Mutex<ConfigCache<C>>,
    version: u64,
    namespace: Option<&str>,
    roots_of: impl Fn(Option<&str>) -> Vec<CertificateDer<'static>>,
    build: impl Fn(Vec<CertificateDer<'static>>, bool) -> Result<C, String>,
) -> Result<C, String> {
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(config) = lock().get(version, namespace) {
        return Ok(config);
    }
    let mut roots = roots_of(namespace);
    let namespace = match namespace {
        Some(ns) if !roots.is_empty() => Some(ns),
        Some(_) => {
            if let Some(config) = lock().get(version, None) {
                return Ok(config);
            }
            roots = roots_of(None);
            None
        }
        None => None,
    };
    let config = build(roots, namespace.is_some())?;
    lock().insert(version, namespace, config.clone());
    Ok(config)
}

/// Builds (and caches, per verifier version) the server configs.
pub struct TlsConfigs {
    identity: Identity,
    domain: Option<String>,
    verifier: Arc<dyn Verifier>,
    cache: Mutex<ConfigCache<Arc<ServerConfig>>>,
}

impl TlsConfigs {
    pub fn new(identity: Identity, domain: Option<String>, verifier: Arc<dyn Verifier>) -> Self {
        Self {
            identity,
            domain,
            verifier,
            cache: Mutex::new(ConfigCache::new()),
        }
    }

    fn namespace_of(&self, server_name: Option<&str>) -> Option<String> {
        let domain = self.domain.as_deref()?;
        namespace_from_server_name(server_name?, domain)
    }

    fn config(&self, namespace: Option<&str>) -> Result<Arc<ServerConfig>, String> {
        cached_config(
            &self.cache,
            self.verifier.version(),
            namespace,
            |namespace| match namespace {
                Some(ns) => self.verifier.client_roots(ns),
                None => self.verifier.all_client_roots(),
            },
            |roots, hint_subjects| self.build(roots, hint_subjects).map(Arc::new),
        )
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

    /// A cache of build counters: what `cached_config` built, and for which
    /// namespace.
    fn config_for(
        cache: &Mutex<ConfigCache<Option<String>>>,
        version: u64,
        namespace: Option<&str>,
        with_cas: &dyn Fn(&str) -> bool,
        builds: &std::cell::Cell<usize>,
    ) -> Option<String> {
        cached_config(
            cache,
            version,
            namespace,
            |namespace| match namespace {
                Some(ns) if !with_cas(ns) => Vec::new(),
                // Not parsed here: only counted.
                _ => vec![CertificateDer::from(vec![1, 2, 3])],
            },
            |roots, hint| {
                assert!(!roots.is_empty());
                builds.set(builds.get() + 1);
                Ok(hint.then(|| namespace.unwrap().to_string()))
            },
        )
        .unwrap()
    }

    #[test]
    fn made_up_server_names_share_one_config_and_grow_nothing() {
        let cache = Mutex::new(ConfigCache::new());
        let builds = std::cell::Cell::new(0);
        let with_cas = |ns: &str| ns == "payments.acme";
        for i in 0..5_000 {
            let name = format!("random-{i}.acme");
            assert_eq!(config_for(&cache, 7, Some(&name), &with_cas, &builds), None);
        }
        let own = config_for(&cache, 7, Some("payments.acme"), &with_cas, &builds);
        assert_eq!(own.as_deref(), Some("payments.acme"));
        assert_eq!(config_for(&cache, 7, None, &with_cas, &builds), None);
        assert_eq!(cache.lock().unwrap().configs.len(), 2);
        assert_eq!(builds.get(), 2, "each config built once");
        // A new verifier version (CAs changed) starts afresh.
        config_for(&cache, 8, Some("payments.acme"), &with_cas, &builds);
        assert_eq!(cache.lock().unwrap().configs.len(), 1);
    }

    #[test]
    fn the_cache_holds_at_most_its_cap_even_if_every_name_has_cas() {
        let cache = Mutex::new(ConfigCache::new());
        let builds = std::cell::Cell::new(0);
        config_for(&cache, 1, None, &|_| true, &builds);
        for i in 0..MAX_CACHED_CONFIGS + 500 {
            let name = format!("ns-{i}.acme");
            let config = config_for(&cache, 1, Some(&name), &|_| true, &builds);
            assert_eq!(config.as_deref(), Some(name.as_str()));
        }
        let cache = cache.lock().unwrap();
        assert_eq!(cache.configs.len(), MAX_CACHED_CONFIGS);
        assert!(
            cache.configs.contains_key(&None),
            "the shared config is never the one dropped"
        );
    }
}
