//! A cell: one process serving Temporal's frontend, history and matching
//! roles over one database. [`Cell::start`] wires the pieces together and
//! binds the listeners; [`Cell::serve`] serves until the shutdown future
//! resolves. Both are the embedding entry point (docs/embedding.md): a
//! program of its own runs a cell with them, as `orrery cell` does.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orrery_core::CellResult;
use orrery_core::token::TokenSigner;
use orrery_frontend::{Frontend, Namespaces, NewNamespace};
use orrery_history::{HistoryConfig, HistoryEngine};
use orrery_matching::Matching;
use orrery_persistence::CellStore;
use orrery_proto::api::enums::v1::ArchivalState;
use tokio::net::TcpListener;

mod cell_admin;
mod config;
mod http_api;
mod members;
mod metrics_http;
mod shard_count;
mod status_mapping;

pub use config::{
    ArchivalSettings, CellConfig, ControlChannelSettings, DEFAULT_SHARD_COUNT, HttpApiSettings,
    MemberSettings, S3Settings, TenantSettings, TlsSettings,
};
pub use orrery_peer::PeerTls;
pub use orrery_persistence::DEFAULT_MAX_CONNECTIONS;

type ServeFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>,
>;

/// What serving tenants takes: their auth, the tenant endpoint's TLS, the
/// control plane's auth on the admin listener and that listener's TLS.
#[derive(Default)]
struct TenantParts {
    auth: Option<Arc<orrery_auth::TenantAuth>>,
    tls: Option<Arc<orrery_auth::tls::TlsConfigs>>,
    operator: Option<Arc<orrery_auth::admin::OperatorAuth>>,
    admin_tls: Option<Arc<orrery_auth::admin::ServerConfig>>,
}

/// How long a starting cell keeps trying to fetch the control key.
const CONTROL_KEY_PATIENCE: Duration = Duration::from_secs(30);

/// Tenant auth from the settings: the control key is settled and the
/// snapshot poller starts here.
async fn tenant_auth(settings: Option<&TenantSettings>) -> CellResult<TenantParts> {
    let Some(settings) = settings else {
        return Ok(TenantParts::default());
    };
    let invalid = orrery_core::CellError::InvalidArgument;
    let channel = Arc::new(
        orrery_auth::control_channel::ControlChannel::new(&settings.control_plane)
            .map_err(invalid)?,
    );
    let configured = &settings.control_plane.public_key_pems;
    let deadline = tokio::time::Instant::now() + CONTROL_KEY_PATIENCE;
    let control = loop {
        match channel.control_verifier(configured).await {
            Ok(control) => break Arc::new(control),
            Err(err) if configured.is_empty() && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %err, "fetching the control plane's key; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => return Err(invalid(format!("the control plane's key: {err}"))),
        }
    };
    let verifier = orrery_auth::SnapshotVerifier::new();
    verifier.spawn_poller(channel, control.clone(), settings.max_namespaces);
    let auth = orrery_auth::TenantAuth::new(verifier.clone());
    let identity = match &settings.tls {
        Some(tls) => Some(
            orrery_auth::tls::Identity::from_pem_files(&tls.cert_path, &tls.key_path)
                .map_err(invalid)?,
        ),
        None => None,
    };
    let admin_tls = match (&identity, settings.admin_addr) {
        (Some(identity), Some(_)) => {
            Some(orrery_auth::admin::server_config(identity).map_err(invalid)?)
        }
        (None, Some(_)) if !settings.control_plane.insecure_plaintext => {
            return Err(invalid(
                "the admin listener needs the cell's TLS certificate (--tls-cert, --tls-key), or \
                 --insecure-control-channel where the network is one host's loopback"
                    .into(),
            ));
        }
        _ => None,
    };
    let tls = match (identity, &settings.tls) {
        (Some(identity), Some(tls)) => Some(Arc::new(orrery_auth::tls::TlsConfigs::new(
            identity,
            tls.domain.clone(),
            verifier,
        ))),
        _ => None,
    };
    Ok(TenantParts {
        auth: Some(auth),
        tls,
        operator: Some(orrery_auth::admin::OperatorAuth::new(control)),
        admin_tls,
    })
}

