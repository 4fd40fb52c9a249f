//! RespondWorkflowTaskCompleted: the completed event, then each command, then
//! the events buffered while the task ran, then the next task if needed.
use orrery_core::CellResult;
use orrery_core::actions::Action;
use orrery_core::time::duration_millis;
use orrery_core::token::TaskToken;
use orrery_proto::api::enums::v1::{EventType, WorkflowTaskFailedCause};
use orrery_proto::api::history::v1::*;
use orrery_proto::api::workflowservice::v1::*;

use crate::api::update::{Verdict, verdict};
use crate::commands::CommandContext;
use crate::engine::HistoryEngine;
use crate::workflow_task::{persist_transient, server_failure};
use orrery_proto::api::command::v1::command::Attributes::ProtocolMessageCommandAttributes;

/// Marker names SDKs record a local activity's result under: the Core-based
/// SDKs (Python, TypeScript, .NET, Ruby) and Go/Java.
const LOCAL_ACTIVITY_MARKERS: [&str; 2] = ["core_local_activity", "LocalActivity"];

fn closes_run(command: &orrery_proto::api::command::v1::Command) -> bool {
    use orrery_proto::api::command::v1::command::Attributes as C;
    matches!(
        command.attributes,
        Some(
            C::CompleteWorkflowExecutionCommandAttributes(_)
                | C::FailWorkflowExecutionCommandAttributes(_)
                | C::CancelWorkflowExecutionCommandAttributes(_)
                | C::ContinueAsNewWorkflowExecutionCommandAttributes(_)
        )
    )
}

/// The worker build that handled a workflow task, as the real server
/// records it: the stamp, or else the build id of the deployment options,
/// or else the (deprecated) binary checksum, which SDKs fill with the
/// build id.
pub fn worker_version(
    stamp: Option<&orrery_proto::api::common::v1::WorkerVersionStamp>,
    deployment: Option<&orrery_proto::api::deployment::v1::WorkerDeploymentOptions>,
    binary_checksum: &str,
) -> Option<orrery_proto::api::common::v1::WorkerVersionStamp> {
    let build_id = |id: &str| {
        (!id.is_empty()).then(|| orrery_proto::api::common::v1::WorkerVersionStamp {
            build_id: id.to_string(),
            use_versioning: false,
        })
    };
    stamp
        .cloned()
        .or_else(|| deployment.and_then(|d| build_id(&d.build_id)))
        .or_else(|| build_id(binary_checksum))
}

/// What became of a workflow task completion.
pub(crate) enum Completion {
    Applied,
    /// A speculative task discarded: the worker rolls back to this event.
    Discarded(i64),
    /// Refused and the run terminated (an oversized payload); the worker
    /// gets this message as InvalidArgument.
    Rejected(String),
}

impl HistoryEngine {
    pub async fn respond_workflow_task_completed(
        &self,
        token: &TaskToken,
        req: RespondWorkflowTaskCompletedRequest,
        catalog: &orrery_visibility::Catalog,
    ) -> CellResult<RespondWorkflowTaskCompletedResponse> {
        let answered: Vec<String> = req.query_results.keys().cloned().collect();
        let (next_task, completion, eager, info) = self
            .update(
                &token.namespace_id,
                &token.workflow_id,
                &token.run_id,
                |m| {
                    let completion = self.apply_completion(m, token, &req, catalog)?;
                    let eager = Self::start_eager_activities(m, &req);
                    Ok((
                        m.is_running() && m.state.workflow_task.is_some(),
                        completion,
                        eager,
                        m.info().clone(),
                    ))
                },
            )
            .await?;
        // Queries attached to this task were answered with it; the others
        // wait for the next task or, if none follows, are asked directly.
        self.queries.settle(&token.run_id, &answered, next_task);
        let reset_history_event_id = match completion {
            Completion::Applied => 0,
            Completion::Discarded(event_id) => event_id,
            Completion::Rejected(message) => return Err(orrery_core::CellError::invalid(message)),
        };
        Ok(RespondWorkflowTaskCompletedResponse {
            reset_history_event_id,
            activity_tasks: eager
                .iter()
                .map(|ai| self.activity_task_response(ai, &info, &info.namespace))
                .collect(),
            ..Default::default()
        })
    }

