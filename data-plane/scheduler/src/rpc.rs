//! The schedule RPCs. The frontend has checked the namespace and the search
//! attributes; these check the schedule itself.
use orrery_core::time::{duration, duration_millis, now_millis, timestamp, timestamp_millis};
use orrery_core::{CellError, CellResult};
use orrery_persistence::ScheduleRecord;
use orrery_proto::api::schedule::v1::{Schedule, SchedulePatch, schedule_action};
use orrery_proto::api::workflowservice::v1::*;
use orrery_schedules::{CompiledSpec, canonical_spec};
use prost::Message;

use crate::Scheduler;
use crate::process::{future_action_times, info_mut, not_found, to_datetime, visibility_row};
use crate::state::{BufferedStart, StoredSchedule};

/// The namespace a call is about.
#[derive(Clone, Copy)]
pub struct NamespaceRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// How many action times describe shows.
const FUTURE_ACTION_TIMES: usize = 10;
/// The most times one backfill may start (the real server's limit on a
/// backfill's buffer).
const MAX_BACKFILL: usize = 1000;

fn conflict_token(version: i64) -> Vec<u8> {
    version.to_be_bytes().to_vec()
}

/// Checks a schedule as sent and brings it to the form describe returns.
/// As on the real server, a schedule without an action (or without a
/// schedule at all) is accepted; one with an action needs its type and
/// task queue.
fn checked_schedule(schedule: Option<Schedule>) -> CellResult<Schedule> {
    let mut schedule = schedule.unwrap_or_default();
    let spec = canonical_spec(&schedule.spec.clone().unwrap_or_default())
        .map_err(|e| CellError::invalid(e.to_string()))?;
    CompiledSpec::new(&spec).map_err(|e| CellError::invalid(e.to_string()))?;
    schedule.spec = Some(spec);
    schedule.state.get_or_insert_with(Default::default);
    let Some(schedule_action::Action::StartWorkflow(wf)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
    else {
        return Ok(schedule);
    };
    if wf.workflow_id.len() > orrery_core::limits::MAX_ID_LENGTH {
        return Err(CellError::invalid(
            "WorkflowId on the schedule's action exceeds length limit.",
        ));
    }
    if wf.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
        return Err(CellError::invalid(
            "WorkflowType is not set on the schedule's action.",
        ));
    }
    if wf.task_queue.as_ref().is_none_or(|t| t.name.is_empty()) {
        return Err(CellError::invalid(
            "TaskQueue is not set on the schedule's action.",
        ));
    }
    if !wf.cron_schedule.is_empty() {
        return Err(CellError::invalid(
            "CronSchedule may not be set on a schedule's action.",
        ));
    }
    // As the real server: a retry policy's maximum interval defaults to a
    // hundred initial intervals.
    if let Some(p) = wf.retry_policy.as_mut()
        && duration_millis(p.maximum_interval.as_ref()) == 0
    {
        let initial = match duration_millis(p.initial_interval.as_ref()) {
            0 => 1000,
            ms => ms,
        };
        p.maximum_interval = Some(duration(initial * 100));
    }
    if schedule
        .state
        .as_ref()
        .is_some_and(|s| s.limited_actions && s.remaining_actions < 0)
    {
        return Err(CellError::invalid("RemainingActions may not be negative."));
    }
    Ok(schedule)
}

fn required_id(schedule_id: &str) -> CellResult<()> {
    if schedule_id.is_empty() {
        return Err(CellError::invalid("ScheduleId is not set on request."));
    }
    if schedule_id.len() > orrery_core::limits::MAX_ID_LENGTH {
        return Err(CellError::invalid("ScheduleId exceeds length limit."));
    }
    Ok(())
}

