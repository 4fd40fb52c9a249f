//! The control plane's auth snapshot as the cell's [`Verifier`]: polled
//! every second (`?since=<version>`, 304 while unchanged) and swapped in
//! whole, so a revoked key, a new CA or a changed permission is in force
//! about a second after the control plane recorded it.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use orrery_core::caller::{Caller, Grants, Permission};
use orrery_tenant_auth::control::ControlVerifier;
use orrery_tenant_auth::{Authorizer, Principal, Snapshot};
use sha2::Digest;
use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tracing::Instrument;

use crate::Verifier;
use crate::control_channel::ControlChannel;

const POLL_EVERY: Duration = Duration::from_secs(1);

/// One snapshot with what the cell derives from it.
struct Loaded {
    /// Kept to rebuild the rest when a CA expires.
    snapshot: Snapshot,
    authorizer: Arc<Authorizer>,
    /// Per namespace with mTLS: the chain verifier over its CAs.
    chain_verifiers: HashMap<String, Arc<dyn ClientCertVerifier>>,
    all_roots: Vec<CertificateDer<'static>>,
}

impl Loaded {
    fn new(snapshot: Snapshot) -> Self {
        let namespaces: Vec<String> = snapshot
            .namespaces
            .iter()
            .filter(|n| n.mtls.is_some())
            .map(|n| n.namespace.clone())
            .collect();
        let authorizer = Arc::new(Authorizer::new(snapshot.clone()));
        let mut chain_verifiers = HashMap::new();
        let mut all_roots = Vec::new();
        for namespace in namespaces {
            let roots = authorizer.ca_roots(&namespace);
            let store = crate::tls::root_store(roots.iter().cloned());
            all_roots.extend(roots);
            if store.is_empty() {
                continue;
            }
            match WebPkiClientVerifier::builder_with_provider(
                Arc::new(store),
                crate::tls::provider(),
            )
            .build()
            {
                Ok(verifier) => {
                    chain_verifiers.insert(namespace, verifier);
                }
                Err(err) => {
                    tracing::warn!(%namespace, error = %err, "unusable client CAs; mTLS refused")
                }
            }
        }
        Self {
            snapshot,
            authorizer,
            chain_verifiers,
            all_roots,
        }
    }
}

/// A principal's permissions as of the snapshot its request was
/// authenticated with.
struct PrincipalGrants {
    authorizer: Arc<Authorizer>,
    principal: Principal,
}

impl std::fmt::Debug for PrincipalGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "grants of {}", self.principal)
    }
}

impl Grants for PrincipalGrants {
    fn permission(&self, namespace: &str) -> Option<Permission> {
        use orrery_tenant_auth::Permission as P;
        self.authorizer
            .namespace_permission(&self.principal, namespace)
            .map(|p| match p {
                P::Read => Permission::Read,
                P::Write => Permission::Write,
                P::Admin => Permission::Admin,
            })
    }
}

/// The cell's view of the control plane's auth data. Empty (every tenant
/// refused) until the first snapshot arrives.
#[derive(Default)]
pub struct SnapshotVerifier {
    current: RwLock<Option<Arc<Loaded>>>,
}

impl SnapshotVerifier {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn install(&self, snapshot: Snapshot) {
        let loaded = Arc::new(Loaded::new(snapshot));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(loaded);
    }

