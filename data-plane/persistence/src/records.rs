//! Rows as the stores see them. Bodies are opaque protobuf bytes owned by the
//! layer above; only columns a query needs are spelled out.
pub use orrery_visibility::IndexedValue;

#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRecord {
    pub id: String,
    pub name: String,
    /// Bumped on every update; updates are conditional on it.
    pub version: i64,
    pub data: Vec<u8>,
}

/// A cell process's row in the membership table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub member_id: String,
    /// Where its peers reach it.
    pub peer_addr: String,
    /// Its first heartbeat, by the database's clock (ms since the epoch).
    pub started_ms: i64,
    /// Its last heartbeat, by the database's clock.
    pub heartbeat_ms: i64,
}

/// A history shard's row: who holds it (`""`: nobody, it was released) and
/// at which `range_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardOwner {
    pub shard_id: i32,
    pub range_id: i64,
    pub owner: String,
    /// When it was last acquired or released (ms since the epoch).
    pub updated_ms: i64,
}

/// Which run a workflow id currently points at.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentExecution {
    pub run_id: String,
    pub create_request_id: String,
    /// `WorkflowExecutionStatus` as i32.
    pub status: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionRow {
    pub run_id: String,
    pub db_version: i64,
    pub next_event_id: i64,
    pub state: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub run_id: String,
    pub event_id: i64,
    pub data: Vec<u8>,
}

/// The queues whose tasks fire at a time: user-visible timers, and the
/// retention work of closed runs (archival uploads, deletions), kept apart
/// so a slow or down archive never makes a timer late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerQueue {
    Timers,
    Retention,
}

impl TimerQueue {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Self::Timers => "timer_tasks",
            Self::Retention => "retention_tasks",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimerRow {
    pub shard_id: i32,
    pub fire_ms: i64,
    pub task_id: i64,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TransferRow {
    pub shard_id: i32,
    pub task_id: i64,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueRow {
    pub namespace_id: String,
    pub task_queue: String,
    pub kind: i32,
    pub task_id: i64,
    pub data: Vec<u8>,
}

/// One run's visibility record: the standard attributes as columns (the list
/// filters query them), the typed search-attribute values, and the
/// `WorkflowExecutionInfo` the API returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisibilityRow {
    pub namespace_id: String,
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub status: i32,
    pub start_ms: i64,
    pub execution_ms: i64,
    pub close_ms: Option<i64>,
    pub task_queue: String,
    pub parent_workflow_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub root_workflow_id: String,
    pub root_run_id: String,
    pub history_length: i64,
    pub history_size_bytes: i64,
    pub state_transition_count: i64,
    /// Custom and column-less system search attributes, one row per value.
    pub search_attributes: Vec<IndexedValue>,
    pub data: Vec<u8>,
}

impl VisibilityRow {
    /// Where the row sits in the default order: running runs first.
    pub fn sort_close_ms(&self) -> i64 {
        self.close_ms.unwrap_or(i64::MAX)
    }

    /// The page position just after this row in the default order.
    pub fn position(&self) -> VisibilityPage {
        VisibilityPage::After {
            sort_close_ms: self.sort_close_ms(),
            start_ms: self.start_ms,
            run_id: self.run_id.clone(),
        }
    }
}

/// Where a page of ListWorkflowExecutions starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum VisibilityPage {
    #[default]
    First,
    /// Keyset position in the default order (CloseTime DESC NULLS FIRST,
    /// StartTime DESC, run id).
    After {
        sort_close_ms: i64,
        start_ms: i64,
        run_id: String,
    },
    /// Rows to skip, for a query with its own ORDER BY.
    Offset(i64),
}

/// What CountWorkflowExecutions answers: the total, and per status when the
/// query groups by ExecutionStatus.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisibilityCount {
    pub total: i64,
    pub by_status: Option<Vec<(i32, i64)>>,
}

/// The visibility row id of a schedule: not a run id any run can have.
pub fn schedule_run_id(schedule_id: &str) -> String {
    format!("temporal-sys-scheduler:{schedule_id}")
}

/// A schedule: its whole state as protobuf bytes owned by the scheduler.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleRecord {
    pub namespace_id: String,
    pub schedule_id: String,
    /// Bumped on every write; writes are conditional on it.
    pub version: i64,
    /// When the scheduler must look at the schedule next.
    pub next_wake_ms: Option<i64>,
    pub data: Vec<u8>,
}

/// Billable actions counted in the same transaction that causes them.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageDelta {
    pub namespace_id: String,
    pub action: &'static str,
    pub count: i64,
}

/// How a transaction moves a workflow id's current-run pointer.
#[derive(Clone, Debug, PartialEq)]
pub enum CurrentWrite {
    /// Point at a new run. `previous_run_id: None` requires no pointer yet;
    /// `Some(run)` requires the pointer to be at that run (id reuse).
    Set {
        run_id: String,
        create_request_id: String,
        status: i32,
        previous_run_id: Option<String>,
    },
    /// Change the status of the run the pointer is at, which must be `run_id`.
    Status { run_id: String, status: i32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionWrite {
    pub row: ExecutionRow,
    /// `None` inserts a new run; `Some(v)` updates only if the stored
    /// `db_version` is still `v`.
    pub expected_db_version: Option<i64>,
}

/// Everything one state transition writes, committed atomically after the
/// shard's `range_id` is checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transaction {
    pub shard_id: i32,
    pub range_id: i64,
    pub namespace_id: String,
    pub workflow_id: String,
    pub current: Option<CurrentWrite>,
    pub executions: Vec<ExecutionWrite>,
    pub events: Vec<EventRow>,
    pub timers: Vec<TimerRow>,
    pub retention_tasks: Vec<TimerRow>,
    pub transfers: Vec<TransferRow>,
    pub queue_tasks: Vec<QueueRow>,
    pub visibility: Vec<VisibilityRow>,
    pub usage: Vec<UsageDelta>,
}

/// What the runs of one keyspace occupy, split by whether they are open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyspaceStorage {
    /// The namespace id the runs are stored under (a standalone activity's
    /// keyspace is reported as stored; the caller folds it).
    pub namespace_id: String,
    /// Open runs: state blob plus history bytes.
    pub active_bytes: i64,
    /// Closed runs not yet deleted by retention.
    pub retained_bytes: i64,
}

/// One namespace's storage in one sample slot: the seconds of the slot not
/// yet billed to the namespace are billed as byte-seconds, each second once
/// however often and with whatever slots it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageSample {
    pub namespace_id: String,
    /// The slot's start, ms since the epoch.
    pub slot_ms: i64,
    /// How long the slot lasts: at most what each byte is billed for.
    pub seconds: i64,
    pub active_bytes: i64,
    pub retained_bytes: i64,
}

/// Where a page of usage totals continues: just after this row, in
/// (hour, namespace, kind) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageKey {
    pub hour_ms: i64,
    pub namespace_id: String,
    pub kind: String,
}

/// One usage total: an Action kind (weighted) or a storage kind
/// (byte-seconds) of a namespace in an hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageTotal {
    pub key: UsageKey,
    pub total: i64,
}
