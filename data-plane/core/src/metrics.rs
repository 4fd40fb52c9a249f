//! Operator metrics (Prometheus, Temporal's server metric names) and the
//! per-namespace statistics the control plane pulls for tenant metrics.
//!
//! One process-wide store (`STATE`) holds plain counters and fixed-bucket
//! histograms; both views are read from it: [`prometheus_text`] (what
//! `/metrics` serves) and [`namespace_stats`] (what the cell admin service's
//! `PullNamespaceStats` returns). Everything is cumulative since the process
//! started.
//!
//! The hooks below are what the rest of the cell calls; they are cheap (a
//! map look-up and a few additions under a short lock; nothing allocates once
//! a label set exists). Label values are bounded: see [`labels`] and
//! docs/operations.md, "Metrics".
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Duration;

mod export;
mod histogram;
mod labels;

pub use export::{CONTENT_TYPE, namespace_stats, prometheus_text};
pub use labels::{MAX_TASK_QUEUE_LABELS, OVERFLOW_TASK_QUEUE, STICKY_TASK_QUEUE, UNKNOWN};

use histogram::{COUNT_BOUNDS, Hist, LATENCY_BOUNDS};
use labels::{Names, TaskQueueLabels};

/// How a run closed: Temporal's `workflow_*` counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkflowOutcome {
    Success,
    Failed,
    Timeout,
    Cancel,
    Terminate,
    ContinuedAsNew,
}

impl WorkflowOutcome {
    pub const ALL: [WorkflowOutcome; 6] = [
        WorkflowOutcome::Success,
        WorkflowOutcome::Failed,
        WorkflowOutcome::Timeout,
        WorkflowOutcome::Cancel,
        WorkflowOutcome::Terminate,
        WorkflowOutcome::ContinuedAsNew,
    ];

    pub const fn metric(self) -> &'static str {
        match self {
            WorkflowOutcome::Success => "workflow_success",
            WorkflowOutcome::Failed => "workflow_failed",
            WorkflowOutcome::Timeout => "workflow_timeout",
            WorkflowOutcome::Cancel => "workflow_cancel",
            WorkflowOutcome::Terminate => "workflow_terminate",
            WorkflowOutcome::ContinuedAsNew => "workflow_continued_as_new",
        }
    }
}

/// Tasks waiting in one task queue now, as matching sees them in memory.
#[derive(Clone, Debug)]
pub struct BacklogSample {
    pub namespace_id: String,
    pub task_queue: String,
    /// `Workflow` or `Activity`, as Temporal's `task_type` label.
    pub task_type: &'static str,
    pub sticky: bool,
    pub count: u64,
}

/// Reads the backlog of every task queue in memory (set by the cell, which
/// wires matching in: core names neither).
pub type BacklogSource = Arc<dyn Fn() -> Vec<BacklogSample> + Send + Sync>;

#[derive(Default)]
struct NamespaceMetrics {
    rpcs: BTreeMap<&'static str, RpcStats>,
    outcomes: [u64; 6],
    actions: BTreeMap<&'static str, u64>,
    /// By (task-queue label, task type).
    schedule_to_start: BTreeMap<(Arc<str>, &'static str), Hist>,
}

struct RpcStats {
    requests: u64,
    /// By gRPC code name.
    errors: BTreeMap<&'static str, u64>,
    latency: Hist,
}

struct OpStats {
    requests: u64,
    errors: u64,
    latency: Hist,
}

struct QueueLag {
    /// Per shard and sample: how late the oldest due timer is (seconds).
    scheduled: Hist,
    /// Per shard and sample: task ids issued since the oldest pending
    /// transfer task.
    immediate: Hist,
}

pub(crate) struct State {
    start_ms: i64,
    names: RwLock<Names>,
    /// Namespaces missing from the last name refresh: their metrics go if
    /// they are missing from the next one too.
    absent: Mutex<HashSet<Arc<str>>>,
    /// By namespace id, or [`UNKNOWN`].
    namespaces: RwLock<HashMap<Arc<str>, Arc<Mutex<NamespaceMetrics>>>>,
    persistence: Mutex<BTreeMap<&'static str, OpStats>>,
    task_queues: Mutex<TaskQueueLabels>,
    queue_lag: Mutex<QueueLag>,
    /// Runs and failures by background task.
    background: Mutex<BTreeMap<&'static str, [u64; 2]>>,
    backlog: RwLock<Option<BacklogSource>>,
    names_wanted: tokio::sync::Notify,
}

static STATE: LazyLock<State> = LazyLock::new(State::new);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn new() -> Self {
        Self {
            start_ms: crate::time::now_millis(),
            names: Default::default(),
            absent: Default::default(),
            namespaces: Default::default(),
            persistence: Default::default(),
            task_queues: Default::default(),
            queue_lag: Mutex::new(QueueLag {
                scheduled: Hist::new(LATENCY_BOUNDS),
                immediate: Hist::new(COUNT_BOUNDS),
            }),
            background: Default::default(),
            backlog: Default::default(),
            names_wanted: tokio::sync::Notify::new(),
        }
    }

