//! Standalone activities (StartActivityExecution and friends): an activity
//! run on its own, with an id of its own, outside any workflow.
//!
//! One is stored as a run in the namespace's *activity keyspace* (the
//! namespace id with `/activities` appended, which no namespace id can be),
//! so activity ids never collide with workflow ids, and the whole machinery
//! of runs is reused: fenced commits, the current-run pointer and id
//! policies, timers (timeouts, retries, start delay), matching, heartbeats,
//! pause. Such a run writes no history; its single activity keeps its
//! attempt state and, once closed, the run keeps the outcome.
use std::time::Duration;

use orrery_core::time::{duration, duration_millis, timestamp};
use orrery_core::{CellError, CellResult};
use orrery_persistence::CurrentWrite;
use orrery_proto::api::activity::v1::{
    ActivityExecutionInfo, ActivityExecutionOutcome, activity_execution_outcome,
};
use orrery_proto::api::common::v1::{ActivityType, Payload, Payloads};
use orrery_proto::api::enums::v1::{
    ActivityExecutionStatus, ActivityIdConflictPolicy, ActivityIdReusePolicy, PendingActivityState,
    WorkflowExecutionStatus,
};
use orrery_proto::api::failure::v1::{
    CanceledFailureInfo, Failure, TerminatedFailureInfo, failure::FailureInfo,
};
use orrery_proto::api::history::v1::ActivityTaskScheduledEventAttributes;
use orrery_proto::api::history::v1::history_event::Attributes;
use orrery_proto::api::workflowservice::v1::{
    DescribeActivityExecutionResponse, PollActivityExecutionResponse, StartActivityExecutionRequest,
};
use prost::Message;

use crate::commands::ActivityTimeouts;
use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::state::{ActivityInfo, ExecutionInfo, MutableState};
use crate::tasks::TimerKind;
use crate::workflow_task::task_queue;

const KEYSPACE_SUFFIX: &str = "/activities";
/// The single activity of a standalone run sits where a workflow's first
/// event would be.
const ACTIVITY_SLOT: i64 = 1;
/// How long Describe (with a token) and Poll wait for a change.
const LONG_POLL: Duration = Duration::from_secs(20);

/// Where a namespace's standalone activities are stored.
pub fn activity_keyspace(namespace_id: &str) -> String {
    format!("{namespace_id}{KEYSPACE_SUFFIX}")
}

/// The namespace whose task queues a run's activity tasks go to.
pub(crate) fn queue_namespace_id(info: &ExecutionInfo) -> String {
    if info.standalone_activity {
        info.namespace_id
            .strip_suffix(KEYSPACE_SUFFIX)
            .unwrap_or(&info.namespace_id)
            .to_string()
    } else {
        info.namespace_id.clone()
    }
}

fn activity_status(status: i32) -> ActivityExecutionStatus {
    match WorkflowExecutionStatus::try_from(status).unwrap_or(WorkflowExecutionStatus::Unspecified)
    {
        WorkflowExecutionStatus::Running => ActivityExecutionStatus::Running,
        WorkflowExecutionStatus::Completed => ActivityExecutionStatus::Completed,
        WorkflowExecutionStatus::Failed => ActivityExecutionStatus::Failed,
        WorkflowExecutionStatus::Canceled => ActivityExecutionStatus::Canceled,
        WorkflowExecutionStatus::Terminated => ActivityExecutionStatus::Terminated,
        WorkflowExecutionStatus::TimedOut => ActivityExecutionStatus::TimedOut,
        _ => ActivityExecutionStatus::Unspecified,
    }
}

/// The real server's words for a request that does not fit the state.
fn invalid_transition(status: i32) -> CellError {
    let name = match activity_status(status) {
        ActivityExecutionStatus::Completed => "Completed",
        ActivityExecutionStatus::Failed => "Failed",
        ActivityExecutionStatus::Canceled => "Canceled",
        ActivityExecutionStatus::Terminated => "Terminated",
        ActivityExecutionStatus::TimedOut => "TimedOut",
        _ => "Started",
    };
    CellError::FailedPrecondition(format!("invalid transition from {name}"))
}

fn not_found() -> CellError {
    CellError::NotFound("activity execution not found".into())
}

fn json_string(text: &str) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: format!("{text:?}").into_bytes(),
            ..Default::default()
        }],
    }
}

