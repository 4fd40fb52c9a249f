//! Activity tasks: handing one to a poller, heartbeats, and the three ways
//! an attempt ends (completed, failed, canceled), by token or by id. Retries
//! leave no events; only the final outcome writes started + closing events.
use orrery_core::actions::Action;
use orrery_core::matching::QueueTask;
use orrery_core::time::timestamp;
use orrery_core::token::{KIND_ACTIVITY, TaskToken};
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::{Payloads, WorkflowExecution, WorkflowType};
use orrery_proto::api::enums::v1::{RetryState, TimeoutType};
use orrery_proto::api::failure::v1::failure::FailureInfo;
use orrery_proto::api::failure::v1::{Failure, TimeoutFailureInfo};
use orrery_proto::api::history::v1::*;
use orrery_proto::api::workflowservice::v1::PollActivityTaskQueueResponse;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::retry::{RetryDecision, next_retry};
use crate::state::{ActivityInfo, ExecutionInfo};
use crate::tasks::TimerKind;

fn activity_not_found() -> CellError {
    CellError::NotFound("Activity task not found.".into())
}

/// Which activity a completion names.
pub enum ActivityRef<'a> {
    Token(&'a TaskToken),
    Id(&'a str),
}

/// What a heartbeat tells the worker running the attempt.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeartbeatReply {
    pub cancel_requested: bool,
    pub paused: bool,
    pub reset: bool,
}

/// How an attempt ended.
pub enum ActivityOutcome {
    Completed(Option<Payloads>),
    Failed {
        failure: Box<Option<Failure>>,
        last_heartbeat_details: Option<Payloads>,
    },
    Canceled(Option<Payloads>),
}

impl Mutation {
    fn activity_index(&self, r: &ActivityRef<'_>) -> CellResult<usize> {
        if !self.is_running() {
            return Err(CellError::NotFound(
                "workflow execution already completed".into(),
            ));
        }
        let pos = match r {
            ActivityRef::Token(t) => self
                .state
                .activities
                .iter()
                .position(|a| a.scheduled_event_id == t.scheduled_event_id),
            ActivityRef::Id(id) => self
                .state
                .activities
                .iter()
                .position(|a| a.scheduled.as_ref().is_some_and(|s| s.activity_id == *id)),
        }
        .ok_or_else(activity_not_found)?;
        let ai = &self.state.activities[pos];
        match r {
            ActivityRef::Token(t) if ai.attempt != t.attempt || ai.started_time_ms == 0 => {
                Err(activity_not_found())
            }
            _ => Ok(pos),
        }
    }

    /// Writes the (deferred) started event and the closing event of an
    /// activity's final attempt, removes it and asks for a workflow task.
    fn close_activity(
        &mut self,
        pos: usize,
        closing: impl FnOnce(i64, i64) -> history_event::Attributes,
    ) {
        let ai = self.state.activities.remove(pos);
        if self.info().standalone_activity {
            let attributes = closing(ai.scheduled_event_id, 0);
            self.close_standalone(ai, attributes);
            return;
        }
        let started_event_id = if ai.started_time_ms > 0 {
            let id = self.state.next_event_id;
            self.add_or_buffer(ActivityTaskStartedEventAttributes {
                scheduled_event_id: ai.scheduled_event_id,
                identity: ai.started_identity.clone(),
                request_id: ai.request_id.clone(),
                attempt: ai.attempt,
                last_failure: ai.last_failure.clone(),
                ..Default::default()
            });
            // Buffered events get their ids at flush; the flush rewrites this.
            if self.workflow_task_started() { 0 } else { id }
        } else {
            0
        };
        let attributes = closing(ai.scheduled_event_id, started_event_id);
        self.add_or_buffer(attributes);
        self.schedule_workflow_task();
    }