/// A cell whose listener is bound, ready to serve.
pub struct Cell {
    /// Where the tenant endpoint (gRPC) listens: the port the system chose
    /// when [`CellConfig::grpc_addr`] had port 0.
    pub local_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    /// Where Temporal's HTTP API is served, if it is.
    pub http_api_addr: Option<SocketAddr>,
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    metrics_listener: Option<TcpListener>,
    http_api: Option<(TcpListener, HttpApiSettings)>,
    frontend: Arc<Frontend>,
    /// For the admin listener's CellAdmin service (usage pulls).
    store: Arc<dyn CellStore>,
    tenants: TenantParts,
    /// A member of a cell of several: its peer listener and membership.
    members: Option<members::Serving>,
}

/// Temporal's per-namespace request rate (per frontend), and its default.
const NAMESPACE_RPS: &str = "frontend.namespaceRPS";
const DEFAULT_NAMESPACE_RPS: i64 = 2400;
const TOKEN_KEY: &str = "task_token_hmac_key";
/// How long in-flight calls may finish after a shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// How often the timer and transfer queues' lag is sampled for the metrics.
const QUEUE_LAG_SAMPLE_EVERY: Duration = Duration::from_secs(10);

impl Cell {
    /// Opens the database (migrating it), takes the shards, starts the
    /// queues and binds the gRPC listener; nothing is served until
    /// [`Cell::serve`]. Needs a multi-threaded Tokio runtime: the queues
    /// and pollers it starts are spawned on the current one.
    ///
    /// ```no_run
    /// use orrery_cell::{Cell, CellConfig};
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let mut config = CellConfig::new("sqlite://cell.db?mode=rwc", "127.0.0.1:0".parse()?);
    ///     config.default_namespaces = vec!["default".into()];
    ///     let cell = Cell::start(config).await?;
    ///     println!("listening on {}", cell.local_addr);
    ///     cell.serve(async {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///     })
    ///     .await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn start(config: CellConfig) -> CellResult<Self> {
        let tenants = tenant_auth(config.tenant.as_ref()).await?;
        let store: Arc<dyn CellStore> =
            orrery_persistence::open_sized(&config.database_url, config.database_max_connections)
                .await?;
        // 244 random bits from two v4 UUIDs: the key never leaves the cell.
        let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        let key = store.get_or_insert(TOKEN_KEY, key).await?;
        shard_count::settle(store.as_ref(), config.shard_count).await?;
        let signer = TokenSigner::new(key);
        let matching = Matching::new(store.clone());
        matching.spawn_pruner(Duration::from_secs(60), Duration::from_secs(10 * 60));
        let namespaces = Arc::new(Namespaces::new(store.clone()));
        let joining = match &config.members {
            Some(settings) => Some(
                members::prepare(
                    settings,
                    &config.database_url,
                    store.clone(),
                    config.shard_count,
                    namespaces.clone(),
                    signer.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let archives = Arc::new(orrery_archival::Archives::new(config.archival.s3.clone()));
        if let Some(uri) = &config.archival.default_uri {
            orrery_archival::ArchiveUri::parse(uri).map_err(|e| {
                orrery_core::CellError::invalid(format!("the default archive: {e}"))
            })?;
        }
        let history_limits =
            orrery_history::HistoryLimits::from_dynamic_config(&config.dynamic_config);
        // Metering off also silences the metrics hooks: the baseline of the
        // metering benchmark (docs/benchmarks.md).
        orrery_core::metrics::set_enabled(history_limits.metering);
        let history_config = HistoryConfig {
            shard_count: config.shard_count,
            owner: match &config.members {
                Some(settings) => settings.member_id.clone(),
                None => format!("cell-{}", uuid::Uuid::new_v4()),
            },
            limits: history_limits,
            policies: namespaces.clone(),
            archives: archives.clone(),
        };
        let history = match &joining {
            // A member takes only its share of the shards, as it joins.
            Some(joining) => {
                HistoryEngine::start_member(
                    store.clone(),
                    joining.sink(matching.clone()),
                    signer,
                    history_config,
                )
                .await?
            }
            None => {
                HistoryEngine::start(store.clone(), matching.clone(), signer, history_config)
                    .await?
            }
        };
        let members = match joining {
            Some(joining) => Some(joining.join(history.clone(), matching.clone()).await?),
            None => None,
        };
        orrery_history::processors::spawn(history.clone());
        history.spawn_queue_lag_sampler(QUEUE_LAG_SAMPLE_EVERY);
        orrery_core::metrics::set_backlog_source(matching.backlog_source());
        let scheduler = orrery_scheduler::Scheduler::new(store.clone(), history.clone());
        if let Some(members) = &members {
            let cluster = members.cluster.clone();
            scheduler.set_owner(Arc::new(move |namespace_id, schedule_id| {
                cluster.owns_schedule(namespace_id, schedule_id)
            }));
        }
        scheduler.spawn();
        for name in &config.default_namespaces {
            if namespaces.by_name(name).await.is_err() {
                let created = namespaces
                    .create(NewNamespace {
                        name: name.clone(),
                        description: "Default namespace".into(),
                        owner_email: String::new(),
                        retention_ms: orrery_core::limits::DEFAULT_RETENTION_SECS * 1000,
                        data: Default::default(),
                        history_archival: (ArchivalState::Disabled, String::new()),
                        visibility_archival: (ArchivalState::Disabled, String::new()),
                    })
                    .await;
                match created {
                    Ok(_) | Err(orrery_core::CellError::NamespaceAlreadyExists) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        // After the default namespaces exist: the first listing names them.
        metrics_http::spawn_namespace_names(store.clone());
        let persistence = if config.database_url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        };
        let frontend = Frontend::new(
            orrery_frontend::Roles {
                history,
                matching,
                namespaces,
                scheduler,
            },
            orrery_frontend::FrontendConfig {
                shard_count: config.shard_count,
                persistence,
                archival: orrery_frontend::ArchivalConfig {
                    archives,
                    default_uri: config.archival.default_uri.clone(),
                },
                access: orrery_frontend::AccessPolicy {
                    callers_required: tenants.auth.is_some(),
                    rate_limits: orrery_frontend::RateLimits::new(
                        &config
                            .dynamic_config
                            .i64_per_namespace(NAMESPACE_RPS, DEFAULT_NAMESPACE_RPS),
                    )
                    .map(Arc::new),
                    caller_limits: orrery_frontend::CallerLimits::from_dynamic_config(
                        &config.dynamic_config,
                    ),
                },
            },
        );
        if let Some(members) = &members {
            frontend.set_peers(Arc::new(members::MemberPeers {
                cluster: members.cluster.clone(),
            }));
        }
        let listener = TcpListener::bind(config.grpc_addr).await.map_err(|e| {
            orrery_core::CellError::Unavailable(format!("binding {}: {e}", config.grpc_addr))
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(orrery_core::CellError::internal)?;
        let admin_listener = match config.tenant.as_ref().and_then(|t| t.admin_addr) {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                orrery_core::CellError::Unavailable(format!("binding {addr}: {e}"))
            })?),
            None => None,
        };
        let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                orrery_core::CellError::Unavailable(format!("binding {addr}: {e}"))
            })?),
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        let http_api = match config.http_api {
            Some(settings) => Some((
                TcpListener::bind(settings.addr).await.map_err(|e| {
                    orrery_core::CellError::Unavailable(format!("binding {}: {e}", settings.addr))
                })?,
                settings,
            )),
            None => None,
        };
        let http_api_addr = http_api.as_ref().and_then(|(l, _)| l.local_addr().ok());
        Ok(Self {
            local_addr,
            admin_addr,
            metrics_addr,
            http_api_addr,
            listener,
            admin_listener,
            metrics_listener,
            http_api,
            frontend,
            store,
            tenants,
            members,
        })
    }

