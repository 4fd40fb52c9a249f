//! `orrery`: the one binary. `dev` runs everything on the embedded default;
//! `cell` runs a data-plane cell against a database URL; `control-plane`
//! runs the control plane's REST API.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use orrery_cell::{Cell, CellConfig, HttpApiSettings};
use orrery_control_plane::sealing::{KeyEncryption, LocalKek};
use orrery_control_plane::{CellSpec, ControlPlane};
use orrery_core::dynamic_config::DynamicConfig;

mod member_args;
mod telemetry;

#[derive(Parser)]
#[command(
    name = "orrery",
    version,
    about = "Durable workflows that speak Temporal's API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where closed histories go (see docs/operations.md, "Retention and archival").
#[derive(clap::Args)]
struct ArchivalArgs {
    /// The archive a namespace uses when it enables archival without naming
    /// one (`s3://bucket/prefix` or `file:///path`). `dev`: `<data-dir>/archive`.
    #[arg(long, env = "ORRERY_ARCHIVE_URI")]
    archive_uri: Option<String>,
    /// A custom S3 endpoint (an S3-compatible server); AWS's otherwise.
    #[arg(long, env = "ORRERY_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The S3 region; from the AWS environment or profile otherwise.
    #[arg(long, env = "ORRERY_S3_REGION")]
    s3_region: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`), which most
    /// S3-compatible servers need; virtual-host style otherwise.
    #[arg(long, env = "ORRERY_S3_PATH_STYLE")]
    s3_path_style: bool,
}

impl ArchivalArgs {
    fn settings(self, default_uri: Option<String>) -> orrery_cell::ArchivalSettings {
        orrery_cell::ArchivalSettings {
            default_uri: self.archive_uri.or(default_uri),
            s3: orrery_cell::S3Settings {
                endpoint: self.s3_endpoint,
                region: self.s3_region,
                force_path_style: self.s3_path_style,
            },
        }
    }
}

/// The control plane's side of the channel to cells (docs/security.md).
#[derive(clap::Args)]
struct ControlPlaneChannelArgs {
    /// Serve HTTPS with this certificate chain (PEM); cells fetch their auth
    /// snapshot over it.
    #[arg(long, env = "ORRERY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, env = "ORRERY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that issued the cells' admin-listener
    /// certificates (the system's roots are trusted too).
    #[arg(long, env = "ORRERY_CELL_CA_FILE", value_name = "PATH")]
    cell_ca_file: Option<PathBuf>,
    /// Calls cells' admin listeners over plaintext `http://`: only when the
    /// network between them is the loopback of one host.
    #[arg(long)]
    insecure_cell_channel: bool,
    /// Serves plain HTTP without `--tls-cert`: only behind a proxy that
    /// terminates TLS, or on one host's loopback.
    #[arg(long)]
    insecure_http: bool,
}

impl ControlPlaneChannelArgs {
    fn apply(self, config: &mut orrery_control_plane::Config) -> Result<(), String> {
        config.tls = self
            .tls_cert
            .zip(self.tls_key)
            .map(|(cert_path, key_path)| orrery_control_plane::TlsFiles {
                cert_path,
                key_path,
            });
        config.cell_channel.insecure_plaintext = self.insecure_cell_channel;
        config.insecure_http = self.insecure_http;
        if let Some(path) = self.cell_ca_file {
            let pem = std::fs::read(&path)
                .map_err(|e| format!("reading --cell-ca-file {}: {e}", path.display()))?;
            config.cell_channel.ca_pem = Some(pem);
        }
        Ok(())
    }
}

