//! Temporal schedules. A schedule is a row (its state as protobuf, see
//! `state.rs`) plus a visibility row that ListSchedules queries; it is not a
//! workflow, as it is in the real server, but it answers the same RPCs.
//!
//! Every change goes through [`Scheduler::process`]: under the schedule's
//! lock, load, look at the runs it started, take the spec times that came
//! due, make the starts the overlap policy allows, and write back
//! conditionally. The background loop ([`Scheduler::run`]) does that when
//! a schedule's `next_wake_ms` comes; the RPCs do it right after their own
//! change, so a trigger's run exists when the call returns.
mod process;
mod rpc;
mod state;

use std::sync::Arc;
use std::time::Duration;

use orrery_core::CellResult;
use orrery_history::HistoryEngine;
use orrery_persistence::CellStore;
use tokio::sync::{Mutex, Notify};
use tracing::Instrument;

pub use process::SCHEDULER_DIVISION;
pub use rpc::{NamespaceRef, list_entry};

/// Striped locks: a schedule is processed by one task at a time.
const LOCK_STRIPES: usize = 64;
/// The longest the loop sleeps without looking at the store (another cell
/// on the same database may have changed a schedule).
const MAX_IDLE: Duration = Duration::from_secs(5);

pub struct Scheduler {
    store: Arc<dyn CellStore>,
    history: Arc<HistoryEngine>,
    locks: Vec<Mutex<()>>,
    wake: Notify,
    stopping: std::sync::atomic::AtomicBool,
    /// In a cell of several members: whether this member runs a schedule
    /// (namespace id, schedule id). Every member would be correct (writes
    /// are conditional, starts idempotent), but only one does the work.
    owns: std::sync::OnceLock<OwnsSchedule>,
}

/// Says whether this member runs the schedule `(namespace_id, schedule_id)`.
pub type OwnsSchedule = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

impl Scheduler {
    pub fn new(store: Arc<dyn CellStore>, history: Arc<HistoryEngine>) -> Arc<Self> {
        Arc::new(Self {
            store,
            history,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            wake: Notify::new(),
            stopping: Default::default(),
            owns: std::sync::OnceLock::new(),
        })
    }

    fn lock_for(&self, namespace_id: &str, schedule_id: &str) -> &Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (namespace_id, schedule_id).hash(&mut h);
        &self.locks[(h.finish() as usize) % LOCK_STRIPES]
    }

    /// Runs only the schedules `owns` gives this member (once).
    pub fn set_owner(&self, owns: OwnsSchedule) {
        let _ = self.owns.set(owns);
    }

    pub fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Runs due schedules until shutdown.
    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move { me.run().await }.instrument(tracing::info_span!("scheduler")));
    }

    async fn run(self: Arc<Self>) {
        while !self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            if let Err(err) = self.run_due().await {
                tracing::warn!(error = %err, "processing due schedules failed; retrying");
            }
            let now = orrery_core::time::now_millis();
            let next = self.store.next_schedule_wake_ms().await.ok().flatten();
            let wait = next
                .map(|t| Duration::from_millis((t - now).max(0) as u64))
                .unwrap_or(MAX_IDLE)
                .min(MAX_IDLE);
            if wait.is_zero() {
                // Due again at once (a schedule that keeps failing): do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    async fn run_due(&self) -> CellResult<()> {
        let now = orrery_core::time::now_millis();
        for (namespace_id, schedule_id) in self.store.due_schedules(now, 100).await? {
            if let Some(owns) = self.owns.get()
                && !owns(&namespace_id, &schedule_id)
            {
                continue;
            }
            if let Err(err) = self.process(&namespace_id, &schedule_id, None).await {
                tracing::warn!(%namespace_id, %schedule_id, error = %err, "schedule not processed");
            }
        }
        Ok(())
    }
}