    /// Ends the running attempt with `failure`: retries per the policy, or
    /// closes the activity with a failed (or timed-out) event.
    pub(crate) fn fail_activity_attempt(
        &mut self,
        pos: usize,
        failure: Option<Failure>,
        heartbeat_details: Option<Payloads>,
        identity: &str,
        timeout: Option<TimeoutType>,
    ) {
        let ai = self.state.activities[pos].clone();
        let scheduled = ai.scheduled.clone().unwrap_or_default();
        let s2c = orrery_core::time::duration_millis(scheduled.schedule_to_close_timeout.as_ref());
        let expiration = if s2c > 0 {
            ai.first_scheduled_time_ms + s2c
        } else {
            0
        };
        let mut decision = match timeout {
            // Neither waiting too long to start nor the overall deadline is retried.
            Some(TimeoutType::ScheduleToStart | TimeoutType::ScheduleToClose) => {
                RetryDecision::Stop(RetryState::Timeout)
            }
            _ => next_retry(
                scheduled.retry_policy.as_ref(),
                ai.attempt,
                failure.as_ref(),
                self.now,
                expiration,
            ),
        };
        if let (RetryDecision::Retry { .. }, Some(FailureInfo::ApplicationFailureInfo(app))) = (
            &decision,
            failure.as_ref().and_then(|f| f.failure_info.as_ref()),
        ) && let delay @ 1.. = orrery_core::time::duration_millis(app.next_retry_delay.as_ref())
        {
            decision = RetryDecision::Retry { backoff_ms: delay };
        }
        if heartbeat_details.is_some() {
            self.state.activities[pos].heartbeat_details = heartbeat_details;
        }
        match decision {
            RetryDecision::Retry { backoff_ms } => {
                let mut t = self.timer_task(TimerKind::ActivityRetry);
                let ai = &mut self.state.activities[pos];
                // A paused activity waits for its unpause instead.
                let paused = ai.paused;
                // A reset while this attempt ran starts the count again.
                if ai.reset_requested {
                    ai.attempt = 0;
                    ai.reset_requested = false;
                }
                ai.attempt += 1;
                ai.started_time_ms = 0;
                ai.last_failure = failure;
                ai.last_worker_identity = identity.to_string();
                ai.scheduled_time_ms = self.now + backoff_ms;
                ai.heartbeat_timer_ms = 0;
                ai.last_heartbeat_ms = 0;
                t.event_id = ai.scheduled_event_id;
                t.attempt = ai.attempt;
                self.dirty = true;
                if !paused {
                    self.timer(self.now + backoff_ms, t);
                }
            }
            RetryDecision::Stop(retry_state) => {
                let identity = identity.to_string();
                match timeout {
                    Some(_) => self.close_activity(pos, |scheduled_event_id, started_event_id| {
                        ActivityTaskTimedOutEventAttributes {
                            failure,
                            scheduled_event_id,
                            started_event_id,
                            retry_state: retry_state as i32,
                        }
                        .into()
                    }),
                    None => self.close_activity(pos, |scheduled_event_id, started_event_id| {
                        ActivityTaskFailedEventAttributes {
                            failure,
                            scheduled_event_id,
                            started_event_id,
                            identity,
                            retry_state: retry_state as i32,
                            ..Default::default()
                        }
                        .into()
                    }),
                }
            }
        }
    }

    pub(crate) fn finish_activity(
        &mut self,
        r: &ActivityRef<'_>,
        outcome: ActivityOutcome,
        identity: &str,
    ) -> CellResult<()> {
        let pos = self.activity_index(r)?;
        let identity_owned = identity.to_string();
        match outcome {
            ActivityOutcome::Completed(result) => {
                self.close_activity(pos, |scheduled_event_id, started_event_id| {
                    ActivityTaskCompletedEventAttributes {
                        result,
                        scheduled_event_id,
                        started_event_id,
                        identity: identity_owned,
                        ..Default::default()
                    }
                    .into()
                });
            }
            ActivityOutcome::Failed {
                failure,
                last_heartbeat_details,
            } => self.fail_activity_attempt(pos, *failure, last_heartbeat_details, identity, None),
            // A worker stopping an attempt because the activity was paused
            // ends the attempt only: the activity waits, paused.
            ActivityOutcome::Canceled(details)
                if self.state.activities[pos].paused
                    && !self.state.activities[pos].cancel_requested =>
            {
                let failure = Failure {
                    message: "activity paused".into(),
                    failure_info: Some(FailureInfo::CanceledFailureInfo(Default::default())),
                    ..Default::default()
                };
                self.fail_activity_attempt(pos, Some(failure), details, identity, None);
            }
            // A standalone activity is canceled only once asked to be.
            ActivityOutcome::Canceled(_)
                if self.info().standalone_activity
                    && !self.state.activities[pos].cancel_requested =>
            {
                return Err(CellError::FailedPrecondition(
                    "invalid transition from Started: unable to mark activity as canceled".into(),
                ));
            }
            ActivityOutcome::Canceled(details) => {
                let latest = self.state.activities[pos].cancel_requested_event_id;
                self.close_activity(pos, |scheduled_event_id, started_event_id| {
                    ActivityTaskCanceledEventAttributes {
                        details,
                        latest_cancel_requested_event_id: latest,
                        scheduled_event_id,
                        started_event_id,
                        identity: identity_owned,
                        ..Default::default()
                    }
                    .into()
                });
            }
        }
        Ok(())
    }