    fn namespace(&self, key: &str) -> Arc<Mutex<NamespaceMetrics>> {
        if let Some(m) = self
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return m.clone();
        }
        self.namespaces
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(Arc::from(key))
            .or_default()
            .clone()
    }

    fn rpc_finished(
        &self,
        rpc: &'static str,
        namespace: &str,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        let id = if namespace.is_empty() {
            None
        } else {
            let id = self
                .names
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .id_of(namespace);
            if id.is_none() && error.is_none() {
                // It answered, so the namespace exists: it is new since the
                // last refresh. Until the refresh its calls count as unknown.
                self.names_wanted.notify_one();
            }
            id
        };
        let ns = self.namespace(id.as_deref().unwrap_or(UNKNOWN));
        let mut ns = lock(&ns);
        let stats = ns.rpcs.entry(rpc).or_insert_with(|| RpcStats {
            requests: 0,
            errors: BTreeMap::new(),
            latency: Hist::new(LATENCY_BOUNDS),
        });
        stats.requests += 1;
        if let Some(code) = error {
            *stats.errors.entry(code).or_default() += 1;
        }
        stats.latency.observe(elapsed.as_secs_f64());
    }

    fn persistence_finished(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        let mut ops = lock(&self.persistence);
        let stats = ops.entry(operation).or_insert_with(|| OpStats {
            requests: 0,
            errors: 0,
            latency: Hist::new(LATENCY_BOUNDS),
        });
        stats.requests += 1;
        if !ok {
            stats.errors += 1;
        }
        stats.latency.observe(elapsed.as_secs_f64());
    }

    fn workflow_closed(&self, namespace_id: &str, outcome: WorkflowOutcome) {
        let i = WorkflowOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .expect("ALL lists every outcome");
        lock(&self.namespace(namespace_id)).outcomes[i] += 1;
    }

    fn actions(&self, namespace_id: &str, action_type: &'static str, n: u64) {
        *lock(&self.namespace(namespace_id))
            .actions
            .entry(action_type)
            .or_default() += n;
    }

    fn schedule_to_start(
        &self,
        namespace_id: &str,
        task_queue: &str,
        sticky: bool,
        task_type: &'static str,
        latency: Duration,
    ) {
        let label = lock(&self.task_queues).label(namespace_id, task_queue, sticky);
        let ns = self.namespace(namespace_id);
        lock(&ns)
            .schedule_to_start
            .entry((label, task_type))
            .or_insert_with(|| Hist::new(LATENCY_BOUNDS))
            .observe(latency.as_secs_f64());
    }

    fn namespace_known(&self, id: &str, name: &str) {
        if id.is_empty() || name.is_empty() {
            return;
        }
        if !self
            .names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .knows(id, name)
        {
            self.names
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, name);
        }
    }

    fn set_namespace_names(&self, pairs: Vec<(String, String)>) {
        let names = Names::replace(pairs);
        let mut absent = lock(&self.absent);
        {
            let mut namespaces = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
            // Deleted namespaces: dropped once two refreshes in a row miss
            // them, so one created between a listing and its installation
            // keeps what it counted meanwhile.
            namespaces
                .retain(|id, _| &**id == UNKNOWN || names.contains_id(id) || !absent.contains(id));
            *absent = namespaces
                .keys()
                .filter(|id| &***id != UNKNOWN && !names.contains_id(id))
                .cloned()
                .collect();
        }
        *self.names.write().unwrap_or_else(|e| e.into_inner()) = names;
    }

    fn background_run(&self, task: &'static str, ok: bool) {
        let mut tasks = lock(&self.background);
        let counts = tasks.entry(task).or_default();
        counts[0] += 1;
        if !ok {
            counts[1] += 1;
        }
    }
}

