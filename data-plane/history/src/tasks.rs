//! Bodies of the durable timer and transfer tasks a transition creates.
//! Processors re-check them against mutable state, so a task that became
//! irrelevant (the activity completed, the timer was cancelled) is a no-op.
use prost::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum TimerKind {
    UserTimer = 1,
    ActivityTimeout = 2,
    ActivityRetry = 3,
    WorkflowTaskTimeout = 4,
    WorkflowRunTimeout = 5,
    /// First workflow task of a run started with a delay or backoff.
    WorkflowBackoff = 6,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimerTask {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    /// Timer's started event, activity's or workflow task's scheduled event.
    #[prost(int64, tag = "5")]
    pub event_id: i64,
    #[prost(int32, tag = "6")]
    pub attempt: i32,
    /// `TimeoutType` for timeouts.
    #[prost(int32, tag = "7")]
    pub timeout_type: i32,
    #[prost(string, tag = "8")]
    pub timer_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum TransferKind {
    StartChild = 1,
    SignalExternal = 2,
    CancelExternal = 3,
    /// Tell the parent its child closed.
    NotifyParent = 4,
    /// Apply parent close policies to the children of a closed run.
    ParentClosePolicy = 5,
}

#[derive(Clone, PartialEq, Message)]
pub struct TransferTask {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(int64, tag = "5")]
    pub initiated_event_id: i64,
}
