//! What each kind of timer does when it fires.
use orrery_core::CellResult;
use orrery_proto::api::enums::v1::{RetryState, TimeoutType, WorkflowExecutionStatus};
use orrery_proto::api::history::v1::*;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::retry::{RetryDecision, next_retry};
use crate::tasks::{TimerKind, TimerTask};

impl HistoryEngine {
    /// Samples each shard's timer lag into the operator metrics: how late
    /// its oldest due timer is (0 when none is due). One indexed read per
    /// shard.
    pub(crate) async fn sample_timer_lag(&self) -> CellResult<()> {
        let now = orrery_core::time::now_millis();
        for shard in self.shard_ids() {
            let due = self
                .store
                .due_timers(orrery_persistence::TimerQueue::Timers, &[shard], now, 1)
                .await?;
            let late_ms = due.first().map_or(0, |row| (now - row.fire_ms).max(0));
            orrery_core::metrics::scheduled_queue_lag(std::time::Duration::from_millis(
                late_ms as u64,
            ));
        }
        Ok(())
    }

    pub(crate) async fn handle_timer(&self, task: &TimerTask) -> CellResult<()> {
        self.update(&task.namespace_id, &task.workflow_id, &task.run_id, |m| {
            if !m.is_running() {
                return Ok(());
            }
            match task.kind {
                k if k == TimerKind::UserTimer as i32 => m.fire_user_timer(task),
                k if k == TimerKind::ActivityTimeout as i32 => m.activity_timeout(task),
                k if k == TimerKind::ActivityRetry as i32 => {
                    if m.state.activities.iter().any(|a| {
                        a.scheduled_event_id == task.event_id
                            && a.attempt == task.attempt
                            && a.started_time_ms == 0
                            && !a.paused
                    }) {
                        m.dispatch_activity(task.event_id);
                    }
                }
                k if k == TimerKind::WorkflowTaskTimeout as i32 => m.workflow_task_timeout(task),
                k if k == TimerKind::WorkflowRunTimeout as i32 => m.run_timeout(),
                // A cancellation may have started the run early.
                k if k == TimerKind::WorkflowBackoff as i32 => {
                    if !m.state.had_workflow_task {
                        m.schedule_workflow_task()
                    }
                }
                other => tracing::error!(kind = other, "unknown timer kind"),
            }
            Ok(())
        })
        .await
    }
}

impl Mutation {
    fn fire_user_timer(&mut self, task: &TimerTask) {
        let Some(pos) = self
            .state
            .timers
            .iter()
            .position(|t| t.started_event_id == task.event_id)
        else {
            return;
        };
        let timer = self.state.timers.remove(pos);
        self.add_or_buffer(TimerFiredEventAttributes {
            timer_id: timer.timer_id,
            started_event_id: timer.started_event_id,
        });
        self.schedule_workflow_task();
    }

    fn activity_timeout(&mut self, task: &TimerTask) {
        let Some(pos) = self
            .state
            .activities
            .iter()
            .position(|a| a.scheduled_event_id == task.event_id)
        else {
            return;
        };
        let ai = self.state.activities[pos].clone();
        let timeout = TimeoutType::try_from(task.timeout_type).unwrap_or(TimeoutType::Unspecified);
        let current_attempt = ai.attempt == task.attempt;
        let running = ai.started_time_ms > 0;
        let fires = match timeout {
            TimeoutType::ScheduleToClose => true,
            TimeoutType::ScheduleToStart => current_attempt && !running,
            TimeoutType::StartToClose => current_attempt && running,
            TimeoutType::Heartbeat => {
                if !(current_attempt && running) {
                    false
                } else {
                    let hb = orrery_core::time::duration_millis(
                        ai.scheduled
                            .as_ref()
                            .and_then(|s| s.heartbeat_timeout.as_ref()),
                    );
                    if ai.last_heartbeat_ms + hb > self.now {
                        // Heartbeats came in since this timer was armed.
                        self.state.activities[pos].heartbeat_timer_ms = 0;
                        self.dirty = true;
                        self.arm_heartbeat_timer(ai.scheduled_event_id);
                        false
                    } else {
                        true
                    }
                }
            }
            _ => false,
        };
        if fires {
            let failure = Mutation::timeout_failure(&ai, timeout);
            self.fail_activity_attempt(pos, Some(failure), None, "", Some(timeout));
        }
    }

