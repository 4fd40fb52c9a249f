//! One narrow trait per store. A component holds only the traits it uses.
use async_trait::async_trait;
use orrery_core::CellResult;

use crate::records::*;
use orrery_visibility::Query;

#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// Returns the stored value for `key`, storing `value` first if none is.
    async fn get_or_insert(&self, key: &str, value: Vec<u8>) -> CellResult<Vec<u8>>;
}

#[async_trait]
pub trait ShardStore: Send + Sync {
    /// Takes ownership of a shard by bumping its `range_id`; every write that
    /// still carries the old `range_id` is fenced off from now on.
    async fn acquire_shard(&self, shard_id: i32, owner: &str) -> CellResult<i64>;
    /// Gives the shard up if `owner` still holds it at `range_id` (owner set
    /// to `""`; range_id kept, the next acquire bumps it). Returns whether it
    /// did. A release never fences anyone.
    async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> CellResult<bool>;
    /// Every shard row: (shard_id, range_id, owner, updated_ms), in shard
    /// order — for routing calls to owners.
    async fn shard_owners(&self) -> CellResult<Vec<ShardOwner>>;
}

#[async_trait]
pub trait MembershipStore: Send + Sync {
    /// Records that `member_id` (reachable by its peers at `peer_addr`) is
    /// alive now, by the database's clock (PostgreSQL: clock_timestamp();
    /// SQLite, one host: the process clock), and returns the members whose
    /// last heartbeat is within `ttl_ms` of that clock, this one included,
    /// ordered by member_id (byte order); also deletes rows silent for over an hour
    /// (bounded table).
    async fn heartbeat(
        &self,
        member_id: &str,
        peer_addr: &str,
        ttl_ms: i64,
    ) -> CellResult<Vec<MemberRecord>>;
    /// Removes the member at once (a graceful shutdown), so peers need not
    /// wait out its ttl.
    async fn leave(&self, member_id: &str) -> CellResult<()>;
}

