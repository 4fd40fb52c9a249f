//! The history engine: owns the cell's shards, serialises transitions per
//! workflow, and runs every transition through one load → mutate → commit →
//! act path (`update`).
use std::collections::HashMap;
use std::sync::Arc;

use orrery_core::dynamic_config::PerNamespace;
use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_core::{CellError, CellResult};
use orrery_persistence::*;
use orrery_proto::api::common::v1::{WorkflowExecution, WorkflowType};
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;
use orrery_proto::api::workflow::v1::WorkflowExecutionInfo;
use prost::Message;
use tokio::sync::{Mutex, Notify, watch};

use crate::mutation::Mutation;
use crate::state::MutableState;

pub use crate::shards::Shard;

pub struct HistoryConfig {
    pub shard_count: i32,
    /// Who acquires shards: this process's member id.
    pub owner: String,
    pub limits: HistoryLimits,
    /// Retention and archival of each namespace's closed runs.
    pub policies: Arc<dyn crate::retention::ClosePolicies>,
    pub archives: Arc<orrery_archival::Archives>,
}

/// Limits Temporal makes configurable, by its dynamic-config key names.
#[derive(Clone, Debug)]
pub struct HistoryLimits {
    /// `limit.historyCount.suggestContinueAsNew`
    pub suggest_continue_as_new_count: i64,
    /// `limit.historySize.suggestContinueAsNew`
    pub suggest_continue_as_new_size: i64,
    /// `limit.historyCount.error`: a run this long is terminated.
    pub history_count_error: i64,
    /// `limit.historySize.error`
    pub history_size_error: i64,
    /// `limit.blobSize.error`: the largest payload a command may carry.
    pub blob_size_error: i64,
    /// `history.maxInFlightUpdates`: updates admitted or accepted but not
    /// completed, per run, per namespace name (0 or less: no limit).
    pub max_in_flight_updates: PerNamespace<i64>,
    /// `history.maxTotalUpdates`: updates a run may ever have.
    pub max_total_updates: PerNamespace<i64>,
    /// `history.maxInFlightUpdatePayloads`: bytes the requests of a run's
    /// in-flight updates may hold in memory, with the next one's.
    pub max_in_flight_update_payloads: PerNamespace<i64>,
    /// `usage.storageSampleInterval` (seconds): how often storage is
    /// sampled into byte-seconds (see `storage_meter`).
    pub storage_sample_interval: std::time::Duration,
    /// `usage.meteringEnabled` (default true): false counts no Actions, no
    /// queries and no storage, to measure what metering costs
    /// (docs/benchmarks.md); never off in production.
    pub metering: bool,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self::from_dynamic_config(&Default::default())
    }
}

impl HistoryLimits {
    pub fn from_dynamic_config(dc: &orrery_core::dynamic_config::DynamicConfig) -> Self {
        Self {
            suggest_continue_as_new_count: dc
                .i64("limit.historyCount.suggestContinueAsNew", 4 * 1024),
            suggest_continue_as_new_size: dc
                .i64("limit.historySize.suggestContinueAsNew", 4 * 1024 * 1024),
            history_count_error: dc.i64("limit.historyCount.error", 51_200),
            history_size_error: dc.i64("limit.historySize.error", 50 * 1024 * 1024),
            blob_size_error: dc.i64(
                "limit.blobSize.error",
                orrery_core::limits::BLOB_SIZE_LIMIT_ERROR as i64,
            ),
            max_in_flight_updates: dc.i64_per_namespace(
                "history.maxInFlightUpdates",
                orrery_core::limits::MAX_IN_FLIGHT_UPDATES,
            ),
            max_total_updates: dc.i64_per_namespace(
                "history.maxTotalUpdates",
                orrery_core::limits::MAX_TOTAL_UPDATES,
            ),
            max_in_flight_update_payloads: dc.i64_per_namespace(
                "history.maxInFlightUpdatePayloads",
                orrery_core::limits::MAX_IN_FLIGHT_UPDATE_PAYLOADS,
            ),
            storage_sample_interval: crate::storage_meter::sample_interval(dc),
            metering: dc.bool("usage.meteringEnabled", true),
        }
    }

