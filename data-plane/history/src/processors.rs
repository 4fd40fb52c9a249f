//! The two durable queues of a cell's shards, each drained by one background
//! task: timers in fire-time order, transfer tasks in id order. A task is
//! deleted only after its handler committed, so a crash re-runs it; handlers
//! check state first and are idempotent.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use orrery_core::CellError;
use orrery_core::time::now_millis;
use orrery_persistence::{TimerQueue, TimerRow, TransferRow};
use prost::Message;
use tracing::Instrument;

use crate::engine::HistoryEngine;
use crate::tasks::{TimerTask, TransferTask};

const BATCH: usize = 100;
/// How many workflows' due timers fire at once. Their commits still
/// serialise on the database, but loading state, deciding and waiting for
/// the commit overlap.
const TIMER_CONCURRENCY: usize = 32;
/// Upper bound of a queue's sleep: a safety net, not what keeps it moving.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long a task that failed for a passing reason first waits to be
/// retried; each further failure doubles it, up to `MAX_RETRY_DELAY`.
const RETRY_DELAY: Duration = Duration::from_millis(200);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Per-task retry backoff of one queue, kept in memory: a task that keeps
/// failing (a database hiccup, or a bug) is retried ever more slowly
/// instead of every 200 ms, and never blocks the tasks behind it. It is
/// never dropped: after a restart it is simply tried again.
#[derive(Default)]
struct Backoff(HashMap<(i32, i64), (u32, Instant)>);

impl Backoff {
    fn ready(&self, key: (i32, i64), now: Instant) -> bool {
        self.0.get(&key).is_none_or(|(_, next)| *next <= now)
    }

    fn failed(&mut self, key: (i32, i64), now: Instant) -> u32 {
        let entry = self.0.entry(key).or_insert((0, now));
        entry.0 += 1;
        let delay = RETRY_DELAY
            .saturating_mul(1 << entry.0.min(16))
            .min(MAX_RETRY_DELAY);
        entry.1 = now + delay;
        entry.0
    }

    fn succeeded(&mut self, key: (i32, i64)) {
        self.0.remove(&key);
    }

    /// How long until the next task waiting on its backoff is due.
    fn next_wait(&self, now: Instant) -> Option<Duration> {
        self.0
            .values()
            .map(|(_, next)| next.saturating_duration_since(now))
            .min()
    }
}

fn log_failure(queue: &str, attempts: u32, err: &CellError) {
    if attempts >= 10 {
        tracing::error!(queue, attempts, error = %err, "task keeps failing; retrying with backoff");
    } else {
        tracing::warn!(queue, attempts, error = %err, "task failed; will retry");
    }
}

pub fn spawn(engine: Arc<HistoryEngine>) {
    let timers = engine.clone();
    tokio::spawn(
        async move { timers.run_timer_queue().await }
            .instrument(tracing::info_span!("timer_queue")),
    );
    let transfers = engine.clone();
    tokio::spawn(
        async move { transfers.run_transfer_queue().await }
            .instrument(tracing::info_span!("transfer_queue")),
    );
    tokio::spawn(
        engine
            .run_retention_queue()
            .instrument(tracing::info_span!("retention_queue")),
    );
}

/// Errors a handler may hit that mean "the workflow moved on": the task is
/// done. Anything else is retried.
fn is_final(err: &CellError) -> bool {
    matches!(err, CellError::NotFound(_) | CellError::InvalidArgument(_))
}