fn closed_unsuccessfully(status: i32) -> bool {
    status != WorkflowExecutionStatus::Running as i32
        && status != WorkflowExecutionStatus::Completed as i32
}

impl Mutation {
    /// Closes a standalone activity with the outcome its closing event
    /// would have carried; no event is written.
    pub(crate) fn close_standalone(&mut self, ai: ActivityInfo, closing: Attributes) {
        use activity_execution_outcome::Value;
        let (status, retry_state, value) = match closing {
            Attributes::ActivityTaskCompletedEventAttributes(a) => (
                WorkflowExecutionStatus::Completed,
                0,
                Value::Result(a.result.unwrap_or_default()),
            ),
            Attributes::ActivityTaskFailedEventAttributes(a) => (
                WorkflowExecutionStatus::Failed,
                a.retry_state,
                Value::Failure(a.failure.unwrap_or_default()),
            ),
            Attributes::ActivityTaskTimedOutEventAttributes(a) => (
                WorkflowExecutionStatus::TimedOut,
                a.retry_state,
                Value::Failure(a.failure.unwrap_or_default()),
            ),
            Attributes::ActivityTaskCanceledEventAttributes(a) => (
                WorkflowExecutionStatus::Canceled,
                0,
                Value::Failure(Failure {
                    message: "Activity canceled".into(),
                    failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                        details: a.details,
                        identity: a.identity,
                    })),
                    ..Default::default()
                }),
            ),
            _ => return,
        };
        self.finish_standalone(ai, status, retry_state, value);
    }

    fn finish_standalone(
        &mut self,
        ai: ActivityInfo,
        status: WorkflowExecutionStatus,
        retry_state: i32,
        value: activity_execution_outcome::Value,
    ) {
        // The activity stays, for describe; the run is closed.
        self.state.activities = vec![ai];
        let now = self.now;
        let info = self.info_mut();
        info.status = status as i32;
        info.close_time_ms = now;
        info.activity_outcome = Some(ActivityExecutionOutcome {
            value: Some(value),
            retry_state,
        });
        let run_id = info.run_id.clone();
        self.current = Some(CurrentWrite::Status {
            run_id,
            status: status as i32,
        });
        self.dirty = true;
        self.closed_now = true;
        self.update_visibility();
    }
}

