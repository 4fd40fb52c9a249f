//! One task queue in memory: tasks by id, queries, and the pollers waiting.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use orrery_core::CellResult;
use orrery_core::matching::QueueTask;
use orrery_persistence::QueueStore;
use prost::Message;
use tokio::sync::oneshot;

use crate::{LastPoll, PollerSeen, QueryTask};

/// How many stored tasks one load brings into memory.
const LOAD_BATCH: usize = 1000;

/// How long a poller is remembered after its last poll (for
/// DescribeTaskQueue): Temporal's `matching.PollerHistoryTTL`.
pub const POLLER_HISTORY_TTL: Duration = Duration::from_secs(5 * 60);
/// The most pollers remembered per queue, as Temporal's poller history
/// holds: past it the one seen longest ago is forgotten, so identities a
/// worker makes up cannot grow a queue without bound.
pub const MAX_POLLERS_PER_QUEUE: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct QueueKey {
    pub namespace_id: String,
    pub name: String,
    pub kind: i32,
}

pub enum Handed {
    Task(QueueTask),
    Query(QueryTask),
    Shutdown,
}

pub enum Taken {
    Task(QueueTask),
    Query(QueryTask),
    Wait(oneshot::Receiver<Handed>),
}

#[derive(Default)]
struct State {
    /// Whether the stored backlog was read (and may hold more than memory).
    loaded: bool,
    more_stored: bool,
    tasks: BTreeMap<i64, QueueTask>,
    queries: VecDeque<QueryTask>,
    waiters: VecDeque<oneshot::Sender<Handed>>,
    last_poll: LastPoll,
    pollers: Pollers,
    /// When the queue was last added to or polled.
    touched: Option<Instant>,
    /// A worker's sticky queue (a task in it named another, normal queue):
    /// its metrics share one label value.
    sticky: bool,
}

/// The identities that polled a queue, with when each last did; at most
/// [`MAX_POLLERS_PER_QUEUE`], none older than [`POLLER_HISTORY_TTL`] once
/// read or full.
#[derive(Default)]
struct Pollers(HashMap<String, SystemTime>);

impl Pollers {
    fn seen(&mut self, identity: &str, now: SystemTime) {
        if let Some(last) = self.0.get_mut(identity) {
            *last = now;
            return;
        }
        if self.0.len() >= MAX_POLLERS_PER_QUEUE {
            self.forget_stale(now);
        }
        if self.0.len() >= MAX_POLLERS_PER_QUEUE
            && let Some(oldest) = (self.0.iter())
                .min_by_key(|(_, last)| **last)
                .map(|(identity, _)| identity.clone())
        {
            self.0.remove(&oldest);
        }
        self.0.insert(identity.to_owned(), now);
    }

    fn forget_stale(&mut self, now: SystemTime) {
        if let Some(cutoff) = now.checked_sub(POLLER_HISTORY_TTL) {
            self.0.retain(|_, last| *last >= cutoff);
        }
    }

    fn recent(&mut self, now: SystemTime) -> Vec<PollerSeen> {
        self.forget_stale(now);
        (self.0.iter())
            .map(|(identity, last_access)| PollerSeen {
                identity: identity.clone(),
                last_access: *last_access,
            })
            .collect()
    }
}

/// Tasks waiting in a queue for a poller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub count: usize,
    /// Creation time of the oldest waiting task, when known.
    pub oldest_created_ms: Option<i64>,
}

pub struct Queue {
    key: QueueKey,
    state: Mutex<State>,
    load: tokio::sync::Mutex<()>,
}

