//! The commands a completed workflow task carries, each turned into events,
//! state and tasks. A command that cannot be applied rejects the whole
//! completion with the cause the real server uses.
use orrery_core::actions::Action;
use orrery_core::limits;
use orrery_core::matching::{QueueTask, TASK_KIND_ACTIVITY};
use orrery_core::time::{duration, duration_millis};
use orrery_proto::api::command::v1::command::Attributes as Cmd;
use orrery_proto::api::command::v1::*;
use orrery_proto::api::common::v1::*;
use orrery_proto::api::enums::v1::*;
use orrery_proto::api::history::v1::*;

use crate::mutation::Mutation;
use crate::retry::with_defaults;
use crate::state::{ActivityInfo, ChildInfo, ExternalRequestInfo, TimerInfo};
use crate::tasks::{TimerKind, TransferKind};
use crate::workflow_task::task_queue;

pub struct Rejection {
    pub cause: WorkflowTaskFailedCause,
    pub message: String,
}

fn reject(cause: WorkflowTaskFailedCause, message: impl Into<String>) -> Rejection {
    Rejection {
        cause,
        message: message.into(),
    }
}

pub struct CommandContext<'a> {
    pub completed_event_id: i64,
    pub identity: &'a str,
    /// The namespace's search attributes, which commands' values must fit.
    pub catalog: &'a orrery_visibility::Catalog,
}

/// Checks search attributes a command carries and stamps each value with
/// its type, as the real server does before anything is written.
fn check_search_attributes(
    sa: &mut Option<orrery_proto::api::common::v1::SearchAttributes>,
    ctx: &CommandContext<'_>,
) -> Result<(), Rejection> {
    match sa {
        Some(sa) => orrery_visibility::validate(sa, ctx.catalog)
            .map_err(|e| reject(WorkflowTaskFailedCause::BadSearchAttributes, e.to_string())),
        None => Ok(()),
    }
}

impl Mutation {
    pub(crate) fn apply_command(
        &mut self,
        command: Command,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        // The command's summary goes on the (first) event it writes.
        self.user_metadata = command.user_metadata;
        let applied = self.apply_command_attributes(command.attributes, ctx);
        self.user_metadata = None;
        applied
    }

