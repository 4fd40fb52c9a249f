//! What happens to a run after it closes: its archival (when its namespace
//! archives) and, once the namespace's retention has passed, its deletion.
//!
//! Both are tasks of the retention queue, written in the closing
//! transaction and drained by their own background loop, several at a
//! time: an upload that fails (S3 down, wrong credentials) moves its task
//! later with a growing backoff, so it delays archival but never loses a
//! history, never blocks workflows and never makes a user timer late. An
//! archive task that succeeds turns into the run's delete task, due when
//! retention ends, in one write: a run is never deleted before it is
//! archived.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use orrery_core::actions::Action;
use orrery_core::time::now_millis;
use orrery_core::{CellError, CellResult};
use orrery_persistence::{TimerQueue, TimerRow, Transaction, UsageDelta};
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;
use orrery_proto::api::history::v1::{History, HistoryEvent};
use prost::Message;
use tracing::Instrument;

use crate::engine::{HistoryEngine, execution_info};
use crate::mutation::Mutation;

/// What a namespace wants done with its closed runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClosePolicy {
    pub retention_ms: i64,
    /// Where histories are archived; `None`: history archival is off.
    pub history_archival_uri: Option<String>,
    /// Where visibility records are archived; `None`: off.
    pub visibility_archival_uri: Option<String>,
}

impl ClosePolicy {
    fn archives(&self) -> bool {
        self.history_archival_uri.is_some() || self.visibility_archival_uri.is_some()
    }
}

/// The namespace registry as history sees it.
#[async_trait]
pub trait ClosePolicies: Send + Sync {
    /// The policy if it is at hand without a database read; `None` sends
    /// the run through the retention queue, which calls [`Self::load`].
    fn cached(&self, namespace_id: &str) -> Option<ClosePolicy>;
    /// The policy, read from the store if need be; `None` if the namespace
    /// no longer exists.
    async fn load(&self, namespace_id: &str) -> CellResult<Option<ClosePolicy>>;
}