impl Queue {
    pub fn new(key: QueueKey) -> Self {
        Self {
            key,
            state: Mutex::new(State::default()),
            load: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the stored backlog into memory the first time the queue is
    /// polled, and again whenever memory ran dry while more is stored.
    pub async fn ensure_loaded(&self, store: &dyn QueueStore) -> CellResult<()> {
        {
            let s = self.state();
            if s.loaded && !(s.more_stored && s.tasks.is_empty()) {
                return Ok(());
            }
        }
        let _loading = self.load.lock().await;
        {
            let s = self.state();
            if s.loaded && !(s.more_stored && s.tasks.is_empty()) {
                return Ok(());
            }
        }
        let rows = store
            .queue_tasks(
                &self.key.namespace_id,
                &self.key.name,
                self.key.kind,
                LOAD_BATCH,
            )
            .await?;
        let mut s = self.state();
        s.more_stored = rows.len() == LOAD_BATCH;
        for row in rows {
            match QueueTask::decode(row.data.as_slice()) {
                Ok(task) => {
                    s.sticky |= is_sticky(&task);
                    s.tasks.entry(task.task_id).or_insert(task);
                }
                Err(err) => tracing::error!(error = %err, "undecodable queue task"),
            }
        }
        s.loaded = true;
        Ok(())
    }

    pub fn take_or_wait(&self, identity: &str) -> Taken {
        let mut s = self.state();
        s.last_poll = Some(Instant::now());
        s.touched = s.last_poll;
        if !identity.is_empty() {
            s.pollers.seen(identity, SystemTime::now());
        }
        if let Some(q) = s.queries.pop_front() {
            return Taken::Query(q);
        }
        if let Some((_, task)) = s.tasks.pop_first() {
            return Taken::Task(task);
        }
        let (tx, rx) = oneshot::channel();
        s.waiters.retain(|w| !w.is_closed());
        s.waiters.push_back(tx);
        Taken::Wait(rx)
    }

    /// Hands `item` to the first live waiter, or gives it back.
    fn hand_over(s: &mut State, mut item: Handed) -> Option<Handed> {
        while let Some(waiter) = s.waiters.pop_front() {
            match waiter.send(item) {
                Ok(()) => return None,
                Err(back) => item = back,
            }
        }
        Some(item)
    }

    pub fn add(&self, task: QueueTask) {
        let mut s = self.state();
        s.touched = Some(Instant::now());
        s.sticky |= is_sticky(&task);
        if let Some(Handed::Task(task)) = Self::hand_over(&mut s, Handed::Task(task)) {
            s.tasks.insert(task.task_id, task);
        }
    }

    pub fn add_query(&self, query: QueryTask) {
        let mut s = self.state();
        s.touched = Some(Instant::now());
        if let Some(Handed::Query(q)) = Self::hand_over(&mut s, Handed::Query(query)) {
            s.queries.push_back(q);
        }
    }

    pub fn remove_query(&self, id: &str) {
        self.state().queries.retain(|q| q.id != id);
    }

    pub fn release_pollers(&self) {
        let mut s = self.state();
        while let Some(w) = s.waiters.pop_front() {
            let _ = w.send(Handed::Shutdown);
        }
    }

    pub fn last_poll(&self) -> LastPoll {
        self.state().last_poll
    }

    /// The pollers seen within [`POLLER_HISTORY_TTL`].
    pub fn pollers(&self) -> Vec<PollerSeen> {
        self.state().pollers.recent(SystemTime::now())
    }

    /// Nothing waits in it or on it, and nothing touched it since `cutoff`:
    /// it can be dropped from memory (its stored backlog, if any, is read
    /// again by the next poll).
    pub fn is_idle(&self, cutoff: Instant) -> bool {
        let s = self.state();
        s.tasks.is_empty()
            && s.queries.is_empty()
            && s.waiters.iter().all(|w| w.is_closed())
            && s.touched.is_none_or(|t| t < cutoff)
    }

    /// What the operator metrics report of this queue: its backlog in
    /// memory (no read of the store: the gauge is approximate, as
    /// Temporal's is).
    pub fn metrics_sample(&self) -> orrery_core::metrics::BacklogSample {
        let s = self.state();
        orrery_core::metrics::BacklogSample {
            namespace_id: self.key.namespace_id.clone(),
            task_queue: self.key.name.clone(),
            task_type: task_type(self.key.kind),
            sticky: s.sticky,
            count: s.tasks.len() as u64,
        }
    }

    pub fn backlog(&self) -> Backlog {
        let s = self.state();
        Backlog {
            count: s.tasks.len(),
            oldest_created_ms: s
                .tasks
                .values()
                .map(|t| t.created_ms)
                .filter(|ms| *ms > 0)
                .min(),
        }
    }
}

/// A task on a worker's sticky queue: workflow tasks name their normal
/// queue always, which differs only when they sit on a sticky one.
pub(crate) fn is_sticky(task: &QueueTask) -> bool {
    !task.normal_task_queue.is_empty() && task.normal_task_queue != task.task_queue
}

/// Temporal's `task_type` label value of a queue kind.
pub(crate) fn task_type(kind: i32) -> &'static str {
    if kind == orrery_core::matching::TASK_KIND_WORKFLOW {
        "Workflow"
    } else {
        "Activity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identities(pollers: &mut Pollers, now: SystemTime) -> Vec<String> {
        let mut seen: Vec<_> = pollers
            .recent(now)
            .into_iter()
            .map(|p| p.identity)
            .collect();
        seen.sort();
        seen
    }

    #[test]
    fn only_a_task_naming_another_normal_queue_is_sticky() {
        let task = |queue: &str, normal: &str| QueueTask {
            task_queue: queue.into(),
            normal_task_queue: normal.into(),
            ..Default::default()
        };
        assert!(!is_sticky(&task("orders", "orders")));
        assert!(!is_sticky(&task("orders", "")), "activity tasks name none");
        assert!(is_sticky(&task("host-1:5e1d", "orders")));
    }

    #[test]
    fn a_poller_not_seen_for_the_ttl_is_forgotten() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut pollers = Pollers::default();
        pollers.seen("old", start);
        pollers.seen("kept", start);
        let later = start + POLLER_HISTORY_TTL - Duration::from_secs(1);
        pollers.seen("kept", later);
        pollers.seen("new", later);
        assert_eq!(
            identities(&mut pollers, later),
            ["kept", "new", "old"],
            "all within the TTL"
        );
        let after = start + POLLER_HISTORY_TTL + Duration::from_secs(1);
        assert_eq!(identities(&mut pollers, after), ["kept", "new"]);
        assert_eq!(pollers.0.len(), 2, "forgotten, not only hidden");
    }

