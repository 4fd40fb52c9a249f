//! What members ask each other beyond forwarded calls, as Temporal's
//! history and matching services do: history hands new queue tasks (and
//! query tasks) to the member that owns their task queue, and a member whose
//! poller got a task asks the member that owns the task's run to start it.
use orrery_core::matching::QueueTask;
use orrery_proto::api::common::v1::WorkerVersionStamp;
use orrery_proto::api::query::v1::WorkflowQuery;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddTasksRequest {
    #[prost(message, repeated, tag = "1")]
    pub tasks: Vec<QueueTask>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DispatchQueryRequest {
    #[prost(string, tag = "1")]
    pub task_queue: String,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub namespace_id: String,
    #[prost(string, tag = "4")]
    pub workflow_id: String,
    #[prost(string, tag = "5")]
    pub run_id: String,
    #[prost(message, optional, tag = "6")]
    pub query: Option<WorkflowQuery>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordTaskStartedRequest {
    #[prost(message, optional, tag = "1")]
    pub task: Option<QueueTask>,
    /// The namespace's name, as the response names it.
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(string, tag = "3")]
    pub identity: String,
    #[prost(string, tag = "4")]
    pub request_id: String,
    #[prost(message, optional, tag = "5")]
    pub worker_version: Option<WorkerVersionStamp>,
}

/// A message this crate carries without reading it: a transfer task's
/// target half and its outcome (history's `TargetRequest` and
/// `TargetOutcome`), run on the member owning the target's shard.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Encoded {
    #[prost(bytes = "vec", tag = "1")]
    pub message: Vec<u8>,
}

/// The generated server trait and client.
pub mod member {
    include!(concat!(env!("OUT_DIR"), "/orrery.peer.v1.Member.rs"));
}
