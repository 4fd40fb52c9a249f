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
/// A view the control plane has not vouched for in this long is reported
/// (and reported again every as long) until it has.
const STALE_AFTER: Duration = Duration::from_secs(60);

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
    fn new(snapshot: Snapshot, now: SystemTime) -> Self {
        let namespaces: Vec<String> = snapshot
            .namespaces
            .iter()
            .filter(|n| n.mtls.is_some())
            .map(|n| n.namespace.clone())
            .collect();
        let authorizer = Arc::new(Authorizer::new_at(snapshot.clone(), now));
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
    /// A console token's namespace: nothing elsewhere.
    only: Option<String>,
}

impl std::fmt::Debug for PrincipalGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "grants of {}", self.principal)
    }
}

impl Grants for PrincipalGrants {
    fn permission(&self, namespace: &str) -> Option<Permission> {
        use orrery_tenant_auth::Permission as P;
        if self.only.as_deref().is_some_and(|only| only != namespace) {
            return None;
        }
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
    /// Rises with every install, a rebuild of the same snapshot included
    /// (a CA expired or became valid), so cached TLS configs follow.
    installs: std::sync::atomic::AtomicU64,
    /// When the control plane last vouched (signed) for the view in force,
    /// in its seconds since the epoch.
    fresh_as_of: std::sync::atomic::AtomicU64,
}

impl SnapshotVerifier {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn install(&self, snapshot: Snapshot) {
        self.install_at(snapshot, SystemTime::now());
    }

