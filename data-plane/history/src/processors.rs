//! The two durable queues of a cell's shards, each drained by one background
//! task: timers in fire-time order, transfer tasks in id order. A task is
//! deleted only after its handler committed, so a crash re-runs it; handlers
//! check state first and are idempotent.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_core::CellError;
use orrery_core::time::now_millis;
use orrery_persistence::{TimerQueue, TimerRow, TransferRow};
use prost::Message;
use tokio::task::JoinSet;
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
            .clone()
            .run_retention_queue()
            .instrument(tracing::info_span!("retention_queue")),
    );
    tokio::spawn(
        engine
            .clone()
            .run_query_meter()
            .instrument(tracing::info_span!("query_meter")),
    );
    // Metering off (a benchmark's baseline) samples no storage either.
    if engine.limits.metering {
        tokio::spawn(
            engine
                .run_storage_meter()
                .instrument(tracing::info_span!("storage_meter")),
        );
    }
}

/// Errors a handler may hit that mean "the workflow moved on": the task is
/// done. Anything else is retried.
fn is_final(err: &CellError) -> bool {
    matches!(err, CellError::NotFound(_) | CellError::InvalidArgument(_))
}

/// (namespace id, workflow id).
type WorkflowKey = (String, String);
type FiredGroup = (WorkflowKey, Vec<(TimerRow, Result<(), CellError>)>);
/// The fire tasks running: each one's workflow and timer rows (shard, task id).
type FireTasks = HashMap<tokio::task::Id, (WorkflowKey, Vec<(i32, i64)>)>;

/// How far ahead the timer queue reads, to know when to look again.
const LOOKAHEAD_MS: i64 = 1000;
/// How long fired rows may wait to be deleted together: a crash in between
/// only fires them again, and one delete per fire would double the commits.
const DELETE_DELAY: Duration = Duration::from_millis(50);

/// A finished fire task's group; a task that panicked counts as a failure
/// of each of its timers, so they are retried on their backoff.
fn joined_group(
    joined: Result<(tokio::task::Id, FiredGroup), tokio::task::JoinError>,
    groups_of: &mut FireTasks,
) -> FiredGroup {
    match joined {
        Ok((id, group)) => {
            groups_of.remove(&id);
            group
        }
        Err(err) => {
            let (workflow, rows) = groups_of.remove(&err.id()).unwrap_or_default();
            let failed = rows
                .into_iter()
                .map(|(shard_id, task_id)| {
                    let row = TimerRow {
                        shard_id,
                        fire_ms: 0,
                        task_id,
                        data: Vec::new(),
                    };
                    (row, Err(CellError::Internal(format!("timer task: {err}"))))
                })
                .collect();
            (workflow, failed)
        }
    }
}

/// Books a fired group: the rows that fired wait in `fired` for their
/// delete; a failed one leaves the in-flight set, to be read again once its
/// backoff ends.
fn finish_group(
    (workflow, outcomes): FiredGroup,
    backoff: &mut Backoff,
    in_flight: &mut HashSet<(i32, i64)>,
    busy: &mut HashSet<WorkflowKey>,
    fired: &mut Vec<TimerRow>,
) {
    busy.remove(&workflow);
    for (row, outcome) in outcomes {
        let key = (row.shard_id, row.task_id);
        match outcome {
            Ok(()) => {
                backoff.succeeded(key);
                fired.push(row);
            }
            Err(err) => {
                log_failure("timer", backoff.failed(key, Instant::now()), &err);
                in_flight.remove(&key);
            }
        }
    }
}