    /// The update limits of a run of namespace `namespace` (its name, as
    /// Temporal's namespace constraints name it).
    pub(crate) fn update_limits(&self, namespace: &str) -> crate::api::UpdateLimits {
        let of = |p: &PerNamespace<i64>| p.namespaces.get(namespace).copied().unwrap_or(p.default);
        crate::api::UpdateLimits {
            max_in_flight: of(&self.max_in_flight_updates),
            max_total: of(&self.max_total_updates),
            max_in_flight_payloads: of(&self.max_in_flight_update_payloads),
        }
    }
}

pub struct HistoryEngine {
    pub(crate) store: Arc<dyn CellStore>,
    pub(crate) shards: crate::shards::ShardTable,
    owner: String,
    /// Told whenever a commit finds a shard taken by another process.
    ownership_lost: Notify,
    /// Where transfer tasks' halves acting on other members' runs go.
    pub(crate) remote_targets: std::sync::OnceLock<Arc<dyn crate::targets::RemoteTargets>>,
    locks: Vec<Mutex<()>>,
    pub(crate) sink: Arc<dyn TaskSink>,
    pub(crate) signer: TokenSigner,
    watchers: std::sync::Mutex<HashMap<String, watch::Sender<i64>>>,
    pub(crate) timer_wake: Notify,
    pub(crate) transfer_wake: Notify,
    pub(crate) retention_wake: Notify,
    pub(crate) policies: Arc<dyn crate::retention::ClosePolicies>,
    pub(crate) archives: Arc<orrery_archival::Archives>,
    /// Flips to true at shutdown so long polls on history return at once.
    pub(crate) closing: watch::Sender<bool>,
    /// Counts the shards this member gave up or lost: a history long poll
    /// waiting here for a run that moved would wait for commits that now
    /// happen elsewhere, so it ends and the caller polls again (reaching
    /// the new owner).
    shard_moves: watch::Sender<u64>,
    pub(crate) limits: HistoryLimits,
    pub(crate) queries: crate::queries::QueryBuffer,
    pub(crate) query_meter: crate::metering::QueryMeter,
    pub(crate) updates: crate::api::update::UpdateRegistry,
}

const LOCK_STRIPES: usize = 1024;

pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

impl HistoryEngine {
    /// Takes ownership of every shard (fencing off any previous owner) and
    /// returns the engine; call [`crate::processors::spawn`] to run its
    /// queues. For a cell served by one process.
    pub async fn start(
        store: Arc<dyn CellStore>,
        sink: Arc<dyn TaskSink>,
        signer: TokenSigner,
        config: HistoryConfig,
    ) -> CellResult<Arc<Self>> {
        Self::start_with(store, sink, signer, config, true).await
    }

    /// An engine that owns no shard yet: a member of a cell of several,
    /// whose membership acquires and releases shards as members come and go.
    pub async fn start_member(
        store: Arc<dyn CellStore>,
        sink: Arc<dyn TaskSink>,
        signer: TokenSigner,
        config: HistoryConfig,
    ) -> CellResult<Arc<Self>> {
        Self::start_with(store, sink, signer, config, false).await
    }