/// Applies a patch: triggers and backfills become waiting starts.
fn apply_patch(
    st: &mut StoredSchedule,
    patch: &SchedulePatch,
    namespace_id: &str,
    schedule_id: &str,
    now: i64,
) -> CellResult<()> {
    let spec = st
        .schedule
        .as_ref()
        .and_then(|s| s.spec.clone())
        .unwrap_or_default();
    if let Some(trigger) = &patch.trigger_immediately {
        let at = trigger
            .scheduled_time
            .as_ref()
            .map(timestamp_millis)
            .unwrap_or(now);
        st.buffered.push(BufferedStart {
            nominal_ms: at,
            actual_ms: at,
            overlap_policy: trigger.overlap_policy,
            manual: true,
        });
    }
    if !patch.backfill_request.is_empty() {
        let compiled = CompiledSpec::new(&spec).map_err(|e| CellError::invalid(e.to_string()))?;
        let seed = orrery_schedules::jitter_seed(namespace_id, schedule_id);
        for b in &patch.backfill_request {
            let (Some(start), Some(end)) = (&b.start_time, &b.end_time) else {
                return Err(CellError::invalid(
                    "Backfill start and end times must be set.",
                ));
            };
            let times = compiled
                .backfill_times(
                    to_datetime(timestamp_millis(start)),
                    to_datetime(timestamp_millis(end)),
                    &seed,
                    MAX_BACKFILL,
                )
                .map_err(|e| CellError::invalid(e.to_string()))?;
            for t in times {
                st.buffered.push(BufferedStart {
                    nominal_ms: t.nominal.timestamp_millis(),
                    actual_ms: t.actual.timestamp_millis(),
                    overlap_policy: b.overlap_policy,
                    manual: true,
                });
            }
        }
    }
    let state = st
        .schedule
        .get_or_insert_with(Default::default)
        .state
        .get_or_insert_with(Default::default);
    if !patch.pause.is_empty() {
        state.paused = true;
        state.notes = patch.pause.clone();
    }
    if !patch.unpause.is_empty() {
        if state.paused {
            // Times that passed while paused are not taken afterwards.
            st.last_processed_ms = st.last_processed_ms.max(now);
        }
        let state = st
            .schedule
            .get_or_insert_with(Default::default)
            .state
            .get_or_insert_with(Default::default);
        state.paused = false;
        state.notes = patch.unpause.clone();
    }
    Ok(())
}

impl Scheduler {
    pub async fn create(
        &self,
        ns: NamespaceRef<'_>,
        req: CreateScheduleRequest,
    ) -> CellResult<CreateScheduleResponse> {
        required_id(&req.schedule_id)?;
        let schedule = checked_schedule(req.schedule)?;
        let now = now_millis();
        let mut st = StoredSchedule {
            schedule: Some(schedule),
            memo: req.memo,
            search_attributes: req.search_attributes,
            last_processed_ms: now,
            namespace: ns.name.to_string(),
            ..Default::default()
        };
        let info = info_mut(&mut st);
        info.create_time = Some(timestamp(now));
        if let Some(patch) = &req.initial_patch {
            apply_patch(&mut st, patch, ns.id, &req.schedule_id, now)?;
        }
        let record = ScheduleRecord {
            namespace_id: ns.id.to_string(),
            schedule_id: req.schedule_id.clone(),
            version: 1,
            next_wake_ms: Some(now),
            data: st.encode_to_vec(),
        };
        let row = visibility_row(ns.id, &req.schedule_id, &st, now);
        self.store
            .create_schedule(&record, &row)
            .await
            .map_err(|e| match e {
                // The SDKs read this detail as "schedule already running".
                CellError::ConditionFailed => CellError::WorkflowAlreadyStarted {
                    workflow_id: req.schedule_id.clone(),
                    run_id: String::new(),
                    start_request_id: String::new(),
                },
                other => other,
            })?;
        let (_, version) = self.process(ns.id, &req.schedule_id, None).await?;
        self.wake.notify_one();
        Ok(CreateScheduleResponse {
            conflict_token: conflict_token(version),
        })
    }

    pub async fn describe(
        &self,
        ns: NamespaceRef<'_>,
        schedule_id: &str,
    ) -> CellResult<DescribeScheduleResponse> {
        required_id(schedule_id)?;
        let (st, version) = self.process(ns.id, schedule_id, None).await?;
        let now = now_millis();
        let mut info = st.info.clone().unwrap_or_default();
        info.future_action_times =
            future_action_times(ns.id, schedule_id, &st, now, FUTURE_ACTION_TIMES);
        info.buffer_size = st.buffered.len() as i64;
        Ok(DescribeScheduleResponse {
            schedule: st.schedule,
            info: Some(info),
            memo: st.memo,
            search_attributes: st.search_attributes,
            conflict_token: conflict_token(version),
        })
    }