impl HistoryEngine {
    /// StartActivityExecution: the run id, and whether it was started now.
    pub async fn start_activity_execution(
        &self,
        namespace_id: &str,
        namespace: &str,
        req: &StartActivityExecutionRequest,
    ) -> CellResult<(String, bool)> {
        let keyspace = activity_keyspace(namespace_id);
        let activity_id = req.activity_id.as_str();
        let _guard = self.lock(&keyspace, activity_id).await;
        let shard = self.shard(&keyspace, activity_id)?;
        let current = self
            .store
            .current_execution(shard.id, &keyspace, activity_id)
            .await?;
        if let Some(cur) = &current {
            if !req.request_id.is_empty() && cur.create_request_id == req.request_id {
                return Ok((cur.run_id.clone(), true));
            }
            let already = || CellError::ActivityAlreadyStarted {
                run_id: cur.run_id.clone(),
                start_request_id: cur.create_request_id.clone(),
            };
            if cur.status == WorkflowExecutionStatus::Running as i32 {
                if req.id_conflict_policy == ActivityIdConflictPolicy::UseExisting as i32 {
                    return Ok((cur.run_id.clone(), false));
                }
                return Err(already());
            }
            let allowed = match ActivityIdReusePolicy::try_from(req.id_reuse_policy)
                .unwrap_or(ActivityIdReusePolicy::Unspecified)
            {
                ActivityIdReusePolicy::RejectDuplicate => false,
                ActivityIdReusePolicy::AllowDuplicateFailedOnly => {
                    closed_unsuccessfully(cur.status)
                }
                _ => true,
            };
            if !allowed {
                return Err(already());
            }
        }
        let timeouts = ActivityTimeouts::normalize(
            [
                req.schedule_to_close_timeout.as_ref(),
                req.schedule_to_start_timeout.as_ref(),
                req.start_to_close_timeout.as_ref(),
                req.heartbeat_timeout.as_ref(),
            ],
            0,
        )
        .map_err(CellError::invalid)?;
        let run_id = crate::new_run_id();
        let mut m = self.new_mutation(&keyspace, activity_id)?;
        let now = m.now;
        let delay = duration_millis(req.start_delay.as_ref()).max(0);
        let queue = req
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        m.state.next_event_id = 1;
        m.state.info = Some(ExecutionInfo {
            namespace_id: keyspace.clone(),
            namespace: namespace.to_string(),
            workflow_id: activity_id.to_string(),
            run_id: run_id.clone(),
            workflow_type: req
                .activity_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            task_queue: queue.clone(),
            start_time_ms: now,
            execution_time_ms: now + delay,
            status: WorkflowExecutionStatus::Running as i32,
            search_attributes: req.search_attributes.clone(),
            create_request_id: req.request_id.clone(),
            header: req.header.clone(),
            user_metadata: req.user_metadata.clone(),
            priority: req.priority.clone(),
            first_execution_run_id: run_id.clone(),
            standalone_activity: true,
            ..Default::default()
        });
        m.state.activities.push(ActivityInfo {
            scheduled_event_id: ACTIVITY_SLOT,
            scheduled: Some(ActivityTaskScheduledEventAttributes {
                activity_id: activity_id.to_string(),
                activity_type: req.activity_type.clone(),
                task_queue: Some(task_queue(&queue, false, "")),
                header: req.header.clone(),
                input: req.input.clone(),
                schedule_to_close_timeout: Some(duration(timeouts.schedule_to_close)),
                schedule_to_start_timeout: Some(duration(timeouts.schedule_to_start)),
                start_to_close_timeout: Some(duration(timeouts.start_to_close)),
                heartbeat_timeout: Some(duration(timeouts.heartbeat)),
                retry_policy: Some(crate::retry::with_defaults(req.retry_policy.clone())),
                priority: req.priority.clone(),
                ..Default::default()
            }),
            attempt: 1,
            first_scheduled_time_ms: now,
            scheduled_time_ms: now + delay,
            ..Default::default()
        });
        m.dirty = true;
        if timeouts.schedule_to_close > 0 {
            let mut t = m.timer_task(TimerKind::ActivityTimeout);
            t.event_id = ACTIVITY_SLOT;
            t.timeout_type = orrery_proto::api::enums::v1::TimeoutType::ScheduleToClose as i32;
            m.timer(now + timeouts.schedule_to_close, t);
        }
        if delay > 0 {
            // The retry timer dispatches the first attempt when it is due.
            let mut t = m.timer_task(TimerKind::ActivityRetry);
            t.event_id = ACTIVITY_SLOT;
            t.attempt = 1;
            m.timer(now + delay, t);
        } else {
            m.dispatch_activity(ACTIVITY_SLOT);
        }
        m.update_visibility();
        m.current = Some(CurrentWrite::Set {
            run_id: run_id.clone(),
            create_request_id: req.request_id.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            previous_run_id: current.map(|c| c.run_id),
        });
        self.commit(m).await?;
        Ok((run_id, true))
    }

    async fn load_activity(
        &self,
        keyspace: &str,
        activity_id: &str,
        run_id: &str,
    ) -> CellResult<(MutableState, i64, String)> {
        let run_id = self
            .resolve_run(keyspace, activity_id, run_id)
            .await
            .map_err(|_| not_found())?;
        let (state, version) = self
            .load(keyspace, activity_id, &run_id)
            .await
            .map_err(|_| not_found())?;
        Ok((state, version, run_id))
    }