    fn apply_command_attributes(
        &mut self,
        attributes: Option<Cmd>,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let Some(attributes) = attributes else {
            return Err(reject(
                WorkflowTaskFailedCause::BadBinary,
                "command has no attributes",
            ));
        };
        match attributes {
            Cmd::ScheduleActivityTaskCommandAttributes(a) => self.schedule_activity(a, ctx),
            Cmd::RequestCancelActivityTaskCommandAttributes(a) => self.cancel_activity(a, ctx),
            Cmd::StartTimerCommandAttributes(a) => self.start_timer(a, ctx),
            Cmd::CancelTimerCommandAttributes(a) => self.cancel_timer(a, ctx),
            Cmd::CompleteWorkflowExecutionCommandAttributes(a) => {
                let cron = self.cron_run_spec(a.result.clone(), None);
                let id = self.add_event(WorkflowExecutionCompletedEventAttributes {
                    result: a.result,
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    new_execution_run_id: cron
                        .as_ref()
                        .map(|c| c.run_id.clone())
                        .unwrap_or_default(),
                });
                self.close_run(WorkflowExecutionStatus::Completed, id);
                if let Some(spec) = cron {
                    self.start_next_run(spec);
                }
                Ok(())
            }
            Cmd::FailWorkflowExecutionCommandAttributes(a) => {
                self.fail_workflow(a, ctx);
                Ok(())
            }
            Cmd::CancelWorkflowExecutionCommandAttributes(a) => {
                let id = self.add_event(WorkflowExecutionCanceledEventAttributes {
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    details: a.details,
                });
                self.close_run(WorkflowExecutionStatus::Canceled, id);
                Ok(())
            }
            Cmd::RecordMarkerCommandAttributes(a) => {
                if a.marker_name.is_empty() {
                    return Err(reject(
                        WorkflowTaskFailedCause::BadRecordMarkerAttributes,
                        "MarkerName is not set on RecordMarkerCommand.",
                    ));
                }
                self.add_event(MarkerRecordedEventAttributes {
                    marker_name: a.marker_name,
                    details: a.details,
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    header: a.header,
                    failure: a.failure,
                });
                Ok(())
            }
            Cmd::UpsertWorkflowSearchAttributesCommandAttributes(mut a) => {
                check_search_attributes(&mut a.search_attributes, ctx)?;
                let upserted = a.search_attributes.clone().unwrap_or_default();
                // Patching's own upsert is free, as on Temporal Cloud.
                if upserted
                    .indexed_fields
                    .keys()
                    .any(|k| k != "TemporalChangeVersion")
                {
                    self.count(Action::SearchAttributesUpserted);
                }
                let current = self
                    .info_mut()
                    .search_attributes
                    .get_or_insert_with(Default::default);
                merge_removing_empty(&mut current.indexed_fields, upserted.indexed_fields);
                self.add_event(UpsertWorkflowSearchAttributesEventAttributes {
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    search_attributes: a.search_attributes,
                });
                self.update_visibility();
                Ok(())
            }
            Cmd::ModifyWorkflowPropertiesCommandAttributes(a) => {
                let upserted = a.upserted_memo.clone().unwrap_or_default();
                self.count(Action::WorkflowPropertiesModified);
                let memo = self.info_mut().memo.get_or_insert_with(Default::default);
                merge_removing_empty(&mut memo.fields, upserted.fields);
                self.add_event(WorkflowPropertiesModifiedEventAttributes {
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    upserted_memo: a.upserted_memo,
                });
                self.update_visibility();
                Ok(())
            }
            Cmd::ContinueAsNewWorkflowExecutionCommandAttributes(mut a) => {
                check_search_attributes(&mut a.search_attributes, ctx)?;
                check_cron(
                    &a.cron_schedule,
                    WorkflowTaskFailedCause::BadContinueAsNewAttributes,
                )?;
                self.continue_as_new(a, ctx);
                Ok(())
            }
            Cmd::StartChildWorkflowExecutionCommandAttributes(mut a) => {
                check_search_attributes(&mut a.search_attributes, ctx)?;
                self.start_child(a, ctx)
            }
            Cmd::SignalExternalWorkflowExecutionCommandAttributes(a) => {
                self.signal_external(a, ctx)
            }
            Cmd::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
                self.cancel_external(a, ctx)
            }
            Cmd::ProtocolMessageCommandAttributes(_) => Err(reject(
                WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage,
                "workflow updates are not supported by Orrery yet",
            )),
            Cmd::ScheduleNexusOperationCommandAttributes(_)
            | Cmd::RequestCancelNexusOperationCommandAttributes(_) => Err(reject(
                WorkflowTaskFailedCause::FeatureDisabled,
                "Nexus operations are not supported by Orrery",
            )),
        }
    }

    fn schedule_activity(
        &mut self,
        mut a: ScheduleActivityTaskCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let bad = |m: &str| reject(WorkflowTaskFailedCause::BadScheduleActivityAttributes, m);
        if a.activity_id.is_empty() {
            return Err(bad("ActivityId is not set on command."));
        }
        if a.activity_id.len() > limits::MAX_ID_LENGTH {
            return Err(bad("ActivityID exceeds length limit."));
        }
        if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
            return Err(bad("ActivityType is not set on command."));
        }
        if self.state.activities.iter().any(|x| {
            x.scheduled
                .as_ref()
                .is_some_and(|s| s.activity_id == a.activity_id)
        }) {
            return Err(reject(
                WorkflowTaskFailedCause::BadScheduleActivityAttributes,
                format!("Activity with ID {} is already pending.", a.activity_id),
            ));
        }
        if self.state.activities.len() >= limits::PENDING_ACTIVITIES_LIMIT {
            return Err(reject(
                WorkflowTaskFailedCause::PendingActivitiesLimitExceeded,
                "the number of pending activities has reached the limit",
            ));
        }
        let info = self.info().clone();
        let queue = match a.task_queue.as_ref().map(|q| q.name.as_str()) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => info.task_queue.clone(),
        };
        let timeouts = ActivityTimeouts::normalize(
            [
                a.schedule_to_close_timeout.as_ref(),
                a.schedule_to_start_timeout.as_ref(),
                a.start_to_close_timeout.as_ref(),
                a.heartbeat_timeout.as_ref(),
            ],
            info.run_timeout_ms,
        )
        .map_err(bad)?;
        a.task_queue = Some(task_queue(&queue, false, ""));
        a.schedule_to_close_timeout = Some(duration(timeouts.schedule_to_close));
        a.schedule_to_start_timeout = Some(duration(timeouts.schedule_to_start));
        a.start_to_close_timeout = Some(duration(timeouts.start_to_close));
        a.heartbeat_timeout = Some(duration(timeouts.heartbeat));
        let s2c = timeouts.schedule_to_close;
        a.retry_policy = Some(with_defaults(a.retry_policy.take()));
        let scheduled = ActivityTaskScheduledEventAttributes {
            activity_id: a.activity_id,
            activity_type: a.activity_type,
            task_queue: a.task_queue,
            header: a.header,
            input: a.input,
            schedule_to_close_timeout: a.schedule_to_close_timeout,
            schedule_to_start_timeout: a.schedule_to_start_timeout,
            start_to_close_timeout: a.start_to_close_timeout,
            heartbeat_timeout: a.heartbeat_timeout,
            workflow_task_completed_event_id: ctx.completed_event_id,
            retry_policy: a.retry_policy,
            use_workflow_build_id: a.use_workflow_build_id,
            priority: a.priority,
        };
        let id = self.add_event(scheduled.clone());
        self.state.activities.push(ActivityInfo {
            scheduled_event_id: id,
            scheduled: Some(scheduled),
            attempt: 1,
            first_scheduled_time_ms: self.now,
            scheduled_time_ms: self.now,
            ..Default::default()
        });
        if s2c > 0 {
            let mut t = self.timer_task(TimerKind::ActivityTimeout);
            t.event_id = id;
            t.timeout_type = TimeoutType::ScheduleToClose as i32;
            self.timer(self.now + s2c, t);
        }
        self.dispatch_activity(id);
        Ok(())
    }

    /// Queues the activity's current attempt and arms its schedule-to-start
    /// timeout.
    pub(crate) fn dispatch_activity(&mut self, scheduled_event_id: i64) {
        let Some(ai) = self
            .state
            .activities
            .iter()
            .find(|a| a.scheduled_event_id == scheduled_event_id)
            .cloned()
        else {
            return;
        };
        let scheduled = ai.scheduled.clone().unwrap_or_default();
        let info = self.info().clone();
        let queue = scheduled
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        let task_id = self.next_task_id();
        self.queue(QueueTask {
            // Matching knows namespaces, not the activity keyspace.
            namespace_id: crate::api::standalone::queue_namespace_id(&info),
            task_queue: queue,
            kind: TASK_KIND_ACTIVITY,
            task_id,
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
            scheduled_event_id,
            expires_at_ms: 0,
            normal_task_queue: String::new(),
            created_ms: 0,
            standalone_activity: info.standalone_activity,
        });
        let s2s = duration_millis(scheduled.schedule_to_start_timeout.as_ref());
        let s2c = duration_millis(scheduled.schedule_to_close_timeout.as_ref());
        // Without a schedule-to-start limit of its own, schedule-to-close covers it.
        if s2s > 0 && (s2c == 0 || s2s < s2c) {
            let mut t = self.timer_task(TimerKind::ActivityTimeout);
            t.event_id = scheduled_event_id;
            t.attempt = ai.attempt;
            t.timeout_type = TimeoutType::ScheduleToStart as i32;
            self.timer(self.now + s2s, t);
        }
    }

    fn cancel_activity(
        &mut self,
        a: RequestCancelActivityTaskCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let Some(pos) = self
            .state
            .activities
            .iter()
            .position(|x| x.scheduled_event_id == a.scheduled_event_id)
        else {
            return Err(reject(
                WorkflowTaskFailedCause::BadRequestCancelActivityAttributes,
                format!(
                    "activity with scheduled event id {} is not pending",
                    a.scheduled_event_id
                ),
            ));
        };
        let requested = self.add_event(ActivityTaskCancelRequestedEventAttributes {
            scheduled_event_id: a.scheduled_event_id,
            workflow_task_completed_event_id: ctx.completed_event_id,
        });
        let ai = &mut self.state.activities[pos];
        if ai.started_time_ms == 0 {
            self.state.activities.remove(pos);
            self.add_event(ActivityTaskCanceledEventAttributes {
                latest_cancel_requested_event_id: requested,
                scheduled_event_id: a.scheduled_event_id,
                started_event_id: 0,
                identity: ctx.identity.to_string(),
                ..Default::default()
            });
        } else {
            ai.cancel_requested = true;
            ai.cancel_requested_event_id = requested;
        }
        Ok(())
    }

    fn start_timer(
        &mut self,
        a: StartTimerCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        if a.timer_id.is_empty() {
            return Err(reject(
                WorkflowTaskFailedCause::BadStartTimerAttributes,
                "TimerId is not set on command.",
            ));
        }
        // A zero timer is valid and fires at once, as on the real server.
        let ms = duration_millis(a.start_to_fire_timeout.as_ref());
        if ms < 0 {
            return Err(reject(
                WorkflowTaskFailedCause::BadStartTimerAttributes,
                "A valid StartToFireTimeout is not set on command.",
            ));
        }
        if self.state.timers.iter().any(|t| t.timer_id == a.timer_id) {
            return Err(reject(
                WorkflowTaskFailedCause::StartTimerDuplicateId,
                format!("Timer with ID {} is already pending.", a.timer_id),
            ));
        }
        let id = self.add_event(TimerStartedEventAttributes {
            timer_id: a.timer_id.clone(),
            start_to_fire_timeout: a.start_to_fire_timeout,
            workflow_task_completed_event_id: ctx.completed_event_id,
        });
        self.state.timers.push(TimerInfo {
            timer_id: a.timer_id.clone(),
            started_event_id: id,
            fire_ms: self.now + ms,
        });
        self.count(Action::TimerStarted);
        let mut t = self.timer_task(TimerKind::UserTimer);
        t.event_id = id;
        t.timer_id = a.timer_id;
        self.timer(self.now + ms, t);
        Ok(())
    }

    fn cancel_timer(
        &mut self,
        a: CancelTimerCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let Some(pos) = self
            .state
            .timers
            .iter()
            .position(|t| t.timer_id == a.timer_id)
        else {
            return Err(reject(
                WorkflowTaskFailedCause::BadCancelTimerAttributes,
                format!("Timer with ID {} is not pending.", a.timer_id),
            ));
        };
        let timer = self.state.timers.remove(pos);
        self.add_event(TimerCanceledEventAttributes {
            timer_id: timer.timer_id,
            started_event_id: timer.started_event_id,
            workflow_task_completed_event_id: ctx.completed_event_id,
            identity: ctx.identity.to_string(),
        });
        Ok(())
    }

    fn check_same_namespace(
        &self,
        namespace: &str,
        cause: WorkflowTaskFailedCause,
    ) -> Result<(), Rejection> {
        if namespace.is_empty() || namespace == self.info().namespace {
            Ok(())
        } else {
            Err(reject(
                cause,
                "commands across namespaces are not supported by Orrery",
            ))
        }
    }

    fn start_child(
        &mut self,
        a: StartChildWorkflowExecutionCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let cause = WorkflowTaskFailedCause::BadStartChildExecutionAttributes;
        self.check_same_namespace(&a.namespace, cause)?;
        if a.workflow_id.is_empty() || a.workflow_id.len() > limits::MAX_ID_LENGTH {
            return Err(reject(
                cause,
                "WorkflowId is not set or too long on command.",
            ));
        }
        if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
            return Err(reject(cause, "WorkflowType is not set on command."));
        }
        check_cron(&a.cron_schedule, cause)?;
        if self.state.children.len() >= limits::PENDING_CHILDREN_LIMIT {
            return Err(reject(
                WorkflowTaskFailedCause::PendingChildWorkflowsLimitExceeded,
                "the number of pending child workflows has reached the limit",
            ));
        }
        let info = self.info().clone();
        let queue = match a.task_queue.as_ref().map(|q| q.name.as_str()) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => info.task_queue.clone(),
        };
        // The real server records the child's effective timeouts.
        let execution_timeout = duration_millis(a.workflow_execution_timeout.as_ref());
        let mut run_timeout = duration_millis(a.workflow_run_timeout.as_ref());
        if run_timeout == 0 || (execution_timeout > 0 && run_timeout > execution_timeout) {
            run_timeout = execution_timeout;
        }
        let mut task_timeout = match duration_millis(a.workflow_task_timeout.as_ref()) {
            0 => limits::DEFAULT_WORKFLOW_TASK_TIMEOUT_SECS * 1000,
            ms => ms.min(limits::MAX_WORKFLOW_TASK_TIMEOUT_SECS * 1000),
        };
        if run_timeout > 0 {
            task_timeout = task_timeout.min(run_timeout);
        }
        let id = self.add_event(StartChildWorkflowExecutionInitiatedEventAttributes {
            namespace: info.namespace.clone(),
            namespace_id: info.namespace_id.clone(),
            workflow_id: a.workflow_id.clone(),
            workflow_type: a.workflow_type.clone(),
            task_queue: Some(task_queue(&queue, false, "")),
            input: a.input,
            workflow_execution_timeout: a.workflow_execution_timeout,
            workflow_run_timeout: Some(duration(run_timeout)),
            workflow_task_timeout: Some(duration(task_timeout)),
            parent_close_policy: a.parent_close_policy,
            control: a.control,
            workflow_task_completed_event_id: ctx.completed_event_id,
            workflow_id_reuse_policy: a.workflow_id_reuse_policy,
            retry_policy: a.retry_policy,
            cron_schedule: a.cron_schedule,
            header: a.header,
            memo: a.memo,
            search_attributes: a.search_attributes,
            inherit_build_id: a.inherit_build_id,
            priority: a.priority,
            ..Default::default()
        });
        self.state.children.push(ChildInfo {
            initiated_event_id: id,
            started_event_id: 0,
            workflow_id: a.workflow_id,
            run_id: String::new(),
            namespace: info.namespace.clone(),
            workflow_type: a.workflow_type.map(|t| t.name).unwrap_or_default(),
            parent_close_policy: a.parent_close_policy,
            namespace_id: info.namespace_id.clone(),
        });
        self.count(Action::ChildWorkflowStarted);
        let task = self.transfer_task(TransferKind::StartChild, id);
        self.transfer(task);
        Ok(())
    }

    fn signal_external(
        &mut self,
        a: SignalExternalWorkflowExecutionCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let cause = WorkflowTaskFailedCause::BadSignalWorkflowExecutionAttributes;
        self.check_same_namespace(&a.namespace, cause)?;
        if a.execution
            .as_ref()
            .is_none_or(|e| e.workflow_id.is_empty())
            || a.signal_name.is_empty()
        {
            return Err(reject(
                cause,
                "WorkflowId or SignalName is not set on command.",
            ));
        }
        if self.state.external_requests.len() >= limits::PENDING_SIGNALS_LIMIT {
            return Err(reject(
                WorkflowTaskFailedCause::PendingSignalsLimitExceeded,
                "the number of pending signals to external workflows has reached the limit",
            ));
        }
        let info = self.info().clone();
        let id = self.add_event(SignalExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: ctx.completed_event_id,
            namespace: info.namespace.clone(),
            namespace_id: info.namespace_id.clone(),
            workflow_execution: a.execution,
            signal_name: a.signal_name,
            input: a.input,
            control: a.control,
            child_workflow_only: a.child_workflow_only,
            header: a.header,
        });
        self.state.external_requests.push(ExternalRequestInfo {
            initiated_event_id: id,
            request_id: uuid::Uuid::new_v4().to_string(),
            is_cancel: false,
        });
        // Billed here, to the sender; its delivery is free.
        self.count(Action::Signal);
        let task = self.transfer_task(TransferKind::SignalExternal, id);
        self.transfer(task);
        Ok(())
    }

    fn cancel_external(
        &mut self,
        a: RequestCancelExternalWorkflowExecutionCommandAttributes,
        ctx: &CommandContext<'_>,
    ) -> Result<(), Rejection> {
        let cause = WorkflowTaskFailedCause::BadRequestCancelExternalWorkflowExecutionAttributes;
        self.check_same_namespace(&a.namespace, cause)?;
        if a.workflow_id.is_empty() {
            return Err(reject(cause, "WorkflowId is not set on command."));
        }
        if self.state.external_requests.len() >= limits::PENDING_CANCELS_LIMIT {
            return Err(reject(
                WorkflowTaskFailedCause::PendingRequestCancelLimitExceeded,
                "the number of pending cancel requests has reached the limit",
            ));
        }
        let info = self.info().clone();
        let id = self.add_event(
            RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: ctx.completed_event_id,
                namespace: info.namespace.clone(),
                namespace_id: info.namespace_id.clone(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: a.workflow_id,
                    run_id: a.run_id,
                }),
                control: a.control,
                child_workflow_only: a.child_workflow_only,
                reason: a.reason,
            },
        );
        self.state.external_requests.push(ExternalRequestInfo {
            initiated_event_id: id,
            request_id: uuid::Uuid::new_v4().to_string(),
            is_cancel: true,
        });
        let task = self.transfer_task(TransferKind::CancelExternal, id);
        self.transfer(task);
        Ok(())
    }
}

