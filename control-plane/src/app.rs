//! Configuration, shared state, the router and the server.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::cell_admin::{CellAdmin, CellChannel, GrpcCellAdmin};
use crate::keys::{ControlKey, KeyError, Signer};
pub use crate::limits::LoginLimits;
use crate::limits::{HashPool, PerAddress};
use crate::problem::ApiError;
use crate::sealing::{KeyEncryption, Sealer};
use crate::store::{Audit, Cell, ControlStore, StoreError};
use crate::tls_listener::{TlsFiles, TlsListener};

/// A cell named on the command line: `name=grpc_url`. Its admin API is
/// reached at the same URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellSpec {
    pub name: String,
    pub grpc_url: String,
    /// Its Temporal HTTP API, when it serves one.
    pub http_url: Option<String>,
}

impl FromStr for CellSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, url) = s
            .split_once('=')
            .ok_or_else(|| format!("--cell {s:?}: expected name=grpc_url"))?;
        if name.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("--cell {s:?}: expected name=http(s)://host:port"));
        }
        Ok(Self {
            name: name.to_owned(),
            grpc_url: url.to_owned(),
            http_url: None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`; migrated at start.
    pub database_url: String,
    pub http_addr: SocketAddr,
    /// Cells to register (or update) at start.
    pub cells: Vec<CellSpec>,
    /// Capacity (namespaces) of the cells registered from `cells`.
    pub cell_capacity: i64,
    /// How cells' admin listeners are reached (TLS roots, or plaintext
    /// only when explicitly insecure).
    pub cell_channel: CellChannel,
    /// Serve HTTPS with these files (`--tls-cert`, `--tls-key`).
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP when `tls` is unset (`--insecure-http`): behind a
    /// TLS-terminating proxy, or on one host's loopback (`orrery dev`).
    /// Without either the control plane refuses to start.
    pub insecure_http: bool,
    /// Enables `/api/v1/admin/*`, the operator routes.
    pub bootstrap_admin_token: Option<String>,
    /// Namespace endpoints are `<namespace id>.<domain>:7233` when set, the
    /// cell's endpoint otherwise.
    pub namespace_domain: Option<String>,
    pub session_ttl: Duration,
    /// Login attempts allowed per `login_window`, per email and per source
    /// address; the budget refills evenly over the window. Kept in the
    /// database: every replica charges the same budgets.
    pub login_attempts_per_email: u32,
    pub login_attempts_per_ip: u32,
    pub login_window: Duration,
    /// The key-encryption key that seals the private keys kept in the
    /// database (`--key-encryption-key-file`, `ORRERY_KEY_ENCRYPTION_KEY`).
    /// Required unless `insecure_no_key_encryption`.
    pub key_encryption: Option<Arc<dyn KeyEncryption>>,
    /// Keeps private keys in plaintext when no KEK is configured.
    pub insecure_no_key_encryption: bool,
    /// Replaces the stored control key (`--control-key-file`).
    pub control_key: Option<Arc<ControlKey>>,
    /// Signups allowed per `anonymous_window` per source address (burst the
    /// same); beyond, 429 with `Retry-After`.
    pub signups_per_ip: u32,
    /// Invitation acceptances allowed per `anonymous_window` per address.
    pub invitation_accepts_per_ip: u32,
    pub anonymous_window: Duration,
    /// Keys (addresses, IPv6 per /64; emails) each of these budgets tracks
    /// at most: once a pruning (every minute) finds a budget at this many,
    /// an unknown key is refused (429) until one finds room, so a sweep of
    /// addresses or emails cannot grow the table without bound.
    pub rate_limit_max_keys: usize,
    /// Argon2 hashes computed at once, per replica; a request waits at
    /// most `password_hash_wait` for a turn, then answers 503 with `Retry-After`.
    pub password_hash_concurrency: usize,
    pub password_hash_wait: Duration,
    /// Namespaces one account may hold (`--namespace-quota`); beyond, 422.
    pub namespace_quota: u32,
    /// How often expired invitations are removed from the store.
    pub invitation_purge_interval: Duration,
    /// How often every cell's usage is pulled (`--usage-pull-interval`).
    /// The usage API calls an answer incomplete when a cell has not been
    /// pulled for three of these.
    pub usage_pull_interval: Duration,
    /// The rate card invoices are priced with (`--rate-card-file`, JSON);
    /// the built-in card when unset.
    pub rate_card_path: Option<PathBuf>,
}

impl Config {
    pub fn new(database_url: impl Into<String>, http_addr: SocketAddr) -> Self {
        Self {
            database_url: database_url.into(),
            http_addr,
            cells: Vec::new(),
            cell_capacity: 1000,
            cell_channel: CellChannel::default(),
            tls: None,
            insecure_http: false,
            bootstrap_admin_token: None,
            namespace_domain: None,
            session_ttl: Duration::from_secs(12 * 3600),
            login_attempts_per_email: 10,
            login_attempts_per_ip: 30,
            login_window: Duration::from_secs(60),
            key_encryption: None,
            insecure_no_key_encryption: false,
            control_key: None,
            signups_per_ip: 5,
            invitation_accepts_per_ip: 10,
            anonymous_window: Duration::from_secs(60),
            rate_limit_max_keys: crate::limits::DEFAULT_MAX_KEYS,
            password_hash_concurrency: 4,
            password_hash_wait: Duration::from_secs(2),
            namespace_quota: 10,
            invitation_purge_interval: Duration::from_secs(600),
            usage_pull_interval: Duration::from_secs(10),
            rate_card_path: None,
        }
    }
}

pub struct Settings {
    pub session_ttl: Duration,
    pub namespace_domain: Option<String>,
    pub bootstrap_admin_token: Option<String>,
}

/// What the usage and invoice routes need besides the store.
pub struct UsageSettings {
    pub rate_card: crate::usage::rate_card::RateCard,
    pub pull_interval: Duration,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ControlStore>,
    pub cells: Arc<dyn CellAdmin>,
    pub signer: Arc<Signer>,
    /// Seals and opens the private keys kept in the database.
    pub sealer: Sealer,
    /// Signs what the control plane sends cells.
    pub control_key: Arc<ControlKey>,
    pub settings: Arc<Settings>,
    pub limits: Arc<LoginLimits>,
    pub bounds: Arc<crate::limits::Bounds>,
    pub usage: Arc<UsageSettings>,
    /// The cells' recent per-namespace statistics, for `GET /api/v1/metrics`.
    pub tenant_metrics: Arc<crate::tenant_metrics::TenantMetrics>,
    /// The console page's policy, read from the cells at most every few
    /// seconds (`console::page_policy`).
    pub console_policy: Arc<crate::console::PolicyCache>,
}

impl AppState {
    /// Seals the private keys an older version left in plaintext, loads
    /// (or creates) the signing and control keys and registers the
    /// configured cells.
    /// `cells` makes the client that calls cells, given the control key
    /// it signs its calls with.
    pub async fn new(
        store: Arc<dyn ControlStore>,
        cells: impl FnOnce(Arc<ControlKey>) -> Arc<dyn CellAdmin>,
        config: &Config,
    ) -> Result<Self, RunError> {
        let sealer = match (&config.key_encryption, config.insecure_no_key_encryption) {
            (Some(kek), _) => Sealer::new(kek.clone()),
            (None, true) => {
                tracing::warn!(
                    "no key-encryption key (--insecure-no-key-encryption): the signing keys and generated CA keys are stored in plaintext; a copy of the database can sign API keys"
                );
                Sealer::insecure_plaintext()
            }
            (None, false) => return Err(RunError::NoKeyEncryption),
        };
        let rate_card = crate::usage::rate_card::RateCard::load(config.rate_card_path.as_deref())?;
        seal_plaintext_keys(store.as_ref(), &sealer).await?;
        let control_key = match &config.control_key {
            Some(key) => key.clone(),
            None => Arc::new(ControlKey::open_or_create(store.as_ref(), &sealer).await?),
        };
        let signer = Signer::load_or_create(store.clone(), sealer.clone()).await?;
        // Endpoints only: a cell's credential is issued by registering it
        // through the admin API, which shows it once.
        for spec in &config.cells {
            let cell = Cell {
                id: uuid::Uuid::new_v4().to_string(),
                name: spec.name.clone(),
                grpc_endpoint: spec.grpc_url.clone(),
                admin_endpoint: spec.grpc_url.clone(),
                http_endpoint: spec.http_url.clone().unwrap_or_default(),
                capacity: config.cell_capacity,
                reported_capacity: None,
                created_ms: chrono::Utc::now().timestamp_millis(),
            };
            let audit = Audit {
                actor: "config".into(),
                action: "cell.register".into(),
                source_ip: "local".into(),
                ..Default::default()
            };
            store.upsert_cell(&cell, None, &audit).await?;
        }
        let limits = Arc::new(LoginLimits::new(
            store.clone(),
            config.login_attempts_per_email,
            config.login_attempts_per_ip,
            config.login_window,
            config.rate_limit_max_keys,
        ));
        let bounds = Arc::new(crate::limits::Bounds {
            signups: PerAddress::new(
                store.clone(),
                "signup_ip",
                config.signups_per_ip,
                config.anonymous_window,
                config.rate_limit_max_keys,
            ),
            invitation_accepts: PerAddress::new(
                store.clone(),
                "invitation_ip",
                config.invitation_accepts_per_ip,
                config.anonymous_window,
                config.rate_limit_max_keys,
            ),
            hashing: HashPool::new(config.password_hash_concurrency, config.password_hash_wait),
            namespace_quota: config.namespace_quota,
        });
        let cells = cells(control_key.clone());
        Ok(Self {
            store,
            cells,
            signer: Arc::new(signer),
            sealer,
            control_key,
            settings: Arc::new(Settings {
                session_ttl: config.session_ttl,
                namespace_domain: config.namespace_domain.clone(),
                bootstrap_admin_token: config.bootstrap_admin_token.clone(),
            }),
            limits,
            bounds,
            usage: Arc::new(UsageSettings {
                rate_card,
                pull_interval: config.usage_pull_interval,
            }),
            tenant_metrics: Arc::default(),
            console_policy: Arc::default(),
        })
    }
}

/// The whole HTTP surface: `/api/v1/*`, `/internal/v1/*`, the OpenAPI
/// document at `/api/v1/openapi.json`, and outside the document the web
/// console at `/` and the probes `/livez` and `/readyz` (`crate::health`).
pub fn router(state: AppState) -> Router {
    let (api, doc) = crate::openapi::api_router().split_for_parts();
    let doc = Arc::new(doc);
    api.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .merge(crate::console::routes())
    .merge(crate::health::routes())
    .fallback(crate::console::fallback)
    .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
    .layer(axum::middleware::from_fn(crate::metrics::track))
    .layer(DefaultBodyLimit::max(256 * 1024))
    .layer(
        TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }),
    )
    .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| -> Response {
        ApiError::Internal("a handler panicked".into()).into_response()
    }))
    .with_state(state)
}

/// Upgrading from a version that kept private keys in plaintext: seals them
/// all in one transaction before anything reads them.
async fn seal_plaintext_keys(store: &dyn ControlStore, sealer: &Sealer) -> Result<(), KeyError> {
    if sealer.kek_id().is_none() {
        return Ok(());
    }
    let sealed = store
        .seal_plaintext_keys(&|location, plain| {
            sealer
                .seal(plain, &location.seal_context())
                .map_err(|e| StoreError::Database(format!("sealing {}: {e}", location.describe())))
        })
        .await?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealed the private keys stored in plaintext by an older version"
        );
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("control-plane store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "no key-encryption key: give --key-encryption-key-file PATH (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or set ORRERY_KEY_ENCRYPTION_KEY; --insecure-no-key-encryption keeps private keys in plaintext instead"
    )]
    NoKeyEncryption,
    #[error("control-plane keys: {0}")]
    Keys(#[from] KeyError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls_listener::TlsError),
    #[error(transparent)]
    RateCard(#[from] crate::usage::rate_card::RateCardError),
    #[error(
        "no TLS certificate: give --tls-cert and --tls-key (passwords, sessions and cells' credentials travel to this listener), or --insecure-http behind a TLS-terminating proxy"
    )]
    NoTls,
}

/// A control plane bound to its address, not yet serving.
pub struct ControlPlane {
    pub local_addr: SocketAddr,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    router: Router,
}

impl ControlPlane {
    /// Opens and migrates the store, registers the configured cells, binds
    /// the listener and retries namespaces a crash left pending.
    pub async fn start(config: Config) -> Result<Self, RunError> {
        // Before the database is even created (AppState::new checks too).
        if config.key_encryption.is_none() && !config.insecure_no_key_encryption {
            return Err(RunError::NoKeyEncryption);
        }
        let tls = match &config.tls {
            Some(files) => Some(crate::tls_listener::server_config(files)?),
            None if config.insecure_http => None,
            None => return Err(RunError::NoTls),
        };
        let store = crate::store::open(&config.database_url).await?;
        let channel = config.cell_channel.clone();
        let state = AppState::new(
            store,
            |key| Arc::new(GrpcCellAdmin::new(key, channel)),
            &config,
        )
        .await?;
        tokio::spawn(crate::api::namespaces::run_reconciler(state.clone()));
        tokio::spawn(crate::limits::run_pruner(state.clone()));
        tokio::spawn(crate::tenant_metrics::run_sampler(
            state.clone(),
            crate::tenant_metrics::SAMPLE_INTERVAL,
        ));
        tokio::spawn(crate::api::users::purge_expired_invitations(
            state.clone(),
            config.invitation_purge_interval,
        ));
        tokio::spawn(crate::usage::puller::run(
            state.clone(),
            config.usage_pull_interval,
        ));
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| RunError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(RunError::Serve)?;
        Ok(Self {
            local_addr,
            listener,
            tls,
            router: router(state),
        })
    }

    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        match self.tls {
            // `tap_io` gives the TLS listener axum's ConnectInfo<SocketAddr>.
            Some(tls) => axum::serve(
                TlsListener::new(self.listener, tls)
                    .map_err(RunError::Serve)?
                    .tap_io(|_| {}),
                app,
            )
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(RunError::Serve),
            None => axum::serve(self.listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(RunError::Serve),
        }
    }

    /// `https` when serving TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Starts and serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let cp = ControlPlane::start(config).await?;
    tracing::info!(
        "orrery control plane listening on {}://{}",
        cp.scheme(),
        cp.local_addr
    );
    cp.serve(shutdown).await
}