/// One policy for every namespace (tests, tools).
#[async_trait]
impl ClosePolicies for ClosePolicy {
    fn cached(&self, _: &str) -> Option<ClosePolicy> {
        Some(self.clone())
    }
    async fn load(&self, _: &str) -> CellResult<Option<ClosePolicy>> {
        Ok(Some(self.clone()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum RetentionKind {
    Archive = 1,
    Delete = 2,
}

#[derive(Clone, PartialEq, Message)]
pub struct RetentionTask {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    /// The run's keyspace (a standalone activity's is not its namespace).
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    /// Failed attempts so far.
    #[prost(int32, tag = "5")]
    pub attempt: i32,
}

const BATCH: usize = 100;
/// Uploads in flight at once: S3 latency, not the database, bounds them.
const CONCURRENCY: usize = 8;
const IDLE_POLL: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

fn retry_delay(attempt: i32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << attempt.clamp(0, 16))
        .min(MAX_RETRY)
}

/// What became of a task: done (delete it), or due again later as `task`,
/// counting `usage` with the move (an archival is billed exactly when its
/// archive task becomes the delete task, so a repeated upload is free).
enum Outcome {
    Done,
    Next {
        fire_ms: i64,
        task: RetentionTask,
        usage: Vec<UsageDelta>,
    },
}

impl HistoryEngine {
    /// Adds the retention work of a run that closes in this transition:
    /// its delete task when nothing is to be archived, its archive task
    /// otherwise (or when the namespace's policy is not at hand).
    pub(crate) fn append_close(&self, m: &Mutation, shard_id: i32, tx: &mut Transaction) {
        let info = m.info();
        let billed = crate::api::standalone::queue_namespace_id(info);
        let (kind, fire_ms) = match self.policies.cached(&billed) {
            Some(p) if !p.archives() || info.standalone_activity => {
                (RetentionKind::Delete, info.close_time_ms + p.retention_ms)
            }
            _ => (RetentionKind::Archive, m.now),
        };
        tx.retention_tasks.push(TimerRow {
            shard_id,
            fire_ms,
            task_id: m.next_task_id(),
            data: RetentionTask {
                kind: kind as i32,
                namespace_id: info.namespace_id.clone(),
                workflow_id: info.workflow_id.clone(),
                run_id: info.run_id.clone(),
                attempt: 0,
            }
            .encode_to_vec(),
        });
    }

    pub(crate) fn wake_retention(&self) {
        self.retention_wake.notify_one();
    }

    pub(crate) async fn run_retention_queue(self: Arc<Self>) {
        loop {
            let shards = self.shard_ids();
            if shards.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.retention_wake.notified()).await;
                continue;
            }
            let due = match self
                .store
                .due_timers(TimerQueue::Retention, &shards, now_millis(), BATCH)
                .await
            {
                Ok(due) => due,
                Err(err) => {
                    tracing::warn!(error = %err, "reading retention tasks failed");
                    tokio::time::sleep(FIRST_RETRY).await;
                    continue;
                }
            };
            let full = due.len() == BATCH;
            futures::stream::iter(due)
                .for_each_concurrent(CONCURRENCY, |row| {
                    let engine = self.clone();
                    async move { engine.run_retention_task(row).await }
                })
                .await;
            if full {
                continue;
            }
            let wait = match self
                .store
                .next_timer_ms(TimerQueue::Retention, &shards)
                .await
            {
                Ok(Some(next)) => Duration::from_millis(
                    (next - now_millis()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                ),
                _ => IDLE_POLL,
            };
            if !wait.is_zero() {
                let _ = tokio::time::timeout(wait, self.retention_wake.notified()).await;
            }
        }
    }

    async fn run_retention_task(&self, row: TimerRow) {
        let Ok(task) = RetentionTask::decode(row.data.as_slice()) else {
            tracing::error!(task_id = row.task_id, "dropping undecodable retention task");
            let _ = self
                .store
                .delete_timers(TimerQueue::Retention, std::slice::from_ref(&row))
                .await;
            return;
        };
        let span = tracing::info_span!("retention", kind = task.kind, workflow_id = %task.workflow_id, run_id = %task.run_id);
        self.settle_retention_task(row, task).instrument(span).await
    }

    async fn settle_retention_task(&self, row: TimerRow, task: RetentionTask) {
        let outcome = match task.kind {
            k if k == RetentionKind::Archive as i32 => self.archive(&task).await,
            k if k == RetentionKind::Delete as i32 => self.delete_retained(&task).await,
            other => {
                tracing::error!(kind = other, "unknown retention task kind");
                Ok(Outcome::Done)
            }
        };
        let written = match outcome {
            Ok(Outcome::Done) => {
                self.store
                    .delete_timers(TimerQueue::Retention, std::slice::from_ref(&row))
                    .await
            }
            Ok(Outcome::Next {
                fire_ms,
                task,
                usage,
            }) => {
                self.store
                    .reschedule_timer(
                        TimerQueue::Retention,
                        &row,
                        fire_ms,
                        task.encode_to_vec(),
                        &usage,
                    )
                    .await
            }
            Err(err) => {
                let delay = retry_delay(task.attempt);
                let level_error = task.attempt >= 5;
                if level_error {
                    tracing::error!(attempt = task.attempt + 1, error = %err, retry_in_ms = delay.as_millis() as u64, "retention task keeps failing");
                } else {
                    tracing::warn!(attempt = task.attempt + 1, error = %err, retry_in_ms = delay.as_millis() as u64, "retention task failed; will retry");
                }
                let again = RetentionTask {
                    attempt: task.attempt + 1,
                    ..task
                };
                self.store
                    .reschedule_timer(
                        TimerQueue::Retention,
                        &row,
                        now_millis() + delay.as_millis() as i64,
                        again.encode_to_vec(),
                        &[],
                    )
                    .await
            }
        };
        if let Err(err) = written {
            tracing::warn!(error = %err, "recording a retention task's outcome failed; it runs again");
        }
    }

    /// Uploads the run's history and visibility record where its namespace
    /// archives them, then becomes its delete task. Uploads overwrite the
    /// same objects with the same bytes, so a retry after a crash is safe.
    async fn archive(&self, task: &RetentionTask) -> CellResult<Outcome> {
        let (state, db_version) = match self
            .load(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await
        {
            Ok(loaded) => loaded,
            Err(CellError::NotFound(_)) => return Ok(Outcome::Done),
            Err(err) => return Err(err),
        };
        let info = state.info.clone().unwrap_or_default();
        let billed = crate::api::standalone::queue_namespace_id(&info);
        let Some(policy) = self.policies.load(&billed).await? else {
            // The namespace is gone, and its runs with it.
            return Ok(Outcome::Next {
                fire_ms: now_millis(),
                task: RetentionTask {
                    kind: RetentionKind::Delete as i32,
                    attempt: 0,
                    ..task.clone()
                },
                usage: Vec::new(),
            });
        };
        let mut usage = Vec::new();
        if !info.standalone_activity {
            let archives =
                policy.history_archival_uri.is_some() || policy.visibility_archival_uri.is_some();
            if archives && self.limits.metering {
                usage.push(UsageDelta {
                    namespace_id: billed.clone(),
                    action: Action::WorkflowArchived.name(),
                    count: Action::WorkflowArchived.weight(),
                });
            }
            if let Some(uri) = &policy.history_archival_uri {
                let rows = self
                    .store
                    .events(
                        &task.namespace_id,
                        &task.run_id,
                        1,
                        state.next_event_id,
                        state.next_event_id.max(1) as usize,
                    )
                    .await?;
                let events = rows
                    .iter()
                    .map(|r| HistoryEvent::decode(r.data.as_slice()).map_err(CellError::internal))
                    .collect::<CellResult<Vec<_>>>()?;
                self.archives
                    .put_history(
                        uri,
                        &billed,
                        &task.workflow_id,
                        &task.run_id,
                        &History { events },
                    )
                    .await
                    .map_err(|e| CellError::Unavailable(format!("archiving history: {e}")))?;
            }
            if let Some(uri) = &policy.visibility_archival_uri {
                let mut record = execution_info(&state);
                record.state_transition_count = db_version;
                self.archives
                    .put_visibility(uri, &billed, &record)
                    .await
                    .map_err(|e| CellError::Unavailable(format!("archiving visibility: {e}")))?;
            }
            tracing::debug!("archived");
        }
        Ok(Outcome::Next {
            fire_ms: info.close_time_ms + policy.retention_ms,
            task: RetentionTask {
                kind: RetentionKind::Delete as i32,
                attempt: 0,
                ..task.clone()
            },
            usage,
        })
    }

    /// Removes a closed run whose retention has passed: state, history,
    /// visibility record (and current pointer, if it is the current run).
    async fn delete_retained(&self, task: &RetentionTask) -> CellResult<Outcome> {
        let _guard = self.lock(&task.namespace_id, &task.workflow_id).await;
        match self
            .load(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await
        {
            Ok((state, _)) => {
                let running = state
                    .info
                    .as_ref()
                    .is_none_or(|i| i.status == WorkflowExecutionStatus::Running as i32);
                if running {
                    // Never a closed run's fate; nothing to do.
                    return Ok(Outcome::Done);
                }
            }
            Err(CellError::NotFound(_)) => return Ok(Outcome::Done),
            Err(err) => return Err(err),
        }
        let shard = self.shard(&task.namespace_id, &task.workflow_id)?;
        self.store
            .delete_execution(
                shard.id,
                shard.range_id,
                &task.namespace_id,
                &task.workflow_id,
                &task.run_id,
            )
            .await?;
        tracing::debug!("deleted after retention");
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_minute() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(8));
        assert_eq!(retry_delay(10), MAX_RETRY);
        assert_eq!(retry_delay(i32::MAX), MAX_RETRY);
    }
}
