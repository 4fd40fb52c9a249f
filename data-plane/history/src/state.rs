//! A workflow run's mutable state: everything needed to decide the next
//! transition without reading history. Stored as protobuf bytes next to the
//! events it summarises, in the same transaction.
use orrery_proto::api::common::v1::{
    Header, Memo, Payloads, RetryPolicy, SearchAttributes, WorkflowExecution,
};
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::history::v1::{ActivityTaskScheduledEventAttributes, HistoryEvent};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct MutableState {
    #[prost(message, optional, tag = "1")]
    pub info: Option<ExecutionInfo>,
    #[prost(int64, tag = "2")]
    pub next_event_id: i64,
    #[prost(message, optional, tag = "3")]
    pub workflow_task: Option<WorkflowTaskInfo>,
    #[prost(message, repeated, tag = "4")]
    pub activities: Vec<ActivityInfo>,
    #[prost(message, repeated, tag = "5")]
    pub timers: Vec<TimerInfo>,
    #[prost(message, repeated, tag = "6")]
    pub children: Vec<ChildInfo>,
    #[prost(message, repeated, tag = "7")]
    pub external_requests: Vec<ExternalRequestInfo>,
    /// Events that arrived while a workflow task was running; written after
    /// that task closes so its started and completed events stay adjacent.
    #[prost(message, repeated, tag = "8")]
    pub buffered_events: Vec<HistoryEvent>,
    #[prost(string, repeated, tag = "9")]
    pub signal_request_ids: Vec<String>,
    /// Started event id of the last completed workflow task.
    #[prost(int64, tag = "10")]
    pub previous_started_event_id: i64,
    #[prost(int64, tag = "11")]
    pub last_completed_workflow_task_event_id: i64,
    #[prost(int64, tag = "12")]
    pub history_size_bytes: i64,
    #[prost(int64, tag = "13")]
    pub signal_count: i64,
    /// Accepted (and completed) updates: pointers to their events.
    #[prost(message, repeated, tag = "14")]
    pub updates: Vec<UpdateInfo>,
    /// Next event id right after the last completion's command events:
    /// history up to here is what the worker has already acted on.
    #[prost(int64, tag = "15")]
    pub checkpoint_event_id: i64,
    /// Whether this run ever had a workflow task; until then a start
    /// delay or cron backoff holds signals back (cancellation does not).
    #[prost(bool, tag = "16")]
    pub had_workflow_task: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct UpdateInfo {
    #[prost(string, tag = "1")]
    pub update_id: String,
    #[prost(int64, tag = "2")]
    pub accepted_event_id: i64,
    /// 0 while the update runs.
    #[prost(int64, tag = "3")]
    pub completed_event_id: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExecutionInfo {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(string, tag = "4")]
    pub workflow_type: String,
    #[prost(string, tag = "5")]
    pub task_queue: String,
    #[prost(int64, tag = "6")]
    pub execution_timeout_ms: i64,
    #[prost(int64, tag = "7")]
    pub run_timeout_ms: i64,
    #[prost(int64, tag = "8")]
    pub task_timeout_ms: i64,
    #[prost(int64, tag = "9")]
    pub start_time_ms: i64,
    #[prost(int64, tag = "10")]
    pub execution_time_ms: i64,
    #[prost(int64, tag = "11")]
    pub close_time_ms: i64,
    /// `WorkflowExecutionStatus`.
    #[prost(int32, tag = "12")]
    pub status: i32,
    #[prost(message, optional, tag = "13")]
    pub memo: Option<Memo>,
    #[prost(message, optional, tag = "14")]
    pub search_attributes: Option<SearchAttributes>,
    #[prost(message, optional, tag = "15")]
    pub retry_policy: Option<RetryPolicy>,
    #[prost(int32, tag = "16")]
    pub attempt: i32,
    #[prost(string, tag = "17")]
    pub first_execution_run_id: String,
    #[prost(message, optional, tag = "18")]
    pub parent: Option<ParentInfo>,
    #[prost(string, tag = "19")]
    pub sticky_task_queue: String,
    #[prost(int64, tag = "20")]
    pub sticky_timeout_ms: i64,
    #[prost(bool, tag = "21")]
    pub cancel_requested: bool,
    #[prost(string, tag = "22")]
    pub create_request_id: String,
    /// Deadline of the whole chain of runs (unix ms, 0 = none).
    #[prost(int64, tag = "23")]
    pub execution_expiration_ms: i64,
    #[prost(message, optional, tag = "24")]
    pub header: Option<Header>,
    #[prost(int64, tag = "25")]
    pub completion_event_id: i64,
    #[prost(string, tag = "26")]
    pub namespace: String,
    #[prost(string, tag = "27")]
    pub cron_schedule: String,
    /// The top of this run's tree of parents (children only).
    #[prost(message, optional, tag = "28")]
    pub root: Option<WorkflowExecution>,
    /// The run's input, kept only when a retry or cron run may reuse it
    /// (otherwise it lives in the started event alone).
    #[prost(message, optional, tag = "29")]
    pub input: Option<Payloads>,
    /// The last successful result of a cron chain, handed to the next run.
    #[prost(message, optional, tag = "30")]
    pub last_completion_result: Option<Payloads>,
    /// Where this run may be reset to: the first workflow task each worker
    /// build completed (DescribeWorkflowExecution's auto reset points).
    #[prost(message, optional, tag = "31")]
    pub reset_points: Option<orrery_proto::api::workflow::v1::ResetPoints>,
    /// The start request's summary and details (shown by describe).
    #[prost(message, optional, tag = "32")]
    pub user_metadata: Option<orrery_proto::api::sdk::v1::UserMetadata>,
    /// Priority and fairness the run was started with; later runs inherit it.
    #[prost(message, optional, tag = "33")]
    pub priority: Option<orrery_proto::api::common::v1::Priority>,
    /// This "run" is a standalone activity (StartActivityExecution): one
    /// activity, no history, stored in the namespace's activity keyspace.
    #[prost(bool, tag = "34")]
    pub standalone_activity: bool,
    /// A closed standalone activity's result or failure.
    #[prost(message, optional, tag = "35")]
    pub activity_outcome: Option<orrery_proto::api::activity::v1::ActivityExecutionOutcome>,
    #[prost(string, tag = "36")]
    pub canceled_reason: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ParentInfo {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(message, optional, tag = "3")]
    pub execution: Option<WorkflowExecution>,
    #[prost(int64, tag = "4")]
    pub initiated_event_id: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct WorkflowTaskInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    /// 0 until a poller picked the task up.
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int32, tag = "3")]
    pub attempt: i32,
    /// The queue the task was put on (the sticky one, or the normal one).
    #[prost(string, tag = "4")]
    pub task_queue: String,
    #[prost(int64, tag = "5")]
    pub scheduled_time_ms: i64,
    #[prost(int64, tag = "6")]
    pub started_time_ms: i64,
    #[prost(int64, tag = "7")]
    pub timeout_ms: i64,
    #[prost(string, tag = "8")]
    pub request_id: String,
    #[prost(string, tag = "9")]
    pub identity: String,
    /// The queue task that dispatches this attempt; a poller's task must match.
    #[prost(int64, tag = "10")]
    pub queue_task_id: i64,
    /// Created only to carry updates: its events are written only if its
    /// completion changes something, so a rejected update leaves no trace.
    #[prost(bool, tag = "11")]
    pub speculative: bool,
    /// The worker build that started the task (for its started event).
    #[prost(message, optional, tag = "12")]
    pub worker_version: Option<orrery_proto::api::common::v1::WorkerVersionStamp>,
}

