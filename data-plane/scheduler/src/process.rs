//! One look at a schedule: follow the runs it started, take the spec times
//! that came due, make the starts its overlap policy allows.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orrery_core::time::{duration_millis, now_millis, timestamp};
use orrery_core::{CellError, CellResult};
use orrery_history::ScheduledAction;
use orrery_persistence::{ScheduleRecord, VisibilityRow, schedule_run_id};
use orrery_proto::api::common::v1::{Payload, SearchAttributes, WorkflowExecution};
use orrery_proto::api::enums::v1::{ScheduleOverlapPolicy, WorkflowExecutionStatus};
use orrery_proto::api::history::v1::history_event::Attributes;
use orrery_proto::api::schedule::v1::{
    ScheduleActionResult, ScheduleInfo, ScheduleListEntry, ScheduleListInfo, schedule_action,
};
use orrery_proto::api::workflowservice::v1::StartWorkflowExecutionRequest;
use orrery_schedules::CompiledSpec;
use prost::Message;

use crate::Scheduler;
use crate::state::{BufferedStart, StoredSchedule};

/// How many recent actions describe keeps, as the real server.
const RECENT_ACTIONS: usize = 10;
/// How many spec times one look takes at most (a long outage catches up
/// over several looks).
const MAX_TIMES_PER_LOOK: usize = 1000;
/// How often a schedule with running or waiting starts is looked at.
const FOLLOW_INTERVAL_MS: i64 = 1000;
/// Temporal's default catchup window, and its floor.
const DEFAULT_CATCHUP_MS: i64 = 365 * 24 * 3600 * 1000;
const MIN_CATCHUP_MS: i64 = 10_000;
/// The real server hides schedules from workflow lists with this division.
pub const SCHEDULER_DIVISION: &str = "TemporalScheduler";
const SCHEDULER_WORKFLOW_TYPE: &str = "temporal-sys-scheduler-workflow";

/// A change an RPC makes to a schedule's state before the look.
pub(crate) type Change<'a> = &'a (dyn Fn(&mut StoredSchedule, i64) -> CellResult<()> + Sync);

pub(crate) fn to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn json_payload(value: serde_json::Value, ty: &str) -> Payload {
    Payload {
        metadata: HashMap::from([
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), ty.as_bytes().to_vec()),
        ]),
        data: value.to_string().into_bytes(),
        ..Default::default()
    }
}