    async fn start_with(
        store: Arc<dyn CellStore>,
        sink: Arc<dyn TaskSink>,
        signer: TokenSigner,
        config: HistoryConfig,
        claim_all_shards: bool,
    ) -> CellResult<Arc<Self>> {
        let shards = crate::shards::ShardTable::new(config.shard_count)?;
        if claim_all_shards {
            for id in 1..=config.shard_count {
                let range_id = store.acquire_shard(id, &config.owner).await?;
                shards.install(Shard::new(id, range_id));
            }
        }
        Ok(Arc::new(Self {
            store,
            shards,
            owner: config.owner.clone(),
            ownership_lost: Notify::new(),
            remote_targets: std::sync::OnceLock::new(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            sink,
            signer,
            watchers: Default::default(),
            timer_wake: Notify::new(),
            transfer_wake: Notify::new(),
            retention_wake: Notify::new(),
            policies: config.policies.clone(),
            archives: config.archives.clone(),
            closing: watch::channel(false).0,
            shard_moves: watch::channel(0).0,
            limits: config.limits.clone(),
            queries: Default::default(),
            query_meter: Default::default(),
            updates: Default::default(),
        }))
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The shard a run lives in, if this process owns it; otherwise
    /// `ShardOwnershipLost` (UNAVAILABLE: the caller retries, and its call
    /// reaches the owner).
    pub(crate) fn shard(&self, namespace_id: &str, workflow_id: &str) -> CellResult<Arc<Shard>> {
        self.shards
            .get(self.shards.shard_id_of(namespace_id, workflow_id))
    }

    pub(crate) fn shard_ids(&self) -> Vec<i32> {
        self.shards.owned().iter().map(|s| s.id).collect()
    }

    /// How many shards the cell's database has.
    pub fn shard_count(&self) -> i32 {
        self.shards.count()
    }

    /// The shard of a run (whoever owns it): what routes a call to its owner.
    pub fn shard_of(&self, namespace_id: &str, workflow_id: &str) -> i32 {
        self.shards.shard_id_of(namespace_id, workflow_id)
    }

    /// The shards this process owns now, with the range each is held at.
    pub fn owned_shards(&self) -> Vec<(i32, i64)> {
        self.shards
            .owned()
            .iter()
            .map(|s| (s.id, s.range_id))
            .collect()
    }

    /// Takes a shard: bumps its range in the database (from now on every
    /// write of its previous owner fails) and starts serving it; the queues
    /// look for its due tasks at once. Returns the new range.
    pub async fn acquire_shard(&self, shard_id: i32) -> CellResult<i64> {
        if shard_id < 1 || shard_id > self.shards.count() {
            return Err(CellError::invalid(format!("no shard {shard_id}")));
        }
        let range_id = self.store.acquire_shard(shard_id, &self.owner).await?;
        self.shards.install(Shard::new(shard_id, range_id));
        tracing::info!(shard_id, range_id, "shard acquired");
        self.timer_wake.notify_one();
        self.transfer_wake.notify_one();
        self.retention_wake.notify_one();
        Ok(range_id)
    }

    /// Gives a shard up: calls that reach it from now on are refused here,
    /// and its row is marked free so the next owner need not wait out this
    /// member's lease. A transition already past its load may still commit
    /// until the next owner's acquisition fences it.
    pub async fn release_shard(&self, shard_id: i32) -> CellResult<()> {
        let Some(shard) = self.shards.remove(shard_id, None) else {
            return Ok(());
        };
        self.shard_moves.send_modify(|n| *n += 1);
        self.store
            .release_shard(shard_id, &self.owner, shard.range_id)
            .await?;
        tracing::info!(shard_id, range_id = shard.range_id, "shard released");
        Ok(())
    }

    /// Resolves when a commit has found one of this process's shards taken
    /// by another (a pause outlasted the lease): membership then reconsiders.
    pub async fn ownership_lost(&self) {
        self.ownership_lost.notified().await
    }

    /// A commit was fenced: stop using the shard at that range.
    fn lost(&self, shard: &Shard) {
        if self.shards.remove(shard.id, Some(shard.range_id)).is_some() {
            tracing::warn!(
                shard_id = shard.id,
                range_id = shard.range_id,
                "shard taken by another member"
            );
            self.ownership_lost.notify_one();
            self.shard_moves.send_modify(|n| *n += 1);
        }
    }

    pub(crate) async fn lock(
        &self,
        namespace_id: &str,
        workflow_id: &str,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        let i = fnv1a(&[namespace_id, workflow_id]) as usize % LOCK_STRIPES;
        self.locks[i].lock().await
    }

    /// The run `run_id` names, or the current run when it is empty.
    pub(crate) async fn resolve_run(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> CellResult<String> {
        if !run_id.is_empty() {
            return Ok(run_id.to_string());
        }
        // Reads need no ownership: the database is shared.
        let shard_id = self.shard_of(namespace_id, workflow_id);
        self.store
            .current_execution(shard_id, namespace_id, workflow_id)
            .await?
            .map(|c| c.run_id)
            .ok_or_else(|| {
                CellError::NotFound(format!(
                    "workflow execution not found for workflow ID \"{workflow_id}\""
                ))
            })
    }

    pub(crate) async fn load(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> CellResult<(MutableState, i64)> {
        let shard_id = self.shard_of(namespace_id, workflow_id);
        let row = self
            .store
            .execution(shard_id, namespace_id, workflow_id, run_id)
            .await?
            .ok_or_else(|| {
                CellError::NotFound(format!(
                    "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
                ))
            })?;
        let state = MutableState::decode(row.state.as_slice()).map_err(CellError::internal)?;
        Ok((state, row.db_version))
    }

    /// Reads a run's state without locking (descriptions, history reads).
    pub async fn snapshot(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> CellResult<MutableState> {
        let run_id = self.resolve_run(namespace_id, workflow_id, run_id).await?;
        Ok(self.load(namespace_id, workflow_id, &run_id).await?.0)
    }

    /// The one path of every transition on an existing run: lock, load,
    /// decide (`f`), commit, act. `f` may return an error to abort with
    /// nothing written.
    pub async fn update<R>(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        f: impl FnMut(&mut Mutation) -> CellResult<R>,
    ) -> CellResult<R> {
        let _guard = self.lock(namespace_id, workflow_id).await;
        self.update_locked(namespace_id, workflow_id, run_id, f)
            .await
    }

    /// [`Self::update`] for a caller that already holds the workflow's lock.
    pub(crate) async fn update_locked<R>(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        mut f: impl FnMut(&mut Mutation) -> CellResult<R>,
    ) -> CellResult<R> {
        let run_id = self.resolve_run(namespace_id, workflow_id, run_id).await?;
        let (state, db_version) = self.load(namespace_id, workflow_id, &run_id).await?;
        let shard = self.shard(namespace_id, workflow_id)?;
        let mut m = Mutation::new(state, Some(db_version), shard.task_ids.clone());
        let out = f(&mut m)?;
        if m.has_changes() {
            self.commit(m).await?;
        }
        Ok(out)
    }

    pub(crate) fn new_mutation(
        &self,
        namespace_id: &str,
        workflow_id: &str,
    ) -> CellResult<Mutation> {
        let shard = self.shard(namespace_id, workflow_id)?;
        Ok(Mutation::new(
            MutableState::default(),
            None,
            shard.task_ids.clone(),
        ))
    }

    fn append_writes(&self, m: &Mutation, shard_id: i32, tx: &mut Transaction) {
        let info = m.info();
        let run_id = info.run_id.clone();
        let version = m.db_version.map(|v| v + 1).unwrap_or(1);
        tx.executions.push(ExecutionWrite {
            row: ExecutionRow {
                run_id: run_id.clone(),
                db_version: version,
                next_event_id: m.state.next_event_id,
                state: m.state.encode_to_vec(),
            },
            expected_db_version: m.db_version,
        });
        tx.events.extend(m.events.iter().map(|e| EventRow {
            run_id: run_id.clone(),
            event_id: e.event_id,
            data: e.encode_to_vec(),
        }));
        for (fire_ms, task) in &m.timers {
            tx.timers.push(TimerRow {
                shard_id,
                fire_ms: *fire_ms,
                task_id: m.next_task_id(),
                data: task.encode_to_vec(),
            });
        }
        for task in &m.transfers {
            tx.transfers.push(TransferRow {
                shard_id,
                task_id: m.next_task_id(),
                data: task.encode_to_vec(),
            });
        }
        for task in &m.queue_tasks {
            tx.queue_tasks.push(QueueRow {
                namespace_id: task.namespace_id.clone(),
                task_queue: task.task_queue.clone(),
                kind: task.kind,
                task_id: task.task_id,
                data: task.encode_to_vec(),
            });
        }
        if m.visibility || m.db_version.is_none() {
            tx.visibility.push(visibility_row(m));
        }
        if m.closed_now {
            self.append_close(m, shard_id, tx);
        }
        // Standalone activities are billed to their namespace, not to the
        // keyspace they are stored in.
        let billed_namespace = crate::api::standalone::queue_namespace_id(info);
        // One row per kind: a transition counting the same kind twice (two
        // timers) adds 2 in one statement.
        for action in orrery_core::actions::Action::ALL {
            let n = m.usage.iter().filter(|a| **a == action).count() as i64;
            if n > 0 && self.limits.metering {
                tx.usage.push(UsageDelta {
                    namespace_id: billed_namespace.clone(),
                    action: action.name(),
                    count: n * action.weight(),
                });
            }
        }
    }

    /// Commits a transition (and the run it starts, if any) in one
    /// transaction, then tells matching, the timer queue, the transfer queue
    /// and history waiters.
    pub(crate) async fn commit(&self, m: Mutation) -> CellResult<()> {
        let info = m.info().clone();
        let shard = self.shard(&info.namespace_id, &info.workflow_id)?;
        let mut tx = Transaction {
            shard_id: shard.id,
            range_id: shard.range_id,
            namespace_id: info.namespace_id.clone(),
            workflow_id: info.workflow_id.clone(),
            current: m.current.clone(),
            ..Default::default()
        };
        self.append_writes(&m, shard.id, &mut tx);
        if let Some(new_run) = &m.new_run {
            self.append_writes(new_run, shard.id, &mut tx);
            if tx.current.is_none() {
                tx.current = new_run.current.clone();
            }
        }
        if let Err(err) = self.store.commit(&tx).await {
            if matches!(err, CellError::ShardOwnershipLost(_)) {
                self.lost(&shard);
            }
            return Err(err);
        }
        committed_metrics(&m);
        if let Some(new_run) = &m.new_run {
            committed_metrics(new_run);
        }

        let mut runs = vec![(info.run_id.clone(), m.state.next_event_id)];
        let mut queue_tasks: Vec<QueueTask> = m.queue_tasks;
        if let Some(new_run) = m.new_run {
            runs.push((new_run.info().run_id.clone(), new_run.state.next_event_id));
            queue_tasks.extend(new_run.queue_tasks);
        }
        if !queue_tasks.is_empty() {
            self.sink.tasks_added(queue_tasks);
        }
        if !tx.timers.is_empty() {
            self.timer_wake.notify_one();
        }
        if !tx.transfers.is_empty() {
            self.transfer_wake.notify_one();
        }
        // Delete tasks wait for retention; only uploads are due now.
        if tx.retention_tasks.iter().any(|t| t.fire_ms <= m.now) {
            self.wake_retention();
        }
        let closed = m
            .state
            .info
            .as_ref()
            .is_none_or(|i| i.status != WorkflowExecutionStatus::Running as i32);
        for (update_id, state) in m.update_effects {
            self.updates.set(&info.run_id, &update_id, state);
        }
        // A closed run answers no buffered query and completes no update.
        if closed {
            self.queries.settle(&info.run_id, &[], false);
            self.updates.abort_run(&info.run_id);
        }
        self.notify_watchers(&runs);
        Ok(())
    }

    fn notify_watchers(&self, runs: &[(String, i64)]) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        for (run_id, next_event_id) in runs {
            if let Some(tx) = watchers.get(run_id) {
                if tx.receiver_count() == 0 {
                    watchers.remove(run_id);
                } else {
                    tx.send_replace(*next_event_id);
                }
            }
        }
    }

    /// Ends history long polls now and from now on.
    pub fn shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// Waits for the run's next commit; false if the wait should end instead
    /// (deadline passed, the process is stopping, or a shard left this
    /// member since the watch began).
    pub(crate) async fn wait_change(
        &self,
        changes: &mut RunWatch<'_>,
        deadline: tokio::time::Instant,
    ) -> bool {
        let moves_at_start = changes.moves_at_start;
        let Some(changes) = changes.rx.as_mut() else {
            return false;
        };
        let mut closing = self.closing.subscribe();
        if *closing.borrow_and_update() {
            return false;
        }
        let mut moves = self.shard_moves.subscribe();
        if *moves.borrow_and_update() != moves_at_start {
            return false;
        }
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, changes.changed()) => matches!(changed, Ok(Ok(()))),
            _ = closing.changed() => false,
            _ = moves.changed() => false,
        }
    }

    /// A receiver that changes whenever the run commits a transition.
    pub(crate) fn watch_run(&self, run_id: &str) -> RunWatch<'_> {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        let rx = watchers
            .entry(run_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        RunWatch {
            engine: self,
            run_id: run_id.to_string(),
            rx: Some(rx),
            moves_at_start: *self.shard_moves.borrow(),
        }
    }
}

/// Operator metrics of a committed transition: its Actions (weighted, as
/// billed) and, if the run closed, how. Counted after the commit, so a
/// failed transaction counts nothing.
fn committed_metrics(m: &Mutation) {
    use orrery_core::metrics::{self, WorkflowOutcome};
    let info = m.info();
    let namespace_id = crate::api::standalone::queue_namespace_id(info);
    if !info.standalone_activity {
        metrics::namespace_known(&namespace_id, &info.namespace);
    }
    for action in orrery_core::actions::Action::ALL {
        let n = m.usage.iter().filter(|a| **a == action).count() as u64;
        if n > 0 {
            metrics::actions(&namespace_id, action.name(), n * action.weight() as u64);
        }
    }
    if !m.closed_now || info.standalone_activity {
        return;
    }
    let outcome = match WorkflowExecutionStatus::try_from(info.status) {
        Ok(WorkflowExecutionStatus::Completed) => WorkflowOutcome::Success,
        Ok(WorkflowExecutionStatus::Failed) => WorkflowOutcome::Failed,
        Ok(WorkflowExecutionStatus::TimedOut) => WorkflowOutcome::Timeout,
        Ok(WorkflowExecutionStatus::Canceled) => WorkflowOutcome::Cancel,
        Ok(WorkflowExecutionStatus::Terminated) => WorkflowOutcome::Terminate,
        Ok(WorkflowExecutionStatus::ContinuedAsNew) => WorkflowOutcome::ContinuedAsNew,
        _ => return,
    };
    metrics::workflow_closed(&namespace_id, outcome);
}

/// A subscription to a run's commits; the last one to go removes the
/// run's entry, so runs nobody waits on cost nothing.
pub(crate) struct RunWatch<'a> {
    engine: &'a HistoryEngine,
    run_id: String,
    rx: Option<watch::Receiver<i64>>,
    moves_at_start: u64,
}

impl Drop for RunWatch<'_> {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut watchers = self
            .engine
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if watchers
            .get(&self.run_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            watchers.remove(&self.run_id);
        }
    }
}

