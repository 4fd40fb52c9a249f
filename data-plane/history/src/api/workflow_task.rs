//! Workflow tasks: scheduling, handing one to a poller, completion, failure
//! and the history page a poller receives.
use orrery_core::matching::{QueueTask, TASK_KIND_WORKFLOW};
use orrery_core::time::{duration, timestamp};
use orrery_core::token::{KIND_WORKFLOW, TaskToken};
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::{WorkflowExecution, WorkflowType};
use orrery_proto::api::enums::v1::{TaskQueueKind, TimeoutType};
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::history::v1::*;
use orrery_proto::api::taskqueue::v1::TaskQueue;
use orrery_proto::api::workflowservice::v1::*;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::state::WorkflowTaskInfo;
use crate::tasks::TimerKind;

impl Mutation {
    /// Schedules a workflow task unless one is pending or the run closed.
    pub fn schedule_workflow_task(&mut self) {
        self.schedule_workflow_task_attempt(1);
    }

    pub(crate) fn schedule_workflow_task_attempt(&mut self, attempt: i32) {
        self.schedule_workflow_task_of(attempt, false);
    }

    /// A task that only carries updates to the worker; see
    /// [`WorkflowTaskInfo::speculative`].
    pub(crate) fn schedule_speculative_workflow_task(&mut self) {
        self.schedule_workflow_task_of(1, true);
    }

    fn schedule_workflow_task_of(&mut self, attempt: i32, speculative: bool) {
        if self.state.workflow_task.is_some() || !self.is_running() {
            return;
        }
        let info = self.info().clone();
        let sticky = !info.sticky_task_queue.is_empty();
        let queue = if sticky {
            info.sticky_task_queue.clone()
        } else {
            info.task_queue.clone()
        };
        let scheduled_event_id = if attempt > 1 || speculative {
            // Transient or speculative: written only if this attempt completes.
            self.state.next_event_id
        } else {
            self.add_event(WorkflowTaskScheduledEventAttributes {
                task_queue: Some(task_queue(&queue, sticky, &info.task_queue)),
                start_to_close_timeout: Some(duration(info.task_timeout_ms)),
                attempt,
            })
        };
        let task_id = self.next_task_id();
        self.state.had_workflow_task = true;
        self.state.workflow_task = Some(WorkflowTaskInfo {
            scheduled_event_id,
            started_event_id: 0,
            attempt,
            task_queue: queue.clone(),
            scheduled_time_ms: self.now,
            timeout_ms: info.task_timeout_ms,
            queue_task_id: task_id,
            speculative,
            ..Default::default()
        });
        self.dirty = true;
        self.queue(QueueTask {
            namespace_id: info.namespace_id.clone(),
            task_queue: queue,
            kind: TASK_KIND_WORKFLOW,
            task_id,
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
            scheduled_event_id,
            expires_at_ms: 0,
            normal_task_queue: info.task_queue.clone(),
            created_ms: 0,
            standalone_activity: false,
        });
        if sticky && info.sticky_timeout_ms > 0 {
            let mut timer = self.timer_task(TimerKind::WorkflowTaskTimeout);
            timer.event_id = scheduled_event_id;
            timer.attempt = attempt;
            timer.timeout_type = TimeoutType::ScheduleToStart as i32;
            self.timer(self.now + info.sticky_timeout_ms, timer);
        }
    }

    /// Records the pending workflow task started by `identity`: its
    /// started event (unless transient), its start-to-close timer, and the
    /// token the worker completes it with.
    pub(crate) fn start_workflow_task(
        &mut self,
        identity: &str,
        request_id: &str,
        worker_version: Option<orrery_proto::api::common::v1::WorkerVersionStamp>,
        limits: &crate::HistoryLimits,
    ) -> (TaskToken, WorkflowTaskInfo) {
        let mut wt = self
            .state
            .workflow_task
            .clone()
            .expect("a pending workflow task");
        wt.worker_version = worker_version;
        if wt.has_virtual_events() {
            wt.scheduled_event_id = self.state.next_event_id;
            wt.started_event_id = self.state.next_event_id + 1;
        } else {
            let size = self.state.history_size_bytes;
            // Tell the workflow, as the real server does, when its history
            // grows past the continue-as-new suggestion.
            let suggest = self.state.next_event_id >= limits.suggest_continue_as_new_count
                || size >= limits.suggest_continue_as_new_size;
            wt.started_event_id = self.add_event(WorkflowTaskStartedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                identity: identity.to_string(),
                request_id: request_id.to_string(),
                history_size_bytes: size,
                suggest_continue_as_new: suggest,
                worker_version: wt.worker_version.clone(),
                ..Default::default()
            });
        }
        wt.started_time_ms = self.now;
        wt.identity = identity.to_string();
        wt.request_id = request_id.to_string();
        self.state.workflow_task = Some(wt.clone());
        self.dirty = true;
        let mut timer = self.timer_task(TimerKind::WorkflowTaskTimeout);
        timer.event_id = wt.scheduled_event_id;
        timer.attempt = wt.attempt;
        timer.timeout_type = TimeoutType::StartToClose as i32;
        self.timer(self.now + wt.timeout_ms, timer);
        let info = self.info();
        let token = TaskToken {
            kind: KIND_WORKFLOW,
            namespace_id: info.namespace_id.clone(),
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            attempt: wt.attempt,
            started_time_ms: self.now,
            ..Default::default()
        };
        (token, wt)
    }

    /// Closes the pending workflow task as failed or timed out and schedules
    /// the next attempt on the normal queue. Only a first attempt leaves
    /// events; later ones stay transient, as in Temporal.
    /// A sticky schedule-to-start timeout moves the task without counting
    /// an attempt (`count_attempt: false`).
    pub(crate) fn retry_workflow_task(
        &mut self,
        closing: impl Into<history_event::Attributes>,
        count_attempt: bool,
    ) {
        let Some(wt) = self.state.workflow_task.take() else {
            return;
        };
        self.dirty = true;
        if wt.speculative {
            // A failing speculative task must be visible: its events are
            // written, then the failure.
            persist_transient(self, &wt);
            self.add_event(closing);
        } else if !wt.is_transient() {
            self.add_event(closing);
        }
        let next_attempt = if count_attempt {
            wt.attempt + 1
        } else {
            wt.attempt
        };
        self.flush_buffered();
        self.info_mut().sticky_task_queue.clear();
        self.schedule_workflow_task_attempt(next_attempt);
    }
}