    fn workflow_task_timeout(&mut self, task: &TimerTask) {
        let Some(wt) = self.state.workflow_task.clone() else {
            return;
        };
        if wt.attempt != task.attempt {
            return;
        }
        let timeout = TimeoutType::try_from(task.timeout_type).unwrap_or(TimeoutType::Unspecified);
        match timeout {
            TimeoutType::StartToClose
                if wt.started_event_id > 0 && wt.scheduled_event_id == task.event_id =>
            {
                self.retry_workflow_task(
                    WorkflowTaskTimedOutEventAttributes {
                        scheduled_event_id: wt.scheduled_event_id,
                        started_event_id: wt.started_event_id,
                        timeout_type: TimeoutType::StartToClose as i32,
                    },
                    true,
                );
            }
            TimeoutType::ScheduleToStart
                if wt.started_event_id == 0 && wt.scheduled_event_id == task.event_id =>
            {
                self.retry_workflow_task(
                    WorkflowTaskTimedOutEventAttributes {
                        scheduled_event_id: wt.scheduled_event_id,
                        started_event_id: 0,
                        timeout_type: TimeoutType::ScheduleToStart as i32,
                    },
                    false,
                );
            }
            _ => {}
        }
    }

    /// The run (or the whole execution) ran out of time. A run timeout is
    /// retried per the workflow's retry policy, as on the real server; the
    /// execution deadline is final.
    fn run_timeout(&mut self) {
        self.flush_buffered();
        self.state.workflow_task = None;
        let info = self.info().clone();
        let expired = info.execution_expiration_ms > 0 && self.now >= info.execution_expiration_ms;
        let failure = orrery_proto::api::failure::v1::Failure {
            message: "workflow timeout".into(),
            source: "Server".into(),
            failure_info: Some(
                orrery_proto::api::failure::v1::failure::FailureInfo::TimeoutFailureInfo(
                    orrery_proto::api::failure::v1::TimeoutFailureInfo {
                        timeout_type: TimeoutType::StartToClose as i32,
                        last_heartbeat_details: None,
                    },
                ),
            ),
            ..Default::default()
        };
        let decision = if expired {
            RetryDecision::Stop(RetryState::Timeout)
        } else {
            next_retry(
                info.retry_policy.as_ref(),
                info.attempt,
                Some(&failure),
                self.now,
                info.execution_expiration_ms,
            )
        };
        match decision {
            RetryDecision::Retry { backoff_ms } => {
                let spec = self.retry_run_spec(backoff_ms, None);
                let id = self.add_event(WorkflowExecutionTimedOutEventAttributes {
                    retry_state: RetryState::InProgress as i32,
                    new_execution_run_id: spec.run_id.clone(),
                });
                self.close_run(WorkflowExecutionStatus::TimedOut, id);
                self.start_next_run(spec);
            }
            RetryDecision::Stop(retry_state) => {
                let cron = if expired {
                    None
                } else {
                    self.cron_run_spec(info.last_completion_result.clone(), Some(failure))
                };
                let id = self.add_event(WorkflowExecutionTimedOutEventAttributes {
                    retry_state: retry_state as i32,
                    new_execution_run_id: cron
                        .as_ref()
                        .map(|c| c.run_id.clone())
                        .unwrap_or_default(),
                });
                self.close_run(WorkflowExecutionStatus::TimedOut, id);
                if let Some(spec) = cron {
                    self.start_next_run(spec);
                }
            }
        }
    }
}
