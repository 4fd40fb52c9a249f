//! Task queues. History stores a task in its transaction and tells matching
//! after commit ([`TaskSink`]); a waiting poller gets it at once, otherwise it
//! waits in memory in id order. The stored copy is deleted only once a poller
//! has started the task, so a crash loses nothing: a restarted cell reloads
//! each queue's backlog the first time the queue is used.
//!
//! Queries are not durable (as in Temporal): they wait in memory for a
//! workflow poller and their answer comes back through [`Matching::answer_query`].
mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::{CellError, CellResult};
use orrery_persistence::QueueStore;
use orrery_proto::api::query::v1::WorkflowQuery;
use tokio::sync::oneshot;
use tracing::Instrument;

pub use queue::{Backlog, MAX_POLLERS_PER_QUEUE, POLLER_HISTORY_TTL};
use queue::{Queue, QueueKey};

/// A query waiting for a workflow worker.
#[derive(Clone, Debug)]
pub struct QueryTask {
    pub id: String,
    pub namespace_id: String,
    pub workflow_id: String,
    pub run_id: String,
    pub query: WorkflowQuery,
}

/// What a poller receives.
pub enum Polled {
    Task(TaskLease),
    Query(QueryTask),
}

/// The worker's answer to a query: `Ok(result)` or `Err(error message)`.
pub type QueryAnswer = Result<Option<orrery_proto::api::common::v1::Payloads>, String>;

pub struct Matching {
    store: Arc<dyn QueueStore>,
    /// Set at shutdown: polls answer empty at once so the server can drain.
    closing: std::sync::atomic::AtomicBool,
    queues: Mutex<HashMap<QueueKey, Arc<Queue>>>,
    queries: Mutex<HashMap<String, oneshot::Sender<QueryAnswer>>>,
}

/// A task handed to a poller. Unless [`TaskLease::done`] is called (the task
/// was started, or turned out stale), dropping it puts the task back, so a
/// poller that vanishes mid-hand-over loses nothing.
pub struct TaskLease {
    matching: Arc<Matching>,
    task: Option<QueueTask>,
}

impl TaskLease {
    pub fn task(&self) -> &QueueTask {
        self.task.as_ref().expect("lease holds its task until done")
    }

    /// The task is settled: delete its stored copy.
    pub fn done(mut self) {
        if let Some(task) = self.task.take() {
            let store = self.matching.store.clone();
            tokio::spawn(async move {
                if let Err(err) = store
                    .delete_queue_task(
                        &task.namespace_id,
                        &task.task_queue,
                        task.kind,
                        task.task_id,
                    )
                    .await
                {
                    tracing::warn!(error = %err, "deleting a started queue task failed");
                }
            });
        }
    }
}

impl Drop for TaskLease {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.matching.clone().tasks_added(vec![task]);
        }
    }
}

/// A poller seen on a queue, for DescribeTaskQueue.
#[derive(Clone, Debug)]
pub struct PollerSeen {
    pub identity: String,
    pub last_access: std::time::SystemTime,
}

impl Matching {
    pub fn new(store: Arc<dyn QueueStore>) -> Arc<Self> {
        Arc::new(Self {
            store,
            closing: Default::default(),
            queues: Mutex::new(HashMap::new()),
            queries: Mutex::new(HashMap::new()),
        })
    }

    /// Drops queues idle for `idle_for` from memory, so a cell serving many
    /// short-lived task queues (every tenant's, every test's) does not grow
    /// without bound. Returns how many were dropped.
    pub fn prune_idle(&self, idle_for: Duration) -> usize {
        let Some(cutoff) = Instant::now().checked_sub(idle_for) else {
            return 0;
        };
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let before = queues.len();
        queues.retain(|_, q| !q.is_idle(cutoff));
        before - queues.len()
    }