/// The visibility record of a run, as ListWorkflowExecutions returns it.
pub(crate) fn visibility_row(m: &Mutation) -> VisibilityRow {
    let info = m.info();
    // Every commit of a run bumps its row version: that is its count of
    // state transitions.
    let transitions = m.db_version.map(|v| v + 1).unwrap_or(1);
    let mut data = execution_info(&m.state);
    data.state_transition_count = transitions;
    let root = data.root_execution.clone().unwrap_or_default();
    let parent = info.parent.as_ref().and_then(|p| p.execution.as_ref());
    VisibilityRow {
        namespace_id: info.namespace_id.clone(),
        run_id: info.run_id.clone(),
        workflow_id: info.workflow_id.clone(),
        workflow_type: info.workflow_type.clone(),
        status: info.status,
        start_ms: info.start_time_ms,
        execution_ms: info.execution_time_ms,
        close_ms: (info.close_time_ms > 0).then_some(info.close_time_ms),
        task_queue: info.task_queue.clone(),
        parent_workflow_id: parent.map(|p| p.workflow_id.clone()),
        parent_run_id: parent.map(|p| p.run_id.clone()),
        root_workflow_id: root.workflow_id,
        root_run_id: root.run_id,
        history_length: data.history_length,
        history_size_bytes: data.history_size_bytes,
        state_transition_count: transitions,
        // Values were validated and stamped with their type on the way in,
        // so the built-in catalog is enough to index them.
        search_attributes: info
            .search_attributes
            .as_ref()
            .map(|sa| orrery_visibility::index_rows(sa, &orrery_visibility::Catalog::default()))
            .unwrap_or_default(),
        data: data.encode_to_vec(),
    }
}