    /// Serves gRPC (and the admin, metrics and HTTP API listeners that are
    /// configured) until `shutdown` resolves, then drains in-flight calls
    /// for up to two seconds and flushes usage counted in memory; returns
    /// once the listeners are closed.
    ///
    /// `shutdown` is any future: `tokio::signal::ctrl_c()`, a
    /// `tokio::sync::oneshot` receiver, or a `tokio::sync::watch` receiver
    /// shared by several servers in one process:
    ///
    /// ```no_run
    /// # async fn run(cell: orrery_cell::Cell) -> orrery_core::CellResult<()> {
    /// let (stop, mut stopped) = tokio::sync::watch::channel(false);
    /// let served = tokio::spawn(cell.serve(async move {
    ///     let _ = stopped.wait_for(|stop| *stop).await;
    /// }));
    /// // ... later, from anywhere that holds `stop`:
    /// let _ = stop.send(true);
    /// served.await.expect("the cell's task")?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> CellResult<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        health
            .set_service_status(
                "temporal.api.workflowservice.v1.WorkflowService",
                tonic_health::ServingStatus::Serving,
            )
            .await;
        let frontend = self.frontend.clone();
        let finishing = self.frontend.clone();
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let stopping_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A member leaves its cell as soon as it is told to stop: its shards
        // go to the others at their next heartbeat, not after its TTL.
        let leaving = self
            .members
            .as_ref()
            .map(|m| (m.cluster.membership.clone(), m.history.clone()));
        let forward = match &self.members {
            Some(members) => Some(members.forward_layer()?),
            None => None,
        };
        let shutdown = {
            let stopping_flag = stopping_flag.clone();
            async move {
                shutdown.await;
                stopping_flag.store(true, std::sync::atomic::Ordering::Relaxed);
                frontend.begin_shutdown();
                if let Some((membership, history)) = leaving
                    && let Err(err) = membership.leave(history.as_ref()).await
                {
                    tracing::warn!(error = %err, "leaving the cell failed; peers wait out this member's TTL");
                }
                let _ = stop_tx.send(true);
                let _ = stopping_tx.send(());
            }
        };
        if let Some(listener) = self.metrics_listener {
            let health = metrics_http::Health {
                stopping: stopping_flag,
                store: self.store.clone(),
            };
            metrics_http::spawn_server(listener, health, stopped());
        }
        let peers: ServeFuture = match self.members {
            Some(members) => members.serve_peers(&self.frontend, stopped())?,
            None => Box::pin(async { Ok(()) }),
        };
        let router = |layer: orrery_auth::AuthLayer| {
            tonic::transport::Server::builder()
                .layer(status_mapping::layer())
                .layer(layer)
                .layer(self.frontend.rate_gate())
                // Calls whose workflow or queue another member owns go there.
                .layer(tower::util::option_layer(forward.clone()))
                .add_service(
                    health_service
                        .clone()
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .send_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .add_service(self.frontend.workflow_service())
                .add_service(self.frontend.operator_service())
        };
        let http_api: std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), String>> + Send>,
        > = match self.http_api {
            Some((listener, settings)) => Box::pin(http_api::serve(
                listener,
                settings,
                http_api::grpc_stack(&self.frontend, self.tenants.auth.clone(), forward.clone()),
                self.tenants.auth.clone(),
                self.tenants.tls.clone(),
                stopped(),
            )),
            None => Box::pin(async { Ok(()) }),
        };
        let tenant_router = router(orrery_auth::AuthLayer::new(self.tenants.auth.clone()));
        // A development cell has no tenant auth and no admin listener: its
        // one (loopback) endpoint also answers the control plane's usage
        // pulls. With tenant auth, CellAdmin is on the admin listener only.
        let tenant_router = match self.tenants.auth {
            None => tenant_router.add_service(cell_admin::service(self.store.clone())),
            Some(_) => tenant_router,
        };
        let tenants: ServeFuture = match self.tenants.tls {
            Some(tls) => Box::pin(tenant_router.serve_with_incoming_shutdown(
                orrery_auth::tls::incoming(self.listener, tls),
                stopped(),
            )),
            None => Box::pin(tenant_router.serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                stopped(),
            )),
        };
        let admin: ServeFuture = match (self.admin_listener, self.tenants.operator) {
            (Some(listener), Some(operator)) => {
                // CellAdmin reads every namespace's usage: the admin listener only.
                let admin_router = router(orrery_auth::AuthLayer::operator_only(operator))
                    .add_service(cell_admin::service(self.store.clone()));
                match self.tenants.admin_tls {
                    Some(tls) => Box::pin(admin_router.serve_with_incoming_shutdown(
                        orrery_auth::admin::incoming(listener, tls),
                        stopped(),
                    )),
                    // Allowed only with --insecure-control-channel (checked
                    // at start).
                    None => Box::pin(
                        admin_router.serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(listener)
                                .with_nodelay(Some(true)),
                            stopped(),
                        ),
                    ),
                }
            }
            _ => Box::pin(async { Ok(()) }),
        };
        // Ends at the first error, or when both listeners have drained.
        let serve = async move {
            let grpc = |served: ServeFuture| async move {
                served.await.map_err(|e| format!("grpc server: {e}"))
            };
            tokio::try_join!(grpc(tenants), grpc(admin), grpc(peers), http_api, async {
                shutdown.await;
                Ok(())
            })
            .map(|_| ())
        };
        // Clients keep idle connections open after the drain; past a short
        // grace period the server stops waiting for them.
        let grace = async {
            if stopping.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = tokio::select! {
            served = serve => served.map_err(orrery_core::CellError::Internal),
            () = grace => {
                tracing::info!("closing connections still open after the drain");
                Ok(())
            }
        };
        // Calls answered during the drain may have counted usage in memory.
        finishing.finish_shutdown().await;
        served
    }
}
