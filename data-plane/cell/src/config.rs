//! What a cell is started with: [`CellConfig`] and the settings it holds.
//!
//! `CellConfig` is `#[non_exhaustive]`: programs that embed a cell build it
//! with [`CellConfig::new`] and assign the fields they change, so a field
//! added later does not break them (docs/embedding.md).
use std::net::SocketAddr;

use orrery_core::dynamic_config::DynamicConfig;

pub use crate::http_api::HttpApiSettings;
pub use orrery_archival::S3Settings;
pub use orrery_auth::control_channel::ControlChannelSettings;

/// The `orrery cell` default (`--shards`): history shards are fixed for the
/// life of a database, so the default leaves room to grow.
pub const DEFAULT_SHARD_COUNT: i32 = 16;

/// Everything [`crate::Cell::start`] needs.
///
/// # Example
///
/// ```no_run
/// use orrery_cell::{Cell, CellConfig};
///
/// # async fn run() -> orrery_core::CellResult<()> {
/// let mut config = CellConfig::new(
///     "sqlite:///var/lib/myapp/cell.db?mode=rwc",
///     "127.0.0.1:7233".parse().unwrap(),
/// );
/// config.default_namespaces = vec!["default".into()];
/// let cell = Cell::start(config).await?;
/// println!("Temporal API on {}", cell.local_addr);
/// cell.serve(async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct CellConfig {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`; migrated at
    /// start.
    pub database_url: String,
    /// The tenant endpoint (Temporal's gRPC API); port 0 picks a free one,
    /// reported by [`crate::Cell::local_addr`].
    pub grpc_addr: SocketAddr,
    /// History shards; fixed for the life of a database.
    pub shard_count: i32,
    /// Namespaces created at start if missing (`orrery dev` creates `default`).
    pub default_namespaces: Vec<String>,
    pub dynamic_config: DynamicConfig,
    pub archival: ArchivalSettings,
    /// Tenant authentication; `None` serves everyone (a development cell).
    pub tenant: Option<TenantSettings>,
    /// Where `GET /metrics` (Prometheus) is served, plain HTTP: an
    /// operators' address, not the tenants'. `None`: not served (the
    /// metrics are still kept, for the admin service's namespace stats).
    pub metrics_addr: Option<SocketAddr>,
    /// Temporal's HTTP API (JSON over HTTP); `None`: not served.
    pub http_api: Option<HttpApiSettings>,
    /// One of several processes serving this cell on one PostgreSQL
    /// (docs/operations.md, "A cell of several members"); `None`: the only
    /// one, owning every shard.
    pub members: Option<MemberSettings>,
    /// PostgreSQL connections this process keeps at most
    /// (`--database-max-connections`).
    pub database_max_connections: u32,
}

pub use crate::members::MemberSettings;

impl CellConfig {
    /// A cell on `database_url` serving gRPC at `grpc_addr`, with the
    /// `orrery cell` defaults for the rest: [`DEFAULT_SHARD_COUNT`] shards,
    /// no namespaces created, default dynamic config, no archive, no tenant
    /// authentication (everyone who reaches `grpc_addr` is served), no
    /// metrics listener and no HTTP API.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), std::net::AddrParseError> {
    /// let mut config = orrery_cell::CellConfig::new(
    ///     "postgres://orrery@db.internal/orrery",
    ///     "0.0.0.0:7233".parse()?,
    /// );
    /// config.shard_count = 64;
    /// config.metrics_addr = Some("127.0.0.1:9090".parse()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(database_url: impl Into<String>, grpc_addr: SocketAddr) -> Self {
        Self {
            database_url: database_url.into(),
            grpc_addr,
            shard_count: DEFAULT_SHARD_COUNT,
            default_namespaces: Vec::new(),
            dynamic_config: DynamicConfig::default(),
            archival: ArchivalSettings::default(),
            tenant: None,
            metrics_addr: None,
            http_api: None,
            members: None,
            database_max_connections: orrery_persistence::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A cell serving tenants: credentials come from the control plane.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    /// Where and how the auth snapshot is fetched, and the key it must be
    /// signed with (docs/security.md).
    pub control_plane: ControlChannelSettings,
    /// TLS on the tenant endpoint (and the admin listener); the tenant
    /// endpoint is plaintext (behind a TLS-terminating proxy, API keys
    /// only) when `None`.
    pub tls: Option<TlsSettings>,
    /// A listener for the control plane alone (its signed admin token
    /// only), on a network tenants cannot reach; TLS with the cell's
    /// certificate, plaintext only with `control_plane.insecure_plaintext`.
    pub admin_addr: Option<SocketAddr>,
    /// Namespaces this cell takes, reported to the control plane on each
    /// poll so placement stops there.
    pub max_namespaces: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub cert_path: std::path::PathBuf,
    pub key_path: std::path::PathBuf,
    /// `<namespace>.<domain>` server names pick a namespace's client CAs.
    pub domain: Option<String>,
}

/// How the cell reaches archives.
#[derive(Clone, Debug, Default)]
pub struct ArchivalSettings {
    /// Used by a namespace that enables archival without naming a URI.
    pub default_uri: Option<String>,
    pub s3: S3Settings,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `new` is what `orrery cell` starts from: a change to a default here
    /// changes every embedder's cell, so it is pinned.
    #[test]
    fn new_gives_the_orrery_cell_defaults() {
        let addr: SocketAddr = "127.0.0.1:7233".parse().unwrap();
        let config = CellConfig::new("sqlite://cell.db?mode=rwc", addr);
        assert_eq!(config.database_url, "sqlite://cell.db?mode=rwc");
        assert_eq!(config.grpc_addr, addr);
        assert_eq!(config.shard_count, 16);
        assert!(config.default_namespaces.is_empty());
        assert!(config.tenant.is_none());
        assert!(config.metrics_addr.is_none());
        assert!(config.http_api.is_none());
        assert!(config.archival.default_uri.is_none());
        assert!(config.archival.s3.endpoint.is_none());
    }
}