pub(crate) fn execution_info(state: &MutableState) -> WorkflowExecutionInfo {
    use orrery_core::time::timestamp;
    let info = state.info.clone().unwrap_or_default();
    WorkflowExecutionInfo {
        execution: Some(WorkflowExecution {
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
        }),
        r#type: Some(WorkflowType {
            name: info.workflow_type.clone(),
        }),
        start_time: Some(timestamp(info.start_time_ms)),
        close_time: (info.close_time_ms > 0).then(|| timestamp(info.close_time_ms)),
        status: info.status,
        history_length: state.next_event_id - 1,
        execution_time: Some(timestamp(info.execution_time_ms)),
        memo: info.memo.clone(),
        search_attributes: info.search_attributes.clone(),
        task_queue: info.task_queue.clone(),
        state_transition_count: 0,
        history_size_bytes: state.history_size_bytes,
        first_run_id: info.first_execution_run_id.clone(),
        parent_execution: info.parent.as_ref().and_then(|p| p.execution.clone()),
        auto_reset_points: info.reset_points.clone(),
        // The real server names every run's root, itself when it has no parent.
        root_execution: Some(info.root.clone().unwrap_or_else(|| WorkflowExecution {
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
        })),
        parent_namespace_id: info
            .parent
            .as_ref()
            .map(|p| p.namespace_id.clone())
            .unwrap_or_default(),
        ..Default::default()
    }
}