    #[test]
    fn a_queue_remembers_at_most_its_cap_of_pollers_dropping_the_oldest() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut pollers = Pollers::default();
        // Ten times the cap, all within the TTL: made-up identities.
        for i in 0..10 * MAX_POLLERS_PER_QUEUE {
            pollers.seen(
                &format!("worker-{i}"),
                start + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(pollers.0.len(), MAX_POLLERS_PER_QUEUE);
        let now = start + Duration::from_secs(60);
        let kept = identities(&mut pollers, now);
        assert!(kept.contains(&format!("worker-{}", 10 * MAX_POLLERS_PER_QUEUE - 1)));
        assert!(
            !kept.contains(&"worker-0".to_string()),
            "the oldest went first"
        );
    }

    #[test]
    fn the_queue_records_its_pollers_and_forgets_none_it_saw_just_now() {
        let queue = Queue::new(QueueKey {
            namespace_id: "ns".into(),
            name: "tq".into(),
            kind: 0,
        });
        for i in 0..MAX_POLLERS_PER_QUEUE + 5 {
            let _ = queue.take_or_wait(&format!("worker-{i}"));
        }
        let _ = queue.take_or_wait("");
        let seen = queue.pollers();
        assert_eq!(seen.len(), MAX_POLLERS_PER_QUEUE);
        assert!(seen.iter().all(|p| !p.identity.is_empty()));
    }
}