/// An activity's four timeouts (ms) as the real server fills them in:
/// schedule-to-close caps the others (and is capped by the run timeout);
/// without it, start-to-close is required.
pub(crate) struct ActivityTimeouts {
    pub schedule_to_close: i64,
    pub schedule_to_start: i64,
    pub start_to_close: i64,
    pub heartbeat: i64,
}

impl ActivityTimeouts {
    pub(crate) fn normalize(
        given: [Option<&prost_wkt_types::Duration>; 4],
        run_timeout: i64,
    ) -> Result<Self, &'static str> {
        let [mut s2c, mut s2s, mut st2c, hb] = given.map(duration_millis);
        if s2c < 0 || s2s < 0 || st2c < 0 || hb < 0 {
            return Err("A valid timeout may not be negative.");
        }
        if s2c > 0 {
            if run_timeout > 0 {
                s2c = s2c.min(run_timeout);
            }
            s2s = if s2s == 0 { s2c } else { s2s.min(s2c) };
            st2c = if st2c > 0 { st2c.min(s2c) } else { s2c };
        } else if st2c > 0 {
            s2c = run_timeout;
            if s2s == 0 {
                s2s = s2c;
            }
        } else {
            return Err("A valid StartToClose or ScheduleToCloseTimeout is not set on command.");
        }
        Ok(Self {
            schedule_to_close: s2c,
            schedule_to_start: s2s,
            start_to_close: st2c,
            heartbeat: hb.min(st2c),
        })
    }
}

fn check_cron(schedule: &str, cause: WorkflowTaskFailedCause) -> Result<(), Rejection> {
    if schedule.is_empty() {
        return Ok(());
    }
    crate::cron::CronSchedule::parse(schedule)
        .map(|_| ())
        .map_err(|e| reject(cause, e.to_string()))
}

/// Upserts as the real server applies them: a value with no data (an
/// encoded null) removes the key.
pub(crate) fn merge_removing_empty(
    into: &mut std::collections::HashMap<String, Payload>,
    upserted: std::collections::HashMap<String, Payload>,
) {
    for (k, v) in upserted {
        if v.data.is_empty() {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}