#[async_trait]
pub trait NamespaceStore: Send + Sync {
    /// Fails with `NamespaceAlreadyExists` when the name is taken.
    async fn create_namespace(&self, ns: &NamespaceRecord) -> CellResult<()>;
    async fn namespace_by_name(&self, name: &str) -> CellResult<Option<NamespaceRecord>>;
    async fn namespace_by_id(&self, id: &str) -> CellResult<Option<NamespaceRecord>>;
    /// Up to `limit` namespaces whose names sort after `after` (`""`: from
    /// the first), in name order: one page of a listing, so a call reads a
    /// bounded number of rows however many namespaces the cell holds.
    async fn list_namespaces(&self, after: &str, limit: u32) -> CellResult<Vec<NamespaceRecord>>;
    /// Writes `ns` (with its bumped version) if the stored version is
    /// `ns.version - 1`; `ConditionFailed` otherwise.
    async fn update_namespace(&self, ns: &NamespaceRecord) -> CellResult<()>;
    async fn delete_namespace(&self, id: &str) -> CellResult<()>;
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    async fn current_execution(
        &self,
        shard_id: i32,
        namespace_id: &str,
        workflow_id: &str,
    ) -> CellResult<Option<CurrentExecution>>;
    async fn execution(
        &self,
        shard_id: i32,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> CellResult<Option<ExecutionRow>>;
    /// Events with `from <= event_id < to`, in order, at most `limit`.
    async fn events(
        &self,
        namespace_id: &str,
        run_id: &str,
        from: i64,
        to: i64,
        limit: usize,
    ) -> CellResult<Vec<EventRow>>;
    /// Removes a run for good: its state, history and visibility record,
    /// and the current pointer if it points at this run. Fenced like a commit.
    async fn delete_execution(
        &self,
        shard_id: i32,
        range_id: i64,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> CellResult<()>;
    /// Commits a state transition atomically: fails with
    /// `ShardOwnershipLost` if the shard's range moved on, `ConditionFailed`
    /// if a current pointer or execution version does not match.
    async fn commit(&self, tx: &Transaction) -> CellResult<()>;
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Tasks of `queue` of the given shards due at or before `until_ms`,
    /// oldest first.
    async fn due_timers(
        &self,
        queue: TimerQueue,
        shards: &[i32],
        until_ms: i64,
        limit: usize,
    ) -> CellResult<Vec<TimerRow>>;
    /// When the next task of `queue` of the given shards fires, if any.
    async fn next_timer_ms(&self, queue: TimerQueue, shards: &[i32]) -> CellResult<Option<i64>>;
    /// Deletes fired tasks in one transaction: one commit for a whole
    /// batch, not one per timer.
    async fn delete_timers(&self, queue: TimerQueue, timers: &[TimerRow]) -> CellResult<()>;
    /// Moves a task to `fire_ms` with new `data` (a retry's attempt count),
    /// and counts `usage` (the Actions the task's step took) in the same
    /// transaction: a task that was moved already counts nothing again.
    async fn reschedule_timer(
        &self,
        queue: TimerQueue,
        timer: &TimerRow,
        fire_ms: i64,
        data: Vec<u8>,
        usage: &[UsageDelta],
    ) -> CellResult<()>;
    async fn transfer_tasks(&self, shards: &[i32], limit: usize) -> CellResult<Vec<TransferRow>>;
    async fn delete_transfer(&self, task: &TransferRow) -> CellResult<()>;
}

#[async_trait]
pub trait QueueStore: Send + Sync {
    async fn queue_tasks(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: i32,
        limit: usize,
    ) -> CellResult<Vec<QueueRow>>;
    async fn delete_queue_task(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: i32,
        task_id: i64,
    ) -> CellResult<()>;
}

#[async_trait]
pub trait VisibilityStore: Send + Sync {
    /// The runs of one namespace that match `query`, in its order (default:
    /// CloseTime DESC NULLS FIRST, StartTime DESC), from `page` on.
    async fn list_executions(
        &self,
        namespace_id: &str,
        query: &Query,
        page: &VisibilityPage,
        limit: usize,
    ) -> CellResult<Vec<VisibilityRow>>;
    async fn count_executions(
        &self,
        namespace_id: &str,
        query: &Query,
    ) -> CellResult<VisibilityCount>;
    /// Forgets every value of a search attribute the namespace no longer has.
    async fn remove_search_attribute(&self, namespace_id: &str, name: &str) -> CellResult<()>;
}

/// Schedules, each written together with its visibility row (which
/// ListSchedules queries) in one transaction.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// `ConditionFailed` if the schedule exists.
    async fn create_schedule(&self, s: &ScheduleRecord, row: &VisibilityRow) -> CellResult<()>;
    async fn schedule(
        &self,
        namespace_id: &str,
        schedule_id: &str,
    ) -> CellResult<Option<ScheduleRecord>>;
    /// Writes `s` if the stored version is `s.version - 1`; `ConditionFailed`
    /// otherwise (or if it was deleted).
    async fn update_schedule(&self, s: &ScheduleRecord, row: &VisibilityRow) -> CellResult<()>;
    /// Removes the schedule and its visibility row; false if there was none.
    async fn delete_schedule(&self, namespace_id: &str, schedule_id: &str) -> CellResult<bool>;
    /// (namespace id, schedule id) of schedules due by `until_ms`, soonest first.
    async fn due_schedules(&self, until_ms: i64, limit: usize)
    -> CellResult<Vec<(String, String)>>;
    async fn next_schedule_wake_ms(&self) -> CellResult<Option<i64>>;
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds usage counted outside any state change (queries, counted in
    /// memory and flushed): one transaction for the batch.
    async fn add_usage(&self, usage: &[UsageDelta]) -> CellResult<()>;
    /// Billable Actions of a namespace since `since_ms`, summed per action
    /// (storage kinds are not Actions and are left out).
    async fn usage(&self, namespace_id: &str, since_ms: i64) -> CellResult<Vec<(String, i64)>>;
    /// What the stored runs occupy now, per keyspace: one row per keyspace
    /// that has runs, read from each run's maintained `stored_bytes`.
    async fn storage_by_keyspace(&self) -> CellResult<Vec<KeyspaceStorage>>;
    /// Records samples in one transaction: a sample of the slot [start,
    /// end) bills its bytes for the part of the slot after how far its
    /// namespace is already billed (end - max(start, billed until)), to the
    /// hours that part falls in, and moves the namespace's billed-until to
    /// end; a part already billed (a restart, another cell process, an
    /// overlapping slot of another interval) adds nothing, also when two
    /// callers race. Forgets namespaces billed only before
    /// `forget_before_ms`. Returns how many samples billed anything.
    async fn record_storage_samples(
        &self,
        samples: &[StorageSample],
        forget_before_ms: i64,
    ) -> CellResult<usize>;
    /// Usage totals (Actions and storage) of hours from `from_hour_ms` on,
    /// after `after` in (hour, namespace, kind) order, at most `limit`.
    async fn usage_totals(
        &self,
        from_hour_ms: i64,
        after: Option<&UsageKey>,
        limit: u32,
    ) -> CellResult<Vec<UsageTotal>>;
}

/// Every store of a cell, as one database implements them.
pub trait CellStore:
    MetadataStore
    + ShardStore
    + MembershipStore
    + NamespaceStore
    + ExecutionStore
    + TaskStore
    + QueueStore
    + VisibilityStore
    + ScheduleStore
    + UsageStore
{
}

impl<T> CellStore for T where
    T: MetadataStore
        + ShardStore
        + MembershipStore
        + NamespaceStore
        + ExecutionStore
        + TaskStore
        + QueueStore
        + VisibilityStore
        + ScheduleStore
        + UsageStore
{
}