    /// DescribeActivityExecution; with a long-poll token, waits (up to 20 s)
    /// for the activity to change since the described state.
    #[allow(clippy::too_many_arguments)]
    pub async fn describe_activity_execution(
        &self,
        namespace_id: &str,
        activity_id: &str,
        run_id: &str,
        long_poll_token: &[u8],
        include_input: bool,
        include_outcome: bool,
    ) -> CellResult<DescribeActivityExecutionResponse> {
        let keyspace = activity_keyspace(namespace_id);
        let (mut state, mut version, run_id) =
            self.load_activity(&keyspace, activity_id, run_id).await?;
        if !long_poll_token.is_empty() {
            let seen = std::str::from_utf8(long_poll_token)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| CellError::invalid("Invalid long poll token."))?;
            let deadline = tokio::time::Instant::now() + LONG_POLL;
            let mut changes = self.watch_run(&run_id);
            while version == seen && self.wait_change(&mut changes, deadline).await {
                (state, version, _) = self.load_activity(&keyspace, activity_id, &run_id).await?;
            }
        }
        let info = state.info.clone().unwrap_or_default();
        let ai = state.activities.first().cloned().unwrap_or_default();
        Ok(DescribeActivityExecutionResponse {
            run_id: run_id.clone(),
            info: Some(execution_info(&info, &ai, version, state.encoded_len())),
            input: include_input
                .then(|| ai.scheduled.as_ref().and_then(|s| s.input.clone()))
                .flatten(),
            outcome: include_outcome
                .then(|| info.activity_outcome.clone())
                .flatten(),
            long_poll_token: version.to_string().into_bytes(),
            ..Default::default()
        })
    }

    /// PollActivityExecution: the outcome once closed; waits up to 20 s,
    /// then answers without one (clients poll again).
    pub async fn poll_activity_execution(
        &self,
        namespace_id: &str,
        activity_id: &str,
        run_id: &str,
    ) -> CellResult<PollActivityExecutionResponse> {
        let keyspace = activity_keyspace(namespace_id);
        let (mut state, _, run_id) = self.load_activity(&keyspace, activity_id, run_id).await?;
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        let mut changes = self.watch_run(&run_id);
        loop {
            let outcome = state.info.as_ref().and_then(|i| i.activity_outcome.clone());
            if outcome.is_some() || !self.wait_change(&mut changes, deadline).await {
                return Ok(PollActivityExecutionResponse {
                    run_id: run_id.clone(),
                    outcome,
                });
            }
            (state, _, _) = self.load_activity(&keyspace, activity_id, &run_id).await?;
        }
    }

    /// RequestCancelActivityExecution: an activity not started yet is
    /// canceled at once; a running one is told through its heartbeats.
    pub async fn cancel_activity_execution(
        &self,
        namespace_id: &str,
        activity_id: &str,
        run_id: &str,
        reason: &str,
        identity: &str,
    ) -> CellResult<()> {
        self.update_running_activity(namespace_id, activity_id, run_id, |m| {
            m.info_mut().canceled_reason = reason.to_string();
            let ai = m.state.activities.first_mut().ok_or_else(not_found)?;
            if ai.started_time_ms == 0 {
                let ai = ai.clone();
                m.close_standalone(
                    ai,
                    orrery_proto::api::history::v1::ActivityTaskCanceledEventAttributes {
                        details: Some(json_string(reason)),
                        identity: identity.to_string(),
                        ..Default::default()
                    }
                    .into(),
                );
            } else {
                ai.cancel_requested = true;
            }
            m.dirty = true;
            Ok(())
        })
        .await
    }

    /// Applies `f` to a standalone activity that still runs; one that
    /// closed answers the real server's invalid-transition error.
    async fn update_running_activity(
        &self,
        namespace_id: &str,
        activity_id: &str,
        run_id: &str,
        mut f: impl FnMut(&mut Mutation) -> CellResult<()>,
    ) -> CellResult<()> {
        let keyspace = activity_keyspace(namespace_id);
        let run_id = self
            .resolve_run(&keyspace, activity_id, run_id)
            .await
            .map_err(|_| not_found())?;
        self.update(&keyspace, activity_id, &run_id, |m| {
            let status = m.info().status;
            if status != WorkflowExecutionStatus::Running as i32 {
                return Err(invalid_transition(status));
            }
            f(m)
        })
        .await
    }

    /// TerminateActivityExecution: closed at once; the running attempt's
    /// completion will find nothing.
    pub async fn terminate_activity_execution(
        &self,
        namespace_id: &str,
        activity_id: &str,
        run_id: &str,
        reason: &str,
        identity: &str,
    ) -> CellResult<()> {
        self.update_running_activity(namespace_id, activity_id, run_id, |m| {
            let ai = m.state.activities.first().cloned().ok_or_else(not_found)?;
            let failure = Failure {
                message: reason.to_string(),
                source: "Server".into(),
                failure_info: Some(FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo {
                    identity: identity.to_string(),
                })),
                ..Default::default()
            };
            m.finish_standalone(
                ai,
                WorkflowExecutionStatus::Terminated,
                0,
                activity_execution_outcome::Value::Failure(failure),
            );
            Ok(())
        })
        .await
    }

    /// DeleteActivityExecution: terminated first if it still runs.
    pub async fn delete_activity_execution(
        &self,
        namespace_id: &str,
        activity_id: &str,
        run_id: &str,
    ) -> CellResult<()> {
        let execution = orrery_proto::api::common::v1::WorkflowExecution {
            workflow_id: activity_id.to_string(),
            run_id: run_id.to_string(),
        };
        let keyspace = activity_keyspace(namespace_id);
        if let Ok(run_id) = self.resolve_run(&keyspace, activity_id, run_id).await {
            let running = self
                .load(&keyspace, activity_id, &run_id)
                .await?
                .0
                .info
                .is_some_and(|i| i.status == WorkflowExecutionStatus::Running as i32);
            if running {
                self.terminate_activity_execution(
                    namespace_id,
                    activity_id,
                    &run_id,
                    "Delete activity execution",
                    "",
                )
                .await?;
            }
        }
        self.delete_workflow(&keyspace, &execution, "")
            .await
            .map_err(|e| match e {
                CellError::NotFound(_) => not_found(),
                other => other,
            })
    }
}