impl WorkflowTaskInfo {
    /// Attempts after the first are "transient": their scheduled and started
    /// events are not written unless the attempt completes.
    pub fn is_transient(&self) -> bool {
        self.attempt > 1
    }

    /// Whether the scheduled/started events exist only in pollers' pages
    /// until the task completes (transient and speculative tasks).
    pub fn has_virtual_events(&self) -> bool {
        self.is_transient() || self.speculative
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct ActivityInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    #[prost(message, optional, tag = "2")]
    pub scheduled: Option<ActivityTaskScheduledEventAttributes>,
    #[prost(int32, tag = "3")]
    pub attempt: i32,
    #[prost(int64, tag = "4")]
    pub first_scheduled_time_ms: i64,
    #[prost(int64, tag = "5")]
    pub scheduled_time_ms: i64,
    /// 0 while not running.
    #[prost(int64, tag = "6")]
    pub started_time_ms: i64,
    #[prost(string, tag = "7")]
    pub started_identity: String,
    #[prost(string, tag = "8")]
    pub request_id: String,
    #[prost(int64, tag = "9")]
    pub last_heartbeat_ms: i64,
    #[prost(message, optional, tag = "10")]
    pub heartbeat_details: Option<Payloads>,
    #[prost(bool, tag = "11")]
    pub cancel_requested: bool,
    #[prost(int64, tag = "12")]
    pub cancel_requested_event_id: i64,
    #[prost(message, optional, tag = "13")]
    pub last_failure: Option<Failure>,
    /// Until when a heartbeat timeout timer is already armed.
    #[prost(int64, tag = "14")]
    pub heartbeat_timer_ms: i64,
    #[prost(string, tag = "15")]
    pub last_worker_identity: String,
    /// Paused by an operator: no new attempt starts until unpaused, and a
    /// running one is told to stop through its heartbeats.
    #[prost(bool, tag = "16")]
    pub paused: bool,
    #[prost(int64, tag = "17")]
    pub pause_time_ms: i64,
    #[prost(string, tag = "18")]
    pub pause_identity: String,
    #[prost(string, tag = "19")]
    pub pause_reason: String,
    /// Reset by an operator while running: told through its heartbeats.
    #[prost(bool, tag = "20")]
    pub reset_requested: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimerInfo {
    #[prost(string, tag = "1")]
    pub timer_id: String,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int64, tag = "3")]
    pub fire_ms: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ChildInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(string, tag = "5")]
    pub namespace: String,
    #[prost(string, tag = "6")]
    pub workflow_type: String,
    #[prost(int32, tag = "7")]
    pub parent_close_policy: i32,
    #[prost(string, tag = "8")]
    pub namespace_id: String,
}

/// A signal or cancel request this workflow sent to another one.
#[derive(Clone, PartialEq, Message)]
pub struct ExternalRequestInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(string, tag = "2")]
    pub request_id: String,
    #[prost(bool, tag = "3")]
    pub is_cancel: bool,
}