    /// The first workflow task a worker build completes is a point the run
    /// can be reset to, as the real server records it.
    fn record_reset_point(
        m: &mut crate::mutation::Mutation,
        req: &RespondWorkflowTaskCompletedRequest,
        completed_event_id: i64,
    ) {
        use orrery_proto::api::workflow::v1::ResetPointInfo;
        let build_id = [
            req.deployment_options.as_ref().map(|d| d.build_id.as_str()),
            req.worker_version_stamp
                .as_ref()
                .map(|v| v.build_id.as_str()),
            Some(req.binary_checksum.as_str()),
        ]
        .into_iter()
        .flatten()
        .find(|id| !id.is_empty())
        .unwrap_or_default()
        .to_string();
        let now = m.now;
        let info = m.info_mut();
        let run_id = info.run_id.clone();
        let points = info.reset_points.get_or_insert_with(Default::default);
        if points.points.iter().any(|p| p.build_id == build_id) {
            return;
        }
        points.points.push(ResetPointInfo {
            build_id,
            run_id,
            first_workflow_task_completed_id: completed_event_id,
            create_time: Some(orrery_core::time::timestamp(now)),
            resettable: true,
            ..Default::default()
        });
    }

    /// Activities this completion scheduled with `request_eager_execution`
    /// start at once and go back to the worker with the response instead
    /// of through their task queue (eager activity dispatch), in the same
    /// transaction as the completion.
    fn start_eager_activities(
        m: &mut crate::mutation::Mutation,
        req: &RespondWorkflowTaskCompletedRequest,
    ) -> Vec<crate::state::ActivityInfo> {
        use orrery_proto::api::command::v1::command::Attributes as C;
        let eager_ids: Vec<&str> = req
            .commands
            .iter()
            .filter_map(|c| match &c.attributes {
                Some(C::ScheduleActivityTaskCommandAttributes(a)) if a.request_eager_execution => {
                    Some(a.activity_id.as_str())
                }
                _ => None,
            })
            .collect();
        if eager_ids.is_empty() || !m.is_running() {
            return Vec::new();
        }
        let scheduled: Vec<i64> = m
            .events
            .iter()
            .filter_map(|e| match &e.attributes {
                Some(history_event::Attributes::ActivityTaskScheduledEventAttributes(a))
                    if eager_ids.contains(&a.activity_id.as_str()) =>
                {
                    Some(e.event_id)
                }
                _ => None,
            })
            .collect();
        let mut started = Vec::new();
        for scheduled_event_id in scheduled {
            m.queue_tasks.retain(|t| {
                !(t.kind == orrery_core::matching::TASK_KIND_ACTIVITY
                    && t.scheduled_event_id == scheduled_event_id)
            });
            let request_id = uuid::Uuid::new_v4().to_string();
            if let Ok(ai) = m.start_activity(scheduled_event_id, &req.identity, &request_id) {
                started.push(ai);
            }
        }
        started
    }

    /// A speculative task whose completion changes nothing (no commands,
    /// only update rejections, nothing new in history since the worker last
    /// acted) is discarded: no events, and the worker is told to roll back
    /// to its last completed task. Returns that event id when discarded.
    fn discard_speculative(
        m: &mut crate::mutation::Mutation,
        wt: &crate::state::WorkflowTaskInfo,
        req: &RespondWorkflowTaskCompletedRequest,
    ) -> Option<i64> {
        let only_rejections = req
            .messages
            .iter()
            .all(|msg| matches!(verdict(msg), Some(Verdict::Rejected(_))));
        let with_events_ok = req
            .capabilities
            .as_ref()
            .is_some_and(|c| c.discard_speculative_workflow_task_with_events);
        let command_events =
            m.state.checkpoint_event_id > m.state.last_completed_workflow_task_event_id + 1;
        let discard = wt.speculative
            && req.commands.is_empty()
            && !req.force_create_new_workflow_task
            && m.state.buffered_events.is_empty()
            && only_rejections
            && wt.scheduled_event_id == m.state.checkpoint_event_id
            && (!command_events || with_events_ok);
        if !discard {
            return None;
        }
        for message in &req.messages {
            m.apply_update_message(message, None);
        }
        m.state.workflow_task = None;
        m.dirty = true;
        Self::apply_sticky(m, req);
        Some(m.state.previous_started_event_id)
    }