/// What DescribeActivityExecution reports about a standalone activity.
fn execution_info(
    info: &ExecutionInfo,
    ai: &ActivityInfo,
    version: i64,
    state_size: usize,
) -> ActivityExecutionInfo {
    let scheduled = ai.scheduled.clone().unwrap_or_default();
    let status = activity_status(info.status);
    let running = status == ActivityExecutionStatus::Running;
    let s2c = duration_millis(scheduled.schedule_to_close_timeout.as_ref());
    let waiting_retry = running && ai.started_time_ms == 0 && ai.attempt > 1;
    ActivityExecutionInfo {
        activity_id: scheduled.activity_id.clone(),
        run_id: info.run_id.clone(),
        activity_type: Some(ActivityType {
            name: info.workflow_type.clone(),
        }),
        status: status as i32,
        run_state: if !running {
            PendingActivityState::Unspecified
        } else if ai.cancel_requested {
            PendingActivityState::CancelRequested
        } else if ai.paused {
            PendingActivityState::Paused
        } else if ai.started_time_ms > 0 {
            PendingActivityState::Started
        } else {
            PendingActivityState::Scheduled
        } as i32,
        task_queue: info.task_queue.clone(),
        schedule_to_close_timeout: scheduled.schedule_to_close_timeout,
        schedule_to_start_timeout: scheduled.schedule_to_start_timeout,
        start_to_close_timeout: scheduled.start_to_close_timeout,
        heartbeat_timeout: scheduled.heartbeat_timeout,
        retry_policy: scheduled.retry_policy,
        heartbeat_details: ai.heartbeat_details.clone(),
        last_heartbeat_time: (ai.started_time_ms > 0 && ai.last_heartbeat_ms > ai.started_time_ms)
            .then(|| timestamp(ai.last_heartbeat_ms)),
        last_started_time: (ai.started_time_ms > 0).then(|| timestamp(ai.started_time_ms)),
        attempt: ai.attempt,
        execution_duration: (info.close_time_ms > 0)
            .then(|| duration(info.close_time_ms - info.start_time_ms)),
        schedule_time: Some(timestamp(info.start_time_ms)),
        expiration_time: (s2c > 0).then(|| timestamp(ai.first_scheduled_time_ms + s2c)),
        close_time: (info.close_time_ms > 0).then(|| timestamp(info.close_time_ms)),
        last_failure: ai.last_failure.clone(),
        last_worker_identity: ai.last_worker_identity.clone(),
        next_attempt_schedule_time: waiting_retry.then(|| timestamp(ai.scheduled_time_ms)),
        priority: info.priority.clone(),
        state_transition_count: version,
        state_size_bytes: state_size as i64,
        search_attributes: Some(info.search_attributes.clone().unwrap_or_default()),
        header: info.header.clone(),
        user_metadata: info.user_metadata.clone(),
        canceled_reason: info.canceled_reason.clone(),
        start_delay: (info.execution_time_ms > info.start_time_ms)
            .then(|| duration(info.execution_time_ms - info.start_time_ms)),
        execution_time: Some(timestamp(info.execution_time_ms)),
        ..Default::default()
    }
}