impl HistoryEngine {
    async fn run_timer_queue(&self) {
        let shards = self.shard_ids();
        let mut backoff = Backoff::default();
        loop {
            let now = now_millis();
            let due = match self
                .store
                .due_timers(TimerQueue::Timers, &shards, now, BATCH)
                .await
            {
                Ok(due) => due,
                Err(err) => {
                    tracing::warn!(error = %err, "reading timers failed");
                    tokio::time::sleep(RETRY_DELAY).await;
                    continue;
                }
            };
            let fired = self.fire_timers(&due, &mut backoff).await;
            if due.len() == BATCH && fired > 0 {
                continue;
            }
            let mut wait = match self.store.next_timer_ms(TimerQueue::Timers, &shards).await {
                Ok(Some(next)) => Duration::from_millis(
                    (next - now_millis()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                ),
                _ => IDLE_POLL,
            };
            if fired < due.len() {
                // Timers on their backoff are due, so the earliest-timer wait
                // is zero: look again when the first backoff ends, or within a
                // second, so later timers still fire nearly on time.
                wait = backoff
                    .next_wait(Instant::now())
                    .unwrap_or(RETRY_DELAY)
                    .clamp(RETRY_DELAY, Duration::from_secs(1));
            }
            if wait.is_zero() {
                continue;
            }
            let _ = tokio::time::timeout(wait, self.timer_wake.notified()).await;
        }
    }

    /// Fires the due timers that are not on their backoff and deletes the
    /// fired ones in one commit; returns how many fired. Timers of one
    /// workflow fire one after another in fire-time order (their events must
    /// keep that order); different workflows' timers fire concurrently, so a
    /// burst of due timers is not a queue of commits one behind the other.
    async fn fire_timers(&self, due: &[TimerRow], backoff: &mut Backoff) -> usize {
        let now = Instant::now();
        let mut done: Vec<TimerRow> = Vec::new();
        let mut groups: Vec<Vec<(&TimerRow, TimerTask)>> = Vec::new();
        let mut group_of: HashMap<(String, String), usize> = HashMap::new();
        for row in due {
            if !backoff.ready((row.shard_id, row.task_id), now) {
                continue;
            }
            let task = match TimerTask::decode(row.data.as_slice()) {
                Ok(task) => task,
                Err(err) => {
                    tracing::error!(error = %err, task_id = row.task_id, "dropping undecodable timer task");
                    done.push(row.clone());
                    continue;
                }
            };
            let key = (task.namespace_id.clone(), task.workflow_id.clone());
            let index = *group_of.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[index].push((row, task));
        }
        // Futures built up front, not in a `map` closure: a closure over
        // borrowed rows makes the spawned queue future not provably `Send`.
        let groups: Vec<_> = groups
            .into_iter()
            .map(|group| self.fire_group(group))
            .collect();
        let outcomes: Vec<_> = stream::iter(groups)
            .buffer_unordered(TIMER_CONCURRENCY)
            .collect()
            .await;
        for (row, outcome) in outcomes.into_iter().flatten() {
            let key = (row.shard_id, row.task_id);
            match outcome {
                Ok(()) => {
                    backoff.succeeded(key);
                    done.push(row.clone());
                }
                Err(err) => log_failure("timer", backoff.failed(key, Instant::now()), &err),
            }
        }
        if let Err(err) = self.store.delete_timers(TimerQueue::Timers, &done).await {
            // They fire again later; handlers are idempotent.
            tracing::warn!(error = %err, "deleting fired timers failed");
        }
        done.len()
    }

    async fn fire_group<'a>(
        &self,
        group: Vec<(&'a TimerRow, TimerTask)>,
    ) -> Vec<(&'a TimerRow, Result<(), CellError>)> {
        let mut out = Vec::with_capacity(group.len());
        for (row, task) in group {
            out.push((row, self.fire_timer(&task).await));
        }
        out
    }

    /// Runs one timer; an error means it must be retried.
    async fn fire_timer(&self, task: &TimerTask) -> Result<(), CellError> {
        let span = tracing::debug_span!("timer", kind = task.kind, workflow_id = %task.workflow_id);
        match self.handle_timer(task).instrument(span).await {
            Err(err) if !is_final(&err) => Err(err),
            _ => Ok(()),
        }
    }

    async fn run_transfer_queue(&self) {
        let shards = self.shard_ids();
        let mut backoff = Backoff::default();
        loop {
            let tasks = match self.store.transfer_tasks(&shards, BATCH).await {
                Ok(tasks) => tasks,
                Err(err) => {
                    tracing::warn!(error = %err, "reading transfer tasks failed");
                    tokio::time::sleep(RETRY_DELAY).await;
                    continue;
                }
            };
            let mut done = 0;
            for row in &tasks {
                let key = (row.shard_id, row.task_id);
                if !backoff.ready(key, Instant::now()) {
                    continue;
                }
                match self.run_transfer(row).await {
                    Ok(()) => {
                        backoff.succeeded(key);
                        done += 1;
                    }
                    Err(err) => log_failure("transfer", backoff.failed(key, Instant::now()), &err),
                }
            }
            if tasks.len() == BATCH && done > 0 {
                continue;
            }
            let wait = if done < tasks.len() {
                backoff
                    .next_wait(Instant::now())
                    .unwrap_or(RETRY_DELAY)
                    .max(RETRY_DELAY)
            } else {
                IDLE_POLL
            };
            let _ = tokio::time::timeout(wait, self.transfer_wake.notified()).await;
        }
    }

    /// Runs one transfer task and deletes it; an error means it must be
    /// retried.
    async fn run_transfer(&self, row: &TransferRow) -> Result<(), CellError> {
        let result = match TransferTask::decode(row.data.as_slice()) {
            Ok(task) => {
                let span = tracing::debug_span!("transfer", kind = task.kind, workflow_id = %task.workflow_id);
                self.handle_transfer(&task).instrument(span).await
            }
            Err(err) => {
                tracing::error!(error = %err, "dropping undecodable transfer task");
                Ok(())
            }
        };
        match result {
            Ok(()) => {}
            Err(err) if is_final(&err) => {}
            Err(err) => return Err(err),
        }
        if let Err(err) = self.store.delete_transfer(row).await {
            tracing::warn!(error = %err, "deleting a done transfer task failed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute_and_forgets_on_success() {
        let mut b = Backoff::default();
        let now = Instant::now();
        let key = (1, 7);
        assert!(b.ready(key, now));
        assert_eq!(b.failed(key, now), 1);
        assert!(!b.ready(key, now));
        assert!(b.ready(key, now + Duration::from_millis(400)));
        for _ in 0..20 {
            b.failed(key, now);
        }
        assert_eq!(b.next_wait(now), Some(MAX_RETRY_DELAY));
        b.succeeded(key);
        assert!(b.ready(key, now) && b.next_wait(now).is_none());
    }
}