    fn loaded(&self) -> Result<Arc<Loaded>, String> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                "Request unauthorized: the cell has not loaded credentials from the control plane yet."
                    .to_string()
            })
    }

    fn caller(loaded: &Loaded, principal: Principal) -> Caller {
        Caller::Tenant {
            principal: principal.to_string(),
            grants: Arc::new(PrincipalGrants {
                authorizer: loaded.authorizer.clone(),
                principal,
            }),
        }
    }

    /// Installs a signed snapshot if it verifies and is newer than the one
    /// in force: an unsigned, badly signed, foreign or older snapshot
    /// changes nothing. `Ok(false)`: the same version again.
    pub fn install_signed(&self, signed: &str, control: &ControlVerifier) -> Result<bool, String> {
        let snapshot = control
            .snapshot(signed)
            .map_err(|e| format!("refused a snapshot: {e}"))?;
        let current = self.loaded().ok().map(|l| l.authorizer.version());
        match current {
            Some(current) if snapshot.version < current => Err(format!(
                "refused a snapshot older than the one in force (version {} < {current})",
                snapshot.version
            )),
            Some(current) if snapshot.version == current => Ok(false),
            _ => {
                self.install(snapshot);
                Ok(true)
            }
        }
    }

    /// Rebuilds the authorizer from the snapshot in force once a CA it
    /// trusts has expired, so the expired CA stops being trusted.
    fn drop_expired_cas(&self, now: SystemTime) {
        let Ok(loaded) = self.loaded() else { return };
        if loaded.authorizer.next_ca_expiry().is_some_and(|t| t <= now) {
            self.install(loaded.snapshot.clone());
        }
    }

    /// Polls the control plane for snapshots until the process ends.
    pub fn spawn_poller(
        self: &Arc<Self>,
        channel: Arc<ControlChannel>,
        control: Arc<ControlVerifier>,
        capacity: Option<u64>,
    ) {
        let verifier = self.clone();
        tokio::spawn(
            async move { verifier.poll(&channel, &control, capacity).await }
                .instrument(tracing::info_span!("auth_snapshot_poller")),
        );
    }

    async fn poll(
        &self,
        channel: &ControlChannel,
        control: &ControlVerifier,
        capacity: Option<u64>,
    ) {
        let mut failing = false;
        loop {
            self.drop_expired_cas(SystemTime::now());
            let since = self.loaded().ok().map(|l| l.authorizer.version());
            let outcome = match channel.fetch_snapshot(since, capacity).await {
                Ok(Some(signed)) => self.install_signed(&signed, control).map(|installed| {
                    if installed {
                        tracing::debug!("auth snapshot installed");
                    }
                }),
                Ok(None) => Ok(()),
                Err(err) => Err(format!("fetching the auth snapshot failed: {err}")),
            };
            match outcome {
                Ok(()) => failing = false,
                // The last snapshot stays in force: a control-plane outage
                // (or someone in the middle) must not take tenants'
                // workflows down with it.
                Err(err) if !failing => {
                    tracing::warn!(error = %err, "keeping the last auth snapshot");
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// The leaf and the intermediates of a presented chain.
type Chain<'c> = (&'c CertificateDer<'static>, &'c [CertificateDer<'static>]);

fn split_chain<'c>(chain: &'c [CertificateDer<'static>]) -> Result<Chain<'c>, String> {
    chain
        .split_first()
        .ok_or_else(|| "Request unauthorized: empty client certificate chain.".to_string())
}

impl Verifier for SnapshotVerifier {
    fn api_key(&self, token: &str) -> Result<Caller, String> {
        let loaded = self.loaded()?;
        let principal = loaded
            .authorizer
            .verify_api_key(token, SystemTime::now())
            .map_err(|e| format!("Request unauthorized: {e}"))?;
        Ok(Self::caller(&loaded, principal))
    }

    fn certificate(
        &self,
        namespace: &str,
        chain: &[CertificateDer<'static>],
    ) -> Result<Caller, String> {
        let loaded = self.loaded()?;
        let (leaf, intermediates) = split_chain(chain)?;
        let verifier = loaded.chain_verifiers.get(namespace).ok_or_else(|| {
            format!("Request unauthorized: namespace {namespace} takes no client certificates.")
        })?;
        verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map_err(|e| {
                format!(
                    "Request unauthorized: the client certificate is not valid for namespace {namespace}: {e}"
                )
            })?;
        let principal = loaded
            .authorizer
            .verify_client_certificate(namespace, leaf.as_ref())
            .map_err(|e| format!("Request unauthorized: {e}"))?;
        Ok(Self::caller(&loaded, principal))
    }

    fn certificate_any(&self, chain: &[CertificateDer<'static>]) -> Result<Caller, String> {
        let loaded = self.loaded()?;
        let (leaf, intermediates) = split_chain(chain)?;
        let now = UnixTime::now();
        let grants: HashMap<String, Permission> = loaded
            .chain_verifiers
            .iter()
            .filter(|(namespace, verifier)| {
                verifier
                    .verify_client_cert(leaf, intermediates, now)
                    .is_ok()
                    && loaded
                        .authorizer
                        .verify_client_certificate(namespace, leaf.as_ref())
                        .is_ok()
            })
            .map(|(namespace, _)| (namespace.clone(), Permission::Admin))
            .collect();
        if grants.is_empty() {
            return Err(
                "Request unauthorized: the client certificate is accepted by no namespace.".into(),
            );
        }
        // Named by the certificate itself, so per-caller budgets (and logs)
        // tell one tenant's certificate from another's.
        let digest = sha2::Sha256::digest(leaf.as_ref());
        let fingerprint: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Caller::Tenant {
            principal: format!("certificate:{fingerprint}"),
            grants: Arc::new(grants),
        })
    }

    fn client_roots(&self, namespace: &str) -> Vec<CertificateDer<'static>> {
        self.loaded()
            .map(|l| l.authorizer.ca_roots(namespace))
            .unwrap_or_default()
    }

    fn all_client_roots(&self) -> Vec<CertificateDer<'static>> {
        self.loaded()
            .map(|l| l.all_roots.clone())
            .unwrap_or_default()
    }

    fn version(&self) -> u64 {
        self.loaded().map(|l| l.authorizer.version()).unwrap_or(0)
    }
}