impl HistoryEngine {
    /// Fires timers as they come due, without waiting for earlier ones: a
    /// fire under load takes a commit's time, and a timer due meanwhile must
    /// not queue behind it. Groups (one workflow's due timers) fire
    /// concurrently; a workflow's later timers wait for its group in flight,
    /// so its events keep fire-time order. Fired rows are deleted together
    /// (within `DELETE_DELAY`), and until then are known here as in flight,
    /// since the queries still see them.
    async fn run_timer_queue(self: Arc<Self>) {
        let mut backoff = Backoff::default();
        let mut in_flight: HashSet<(i32, i64)> = HashSet::new();
        let mut busy: HashSet<WorkflowKey> = HashSet::new();
        // Tasks, not futures polled here: a fire holds a pooled read
        // connection while it runs, and one left unpolled while this loop
        // waits for a connection of its own would deadlock the pool.
        let mut firing: JoinSet<FiredGroup> = JoinSet::new();
        let mut groups_of: FireTasks = HashMap::new();
        let mut fired: Vec<TimerRow> = Vec::new();
        // When the oldest row in `fired` fired.
        let mut fired_since: Option<Instant> = None;
        loop {
            while let Some(joined) = firing.try_join_next_with_id() {
                let group = joined_group(joined, &mut groups_of);
                finish_group(group, &mut backoff, &mut in_flight, &mut busy, &mut fired);
            }
            if !fired.is_empty() {
                fired_since.get_or_insert_with(Instant::now);
            }
            let delete_due = fired_since.is_some_and(|t: Instant| {
                firing.is_empty() || fired.len() >= BATCH || t.elapsed() >= DELETE_DELAY
            });
            if delete_due {
                fired_since = None;
                if let Err(err) = self.store.delete_timers(TimerQueue::Timers, &fired).await {
                    // They fire again later; handlers are idempotent.
                    tracing::warn!(error = %err, "deleting fired timers failed");
                }
                for row in fired.drain(..) {
                    in_flight.remove(&(row.shard_id, row.task_id));
                }
            }
            let now = now_millis();
            // Read each round: shards come and go with membership.
            let shards = self.shard_ids();
            if shards.is_empty() && firing.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.timer_wake.notified()).await;
                continue;
            }
            // Rows in flight still show up; the limit leaves room past them.
            // Rows due within the lookahead tell when to look again.
            let limit = BATCH + in_flight.len();
            let rows = match self
                .store
                .due_timers(TimerQueue::Timers, &shards, now + LOOKAHEAD_MS, limit)
                .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %err, "reading timers failed");
                    tokio::time::sleep(RETRY_DELAY).await;
                    continue;
                }
            };
            let mut wake_ms = if rows.len() < limit {
                now + LOOKAHEAD_MS
            } else {
                rows.last().map_or(now, |r| r.fire_ms)
            };
            let mut on_backoff = false;
            let mut groups: Vec<(WorkflowKey, Vec<(TimerRow, TimerTask)>)> = Vec::new();
            let ready = Instant::now();
            for row in rows {
                let key = (row.shard_id, row.task_id);
                if in_flight.contains(&key) {
                    continue;
                }
                if row.fire_ms > now {
                    wake_ms = wake_ms.min(row.fire_ms);
                    continue;
                }
                if !backoff.ready(key, ready) {
                    on_backoff = true;
                    continue;
                }
                let task = match TimerTask::decode(row.data.as_slice()) {
                    Ok(task) => task,
                    Err(err) => {
                        tracing::error!(error = %err, task_id = row.task_id, "dropping undecodable timer task");
                        in_flight.insert(key);
                        fired.push(row);
                        fired_since.get_or_insert_with(Instant::now);
                        continue;
                    }
                };
                let workflow = (task.namespace_id.clone(), task.workflow_id.clone());
                if busy.contains(&workflow) {
                    // Its group in flight wakes the loop when it ends.
                    continue;
                }
                match groups.iter_mut().find(|(w, _)| *w == workflow) {
                    Some((_, group)) => group.push((row, task)),
                    None => groups.push((workflow, vec![(row, task)])),
                }
            }
            for (workflow, group) in groups {
                if firing.len() >= TIMER_CONCURRENCY {
                    break;
                }
                let rows: Vec<_> = group.iter().map(|(r, _)| (r.shard_id, r.task_id)).collect();
                in_flight.extend(rows.iter().copied());
                busy.insert(workflow.clone());
                let engine = self.clone();
                let span = tracing::Span::current();
                let task = firing
                    .spawn(engine.fire_group(workflow.clone(), group).instrument(span))
                    .id();
                groups_of.insert(task, (workflow, rows));
            }
            let mut wait = Duration::from_millis(
                (wake_ms - now_millis()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
            );
            if on_backoff {
                // Look again when the first backoff ends, or within a second,
                // so later timers still fire nearly on time.
                let backoff_wait = backoff
                    .next_wait(Instant::now())
                    .unwrap_or(RETRY_DELAY)
                    .clamp(RETRY_DELAY, Duration::from_secs(1));
                wait = if wait.is_zero() {
                    backoff_wait
                } else {
                    wait.min(backoff_wait)
                };
            }
            if wait.is_zero() && !firing.is_empty() {
                // What is due waits for a group in flight (its workflow's,
                // or a free slot): its end wakes the loop.
                wait = IDLE_POLL;
            }
            if let Some(t) = fired_since {
                wait = wait.min(DELETE_DELAY.saturating_sub(t.elapsed()));
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                Some(joined) = firing.join_next_with_id(), if !firing.is_empty() => {
                    let group = joined_group(joined, &mut groups_of);
                    finish_group(group, &mut backoff, &mut in_flight, &mut busy, &mut fired);
                }
                () = tokio::time::sleep(wait) => {}
                () = self.timer_wake.notified() => {}
            }
        }
    }

    async fn fire_group(
        self: Arc<Self>,
        workflow: WorkflowKey,
        group: Vec<(TimerRow, TimerTask)>,
    ) -> FiredGroup {
        let mut out = Vec::with_capacity(group.len());
        for (row, task) in group {
            let outcome = self.fire_timer(&task).await;
            out.push((row, outcome));
        }
        (workflow, out)
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
        let mut backoff = Backoff::default();
        loop {
            let shards = self.shard_ids();
            if shards.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.transfer_wake.notified()).await;
                continue;
            }
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