impl Scheduler {
    /// Looks at a schedule after applying `change`, writes it back, and
    /// returns it with its new version.
    pub(crate) async fn process(
        &self,
        namespace_id: &str,
        schedule_id: &str,
        change: Option<Change<'_>>,
    ) -> CellResult<(StoredSchedule, i64)> {
        let _guard = self.lock_for(namespace_id, schedule_id).lock().await;
        loop {
            let record = self
                .store
                .schedule(namespace_id, schedule_id)
                .await?
                .ok_or_else(|| not_found(schedule_id))?;
            let mut st =
                StoredSchedule::decode(record.data.as_slice()).map_err(CellError::internal)?;
            let now = now_millis();
            if let Some(change) = change {
                change(&mut st, now)?;
            }
            let next_wake_ms = self.advance(namespace_id, schedule_id, &mut st, now).await;
            let version = record.version + 1;
            let written = self
                .store
                .update_schedule(
                    &ScheduleRecord {
                        namespace_id: namespace_id.to_string(),
                        schedule_id: schedule_id.to_string(),
                        version,
                        next_wake_ms,
                        data: st.encode_to_vec(),
                    },
                    &visibility_row(namespace_id, schedule_id, &st, now),
                )
                .await;
            match written {
                Ok(()) => return Ok((st, version)),
                // Another cell wrote it meanwhile: look again. Starts made
                // above are idempotent (their request ids are fixed).
                Err(CellError::ConditionFailed) => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// The look itself; returns when to look next.
    async fn advance(
        &self,
        namespace_id: &str,
        schedule_id: &str,
        st: &mut StoredSchedule,
        now: i64,
    ) -> Option<i64> {
        let schedule = st.schedule.clone().unwrap_or_default();
        let spec = match CompiledSpec::new(&schedule.spec.clone().unwrap_or_default()) {
            Ok(spec) => spec,
            Err(err) => {
                tracing::warn!(%schedule_id, error = %err, "stored schedule spec no longer compiles");
                return None;
            }
        };
        let seed = orrery_schedules::jitter_seed(namespace_id, schedule_id);
        let policies = schedule.policies.unwrap_or_default();
        self.follow_runs(namespace_id, st, policies.pause_on_failure)
            .await;

        // Spec times that came due. While paused they pass untaken.
        let catchup = match duration_millis(policies.catchup_window.as_ref()) {
            0 => DEFAULT_CATCHUP_MS,
            ms => ms.max(MIN_CATCHUP_MS),
        };
        for _ in 0..MAX_TIMES_PER_LOOK {
            let Ok(Some(next)) = spec.next_after(to_datetime(st.last_processed_ms), &seed) else {
                break;
            };
            let actual = next.actual.timestamp_millis();
            if actual > now {
                break;
            }
            st.last_processed_ms = next.nominal.timestamp_millis();
            let state = st.schedule.as_mut().and_then(|s| s.state.as_mut());
            let paused = state.as_ref().is_some_and(|s| s.paused);
            if paused {
                continue;
            }
            if let Some(s) = state.filter(|s| s.limited_actions) {
                if s.remaining_actions <= 0 {
                    continue;
                }
                s.remaining_actions -= 1;
            }
            if now - actual > catchup {
                info_mut(st).missed_catchup_window += 1;
                continue;
            }
            st.buffered.push(BufferedStart {
                nominal_ms: st.last_processed_ms,
                actual_ms: actual,
                overlap_policy: 0,
                manual: false,
            });
        }

        let default_policy = match policies.overlap_policy {
            0 => ScheduleOverlapPolicy::Skip as i32,
            p => p,
        };
        let waiting = std::mem::take(&mut st.buffered);
        for start in waiting {
            let policy = match start.overlap_policy {
                0 => default_policy,
                p => p,
            };
            let running = !info_mut(st).running_workflows.is_empty();
            match ScheduleOverlapPolicy::try_from(policy).unwrap_or(ScheduleOverlapPolicy::Skip) {
                ScheduleOverlapPolicy::AllowAll => {}
                _ if !running && st.buffered.is_empty() => {}
                ScheduleOverlapPolicy::BufferOne => {
                    // One may wait; the real server counts the rest as
                    // skipped, not dropped.
                    if st.buffered.is_empty() {
                        st.buffered.push(start);
                    } else {
                        info_mut(st).overlap_skipped += 1;
                    }
                    continue;
                }
                ScheduleOverlapPolicy::BufferAll => {
                    st.buffered.push(start);
                    continue;
                }
                ScheduleOverlapPolicy::CancelOther => {
                    self.cancel_running(namespace_id, st).await;
                    st.buffered.push(start);
                    continue;
                }
                ScheduleOverlapPolicy::TerminateOther => {
                    self.terminate_running(namespace_id, st).await;
                }
                _ => {
                    info_mut(st).overlap_skipped += 1;
                    continue;
                }
            }
            // As the real server, runs under ALLOW_ALL are not followed:
            // they block nothing.
            let follow = policy != ScheduleOverlapPolicy::AllowAll as i32;
            self.start_run(namespace_id, schedule_id, st, &start, now, follow)
                .await;
        }
        let waiting = st.buffered.len() as i64;
        info_mut(st).buffer_size = waiting;

        let mut wake: Option<i64> = None;
        if !info_mut(st).running_workflows.is_empty() || !st.buffered.is_empty() {
            wake = Some(now + FOLLOW_INTERVAL_MS);
        }
        let state = schedule.state.unwrap_or_default();
        let exhausted = state.limited_actions && state.remaining_actions <= 0;
        if !state.paused
            && !exhausted
            && let Ok(Some(next)) = spec.next_after(to_datetime(st.last_processed_ms), &seed)
        {
            let at = next.actual.timestamp_millis();
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        wake
    }

    /// Drops the runs that closed from the running list, keeping what they
    /// leave the next run (result or failure) and pausing on failure.
    async fn follow_runs(
        &self,
        namespace_id: &str,
        st: &mut StoredSchedule,
        pause_on_failure: bool,
    ) {
        let running = std::mem::take(&mut info_mut(st).running_workflows);
        for run in running {
            let outcome = self
                .history
                .run_outcome(namespace_id, &run.workflow_id, &run.run_id)
                .await;
            let (status, close) = match outcome {
                Ok(o) => o,
                Err(CellError::NotFound(_)) => {
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, workflow_id = %run.workflow_id, "schedule could not follow its run");
                    info_mut(st).running_workflows.push(run);
                    continue;
                }
            };
            if status == WorkflowExecutionStatus::Running as i32 {
                info_mut(st).running_workflows.push(run);
                continue;
            }
            // The failure's message, when the run failed or timed out.
            let mut failed: Option<String> = None;
            match close.and_then(|e| e.attributes) {
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                    st.last_completion_result = a.result;
                    st.continued_failure = None;
                }
                Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                    failed = Some(
                        a.failure
                            .as_ref()
                            .map(|f| f.message.clone())
                            .unwrap_or_default(),
                    );
                    st.continued_failure = a.failure;
                }
                Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                    failed = Some("workflow timed out".into());
                }
                Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a)) => {
                    // The chain goes on: follow its new run.
                    info_mut(st).running_workflows.push(WorkflowExecution {
                        workflow_id: run.workflow_id.clone(),
                        run_id: a.new_execution_run_id,
                    });
                    continue;
                }
                _ => {}
            }
            for action in &mut info_mut(st).recent_actions {
                if action
                    .start_workflow_result
                    .as_ref()
                    .is_some_and(|r| r.workflow_id == run.workflow_id)
                {
                    action.start_workflow_status = status;
                }
            }
            st.cancel_requested.retain(|id| *id != run.workflow_id);
            if let Some(message) = failed
                && pause_on_failure
                && let Some(state) = st.schedule.as_mut().and_then(|s| s.state.as_mut())
            {
                state.paused = true;
                state.notes = format!(
                    "paused due to workflow failure: {}: {message}",
                    run.workflow_id
                );
            }
        }
    }

    async fn cancel_running(&self, namespace_id: &str, st: &mut StoredSchedule) {
        for run in info_mut(st).running_workflows.clone() {
            if st.cancel_requested.contains(&run.workflow_id) {
                continue;
            }
            let asked = self
                .history
                .scheduled_action(ScheduledAction {
                    kind: orrery_history::SCHEDULED_CANCEL,
                    namespace_id: namespace_id.to_string(),
                    execution: Some(run.clone()),
                    reason: "cancelled by schedule overlap policy".into(),
                    identity: "temporal-scheduler".into(),
                    ..Default::default()
                })
                .await;
            if let Err(err) = asked {
                tracing::debug!(error = %err, "cancel for overlap policy");
            }
            st.cancel_requested.push(run.workflow_id);
        }
    }

    async fn terminate_running(&self, namespace_id: &str, st: &mut StoredSchedule) {
        for run in info_mut(st).running_workflows.clone() {
            let done = self
                .history
                .scheduled_action(ScheduledAction {
                    kind: orrery_history::SCHEDULED_TERMINATE,
                    namespace_id: namespace_id.to_string(),
                    execution: Some(run.clone()),
                    reason: "terminated by schedule overlap policy".into(),
                    identity: "temporal-scheduler".into(),
                    ..Default::default()
                })
                .await;
            if let Err(err) = done {
                tracing::debug!(error = %err, "terminate for overlap policy");
            }
        }
        let pause_on_failure = false;
        self.follow_runs(namespace_id, st, pause_on_failure).await;
    }

    /// Starts the schedule's action for one time; the result goes into the
    /// schedule's info.
    async fn start_run(
        &self,
        namespace_id: &str,
        schedule_id: &str,
        st: &mut StoredSchedule,
        start: &BufferedStart,
        now: i64,
        follow: bool,
    ) {
        let action = st
            .schedule
            .as_ref()
            .and_then(|s| s.action.as_ref())
            .and_then(|a| a.action.clone());
        let Some(schedule_action::Action::StartWorkflow(wf)) = action else {
            return;
        };
        let nominal = to_datetime(start.nominal_ms);
        // The real server's id: the action's id and the nominal time.
        let workflow_id = format!(
            "{}-{}",
            wf.workflow_id,
            nominal.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let mut sa = wf.search_attributes.clone().unwrap_or_default();
        sa.indexed_fields.insert(
            "TemporalScheduledStartTime".into(),
            json_payload(
                serde_json::Value::String(
                    nominal.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                "Datetime",
            ),
        );
        sa.indexed_fields.insert(
            "TemporalScheduledById".into(),
            json_payload(
                serde_json::Value::String(schedule_id.to_string()),
                "Keyword",
            ),
        );
        let request = StartWorkflowExecutionRequest {
            namespace: st.namespace.clone(),
            workflow_id: workflow_id.clone(),
            workflow_type: wf.workflow_type.clone(),
            task_queue: wf.task_queue.clone(),
            input: wf.input.clone(),
            workflow_execution_timeout: wf.workflow_execution_timeout,
            workflow_run_timeout: wf.workflow_run_timeout,
            workflow_task_timeout: wf.workflow_task_timeout,
            identity: format!("temporal-scheduler-{}-{schedule_id}", st.namespace),
            // Fixed per schedule and time, so a start made again after a
            // lost write finds the run it made.
            request_id: format!("{schedule_id}:{}:{}", start.nominal_ms, start.manual),
            retry_policy: wf.retry_policy.clone(),
            memo: wf.memo.clone(),
            search_attributes: Some(sa),
            header: wf.header.clone(),
            user_metadata: wf.user_metadata.clone(),
            priority: wf.priority.clone(),
            last_completion_result: st.last_completion_result.clone(),
            continued_failure: st.continued_failure.clone(),
            ..Default::default()
        };
        // On whichever member owns the new run's shard.
        let started = self
            .history
            .scheduled_action(ScheduledAction {
                kind: orrery_history::SCHEDULED_START,
                namespace_id: namespace_id.to_string(),
                namespace: st.namespace.clone(),
                start: Some(request),
                ..Default::default()
            })
            .await;
        let run_id = match started {
            Ok(run_id) => run_id,
            Err(err) => {
                tracing::info!(%schedule_id, %workflow_id, error = %err, "scheduled start failed");
                return;
            }
        };
        let execution = WorkflowExecution {
            workflow_id,
            run_id,
        };
        let info = info_mut(st);
        info.action_count += 1;
        if follow {
            info.running_workflows.push(execution.clone());
        }
        info.recent_actions.push(ScheduleActionResult {
            schedule_time: Some(timestamp(start.actual_ms)),
            actual_time: Some(timestamp(now)),
            start_workflow_result: Some(execution),
            start_workflow_status: WorkflowExecutionStatus::Running as i32,
        });
        let excess = info.recent_actions.len().saturating_sub(RECENT_ACTIONS);
        info.recent_actions.drain(..excess);
    }
}

pub(crate) fn info_mut(st: &mut StoredSchedule) -> &mut ScheduleInfo {
    st.info.get_or_insert_with(Default::default)
}

pub(crate) fn not_found(schedule_id: &str) -> CellError {
    CellError::NotFound(format!("schedule \"{schedule_id}\" not found"))
}

/// The next action times describe and list show.
pub(crate) fn future_action_times(
    namespace_id: &str,
    schedule_id: &str,
    st: &StoredSchedule,
    now: i64,
    n: usize,
) -> Vec<prost_wkt_types::Timestamp> {
    let schedule = st.schedule.clone().unwrap_or_default();
    let Ok(spec) = CompiledSpec::new(&schedule.spec.unwrap_or_default()) else {
        return Vec::new();
    };
    let state = schedule.state.unwrap_or_default();
    let n = if state.limited_actions {
        n.min(state.remaining_actions.max(0) as usize)
    } else {
        n
    };
    let seed = orrery_schedules::jitter_seed(namespace_id, schedule_id);
    spec.future_times(to_datetime(st.last_processed_ms.max(now)), &seed, n)
        .into_iter()
        .map(|t| timestamp(t.actual.timestamp_millis()))
        .collect()
}

/// The schedule's row in visibility: what ListSchedules filters and returns.
pub(crate) fn visibility_row(
    namespace_id: &str,
    schedule_id: &str,
    st: &StoredSchedule,
    now: i64,
) -> VisibilityRow {
    let schedule = st.schedule.clone().unwrap_or_default();
    let state = schedule.state.clone().unwrap_or_default();
    let info = st.info.clone().unwrap_or_default();
    let workflow_type = match schedule.action.as_ref().and_then(|a| a.action.as_ref()) {
        Some(schedule_action::Action::StartWorkflow(wf)) => wf.workflow_type.clone(),
        None => None,
    };
    let entry = ScheduleListEntry {
        schedule_id: schedule_id.to_string(),
        memo: st.memo.clone(),
        search_attributes: st.search_attributes.clone(),
        info: Some(ScheduleListInfo {
            spec: schedule.spec.clone(),
            workflow_type,
            notes: state.notes.clone(),
            paused: state.paused,
            recent_actions: info.recent_actions.clone(),
            future_action_times: future_action_times(namespace_id, schedule_id, st, now, 5),
            state_size_bytes: 0,
        }),
    };
    let mut sa: SearchAttributes = st.search_attributes.clone().unwrap_or_default();
    sa.indexed_fields.insert(
        orrery_visibility::NAMESPACE_DIVISION.to_string(),
        json_payload(
            serde_json::Value::String(SCHEDULER_DIVISION.into()),
            "Keyword",
        ),
    );
    sa.indexed_fields.insert(
        "TemporalSchedulePaused".into(),
        json_payload(serde_json::Value::Bool(state.paused), "Bool"),
    );
    let create_ms = info
        .create_time
        .as_ref()
        .map(orrery_core::time::timestamp_millis)
        .unwrap_or(now);
    let run_id = schedule_run_id(schedule_id);
    VisibilityRow {
        namespace_id: namespace_id.to_string(),
        run_id: run_id.clone(),
        workflow_id: schedule_id.to_string(),
        workflow_type: SCHEDULER_WORKFLOW_TYPE.into(),
        status: WorkflowExecutionStatus::Running as i32,
        start_ms: create_ms,
        execution_ms: create_ms,
        root_workflow_id: schedule_id.to_string(),
        root_run_id: run_id,
        search_attributes: orrery_visibility::index_rows(
            &sa,
            &orrery_visibility::Catalog::default(),
        ),
        data: entry.encode_to_vec(),
        ..Default::default()
    }
}