    /// A timeout failure as the real server writes it: named after the
    /// timeout, from "Server", with the previous attempt's failure as cause.
    /// Records the pending attempt of an activity started by `identity`
    /// (the started event waits for the outcome, as in Temporal) and arms
    /// its start-to-close and heartbeat timers.
    pub(crate) fn start_activity(
        &mut self,
        scheduled_event_id: i64,
        identity: &str,
        request_id: &str,
    ) -> CellResult<ActivityInfo> {
        let now = self.now;
        let Some(ai) = self
            .state
            .activities
            .iter_mut()
            .find(|a| a.scheduled_event_id == scheduled_event_id)
        else {
            return Err(activity_not_found());
        };
        // A retry waiting for its backoff, an attempt already running, or a
        // paused activity (its queued task is dropped; unpausing queues anew).
        if ai.started_time_ms > 0 || ai.scheduled_time_ms > now || ai.paused {
            return Err(activity_not_found());
        }
        ai.started_time_ms = now;
        ai.started_identity = identity.to_string();
        ai.request_id = request_id.to_string();
        ai.last_heartbeat_ms = now;
        let ai = ai.clone();
        self.dirty = true;
        // Each attempt that starts is one Action; a reset activity starts
        // again from attempt 1.
        self.count(if ai.attempt <= 1 {
            Action::ActivityStarted
        } else {
            Action::ActivityRetried
        });
        let scheduled = ai.scheduled.clone().unwrap_or_default();
        let st2c = orrery_core::time::duration_millis(scheduled.start_to_close_timeout.as_ref());
        if st2c > 0 {
            let mut t = self.timer_task(TimerKind::ActivityTimeout);
            t.event_id = ai.scheduled_event_id;
            t.attempt = ai.attempt;
            t.timeout_type = TimeoutType::StartToClose as i32;
            self.timer(now + st2c, t);
        }
        self.arm_heartbeat_timer(ai.scheduled_event_id);
        Ok(ai)
    }

    pub(crate) fn timeout_failure(ai: &ActivityInfo, timeout: TimeoutType) -> Failure {
        let name = match timeout {
            TimeoutType::StartToClose => "StartToClose",
            TimeoutType::ScheduleToStart => "ScheduleToStart",
            TimeoutType::ScheduleToClose => "ScheduleToClose",
            TimeoutType::Heartbeat => "Heartbeat",
            TimeoutType::Unspecified => "Unspecified",
        };
        Failure {
            message: format!("activity {name} timeout"),
            source: "Server".into(),
            cause: ai.last_failure.clone().map(Box::new),
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: timeout as i32,
                last_heartbeat_details: ai.heartbeat_details.clone(),
            })),
            ..Default::default()
        }
    }
}

impl HistoryEngine {
    pub async fn record_activity_task_started(
        &self,
        task: &QueueTask,
        namespace: &str,
        identity: &str,
        request_id: &str,
    ) -> CellResult<PollActivityTaskQueueResponse> {
        let execution_namespace = if task.standalone_activity {
            crate::api::standalone::activity_keyspace(&task.namespace_id)
        } else {
            task.namespace_id.clone()
        };
        let (ai, info) = self
            .update(&execution_namespace, &task.workflow_id, &task.run_id, |m| {
                if !m.is_running() {
                    return Err(activity_not_found());
                }
                let ai = m.start_activity(task.scheduled_event_id, identity, request_id)?;
                Ok((ai, m.info().clone()))
            })
            .await?;
        Ok(self.activity_task_response(&ai, &info, namespace))
    }