/// Serving tenants (see docs/operations.md, "Tenant endpoint").
#[derive(clap::Args)]
struct TenantArgs {
    /// The control plane's base URL (`https://`); enables tenant
    /// authentication. The cell polls it for API keys, client CAs and
    /// permissions, and installs only what the control key signed.
    #[arg(long, env = "ORRERY_CONTROL_PLANE_URL")]
    control_plane_url: Option<String>,
    /// This cell's credential, as `POST /api/v1/admin/cells` issued it
    /// (prefer the environment or `--cell-credential-file`: arguments are
    /// visible to every user of the host).
    #[arg(long, env = "ORRERY_CELL_CREDENTIAL", hide_env_values = true)]
    cell_credential: Option<String>,
    /// A file holding this cell's credential.
    #[arg(long, value_name = "PATH", conflicts_with = "cell_credential")]
    cell_credential_file: Option<PathBuf>,
    /// CA certificates (PEM) for the control plane's TLS certificate; the
    /// system's roots otherwise.
    #[arg(long, env = "ORRERY_CONTROL_PLANE_CA_FILE", value_name = "PATH")]
    control_plane_ca_file: Option<PathBuf>,
    /// The control plane's public key (PEM, `GET /internal/v1/control-key`),
    /// repeatable while it rotates; fetched once over verified TLS if unset.
    #[arg(long = "control-plane-public-key", value_name = "PATH")]
    control_plane_public_keys: Vec<PathBuf>,
    /// Allows a plaintext `http://` control-plane URL and a plaintext admin
    /// listener: only when the network is one host's loopback.
    #[arg(long)]
    insecure_control_channel: bool,
    /// Namespaces this cell takes, reported to the control plane.
    #[arg(long, env = "ORRERY_MAX_NAMESPACES",
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    max_namespaces: Option<u64>,
    /// The cell's TLS certificate chain (PEM); TLS on the gRPC address.
    #[arg(long, env = "ORRERY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, env = "ORRERY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Tenants' server names are `<namespace>.<domain>`: the name picks the
    /// namespace whose client CAs the handshake asks for.
    #[arg(long, env = "ORRERY_TENANT_DOMAIN")]
    tenant_domain: Option<String>,
    /// A gRPC listener for the control plane only (its signed admin
    /// token), TLS with `--tls-cert`.
    #[arg(long, env = "ORRERY_ADMIN_GRPC_ADDR")]
    admin_grpc_addr: Option<SocketAddr>,
}