pub(crate) fn task_queue(name: &str, sticky: bool, normal: &str) -> TaskQueue {
    TaskQueue {
        name: name.to_string(),
        kind: if sticky {
            TaskQueueKind::Sticky
        } else {
            TaskQueueKind::Normal
        } as i32,
        normal_name: if sticky {
            normal.to_string()
        } else {
            String::new()
        },
    }
}

fn stale_task() -> CellError {
    CellError::NotFound("Workflow task not found.".into())
}

impl HistoryEngine {
    /// Hands a queued workflow task to a poller: records it started and
    /// returns what the poller needs, history included. A task that is no
    /// longer pending answers NotFound and the caller drops it.
    pub async fn record_workflow_task_started(
        &self,
        task: &QueueTask,
        namespace: &str,
        identity: &str,
        request_id: &str,
        worker_version: Option<orrery_proto::api::common::v1::WorkerVersionStamp>,
    ) -> CellResult<PollWorkflowTaskQueueResponse> {
        let _ = namespace;
        let limits = self.limits.clone();
        let (token, wt, state) = self
            .update(&task.namespace_id, &task.workflow_id, &task.run_id, |m| {
                if !m.is_running() {
                    return Err(stale_task());
                }
                let Some(wt) = m.state.workflow_task.as_ref() else {
                    return Err(stale_task());
                };
                if wt.queue_task_id != task.task_id || wt.started_event_id > 0 {
                    return Err(stale_task());
                }
                let (token, wt) =
                    m.start_workflow_task(identity, request_id, worker_version.clone(), &limits);
                Ok((token, wt, m.state.clone()))
            })
            .await?;
        self.workflow_task_response(token, &wt, &state, &task.task_queue)
            .await
    }

