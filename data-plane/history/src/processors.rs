//! The two durable queues of a cell's shards, each drained by one background
//! task: timers in fire-time order, transfer tasks in id order. A task is
//! deleted only after its handler committed, so a crash re-runs it; handlers
//! check state first and are idempotent.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_core::CellError;
use orrery_core::time::now_millis;
use orrery_persistence::{TimerQueue, TimerRow, TransferRow};
use prost::Message;
use tracing::Instrument;

use crate::engine::HistoryEngine;
use crate::tasks::{TimerTask, TransferTask};

const BATCH: usize = 100;
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
            let mut fired = 0;
            // A timer that fails for now stays, on its backoff; the others
            // still fire.
            for row in &due {
                let key = (row.shard_id, row.task_id);
                if !backoff.ready(key, Instant::now()) {
                    continue;
                }
                match self.fire_timer(row).await {
                    Ok(()) => {
                        backoff.succeeded(key);
                        fired += 1;
                    }
                    Err(err) => log_failure("timer", backoff.failed(key, Instant::now()), &err),
                }
            }
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

    /// Runs one timer and deletes it; an error means it must be retried.
    async fn fire_timer(&self, row: &TimerRow) -> Result<(), CellError> {
        let result = match TimerTask::decode(row.data.as_slice()) {
            Ok(task) => {
                let span = tracing::debug_span!("timer", kind = task.kind, workflow_id = %task.workflow_id);
                self.handle_timer(&task).instrument(span).await
            }
            Err(err) => Err(CellError::internal(format!(
                "undecodable timer task: {err}"
            ))),
        };
        match result {
            Ok(()) => {}
            Err(err) if is_final(&err) => {}
            Err(CellError::Internal(msg)) if msg.starts_with("undecodable") => {
                tracing::error!(%msg, "dropping timer task");
            }
            Err(err) => return Err(err),
        }
        if let Err(err) = self.store.delete_timer(TimerQueue::Timers, row).await {
            tracing::warn!(error = %err, "deleting a fired timer failed");
        }
        Ok(())
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