    pub async fn update(
        &self,
        ns: NamespaceRef<'_>,
        req: UpdateScheduleRequest,
    ) -> CellResult<UpdateScheduleResponse> {
        required_id(&req.schedule_id)?;
        let schedule = checked_schedule(req.schedule)?;
        let expected = req.conflict_token.clone();
        let change = |st: &mut StoredSchedule, now: i64| -> CellResult<()> {
            let was_paused = st
                .schedule
                .as_ref()
                .and_then(|s| s.state.as_ref())
                .is_some_and(|s| s.paused);
            if was_paused && !schedule.state.as_ref().is_some_and(|s| s.paused) {
                st.last_processed_ms = st.last_processed_ms.max(now);
            }
            // A new spec starts from now: times it would have matched before
            // are not made up for.
            if st.schedule.as_ref().and_then(|s| s.spec.as_ref()) != schedule.spec.as_ref() {
                st.last_processed_ms = st.last_processed_ms.max(now);
            }
            st.schedule = Some(schedule.clone());
            if let Some(sa) = &req.search_attributes {
                st.search_attributes = Some(sa.clone());
            }
            if let Some(memo) = &req.memo {
                st.memo = Some(memo.clone());
            }
            info_mut(st).update_time = Some(timestamp(now));
            Ok(())
        };
        if !expected.is_empty() {
            let current = self.current_version(ns.id, &req.schedule_id).await?;
            if conflict_token(current) != expected {
                return Err(CellError::FailedPrecondition(
                    "mismatched conflict token".into(),
                ));
            }
        }
        self.process(ns.id, &req.schedule_id, Some(&change)).await?;
        self.wake.notify_one();
        Ok(UpdateScheduleResponse {})
    }

    async fn current_version(&self, namespace_id: &str, schedule_id: &str) -> CellResult<i64> {
        Ok(self
            .store
            .schedule(namespace_id, schedule_id)
            .await?
            .ok_or_else(|| not_found(schedule_id))?
            .version)
    }

    pub async fn patch(
        &self,
        ns: NamespaceRef<'_>,
        req: PatchScheduleRequest,
    ) -> CellResult<PatchScheduleResponse> {
        required_id(&req.schedule_id)?;
        let patch = req.patch.unwrap_or_default();
        let schedule_id = req.schedule_id.clone();
        // As the real server, a patch leaves `update_time` alone.
        let change =
            |st: &mut StoredSchedule, now: i64| apply_patch(st, &patch, ns.id, &schedule_id, now);
        self.process(ns.id, &req.schedule_id, Some(&change)).await?;
        self.wake.notify_one();
        Ok(PatchScheduleResponse {})
    }

    pub async fn delete(
        &self,
        ns: NamespaceRef<'_>,
        schedule_id: &str,
    ) -> CellResult<DeleteScheduleResponse> {
        required_id(schedule_id)?;
        let _guard = self.lock_for(ns.id, schedule_id).lock().await;
        if !self.store.delete_schedule(ns.id, schedule_id).await? {
            return Err(not_found(schedule_id));
        }
        Ok(DeleteScheduleResponse {})
    }

    pub async fn matching_times(
        &self,
        ns: NamespaceRef<'_>,
        req: ListScheduleMatchingTimesRequest,
    ) -> CellResult<ListScheduleMatchingTimesResponse> {
        required_id(&req.schedule_id)?;
        let (Some(start), Some(end)) = (&req.start_time, &req.end_time) else {
            return Err(CellError::invalid("StartTime and EndTime must be set."));
        };
        let record = self
            .store
            .schedule(ns.id, &req.schedule_id)
            .await?
            .ok_or_else(|| not_found(&req.schedule_id))?;
        let st = StoredSchedule::decode(record.data.as_slice()).map_err(CellError::internal)?;
        let spec = st.schedule.and_then(|s| s.spec).unwrap_or_default();
        let compiled = CompiledSpec::new(&spec).map_err(|e| CellError::invalid(e.to_string()))?;
        let seed = orrery_schedules::jitter_seed(ns.id, &req.schedule_id);
        let times = compiled
            .matching_times(
                to_datetime(timestamp_millis(start)),
                to_datetime(timestamp_millis(end)),
                &seed,
            )
            .map_err(|e| CellError::invalid(e.to_string()))?;
        Ok(ListScheduleMatchingTimesResponse {
            start_time: times
                .into_iter()
                .map(|t| timestamp(t.timestamp_millis()))
                .collect(),
        })
    }
}

/// The list entry stored in a schedule's visibility row.
pub fn list_entry(data: &[u8]) -> CellResult<orrery_proto::api::schedule::v1::ScheduleListEntry> {
    orrery_proto::api::schedule::v1::ScheduleListEntry::decode(data).map_err(CellError::internal)
}