/// Whether the hooks below record anything: on unless metering was turned
/// off (`usage.meteringEnabled=false`), which exists to measure what
/// metering and metrics cost (docs/benchmarks.md), never for production.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns every hook below on or off, process-wide.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// One RPC answered by the frontend. `namespace` is the namespace *name* the
/// request carries (`""` when it names none); `error` is the gRPC code's name
/// when it failed (`"NotFound"`, `"ResourceExhausted"`, …). A name this
/// process does not know as a namespace counts under [`UNKNOWN`], so made-up
/// names never become label values.
pub fn rpc_finished(
    rpc: &'static str,
    namespace: &str,
    elapsed: Duration,
    error: Option<&'static str>,
) {
    if !enabled() {
        return;
    }
    STATE.rpc_finished(rpc, namespace, elapsed, error);
}

/// One persistence operation (a transaction or a read) finished.
pub fn persistence_finished(operation: &'static str, elapsed: Duration, ok: bool) {
    if !enabled() {
        return;
    }
    STATE.persistence_finished(operation, elapsed, ok);
}

/// A run of namespace `namespace_id` closed (the transition committed).
pub fn workflow_closed(namespace_id: &str, outcome: WorkflowOutcome) {
    if !enabled() {
        return;
    }
    STATE.workflow_closed(namespace_id, outcome);
}

/// `n` Actions of kind `action_type` (`orrery_core::actions::Action` names)
/// committed in namespace `namespace_id`.
pub fn actions(namespace_id: &str, action_type: &'static str, n: u64) {
    if !enabled() {
        return;
    }
    STATE.actions(namespace_id, action_type, n);
}

/// A task was handed to a poller `latency` after it was created.
pub fn schedule_to_start(
    namespace_id: &str,
    task_queue: &str,
    sticky: bool,
    task_type: &'static str,
    latency: Duration,
) {
    if !enabled() {
        return;
    }
    STATE.schedule_to_start(namespace_id, task_queue, sticky, task_type, latency);
}

/// How late the oldest due timer of one shard is, sampled.
pub fn scheduled_queue_lag(lag: Duration) {
    if !enabled() {
        return;
    }
    lock(&STATE.queue_lag).scheduled.observe(lag.as_secs_f64());
}

/// Task ids issued on one shard since its oldest pending transfer task,
/// sampled.
pub fn immediate_queue_lag(tasks: u64) {
    if !enabled() {
        return;
    }
    lock(&STATE.queue_lag).immediate.observe(tasks as f64);
}

/// One pass of a background task ended (`ok` false: it failed).
pub fn background_run(task: &'static str, ok: bool) {
    if !enabled() {
        return;
    }
    STATE.background_run(task, ok);
}

/// A namespace's id and name, as soon as something learns them (history
/// learns both from a run it commits).
pub fn namespace_known(id: &str, name: &str) {
    STATE.namespace_known(id, name);
}

/// Every namespace that exists, `(id, name)`: the cell refreshes this
/// periodically and when [`names_wanted`] fires.
pub fn set_namespace_names(pairs: Vec<(String, String)>) {
    STATE.set_namespace_names(pairs);
}

/// Fires when a call named a namespace this process cannot name yet.
pub fn names_wanted() -> &'static tokio::sync::Notify {
    &STATE.names_wanted
}

/// Where the backlog gauges are read from at each scrape and pull.
pub fn set_backlog_source(source: BacklogSource) {
    *STATE.backlog.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
}

#[cfg(test)]
mod tests;
