//! The frontend role: Temporal's WorkflowService and OperatorService. It
//! validates, resolves the namespace, and routes to history and matching;
//! every error leaves through `CellError` → `tonic::Status` once.
mod access;
mod handlers;
pub mod namespaces;
mod operator_service;
mod rate_gate;
mod rate_limits;
mod rpc_permissions;
mod serve;
mod validate;
mod workflow_service;

use std::sync::Arc;
use std::time::Duration;

use orrery_history::HistoryEngine;
use orrery_matching::Matching;
use orrery_scheduler::Scheduler;

pub use access::AccessPolicy;
pub use handlers::archival::ArchivalConfig;
pub use namespaces::{Namespaces, NewNamespace};
pub use rate_gate::RateGateLayer;
pub use rate_limits::{CallerLimits, RateLimits};

pub struct Frontend {
    pub(crate) history: Arc<HistoryEngine>,
    pub(crate) matching: Arc<Matching>,
    pub(crate) namespaces: Arc<Namespaces>,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) shard_count: i32,
    pub(crate) persistence: &'static str,
    pub(crate) archival: ArchivalConfig,
    pub(crate) access: AccessPolicy,
    /// The other members of a cell served by several (none alone).
    pub(crate) peers: std::sync::OnceLock<Arc<dyn Peers>>,
}

/// What the frontend asks of another member of its cell: starting a polled
/// task whose run another member owns, and handing a query task to the
/// member that owns its task queue. Each answers `None`/false when this
/// member is the owner, and the frontend acts locally.
#[async_trait::async_trait]
pub trait Peers: Send + Sync + 'static {
    async fn record_workflow_task_started(
        &self,
        task: &orrery_core::matching::QueueTask,
        namespace: &str,
        identity: &str,
        request_id: &str,
        worker_version: Option<orrery_proto::api::common::v1::WorkerVersionStamp>,
    ) -> Option<
        orrery_core::CellResult<
            orrery_proto::api::workflowservice::v1::PollWorkflowTaskQueueResponse,
        >,
    >;
    async fn record_activity_task_started(
        &self,
        task: &orrery_core::matching::QueueTask,
        namespace: &str,
        identity: &str,
        request_id: &str,
    ) -> Option<
        orrery_core::CellResult<
            orrery_proto::api::workflowservice::v1::PollActivityTaskQueueResponse,
        >,
    >;
    fn dispatch_query(&self, queue: &str, task: &orrery_matching::QueryTask) -> bool;
}

/// The longest a long poll waits before answering empty.
const LONG_POLL: Duration = Duration::from_secs(orrery_core::limits::LONG_POLL_TIMEOUT_SECS);

/// The roles the frontend routes to.
pub struct Roles {
    pub history: Arc<HistoryEngine>,
    pub matching: Arc<Matching>,
    pub namespaces: Arc<Namespaces>,
    pub scheduler: Arc<Scheduler>,
}

/// How the frontend is set up.
pub struct FrontendConfig {
    pub shard_count: i32,
    /// `sqlite` or `postgres`, as GetSystemInfo tells.
    pub persistence: &'static str,
    pub archival: ArchivalConfig,
    pub access: AccessPolicy,
}

impl Frontend {
    pub fn new(roles: Roles, config: FrontendConfig) -> Arc<Self> {
        Arc::new(Self {
            history: roles.history,
            matching: roles.matching,
            namespaces: roles.namespaces,
            scheduler: roles.scheduler,
            shard_count: config.shard_count,
            persistence: config.persistence,
            archival: config.archival,
            access: config.access,
            peers: std::sync::OnceLock::new(),
        })
    }

    /// Joins the frontend to the other members of its cell (once).
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// Hands a query task to its queue's owner, this member or another.
    pub(crate) fn dispatch_query(&self, queue: &str, task: orrery_matching::QueryTask) {
        if let Some(peers) = self.peers.get()
            && peers.dispatch_query(queue, &task)
        {
            return;
        }
        self.matching.dispatch_query(queue, task);
    }

    /// Ends long polls so a stopping server drains in moments, not minutes.
    pub fn begin_shutdown(&self) {
        self.matching.shutdown();
        self.history.shutdown();
        self.scheduler.shutdown();
    }

    /// Once no call is left: writes what is only counted in memory (the
    /// queries answered since the last flush, the drain's included).
    pub async fn finish_shutdown(&self) {
        if let Err(err) = self.history.flush_query_usage().await {
            tracing::warn!(error = %err, "flushing query usage at shutdown failed; those queries are not billed");
        }
    }

    /// The layer that refuses over-limit calls before their bodies are
    /// decoded; it goes inside the authentication layer, which it trusts
    /// for the caller.
    pub fn rate_gate(&self) -> RateGateLayer {
        RateGateLayer::new(self.access.rate_limits.clone())
    }

    pub fn workflow_service(
        self: &Arc<Self>,
    ) -> orrery_proto::workflowservice::workflow_service_server::WorkflowServiceServer<
        FrontendService,
    > {
        orrery_proto::workflowservice::workflow_service_server::WorkflowServiceServer::new(
            FrontendService(self.clone()),
        )
        .max_decoding_message_size(orrery_core::limits::MAX_GRPC_MESSAGE_SIZE)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
    }

    pub fn operator_service(
        self: &Arc<Self>,
    ) -> orrery_proto::operatorservice::operator_service_server::OperatorServiceServer<
        FrontendService,
    > {
        orrery_proto::operatorservice::operator_service_server::OperatorServiceServer::new(
            FrontendService(self.clone()),
        )
        .max_decoding_message_size(orrery_core::limits::MAX_GRPC_MESSAGE_SIZE)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
    }
}

/// The gRPC face of a [`Frontend`].
#[derive(Clone)]
pub struct FrontendService(pub(crate) Arc<Frontend>);

/// How long a long poll may wait: the caller's deadline less a margin, so
/// the empty answer arrives before the caller gives up, at most [`LONG_POLL`].
pub(crate) fn long_poll_wait(metadata: &tonic::metadata::MetadataMap) -> Duration {
    let deadline = metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match deadline {
        Some(d) => d.saturating_sub(Duration::from_secs(1)).min(LONG_POLL),
        None => LONG_POLL,
    }
}

fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("70S"), Some(Duration::from_secs(70)));
        assert_eq!(
            parse_grpc_timeout("1500m"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_grpc_timeout("x"), None);
        let mut md = tonic::metadata::MetadataMap::new();
        md.insert("grpc-timeout", "70S".parse().unwrap());
        assert_eq!(long_poll_wait(&md), LONG_POLL);
        md.insert("grpc-timeout", "5S".parse().unwrap());
        assert_eq!(long_poll_wait(&md), Duration::from_secs(4));
    }
}
