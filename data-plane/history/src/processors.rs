//! The two durable queues of a cell's shards, each drained by one background
//! task: timers in fire-time order, transfer tasks in id order. A task is
//! deleted only after its handler committed, so a crash re-runs it; handlers
//! check state first and are idempotent.
use std::sync::Arc;
use std::time::Duration;

use orrery_core::CellError;
use orrery_core::time::now_millis;
use orrery_persistence::{TimerRow, TransferRow};
use prost::Message;
use tracing::Instrument;

use crate::engine::HistoryEngine;
use crate::tasks::{TimerTask, TransferTask};

const BATCH: usize = 100;
/// Upper bound of a queue's sleep: a safety net, not what keeps it moving.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long a task that failed for a passing reason waits to be retried.
const RETRY_DELAY: Duration = Duration::from_millis(200);

pub fn spawn(engine: Arc<HistoryEngine>) {
    let timers = engine.clone();
    tokio::spawn(
        async move { timers.run_timer_queue().await }
            .instrument(tracing::info_span!("timer_queue")),
    );
    tokio::spawn(
        async move { engine.run_transfer_queue().await }
            .instrument(tracing::info_span!("transfer_queue")),
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
        loop {
            let now = now_millis();
            let due = match self.store.due_timers(&shards, now, BATCH).await {
                Ok(due) => due,
                Err(err) => {
                    tracing::warn!(error = %err, "reading timers failed");
                    tokio::time::sleep(RETRY_DELAY).await;
                    continue;
                }
            };
            let mut stalled = false;
            // A timer that fails for now stays; the others still fire.
            for row in &due {
                if !self.fire_timer(row).await {
                    stalled = true;
                }
            }
            if stalled {
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
            if due.len() == BATCH {
                continue;
            }
            let wait = match self.store.next_timer_ms(&shards).await {
                Ok(Some(next)) => Duration::from_millis(
                    (next - now_millis()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                ),
                _ => IDLE_POLL,
            };
            if wait.is_zero() {
                continue;
            }
            let _ = tokio::time::timeout(wait, self.timer_wake.notified()).await;
        }
    }

    /// Runs one timer; false if it must be retried later.
    async fn fire_timer(&self, row: &TimerRow) -> bool {
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
            Err(err) => {
                tracing::warn!(error = %err, "timer task failed; will retry");
                return false;
            }
        }
        if let Err(err) = self.store.delete_timer(row).await {
            tracing::warn!(error = %err, "deleting a fired timer failed");
        }
        true
    }

    async fn run_transfer_queue(&self) {
        let shards = self.shard_ids();
        loop {
            let tasks = match self.store.transfer_tasks(&shards, BATCH).await {
                Ok(tasks) => tasks,
                Err(err) => {
                    tracing::warn!(error = %err, "reading transfer tasks failed");
                    tokio::time::sleep(RETRY_DELAY).await;
                    continue;
                }
            };
            let mut stalled = false;
            for row in &tasks {
                if !self.run_transfer(row).await {
                    stalled = true;
                }
            }
            if stalled {
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
            if tasks.len() == BATCH {
                continue;
            }
            let _ = tokio::time::timeout(IDLE_POLL, self.transfer_wake.notified()).await;
        }
    }

    async fn run_transfer(&self, row: &TransferRow) -> bool {
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
            Err(err) => {
                tracing::warn!(error = %err, "transfer task failed; will retry");
                return false;
            }
        }
        if let Err(err) = self.store.delete_transfer(row).await {
            tracing::warn!(error = %err, "deleting a done transfer task failed");
        }
        true
    }
}
