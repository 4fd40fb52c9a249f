//! One task queue in memory: tasks by id, queries, and the pollers waiting.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use orrery_core::CellResult;
use orrery_core::matching::QueueTask;
use orrery_persistence::QueueStore;
use prost::Message;
use tokio::sync::oneshot;

use crate::{LastPoll, PollerSeen, QueryTask};

/// How many stored tasks one load brings into memory.
const LOAD_BATCH: usize = 1000;

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
    pollers: HashMap<String, SystemTime>,
    /// When the queue was last added to or polled.
    touched: Option<Instant>,
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
            s.pollers.insert(identity.to_string(), SystemTime::now());
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

    pub fn pollers(&self) -> Vec<PollerSeen> {
        self.state()
            .pollers
            .iter()
            .map(|(identity, last_access)| PollerSeen {
                identity: identity.clone(),
                last_access: *last_access,
            })
            .collect()
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