    /// What a poller (or an eager start) receives for a started workflow
    /// task: the history it has not seen, queries and update requests.
    pub(crate) async fn workflow_task_response(
        &self,
        token: TaskToken,
        wt: &WorkflowTaskInfo,
        state: &crate::state::MutableState,
        polled_queue: &str,
    ) -> CellResult<PollWorkflowTaskQueueResponse> {
        let info = state.info.clone().unwrap_or_default();
        let sticky = polled_queue != info.task_queue;
        let first = if sticky {
            state.previous_started_event_id + 1
        } else {
            1
        };
        let persisted_end = if wt.has_virtual_events() {
            wt.scheduled_event_id
        } else {
            wt.started_event_id + 1
        };
        let (mut events, next_page_token) = self
            .history_page(&info.namespace_id, &info.run_id, first, persisted_end, 0)
            .await?;
        if wt.has_virtual_events() && next_page_token.is_empty() {
            events.extend(transient_events(wt, &info.task_queue, polled_queue));
        }
        Ok(PollWorkflowTaskQueueResponse {
            task_token: self.signer.sign(&token),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: info.workflow_id.clone(),
                run_id: info.run_id.clone(),
            }),
            workflow_type: Some(WorkflowType {
                name: info.workflow_type.clone(),
            }),
            previous_started_event_id: state.previous_started_event_id,
            started_event_id: wt.started_event_id,
            attempt: wt.attempt,
            history: Some(History { events }),
            next_page_token,
            workflow_execution_task_queue: Some(task_queue(&info.task_queue, false, "")),
            scheduled_time: Some(timestamp(wt.scheduled_time_ms)),
            started_time: Some(timestamp(wt.started_time_ms)),
            queries: self.queries.pending(&info.run_id),
            messages: crate::api::update::request_messages(
                self.updates.send(&info.run_id, wt.started_time_ms),
                wt.started_event_id,
            ),
            ..Default::default()
        })
    }

    /// Checks a workflow task token against the pending task.
    pub(crate) fn check_workflow_token(
        m: &Mutation,
        token: &TaskToken,
    ) -> CellResult<WorkflowTaskInfo> {
        let wt = m.state.workflow_task.clone().ok_or_else(stale_task)?;
        if !m.is_running()
            || wt.scheduled_event_id != token.scheduled_event_id
            || wt.started_event_id != token.started_event_id
            || wt.attempt != token.attempt
            || wt.started_time_ms != token.started_time_ms
        {
            return Err(stale_task());
        }
        Ok(wt)
    }

    pub async fn respond_workflow_task_failed(
        &self,
        token: &TaskToken,
        req: RespondWorkflowTaskFailedRequest,
    ) -> CellResult<()> {
        self.update(
            &token.namespace_id,
            &token.workflow_id,
            &token.run_id,
            |m| {
                let wt = Self::check_workflow_token(m, token)?;
                m.retry_workflow_task(
                    WorkflowTaskFailedEventAttributes {
                        scheduled_event_id: wt.scheduled_event_id,
                        started_event_id: wt.started_event_id,
                        cause: req.cause,
                        failure: req.failure.clone(),
                        identity: req.identity.clone(),
                        binary_checksum: req.binary_checksum.clone(),
                        ..Default::default()
                    },
                    true,
                );
                Ok(())
            },
        )
        .await
    }
}

/// The scheduled and started events of a transient attempt, which a poller
/// must see although they are not in history yet.
fn transient_events(wt: &WorkflowTaskInfo, normal: &str, queue: &str) -> Vec<HistoryEvent> {
    let sticky = queue != normal;
    let scheduled = WorkflowTaskScheduledEventAttributes {
        task_queue: Some(task_queue(queue, sticky, normal)),
        start_to_close_timeout: Some(duration(wt.timeout_ms)),
        attempt: wt.attempt,
    };
    let started = WorkflowTaskStartedEventAttributes {
        scheduled_event_id: wt.scheduled_event_id,
        identity: wt.identity.clone(),
        request_id: wt.request_id.clone(),
        worker_version: wt.worker_version.clone(),
        ..Default::default()
    };
    vec![
        HistoryEvent {
            event_id: wt.scheduled_event_id,
            event_time: Some(timestamp(wt.scheduled_time_ms)),
            event_type: orrery_proto::api::enums::v1::EventType::WorkflowTaskScheduled as i32,
            attributes: Some(scheduled.into()),
            ..Default::default()
        },
        HistoryEvent {
            event_id: wt.started_event_id,
            event_time: Some(timestamp(wt.started_time_ms)),
            event_type: orrery_proto::api::enums::v1::EventType::WorkflowTaskStarted as i32,
            attributes: Some(started.into()),
            ..Default::default()
        },
    ]
}

/// Writes the scheduled and started events of a transient attempt that is
/// about to complete, at the ids the poller was shown.
pub(crate) fn persist_transient(m: &mut Mutation, wt: &WorkflowTaskInfo) {
    if !wt.has_virtual_events() {
        return;
    }
    let info = m.info().clone();
    let sticky = wt.task_queue != info.task_queue;
    m.add_event(WorkflowTaskScheduledEventAttributes {
        task_queue: Some(task_queue(&wt.task_queue, sticky, &info.task_queue)),
        start_to_close_timeout: Some(duration(wt.timeout_ms)),
        attempt: wt.attempt,
    });
    m.add_event(WorkflowTaskStartedEventAttributes {
        scheduled_event_id: wt.scheduled_event_id,
        identity: wt.identity.clone(),
        request_id: wt.request_id.clone(),
        worker_version: wt.worker_version.clone(),
        ..Default::default()
    });
}

/// A failure as the server writes it for a workflow task it rejects.
pub(crate) fn server_failure(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        source: String::new(),
        failure_info: Some(
            orrery_proto::api::failure::v1::failure::FailureInfo::ServerFailureInfo(
                orrery_proto::api::failure::v1::ServerFailureInfo {
                    non_retryable: true,
                },
            ),
        ),
        ..Default::default()
    }
}

impl HistoryEngine {
    /// ResetStickyTaskQueue: later workflow tasks go to the normal queue
    /// (with full history) until a worker asks for stickiness again.
    pub async fn reset_sticky_task_queue(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
    ) -> CellResult<()> {
        self.update(
            namespace_id,
            &execution.workflow_id,
            &execution.run_id,
            |m| {
                if m.is_running() && !m.info().sticky_task_queue.is_empty() {
                    m.info_mut().sticky_task_queue.clear();
                }
                Ok(())
            },
        )
        .await
    }
}