    /// Prunes idle queues every `every` until the cell shuts down.
    pub fn spawn_pruner(self: &Arc<Self>, every: Duration, idle_for: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(
            async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(matching) = weak.upgrade() else {
                        break;
                    };
                    if matching.closing.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let dropped = matching.prune_idle(idle_for);
                    orrery_core::metrics::background_run("matching_pruner", true);
                    if dropped > 0 {
                        tracing::debug!(dropped, "idle task queues dropped from memory");
                    }
                }
            }
            .instrument(tracing::info_span!("matching_pruner")),
        );
    }

    /// Keeps in memory only the queues `owned(namespace_id, name, kind)`
    /// says this member owns (a cell of several members, after its
    /// membership changed): the others' pollers are answered empty at once,
    /// so their SDKs poll again and reach the new owner, and their tasks
    /// are forgotten here: they are stored, and the owner reads them in.
    /// Returns how many queues were dropped.
    pub fn retain_owned(&self, owned: impl Fn(&str, &str, i32) -> bool) -> usize {
        let dropped: Vec<Arc<Queue>> = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<QueueKey> = queues
                .keys()
                .filter(|k| !owned(&k.namespace_id, &k.name, k.kind))
                .cloned()
                .collect();
            gone.iter().filter_map(|k| queues.remove(k)).collect()
        };
        for queue in &dropped {
            queue.release_pollers();
        }
        dropped.len()
    }

    /// How many task queues are held in memory.
    pub fn queues_in_memory(&self) -> usize {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn queue(&self, namespace_id: &str, name: &str, kind: i32) -> Arc<Queue> {
        let key = QueueKey {
            namespace_id: namespace_id.to_string(),
            name: name.to_string(),
            kind,
        };
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Queue::new(key)))
            .clone()
    }

    /// Waits up to `wait` for a task (or, on workflow queues, a query).
    /// `None` means the poll expired empty.
    pub async fn poll(
        self: &Arc<Self>,
        namespace_id: &str,
        task_queue: &str,
        kind: i32,
        identity: &str,
        wait: Duration,
    ) -> CellResult<Option<Polled>> {
        // As Temporal's frontend refuses it: the identity is kept per queue.
        if identity.len() > orrery_core::limits::MAX_ID_LENGTH {
            return Err(CellError::invalid("Identity length exceeds limit."));
        }
        if self.closing.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        let queue = self.queue(namespace_id, task_queue, kind);
        queue.ensure_loaded(self.store.as_ref()).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let receiver = match queue.take_or_wait(identity) {
                queue::Taken::Task(task) => return Ok(Some(self.lease(task))),
                queue::Taken::Query(q) => return Ok(Some(Polled::Query(q))),
                queue::Taken::Wait(rx) => rx,
            };
            match tokio::time::timeout_at(deadline, receiver).await {
                Ok(Ok(queue::Handed::Task(task))) => return Ok(Some(self.lease(task))),
                Ok(Ok(queue::Handed::Query(q))) => return Ok(Some(Polled::Query(q))),
                Ok(Ok(queue::Handed::Shutdown)) => return Ok(None),
                // The queue reloaded from the store; look again.
                Ok(Err(_)) => continue,
                Err(_) => return Ok(None),
            }
        }
    }

    /// Where the operator metrics read the backlog gauges from: every
    /// queue in memory, at each scrape. Holds no strong reference, so a
    /// stopped cell's matching can go.
    pub fn backlog_source(self: &Arc<Self>) -> orrery_core::metrics::BacklogSource {
        let weak = Arc::downgrade(self);
        Arc::new(move || {
            let Some(matching) = weak.upgrade() else {
                return Vec::new();
            };
            let queues: Vec<_> = (matching.queues.lock())
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            queues.iter().map(|q| q.metrics_sample()).collect()
        })
    }

    fn lease(self: &Arc<Self>, task: QueueTask) -> Polled {
        if task.created_ms > 0 {
            // Per hand-over: a task put back (its poller vanished) and
            // handed out again counts again, with its full wait.
            let waited = orrery_core::time::now_millis().saturating_sub(task.created_ms);
            orrery_core::metrics::schedule_to_start(
                &task.namespace_id,
                &task.task_queue,
                queue::is_sticky(&task),
                queue::task_type(task.kind),
                Duration::from_millis(waited.max(0) as u64),
            );
        }
        Polled::Task(TaskLease {
            matching: self.clone(),
            task: Some(task),
        })
    }

    /// Registers interest in the answer to query `id` (which may arrive
    /// through a query task or attached to a workflow task).
    pub fn expect_answer(&self, id: &str) -> oneshot::Receiver<QueryAnswer> {
        let (tx, rx) = oneshot::channel();
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), tx);
        rx
    }

    /// Forgets a query nobody waits for any more (answered or timed out).
    pub fn forget_query(&self, namespace_id: &str, task_queue: &str, id: &str) {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.queue(
            namespace_id,
            task_queue,
            orrery_core::matching::TASK_KIND_WORKFLOW,
        )
        .remove_query(id);
    }

    /// Puts a query task on a workflow queue; its answer arrives on the
    /// receiver [`Matching::expect_answer`] returned for its id.
    pub fn dispatch_query(&self, task_queue: &str, task: QueryTask) {
        self.queue(
            &task.namespace_id,
            task_queue,
            orrery_core::matching::TASK_KIND_WORKFLOW,
        )
        .add_query(task);
    }

    /// Sends a query to a workflow queue and waits for the worker's answer.
    pub async fn query(
        &self,
        task_queue: &str,
        task: QueryTask,
        wait: Duration,
    ) -> CellResult<QueryAnswer> {
        let (namespace_id, id) = (task.namespace_id.clone(), task.id.clone());
        let rx = self.expect_answer(&id);
        self.dispatch_query(task_queue, task);
        let answer = tokio::time::timeout(wait, rx).await;
        self.forget_query(&namespace_id, task_queue, &id);
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            _ => Err(query_timeout()),
        }
    }

    /// Delivers a worker's answer; false if nobody waits for it any more.
    pub fn answer_query(&self, id: &str, answer: QueryAnswer) -> bool {
        let sender = self
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        sender.is_some_and(|s| s.send(answer).is_ok())
    }

    /// Whether a worker polled this queue within `within`.
    pub fn has_recent_poller(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: i32,
        within: Duration,
    ) -> bool {
        self.queue(namespace_id, task_queue, kind)
            .last_poll()
            .is_some_and(|t| t.elapsed() < within)
    }

    pub fn pollers(&self, namespace_id: &str, task_queue: &str, kind: i32) -> Vec<PollerSeen> {
        self.queue(namespace_id, task_queue, kind).pollers()
    }

    /// Ends the polls waiting on a queue (a worker shutting down its sticky
    /// queue): they return empty at once.
    pub fn release_pollers(&self, namespace_id: &str, task_queue: &str, kind: i32) {
        self.queue(namespace_id, task_queue, kind).release_pollers();
    }

    /// Ends every waiting poll and answers later ones empty at once: the
    /// process is stopping and must not wait out minute-long polls.
    pub fn shutdown(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let queues: Vec<_> = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for queue in queues {
            queue.release_pollers();
        }
    }

    /// The queue's backlog, stored tasks included (read in if this cell
    /// has not polled the queue yet).
    pub async fn backlog(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: i32,
    ) -> CellResult<Backlog> {
        let queue = self.queue(namespace_id, task_queue, kind);
        queue.ensure_loaded(self.store.as_ref()).await?;
        Ok(queue.backlog())
    }
}

impl TaskSink for Matching {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        let now = orrery_core::time::now_millis();
        for task in tasks {
            if task.expires_at_ms > 0 && task.expires_at_ms < now {
                continue;
            }
            self.queue(&task.namespace_id, &task.task_queue, task.kind)
                .add(task);
        }
    }
}

pub fn query_timeout() -> CellError {
    CellError::DeadlineExceeded("query timed out: no worker answered".into())
}

/// Instant of the last poll, kept per queue.
pub(crate) type LastPoll = Option<Instant>;
