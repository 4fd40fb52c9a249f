//! What history and matching exchange, without naming each other: history
//! persists queue tasks in its transaction and, after commit, tells a
//! [`TaskSink`] about them; the cell wires matching in as that sink.
use prost::Message;

pub const TASK_KIND_WORKFLOW: i32 = 0;
pub const TASK_KIND_ACTIVITY: i32 = 1;

/// A workflow or activity task waiting in a task queue. The body is what a
/// poller needs to ask history to start it.
#[derive(Clone, PartialEq, Message)]
pub struct QueueTask {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub task_queue: String,
    #[prost(int32, tag = "3")]
    pub kind: i32,
    #[prost(int64, tag = "4")]
    pub task_id: i64,
    #[prost(string, tag = "5")]
    pub workflow_id: String,
    #[prost(string, tag = "6")]
    pub run_id: String,
    #[prost(int64, tag = "7")]
    pub scheduled_event_id: i64,
    /// Unix ms after which the task is no longer worth handing out (0: never).
    #[prost(int64, tag = "8")]
    pub expires_at_ms: i64,
    /// The workflow's normal queue when this task sits on a sticky one.
    #[prost(string, tag = "9")]
    pub normal_task_queue: String,
    /// When the task was created (unix ms): the backlog's age.
    #[prost(int64, tag = "10")]
    pub created_ms: i64,
    /// A standalone activity (StartActivityExecution), not a workflow's.
    #[prost(bool, tag = "11")]
    pub standalone_activity: bool,
}

pub trait TaskSink: Send + Sync + 'static {
    /// Called after the transaction that stored `tasks` committed.
    fn tasks_added(&self, tasks: Vec<QueueTask>);
}