    /// What a poller (or a worker completing a workflow task, for eager
    /// activities) receives for a started activity attempt.
    pub(crate) fn activity_task_response(
        &self,
        ai: &ActivityInfo,
        info: &ExecutionInfo,
        namespace: &str,
    ) -> PollActivityTaskQueueResponse {
        let scheduled = ai.scheduled.clone().unwrap_or_default();
        let standalone = info.standalone_activity;
        // A standalone activity's token names no workflow: its namespace,
        // activity id and run id find it.
        let token = TaskToken {
            kind: KIND_ACTIVITY,
            namespace_id: crate::api::standalone::queue_namespace_id(info),
            workflow_id: if standalone {
                String::new()
            } else {
                info.workflow_id.clone()
            },
            run_id: info.run_id.clone(),
            scheduled_event_id: ai.scheduled_event_id,
            attempt: ai.attempt,
            activity_id: scheduled.activity_id.clone(),
            ..Default::default()
        };
        PollActivityTaskQueueResponse {
            task_token: self.signer.sign(&token),
            workflow_namespace: namespace.to_string(),
            workflow_type: (!standalone).then(|| WorkflowType {
                name: info.workflow_type.clone(),
            }),
            workflow_execution: (!standalone).then(|| WorkflowExecution {
                workflow_id: info.workflow_id.clone(),
                run_id: info.run_id.clone(),
            }),
            activity_run_id: if standalone {
                info.run_id.clone()
            } else {
                String::new()
            },
            activity_type: scheduled.activity_type.clone(),
            activity_id: scheduled.activity_id.clone(),
            header: scheduled.header.clone(),
            input: scheduled.input.clone(),
            heartbeat_details: ai.heartbeat_details.clone(),
            scheduled_time: Some(timestamp(ai.first_scheduled_time_ms)),
            current_attempt_scheduled_time: Some(timestamp(ai.scheduled_time_ms)),
            started_time: Some(timestamp(ai.started_time_ms)),
            attempt: ai.attempt,
            schedule_to_close_timeout: scheduled.schedule_to_close_timeout,
            start_to_close_timeout: scheduled.start_to_close_timeout,
            heartbeat_timeout: scheduled.heartbeat_timeout,
            retry_policy: scheduled.retry_policy,
            priority: scheduled.priority,
            ..Default::default()
        }
    }

    /// Completes, fails or cancels the running attempt of an activity.
    pub async fn finish_activity(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        r: ActivityRef<'_>,
        outcome: ActivityOutcome,
        identity: &str,
    ) -> CellResult<()> {
        let mut outcome = Some(outcome);
        self.update(namespace_id, workflow_id, run_id, |m| {
            let outcome = outcome
                .take()
                .ok_or_else(|| CellError::internal("activity outcome reused"))?;
            m.finish_activity(&r, outcome, identity)
        })
        .await
    }

    /// Records a heartbeat; answers whether cancellation was requested.
    pub async fn heartbeat_activity(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        r: ActivityRef<'_>,
        details: Option<Payloads>,
    ) -> CellResult<HeartbeatReply> {
        self.update(namespace_id, workflow_id, run_id, |m| {
            let pos = m.activity_index(&r)?;
            let now = m.now;
            let ai = &mut m.state.activities[pos];
            ai.last_heartbeat_ms = now;
            if details.is_some() {
                ai.heartbeat_details = details.clone();
            }
            let reply = HeartbeatReply {
                cancel_requested: ai.cancel_requested,
                paused: ai.paused,
                reset: ai.reset_requested,
            };
            let scheduled_event_id = ai.scheduled_event_id;
            m.dirty = true;
            m.count(Action::Heartbeat);
            m.arm_heartbeat_timer(scheduled_event_id);
            Ok(reply)
        })
        .await
    }
}

impl Mutation {
    /// Arms a heartbeat timeout unless one is armed already: the timer
    /// re-arms itself from the last heartbeat when it fires, so a busy
    /// heartbeater costs no extra timer rows.
    pub(crate) fn arm_heartbeat_timer(&mut self, scheduled_event_id: i64) {
        let now = self.now;
        let Some(ai) = self
            .state
            .activities
            .iter_mut()
            .find(|a| a.scheduled_event_id == scheduled_event_id)
        else {
            return;
        };
        let hb = orrery_core::time::duration_millis(
            ai.scheduled
                .as_ref()
                .and_then(|s| s.heartbeat_timeout.as_ref()),
        );
        if hb <= 0 || ai.heartbeat_timer_ms > now {
            return;
        }
        let fire = ai.last_heartbeat_ms.max(now) + hb;
        ai.heartbeat_timer_ms = fire;
        let attempt = ai.attempt;
        let mut t = self.timer_task(TimerKind::ActivityTimeout);
        t.event_id = scheduled_event_id;
        t.attempt = attempt;
        t.timeout_type = TimeoutType::Heartbeat as i32;
        self.timer(fire, t);
    }
}