    fn install_at(&self, snapshot: Snapshot, now: SystemTime) {
        let loaded = Arc::new(Loaded::new(snapshot, now));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(loaded);
        self.installs
            .fetch_add(1, std::sync::atomic::Ordering::Release);
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
                only: None,
            }),
        }
    }

    /// Takes a signed message about the cell's snapshot if it verifies:
    /// a newer snapshot is installed, a signed "still this version" makes
    /// the one in force fresh again; an unsigned, badly signed, foreign or
    /// older one changes nothing. `Ok(true)`: a snapshot was installed.
    pub fn install_signed(&self, signed: &str, control: &ControlVerifier) -> Result<bool, String> {
        let signed = control
            .snapshot(signed)
            .map_err(|e| format!("refused a snapshot: {e}"))?;
        let current = self.loaded().ok().map(|l| l.authorizer.version());
        let installed = match (current, signed.snapshot) {
            (Some(current), _) if signed.version < current => {
                return Err(format!(
                    "refused a snapshot older than the one in force (version {} < {current})",
                    signed.version
                ));
            }
            (Some(current), _) if signed.version == current => false,
            (_, Some(snapshot)) => {
                self.install(snapshot);
                true
            }
            (_, None) => {
                return Err(format!(
                    "refused an \"unchanged\" answer for version {} the cell does not hold",
                    signed.version
                ));
            }
        };
        self.fresh_as_of
            .fetch_max(signed.issued_at, std::sync::atomic::Ordering::AcqRel);
        Ok(installed)
    }

    /// How old the view in force is by the control plane's last signed
    /// word on it (`None` before any).
    pub fn staleness(&self, now: SystemTime) -> Option<Duration> {
        let fresh = self.fresh_as_of.load(std::sync::atomic::Ordering::Acquire);
        let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        (fresh > 0).then(|| Duration::from_secs(now.saturating_sub(fresh)))
    }

    /// Rebuilds the authorizer from the snapshot in force once a CA it
    /// trusts has expired or one it holds has become valid, so trust
    /// follows each CA's validity without waiting for a new snapshot.
    fn follow_ca_validity(&self, now: SystemTime) {
        let Ok(loaded) = self.loaded() else { return };
        if loaded.authorizer.next_ca_change().is_some_and(|t| t <= now) {
            self.install_at(loaded.snapshot.clone(), now);
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
        let mut last_alarm: Option<tokio::time::Instant> = None;
        loop {
            self.follow_ca_validity(SystemTime::now());
            let since = self.loaded().ok().map(|l| l.authorizer.version());
            let outcome = match channel.fetch_snapshot(since, capacity).await {
                Ok(signed) => self.install_signed(&signed, control).map(|installed| {
                    if installed {
                        tracing::debug!("auth snapshot installed");
                    }
                }),
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
            // Kept in force is not the same as current: say so, loudly and
            // regularly, once the control plane has not vouched for it in a
            // while (a revoked key may still work meanwhile).
            if let Some(age) = self.staleness(SystemTime::now())
                && age > STALE_AFTER
                && last_alarm.is_none_or(|t| t.elapsed() >= STALE_AFTER)
            {
                tracing::error!(
                    age_secs = age.as_secs(),
                    "the auth snapshot in force is stale: the control plane has not vouched for it"
                );
                last_alarm = Some(tokio::time::Instant::now());
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
        let bearer = loaded
            .authorizer
            .verify_bearer(token, SystemTime::now())
            .map_err(|e| format!("Request unauthorized: {e}"))?;
        Ok(match bearer.namespace {
            None => Self::caller(&loaded, bearer.principal),
            // A console token acts in its one namespace only.
            Some(namespace) => Caller::Tenant {
                principal: bearer.principal.to_string(),
                grants: Arc::new(PrincipalGrants {
                    authorizer: loaded.authorizer.clone(),
                    principal: bearer.principal,
                    only: Some(namespace),
                }),
            },
        })
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
        self.installs.load(std::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use orrery_tenant_auth::{MtlsConfig, NamespaceAuth};

    use super::*;

    fn ca_valid(from: SystemTime, to: SystemTime) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = from.into();
        params.not_after = to.into();
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    fn snapshot(ca_pems: Vec<String>) -> Snapshot {
        Snapshot {
            version: 1,
            signing_keys: vec![],
            namespaces: vec![NamespaceAuth {
                namespace: "ns.acct".into(),
                mtls: Some(MtlsConfig {
                    ca_pems,
                    filters: vec![],
                }),
                grants: vec![],
            }],
            active_api_keys: vec![],
        }
    }

    /// The same snapshot stays in force while CAs expire and become valid;
    /// trust and the TLS configs' version follow without a new snapshot.
    #[test]
    fn trust_follows_each_cas_validity_between_snapshots() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let old = ca_valid(now - 48 * hour, now + hour);
        let successor = ca_valid(now + 2 * hour, now + 96 * hour);
        let verifier = SnapshotVerifier::default();
        verifier.install_at(snapshot(vec![old, successor]), now);
        let roots = |v: &SnapshotVerifier| v.client_roots("ns.acct").len();
        assert_eq!(roots(&verifier), 1);
        let version = verifier.version();
        verifier.follow_ca_validity(now + hour / 2);
        assert_eq!(verifier.version(), version, "nothing changed yet");
        // The old CA has expired: nothing is trusted until the successor is.
        verifier.follow_ca_validity(now + 90 * Duration::from_secs(60));
        assert_eq!(roots(&verifier), 0);
        assert!(verifier.version() > version);
        verifier.follow_ca_validity(now + 3 * hour);
        assert_eq!(roots(&verifier), 1);
    }

    /// What a cell takes from the channel: newer snapshots, and signed
    /// "unchanged" answers for the version it holds, which keep it fresh;
    /// older snapshots and "unchanged" for a version it lacks change nothing.
    #[test]
    fn signed_messages_install_only_newer_views_and_vouch_for_freshness() {
        use orrery_tenant_auth::control::{ControlSigner, ControlVerifier};
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = jsonwebtoken::EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap();
        let signer = ControlSigner {
            kid: "c",
            key: &key,
        };
        let control = ControlVerifier::new([pair.public_key_pem().as_str()], "cell").unwrap();
        let epoch = |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let now = SystemTime::now();
        let at = |version: u64| Snapshot {
            version,
            ..snapshot(vec![])
        };
        let verifier = SnapshotVerifier::default();
        assert_eq!(verifier.staleness(now), None);
        // "Unchanged" for a version the cell does not hold.
        let unchanged = signer.unchanged("cell", 5, epoch(now)).unwrap();
        assert!(verifier.install_signed(&unchanged, &control).is_err());
        let old = epoch(now) - 600;
        let v5 = signer.snapshot("cell", &at(5), old).unwrap();
        assert_eq!(verifier.install_signed(&v5, &control), Ok(true));
        assert!(verifier.staleness(now).unwrap() >= Duration::from_secs(599));
        // A signed "still 5" vouches for it now.
        assert_eq!(verifier.install_signed(&unchanged, &control), Ok(false));
        assert!(verifier.staleness(now).unwrap() < Duration::from_secs(5));
        let v7 = signer.snapshot("cell", &at(7), epoch(now)).unwrap();
        assert_eq!(verifier.install_signed(&v7, &control), Ok(true));
        let refused = verifier.install_signed(&v5, &control).unwrap_err();
        assert!(refused.contains("older"), "{refused}");
        assert!(verifier.install_signed(&unchanged, &control).is_err());
        assert_eq!(verifier.loaded().unwrap().authorizer.version(), 7);
    }
}
