//! The history role of a cell. Every RPC that changes a workflow goes
//! through [`HistoryEngine::update`] (load → decide → commit → act); the
//! modules under `api/` hold one concern each.
// Deprecated proto fields (e.g. `control`) are still copied through.
#![allow(deprecated)]

mod api;
pub mod cron;
pub mod engine;
mod events;
mod metering;
mod mutation;
pub mod processors;
mod queries;
mod retention;
mod retry;
pub mod shards;
pub mod state;
mod storage_meter;
mod targets;
mod tasks;
mod timers;
mod transfer;

pub use api::activity::{ActivityOutcome, ActivityRef, HeartbeatReply};
pub use api::activity_ops::{ActivityOp, ActivitySelector};
pub use api::complete::worker_version;
pub use api::history::{DEFAULT_PAGE_SIZE as DEFAULT_HISTORY_PAGE_SIZE, HistoryQuery, HistoryRead};
pub use api::reset::ResetRequest;
pub use api::standalone::activity_keyspace;
pub use api::start::{RunSpec, StartOutcome, StartSignal};
pub(crate) use api::{commands, start, workflow_task};
pub use engine::{HistoryConfig, HistoryEngine, HistoryLimits};
pub use metering::QUERY_FLUSH_INTERVAL;
pub use queries::QueryRoute;
pub use retention::{ClosePolicies, ClosePolicy};
pub use storage_meter::SAMPLE_INTERVAL_KEY as STORAGE_SAMPLE_INTERVAL_KEY;
pub use targets::{
    RemoteTargets, SCHEDULED_CANCEL, SCHEDULED_START, SCHEDULED_TERMINATE, ScheduledAction,
    TargetOutcome, TargetRequest,
};

/// Run ids are time-ordered UUIDs (version 7), as the real server's are;
/// SDKs and their tests rely on it.
pub(crate) fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