    fn apply_sticky(m: &mut crate::mutation::Mutation, req: &RespondWorkflowTaskCompletedRequest) {
        match &req.sticky_attributes {
            Some(sticky)
                if sticky
                    .worker_task_queue
                    .as_ref()
                    .is_some_and(|q| !q.name.is_empty()) =>
            {
                let name = sticky
                    .worker_task_queue
                    .as_ref()
                    .map(|q| q.name.clone())
                    .unwrap_or_default();
                let timeout = duration_millis(sticky.schedule_to_start_timeout.as_ref());
                let info = m.info_mut();
                info.sticky_task_queue = name;
                info.sticky_timeout_ms = timeout;
            }
            _ => m.info_mut().sticky_task_queue.clear(),
        }
    }

    fn apply_completion(
        &self,
        m: &mut crate::mutation::Mutation,
        token: &TaskToken,
        req: &RespondWorkflowTaskCompletedRequest,
        catalog: &orrery_visibility::Catalog,
    ) -> CellResult<Completion> {
        let wt = Self::check_workflow_token(m, token)?;
        tracing::debug!(
            commands = ?req.commands.iter().map(|c| c.command_type).collect::<Vec<_>>(),
            messages = ?req.messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            speculative = wt.speculative,
            "completing workflow task"
        );
        if let Some(message) =
            self.unknown_updates_over_total(&m.state, &token.run_id, &req.messages)
        {
            Self::reject_completion(
                m,
                &wt,
                WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage,
                message,
                &req.identity,
                true,
            )?;
            return Ok(Completion::Applied);
        }
        if let Some(reset) = Self::discard_speculative(m, &wt, req) {
            return Ok(Completion::Discarded(reset));
        }
        // A run cannot close while events it has not seen are waiting.
        if !m.state.buffered_events.is_empty() && req.commands.iter().any(closes_run) {
            Self::reject_completion(
                m,
                &wt,
                WorkflowTaskFailedCause::UnhandledCommand,
                "UnhandledCommand: new events arrived while the workflow task ran".into(),
                &req.identity,
                // The worker did nothing wrong: this is not a failed attempt.
                false,
            )?;
            return Ok(Completion::Applied);
        }
        let blob_limit = self.limits.blob_size_error;
        if let Some((cause, message)) = req
            .commands
            .iter()
            .find_map(|c| crate::api::limits::oversized_payload(c, blob_limit))
        {
            // As on the real server: the task fails, then the run is
            // terminated, and the worker is told why.
            persist_transient(m, &wt);
            m.state.workflow_task = None;
            m.add_event(WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                started_event_id: wt.started_event_id,
                cause: cause as i32,
                // Unlike other rejections, marked retryable, as the real server does.
                failure: Some(orrery_proto::api::failure::v1::Failure {
                    failure_info: Some(
                        orrery_proto::api::failure::v1::failure::FailureInfo::ServerFailureInfo(
                            Default::default(),
                        ),
                    ),
                    ..server_failure(message.clone())
                }),
                identity: req.identity.clone(),
                ..Default::default()
            });
            m.terminate(&message, None, "history-service", None);
            return Ok(Completion::Rejected(message));
        }
        persist_transient(m, &wt);
        m.state.workflow_task = None;
        let completed_event_id = m.add_event(WorkflowTaskCompletedEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            identity: req.identity.clone(),
            // Recorded as the worker version instead, as the real server does.
            binary_checksum: String::new(),
            worker_version: worker_version(
                req.worker_version_stamp.as_ref(),
                req.deployment_options.as_ref(),
                &req.binary_checksum,
            ),
            sdk_metadata: req.sdk_metadata.clone(),
            metering_metadata: req.metering_metadata,
            ..Default::default()
        });
        m.state.previous_started_event_id = wt.started_event_id;
        m.state.last_completed_workflow_task_event_id = completed_event_id;
        Self::record_reset_point(m, req, completed_event_id);
        Self::apply_sticky(m, req);
        let ctx = CommandContext {
            completed_event_id,
            identity: &req.identity,
            catalog,
        };
        let before = m.clone();
        let run_id = token.run_id.as_str();
        let mut handled_messages = Vec::new();
        for command in req.commands.iter().cloned() {
            if !m.is_running() {
                break;
            }
            // A protocol-message command places a worker message (an update
            // acceptance or response) at this point of the command sequence.
            let applied = match &command.attributes {
                Some(ProtocolMessageCommandAttributes(p)) => {
                    match req.messages.iter().find(|msg| msg.id == p.message_id) {
                        Some(msg) => {
                            m.apply_update_message(
                                msg,
                                self.updates.request(run_id, &msg.protocol_instance_id),
                            );
                            handled_messages.push(msg.id.clone());
                            Ok(())
                        }
                        None => Err(crate::commands::Rejection {
                            cause: WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage,
                            message: format!(
                                "protocol message {} is not in the completion",
                                p.message_id
                            ),
                        }),
                    }
                }
                _ => m.apply_command(command, &ctx),
            };
            if let Err(rejection) = applied {
                // Nothing of this completion stands: the task fails
                // with the rejection's cause instead.
                *m = before;
                m.state.workflow_task = Some(wt.clone());
                return Self::reject_completion(
                    m,
                    &wt,
                    rejection.cause,
                    rejection.message,
                    &req.identity,
                    true,
                )
                .map(|()| Completion::Applied);
            }
        }
        // All the local activities one task recorded are one Action.
        if m.events.iter().any(|e| {
            e.event_id > completed_event_id
                && matches!(
                    &e.attributes,
                    Some(history_event::Attributes::MarkerRecordedEventAttributes(a))
                        if LOCAL_ACTIVITY_MARKERS.contains(&a.marker_name.as_str())
                )
        }) {
            m.count(Action::LocalActivities);
        }
        // Messages no command placed (rejections, mostly) come after the
        // commands, in the order they arrived.
        for msg in &req.messages {
            if !handled_messages.contains(&msg.id) && m.is_running() {
                m.apply_update_message(
                    msg,
                    self.updates.request(run_id, &msg.protocol_instance_id),
                );
            }
        }
        m.state.checkpoint_event_id = m.state.next_event_id;
        let canceled_unstarted = m.events.iter().any(|e| {
            e.event_id > completed_event_id
                && e.event_type == EventType::ActivityTaskCanceled as i32
        });
        let flushed = m.flush_buffered();
        if m.is_running()
            && (flushed > 0 || canceled_unstarted || req.force_create_new_workflow_task)
        {
            m.schedule_workflow_task();
        }
        // An update this task carried but the worker ignored is rejected,
        // as on the real server; one that arrived meanwhile needs a task.
        let answered: Vec<String> = m.update_effects.iter().map(|(id, _)| id.clone()).collect();
        let (carried, not_carried) = self.updates.unanswered_by_task(run_id, wt.started_time_ms);
        for id in carried.into_iter().filter(|id| !answered.contains(id)) {
            m.update_effects
                .push((id, crate::api::update::unprocessed()));
        }
        if m.is_running() && not_carried.iter().any(|id| !answered.contains(id)) {
            m.schedule_speculative_workflow_task();
        }
        if m.is_running()
            && let Some(reason) = m.history_over_limit(&self.limits, true)
        {
            m.terminate_over_limit(reason);
        }
        Ok(Completion::Applied)
    }

    fn reject_completion(
        m: &mut crate::mutation::Mutation,
        wt: &crate::state::WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        message: String,
        identity: &str,
        count_attempt: bool,
    ) -> CellResult<()> {
        tracing::info!(cause = cause.as_str_name(), %message, "workflow task completion rejected");
        m.retry_workflow_task(
            WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                started_event_id: wt.started_event_id,
                cause: cause as i32,
                failure: Some(server_failure(message)),
                identity: identity.to_string(),
                ..Default::default()
            },
            count_attempt,
        );
        Ok(())
    }
}