impl TenantArgs {
    fn settings(self) -> Result<Option<orrery_cell::TenantSettings>, String> {
        let Some(control_plane_url) = self.control_plane_url else {
            if self.tls_cert.is_some() {
                return Err("--tls-cert needs --control-plane-url: TLS is for tenants".into());
            }
            return Ok(None);
        };
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path).map_err(|e| format!("reading {what} {}: {e}", path.display()))
        };
        let ca_pem = match &self.control_plane_ca_file {
            Some(path) => Some(read(path, "--control-plane-ca-file")?),
            None => None,
        };
        let public_key_pems = (self.control_plane_public_keys.iter())
            .map(|path| {
                let pem = read(path, "--control-plane-public-key")?;
                String::from_utf8(pem).map_err(|_| format!("{} is not PEM", path.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let credential = match (self.cell_credential, &self.cell_credential_file) {
            (Some(credential), _) => credential,
            (None, Some(path)) => String::from_utf8(read(path, "--cell-credential-file")?)
                .map_err(|_| format!("{} is not text", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(
                    "--control-plane-url needs the cell's credential: --cell-credential-file, \
                     ORRERY_CELL_CREDENTIAL or --cell-credential"
                        .into(),
                );
            }
        };
        Ok(Some(orrery_cell::TenantSettings {
            control_plane: orrery_cell::ControlChannelSettings {
                url: control_plane_url,
                credential,
                ca_pem,
                public_key_pems,
                insecure_plaintext: self.insecure_control_channel,
            },
            admin_addr: self.admin_grpc_addr,
            max_namespaces: self.max_namespaces,
            tls: self
                .tls_cert
                .zip(self.tls_key)
                .map(|(cert_path, key_path)| orrery_cell::TlsSettings {
                    cert_path,
                    key_path,
                    domain: self.tenant_domain,
                }),
        }))
    }
}

/// Temporal's HTTP API on a development cell.
#[derive(clap::Args)]
struct HttpApiArgs {
    /// Where Temporal's HTTP API (JSON, the routes its protos annotate) is
    /// served; the real dev server's `--http-port`.
    #[arg(long, default_value = "127.0.0.1:7243")]
    http_api_addr: SocketAddr,
    /// A browser origin allowed to call the HTTP API (CORS; repeatable).
    /// The console's own origin (`--http-addr`) always is.
    #[arg(long = "http-api-allowed-origin")]
    http_api_allowed_origins: Vec<String>,
}

// Parsed once at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// One cell on SQLite with namespace `default`, no auth, for development.
    Dev {
        #[arg(long, default_value = "./.orrery")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7233")]
        grpc_addr: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8233")]
        http_addr: SocketAddr,
        #[command(flatten)]
        http_api: HttpApiArgs,
        /// Temporal dynamic config, KEY=VALUE (repeatable).
        #[arg(long = "dynamic-config")]
        dynamic_config: Vec<String>,
        #[command(flatten)]
        archival: ArchivalArgs,
    },
    /// A data-plane cell on `sqlite://…` or `postgres://…` (migrated at start).
    Cell {
        #[arg(long, env = "ORRERY_DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value = "127.0.0.1:7233")]
        grpc_addr: SocketAddr,
        /// History shards, fixed when the database is created.
        #[arg(long, alias = "history-shards", env = "ORRERY_HISTORY_SHARDS", default_value_t = orrery_cell::DEFAULT_SHARD_COUNT)]
        shards: i32,
        /// Namespaces to create at start if missing (repeatable).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
        #[arg(long = "dynamic-config")]
        dynamic_config: Vec<String>,
        #[command(flatten)]
        archival: ArchivalArgs,
        #[command(flatten)]
        tenant: TenantArgs,
        /// Serves Prometheus metrics at `http://<addr>/metrics` (plain
        /// HTTP, no auth: an operators' address; docs/operations.md).
        #[arg(long, env = "ORRERY_METRICS_ADDR")]
        metrics_addr: Option<SocketAddr>,
        /// Serves Temporal's HTTP API (JSON) here, with the tenant
        /// endpoint's TLS and credentials; not served when unset.
        #[arg(long, env = "ORRERY_HTTP_API_ADDR")]
        http_api_addr: Option<SocketAddr>,
        /// A browser origin allowed to call the HTTP API (CORS; repeatable).
        #[arg(long = "http-api-allowed-origin")]
        http_api_allowed_origins: Vec<String>,
        #[command(flatten)]
        members: member_args::MemberArgs,
        /// PostgreSQL connections this process keeps at most (with N
        /// members, the database sees up to N times this).
        #[arg(long, env = "ORRERY_DATABASE_MAX_CONNECTIONS", default_value_t = orrery_cell::DEFAULT_MAX_CONNECTIONS)]
        database_max_connections: u32,
    },
    /// The control plane: accounts, users, namespaces, certificates and API
    /// keys behind a REST API (`/api/v1`, OpenAPI at `/api/v1/openapi.json`).
    ControlPlane {
        /// `sqlite://…` or `postgres://…` (migrated at start).
        #[arg(long, env = "ORRERY_CONTROL_PLANE_DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value = "127.0.0.1:8233")]
        http_addr: SocketAddr,
        /// A cell to place namespaces into, `name=https://host:port` of its
        /// admin listener (repeatable). Its credential is issued by
        /// `POST /api/v1/admin/cells`.
        #[arg(long = "cell")]
        cells: Vec<CellSpec>,
        /// How many namespaces each `--cell` takes.
        #[arg(long, default_value_t = 1000)]
        cell_capacity: i64,
        #[command(flatten)]
        channel: ControlPlaneChannelArgs,
        /// Enables the operator routes `/api/v1/admin/*`.
        #[arg(long, env = "ORRERY_BOOTSTRAP_ADMIN_TOKEN")]
        bootstrap_admin_token: Option<String>,
        /// Namespace endpoints become `<namespace id>.<domain>:7233`.
        #[arg(long)]
        namespace_domain: Option<String>,
        /// Namespaces one account may hold; creating more answers 422.
        #[arg(long, default_value_t = 10)]
        namespace_quota: u32,
        /// Signups per minute from one source address (the burst too);
        /// more answer 429 with `Retry-After`.
        #[arg(long, default_value_t = 5)]
        signups_per_ip: u32,
        /// Password hashes (Argon2) computed at once, process-wide.
        #[arg(long, default_value_t = 4)]
        password_hash_concurrency: usize,
        /// A file holding the key-encryption key that seals the private keys
        /// kept in the database: base64 of 32 random bytes (`openssl rand
        /// -base64 32`). Or set the key itself in ORRERY_KEY_ENCRYPTION_KEY.
        #[arg(long, value_name = "PATH")]
        key_encryption_key_file: Option<PathBuf>,
        /// Keeps private keys in the database in plaintext (no key-encryption
        /// key): anyone with a copy of the database can sign API keys.
        #[arg(long)]
        insecure_no_key_encryption: bool,
        /// The control key (signs auth snapshots and the tokens presented to
        /// cells) as an Ed25519 PKCS#8 PEM private key, instead of the stored one.
        #[arg(long, value_name = "PATH")]
        control_key_file: Option<PathBuf>,
        /// How often usage (Actions, storage) is pulled from each cell, in
        /// seconds; usage reaches the API within about twice this.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
        usage_pull_interval: u64,
        /// The rate card (JSON; docs/control-plane.md) invoices are priced
        /// with; a built-in card shaped like Temporal Cloud's otherwise.
        #[arg(long, env = "ORRERY_RATE_CARD_FILE", value_name = "PATH")]
        rate_card_file: Option<PathBuf>,
    },
}

/// The control plane's KEK: from `--key-encryption-key-file` or
/// ORRERY_KEY_ENCRYPTION_KEY (never both); `None` only with
/// `--insecure-no-key-encryption`, which the control plane checks.
fn key_encryption_key(
    file: Option<PathBuf>,
    insecure: bool,
) -> Result<Option<std::sync::Arc<dyn KeyEncryption>>, String> {
    let env = std::env::var("ORRERY_KEY_ENCRYPTION_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let kek = match (file, env) {
        (Some(_), Some(_)) => {
            return Err(
                "both --key-encryption-key-file and ORRERY_KEY_ENCRYPTION_KEY are set; give one"
                    .into(),
            );
        }
        (Some(path), None) => {
            LocalKek::from_file(&path).map_err(|e| format!("--key-encryption-key-file: {e}"))?
        }
        (None, Some(text)) => {
            LocalKek::from_base64(&text).map_err(|e| format!("ORRERY_KEY_ENCRYPTION_KEY: {e}"))?
        }
        (None, None) => return Ok(None),
    };
    if insecure {
        return Err("--insecure-no-key-encryption contradicts the key-encryption key given".into());
    }
    Ok(Some(std::sync::Arc::new(kek)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Flushes exported spans when `main` returns (src/telemetry.rs).
    let _telemetry = telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("orrery: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let (config, http_addr) = match cli.command {
        Command::ControlPlane {
            database_url,
            http_addr,
            cells,
            cell_capacity,
            channel,
            bootstrap_admin_token,
            namespace_domain,
            namespace_quota,
            signups_per_ip,
            password_hash_concurrency,
            key_encryption_key_file,
            insecure_no_key_encryption,
            control_key_file,
            usage_pull_interval,
            rate_card_file,
        } => {
            let mut config = orrery_control_plane::Config::new(database_url, http_addr);
            config.key_encryption =
                key_encryption_key(key_encryption_key_file, insecure_no_key_encryption)?;
            config.insecure_no_key_encryption = insecure_no_key_encryption;
            if let Some(path) = control_key_file {
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| format!("--control-key-file {}: {e}", path.display()))?;
                let key = orrery_control_plane::keys::ControlKey::from_pkcs8_pem(&pem)
                    .map_err(|e| format!("--control-key-file {}: {e}", path.display()))?;
                config.control_key = Some(std::sync::Arc::new(key));
            }
            config.cells = cells;
            config.cell_capacity = cell_capacity;
            channel.apply(&mut config)?;
            config.bootstrap_admin_token = bootstrap_admin_token;
            config.namespace_domain = namespace_domain;
            config.namespace_quota = namespace_quota;
            config.signups_per_ip = signups_per_ip;
            config.password_hash_concurrency = password_hash_concurrency;
            config.usage_pull_interval = std::time::Duration::from_secs(usage_pull_interval);
            config.rate_card_path = rate_card_file;
            return orrery_control_plane::run(config, shutdown_signal())
                .await
                .map_err(|e| e.to_string());
        }
        Command::Dev {
            data_dir,
            grpc_addr,
            http_addr,
            http_api,
            dynamic_config,
            archival,
        } => {
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| format!("creating data dir {}: {e}", data_dir.display()))?;
            let data_dir = data_dir
                .canonicalize()
                .map_err(|e| format!("resolving data dir {}: {e}", data_dir.display()))?;
            let db = data_dir.join("cell.db");
            let local_archive = format!("file://{}", data_dir.join("archive").display());
            let mut config = CellConfig::new(format!("sqlite://{}", db.display()), grpc_addr);
            config.shard_count = 4;
            config.default_namespaces = vec!["default".into()];
            config.dynamic_config =
                DynamicConfig::parse(dynamic_config.iter().map(String::as_str))?;
            config.archival = archival.settings(Some(local_archive));
            // No metrics listener: they are served with the control plane's,
            // at its HTTP address.
            config.http_api = Some(HttpApiSettings {
                addr: http_api.http_api_addr,
                allowed_origins: console_origins(http_addr)
                    .into_iter()
                    .chain(http_api.http_api_allowed_origins)
                    .collect(),
            });
            (config, Some((http_addr, data_dir)))
        }
        Command::Cell {
            database_url,
            grpc_addr,
            shards,
            namespaces,
            dynamic_config,
            archival,
            tenant,
            metrics_addr,
            http_api_addr,
            http_api_allowed_origins,
            members,
            database_max_connections,
        } => {
            let mut config = CellConfig::new(database_url, grpc_addr);
            config.shard_count = shards;
            config.default_namespaces = namespaces;
            config.dynamic_config =
                DynamicConfig::parse(dynamic_config.iter().map(String::as_str))?;
            config.archival = archival.settings(None);
            config.tenant = tenant.settings()?;
            config.metrics_addr = metrics_addr;
            config.http_api = http_api_addr.map(|addr| HttpApiSettings {
                addr,
                allowed_origins: http_api_allowed_origins,
            });
            config.members = members.settings()?;
            config.database_max_connections = database_max_connections;
            (config, None)
        }
    };
    let cell = Cell::start(config).await.map_err(|e| e.to_string())?;
    let Some((http, data_dir)) = http_addr else {
        tracing::info!(
            "orrery cell listening: gRPC (Temporal API) on {}",
            cell.local_addr
        );
        if let Some(addr) = cell.metrics_addr {
            tracing::info!("orrery cell metrics on http://{addr}/metrics");
        }
        if let Some(addr) = cell.http_api_addr {
            tracing::info!("orrery cell HTTP API (Temporal's JSON API) on {addr}");
        }
        return cell
            .serve(shutdown_signal())
            .await
            .map_err(|e| e.to_string());
    };
    // dev: the control plane beside the cell, on its own SQLite file, with
    // the dev cell registered (it runs without tenant auth).
    let db = data_dir.join("control-plane.db");
    let mut cp_config =
        orrery_control_plane::Config::new(format!("sqlite://{}", db.display()), http);
    // Made on first start, beside the database it protects: development
    // only, where the two live and die together.
    let kek = LocalKek::load_or_generate_file(&data_dir.join("kek")).map_err(|e| e.to_string())?;
    cp_config.key_encryption = Some(std::sync::Arc::new(kek));
    // Both on this host's loopback, in one process: plaintext is fine, and
    // the dev cell has no tenant auth to present anything to.
    cp_config.cell_channel.insecure_plaintext = true;
    cp_config.insecure_http = true;
    cp_config.cells = vec![CellSpec {
        name: "dev".into(),
        grpc_url: format!("http://{}", cell.local_addr),
        http_url: cell.http_api_addr.map(|a| format!("http://{a}")),
    }];
    // One process: the cell's metrics follow the control plane's at its
    // `/metrics`.
    orrery_control_plane::metrics::also_serve(orrery_core::metrics::prometheus_text);
    let control_plane = ControlPlane::start(cp_config)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        "orrery dev listening: gRPC (Temporal API) on {}, namespace \"default\"; HTTP API on http://{}; control plane and console on http://{}",
        cell.local_addr,
        cell.http_api_addr
            .map(|a| a.to_string())
            .unwrap_or_default(),
        control_plane.local_addr
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let (cell_result, cp_result) = tokio::join!(
        cell.serve(wait(stopped.clone())),
        control_plane.serve(wait(stopped))
    );
    cell_result.map_err(|e| e.to_string())?;
    cp_result.map_err(|e| e.to_string())
}

/// The console's origins at `addr`: it calls the cell's HTTP API from its
/// page, so a development cell lets that origin in (CORS). Loopback is
/// reachable as `localhost` too.
fn console_origins(addr: SocketAddr) -> Vec<String> {
    let mut origins = vec![format!("http://{addr}")];
    if addr.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", addr.port()));
    }
    origins
}
