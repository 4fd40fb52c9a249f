//! ResetWorkflowExecution: a new run whose history is the base run's up to
//! a workflow task, that task failed with cause RESET_WORKFLOW, then the
//! signals the base run received after that point, then a new workflow
//! task. The run that was current is terminated. Mutable state of the new
//! run is rebuilt by replaying the copied events, and the tasks its pending
//! activities, timers, children and external requests need are made anew.
use orrery_core::actions::Action;
use orrery_core::time::duration_millis;
use orrery_core::{CellError, CellResult};
use orrery_persistence::CurrentWrite;
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{
    EventType, ResetReapplyExcludeType, UpdateAdmittedEventOrigin, WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
};
use orrery_proto::api::failure::v1::{Failure, ResetWorkflowFailureInfo, failure::FailureInfo};
use orrery_proto::api::history::v1::history_event::Attributes as A;
use orrery_proto::api::history::v1::*;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::state::{
    ActivityInfo, ChildInfo, ExternalRequestInfo, TimerInfo, UpdateInfo, WorkflowTaskInfo,
};
use crate::tasks::{TimerKind, TransferKind};

/// What a reset request asks for, checked by the frontend.
pub struct ResetRequest {
    pub namespace_id: String,
    pub execution: WorkflowExecution,
    pub reason: String,
    pub workflow_task_finish_event_id: i64,
    pub request_id: String,
    pub identity: String,
    pub exclude: Vec<i32>,
}

fn bad_point() -> CellError {
    CellError::invalid("Workflow task finish ID must be > 1 && <= workflow last event ID.")
}

fn not_a_boundary(event_id: i64) -> CellError {
    CellError::invalid(format!(
        "Cannot reset to event ID {event_id}: it must be the event that finished a workflow task (completed, failed or timed out)."
    ))
}

impl Mutation {
    /// Applies one copied event of the base run to the state being rebuilt.
    fn replay(&mut self, event: &HistoryEvent) {
        let event_ms = event
            .event_time
            .as_ref()
            .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
            .unwrap_or(self.now);
        let Some(attributes) = &event.attributes else {
            return;
        };
        let id = event.event_id;
        let state = &mut self.state;
        match attributes {
            A::WorkflowExecutionStartedEventAttributes(a) => {
                let info = state.info.get_or_insert_with(Default::default);
                info.memo = a.memo.clone();
                info.search_attributes = a.search_attributes.clone();
            }
            A::WorkflowTaskScheduledEventAttributes(a) => {
                state.workflow_task = Some(WorkflowTaskInfo {
                    scheduled_event_id: id,
                    attempt: a.attempt.max(1),
                    task_queue: a
                        .task_queue
                        .as_ref()
                        .map(|q| q.name.clone())
                        .unwrap_or_default(),
                    scheduled_time_ms: event_ms,
                    timeout_ms: duration_millis(a.start_to_close_timeout.as_ref()),
                    ..Default::default()
                });
                state.had_workflow_task = true;
            }
            A::WorkflowTaskStartedEventAttributes(a) => {
                if let Some(wt) = state.workflow_task.as_mut() {
                    wt.started_event_id = id;
                    wt.started_time_ms = event_ms;
                    wt.identity = a.identity.clone();
                    wt.request_id = a.request_id.clone();
                }
            }
            A::WorkflowTaskCompletedEventAttributes(a) => {
                state.workflow_task = None;
                state.previous_started_event_id = a.started_event_id;
                state.last_completed_workflow_task_event_id = id;
                state.checkpoint_event_id = id + 1;
            }
            A::WorkflowTaskFailedEventAttributes(_) | A::WorkflowTaskTimedOutEventAttributes(_) => {
                state.workflow_task = None;
            }
            A::ActivityTaskScheduledEventAttributes(a) => state.activities.push(ActivityInfo {
                scheduled_event_id: id,
                scheduled: Some(a.clone()),
                attempt: 1,
                first_scheduled_time_ms: event_ms,
                scheduled_time_ms: event_ms,
                ..Default::default()
            }),
            A::ActivityTaskCancelRequestedEventAttributes(a) => {
                if let Some(ai) = state
                    .activities
                    .iter_mut()
                    .find(|x| x.scheduled_event_id == a.scheduled_event_id)
                {
                    ai.cancel_requested = true;
                    ai.cancel_requested_event_id = id;
                }
            }
            A::ActivityTaskCompletedEventAttributes(a) => {
                remove_activity(state, a.scheduled_event_id)
            }
            A::ActivityTaskFailedEventAttributes(a) => remove_activity(state, a.scheduled_event_id),
            A::ActivityTaskTimedOutEventAttributes(a) => {
                remove_activity(state, a.scheduled_event_id)
            }
            A::ActivityTaskCanceledEventAttributes(a) => {
                remove_activity(state, a.scheduled_event_id)
            }
            A::TimerStartedEventAttributes(a) => state.timers.push(TimerInfo {
                timer_id: a.timer_id.clone(),
                started_event_id: id,
                fire_ms: event_ms + duration_millis(a.start_to_fire_timeout.as_ref()),
            }),
            A::TimerFiredEventAttributes(a) => remove_timer(state, a.started_event_id),
            A::TimerCanceledEventAttributes(a) => remove_timer(state, a.started_event_id),
            A::StartChildWorkflowExecutionInitiatedEventAttributes(a) => {
                state.children.push(ChildInfo {
                    initiated_event_id: id,
                    workflow_id: a.workflow_id.clone(),
                    namespace: a.namespace.clone(),
                    namespace_id: a.namespace_id.clone(),
                    workflow_type: a
                        .workflow_type
                        .as_ref()
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    parent_close_policy: a.parent_close_policy,
                    ..Default::default()
                })
            }
            A::ChildWorkflowExecutionStartedEventAttributes(a) => {
                if let Some(child) = state
                    .children
                    .iter_mut()
                    .find(|c| c.initiated_event_id == a.initiated_event_id)
                {
                    child.started_event_id = id;
                    child.run_id = a
                        .workflow_execution
                        .as_ref()
                        .map(|e| e.run_id.clone())
                        .unwrap_or_default();
                }
            }
            A::StartChildWorkflowExecutionFailedEventAttributes(a) => {
                remove_child(state, a.initiated_event_id)
            }
            A::ChildWorkflowExecutionCompletedEventAttributes(a) => {
                remove_child(state, a.initiated_event_id)
            }
            A::ChildWorkflowExecutionFailedEventAttributes(a) => {
                remove_child(state, a.initiated_event_id)
            }
            A::ChildWorkflowExecutionCanceledEventAttributes(a) => {
                remove_child(state, a.initiated_event_id)
            }
            A::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
                remove_child(state, a.initiated_event_id)
            }
            A::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
                remove_child(state, a.initiated_event_id)
            }
            A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
                state.external_requests.push(ExternalRequestInfo {
                    initiated_event_id: id,
                    request_id: uuid::Uuid::new_v4().to_string(),
                    is_cancel: false,
                })
            }
            A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
                state.external_requests.push(ExternalRequestInfo {
                    initiated_event_id: id,
                    request_id: uuid::Uuid::new_v4().to_string(),
                    is_cancel: true,
                })
            }
            A::ExternalWorkflowExecutionSignaledEventAttributes(a) => {
                remove_external(state, a.initiated_event_id)
            }
            A::SignalExternalWorkflowExecutionFailedEventAttributes(a) => {
                remove_external(state, a.initiated_event_id)
            }
            A::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => {
                remove_external(state, a.initiated_event_id)
            }
            A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => {
                remove_external(state, a.initiated_event_id)
            }
            A::WorkflowExecutionSignaledEventAttributes(a) => {
                state.signal_count += 1;
                if !a.request_id.is_empty() {
                    state.signal_request_ids.push(a.request_id.clone());
                }
            }
            A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
                if let Some(info) = state.info.as_mut() {
                    info.cancel_requested = true;
                }
            }
            A::WorkflowExecutionUpdateAcceptedEventAttributes(a) => {
                state.updates.push(UpdateInfo {
                    update_id: a.protocol_instance_id.clone(),
                    accepted_event_id: id,
                    completed_event_id: 0,
                })
            }
            A::WorkflowExecutionUpdateCompletedEventAttributes(a) => {
                if let Some(u) = state
                    .updates
                    .iter_mut()
                    .find(|u| u.accepted_event_id == a.accepted_event_id)
                {
                    u.completed_event_id = id;
                }
            }
            A::UpsertWorkflowSearchAttributesEventAttributes(a) => {
                let info = state.info.get_or_insert_with(Default::default);
                let current = info.search_attributes.get_or_insert_with(Default::default);
                crate::commands::merge_removing_empty(
                    &mut current.indexed_fields,
                    a.search_attributes
                        .clone()
                        .unwrap_or_default()
                        .indexed_fields,
                );
            }
            A::WorkflowPropertiesModifiedEventAttributes(a) => {
                let info = state.info.get_or_insert_with(Default::default);
                let memo = info.memo.get_or_insert_with(Default::default);
                crate::commands::merge_removing_empty(
                    &mut memo.fields,
                    a.upserted_memo.clone().unwrap_or_default().fields,
                );
            }
            _ => {}
        }
    }

    /// Makes the timers and transfers the rebuilt state's pending work needs.
    fn regenerate_tasks(&mut self) {
        for ai in self.state.activities.clone() {
            let scheduled = ai.scheduled.clone().unwrap_or_default();
            let s2c = duration_millis(scheduled.schedule_to_close_timeout.as_ref());
            if s2c > 0 {
                let mut t = self.timer_task(TimerKind::ActivityTimeout);
                t.event_id = ai.scheduled_event_id;
                t.timeout_type = orrery_proto::api::enums::v1::TimeoutType::ScheduleToClose as i32;
                self.timer(ai.first_scheduled_time_ms + s2c, t);
            }
            if !ai.cancel_requested {
                self.dispatch_activity(ai.scheduled_event_id);
            }
        }
        for timer in self.state.timers.clone() {
            let mut t = self.timer_task(TimerKind::UserTimer);
            t.event_id = timer.started_event_id;
            t.timer_id = timer.timer_id.clone();
            self.timer(timer.fire_ms.max(self.now), t);
        }
        for child in self.state.children.clone() {
            if child.started_event_id == 0 {
                let task = self.transfer_task(TransferKind::StartChild, child.initiated_event_id);
                self.transfer(task);
            }
        }
        for request in self.state.external_requests.clone() {
            let kind = if request.is_cancel {
                TransferKind::CancelExternal
            } else {
                TransferKind::SignalExternal
            };
            let task = self.transfer_task(kind, request.initiated_event_id);
            self.transfer(task);
        }
        let info = self.info().clone();
        self.arm_run_timeout(self.now, info.run_timeout_ms, info.execution_expiration_ms);
    }
}

fn remove_activity(state: &mut crate::state::MutableState, scheduled_event_id: i64) {
    state
        .activities
        .retain(|a| a.scheduled_event_id != scheduled_event_id);
}

fn remove_timer(state: &mut crate::state::MutableState, started_event_id: i64) {
    state
        .timers
        .retain(|t| t.started_event_id != started_event_id);
}

fn remove_child(state: &mut crate::state::MutableState, initiated_event_id: i64) {
    state
        .children
        .retain(|c| c.initiated_event_id != initiated_event_id);
}

fn remove_external(state: &mut crate::state::MutableState, initiated_event_id: i64) {
    state
        .external_requests
        .retain(|r| r.initiated_event_id != initiated_event_id);
}

impl HistoryEngine {
    /// ResetWorkflowExecution; answers the new run's id.
    pub async fn reset_workflow(&self, req: ResetRequest) -> CellResult<String> {
        let (namespace_id, workflow_id) =
            (req.namespace_id.clone(), req.execution.workflow_id.clone());
        let _guard = self.lock(&namespace_id, &workflow_id).await;
        let shard = self.shard(&namespace_id, &workflow_id)?;
        let base_run_id = self
            .resolve_run(&namespace_id, &workflow_id, &req.execution.run_id)
            .await?;
        let current = self
            .store
            .current_execution(shard.id, &namespace_id, &workflow_id)
            .await?
            .ok_or_else(CellError::workflow_not_found)?;
        // A retried request finds the run it created.
        if !req.request_id.is_empty() && current.create_request_id == req.request_id {
            return Ok(current.run_id);
        }
        let (base_state, _) = self.load(&namespace_id, &workflow_id, &base_run_id).await?;
        let last_event_id = base_state.next_event_id - 1;
        let finish = req.workflow_task_finish_event_id;
        if finish <= 1 || finish > last_event_id {
            return Err(bad_point());
        }
        let events = self
            .all_events(&namespace_id, &base_run_id, last_event_id)
            .await?;
        // The point is a workflow task, started or only scheduled.
        let boundary = events.get((finish - 2) as usize).is_some_and(|e| {
            e.event_type == EventType::WorkflowTaskStarted as i32
                || e.event_type == EventType::WorkflowTaskScheduled as i32
        });
        if !boundary {
            return Err(not_a_boundary(finish));
        }

        let new_run_id = crate::new_run_id();
        let mut m = self.new_mutation(&namespace_id, &workflow_id)?;
        let mut info = base_state.info.clone().unwrap_or_default();
        info.run_id = new_run_id.clone();
        info.status = WorkflowExecutionStatus::Running as i32;
        info.start_time_ms = m.now;
        info.execution_time_ms = m.now;
        info.close_time_ms = 0;
        info.completion_event_id = 0;
        info.cancel_requested = false;
        info.sticky_task_queue.clear();
        info.create_request_id = req.request_id.clone();
        info.reset_points = None;
        m.state.info = Some(info);
        for event in &events[..(finish - 1) as usize] {
            m.replay(event);
            m.state.history_size_bytes += prost::Message::encoded_len(event) as i64;
            m.events.push(event.clone());
        }
        m.state.next_event_id = finish;
        let (scheduled_event_id, started_event_id) = match &events[(finish - 2) as usize].attributes
        {
            Some(A::WorkflowTaskStartedEventAttributes(a)) => (a.scheduled_event_id, finish - 1),
            // A task only scheduled is started by the server, then failed,
            // in the real server's words.
            _ => {
                let size = m.state.history_size_bytes;
                let started = m.add_event(WorkflowTaskStartedEventAttributes {
                    scheduled_event_id: finish - 1,
                    identity: "history-service".into(),
                    request_id: "emptyUuid".into(),
                    history_size_bytes: size,
                    ..Default::default()
                });
                (finish - 1, started)
            }
        };
        m.state.workflow_task = None;
        m.add_event(WorkflowTaskFailedEventAttributes {
            scheduled_event_id,
            started_event_id,
            cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
            failure: Some(Failure {
                message: req.reason.clone(),
                failure_info: Some(FailureInfo::ResetWorkflowFailureInfo(
                    ResetWorkflowFailureInfo::default(),
                )),
                ..Default::default()
            }),
            identity: "history-service".into(),
            base_run_id: base_run_id.clone(),
            new_run_id: new_run_id.clone(),
            ..Default::default()
        });
        // What the base run received after the point is received again:
        // signals as they were, updates as admitted (the worker runs them
        // anew), as the real server reapplies them.
        let exclude_signals = req
            .exclude
            .contains(&(ResetReapplyExcludeType::Signal as i32));
        let exclude_updates = req
            .exclude
            .contains(&(ResetReapplyExcludeType::Update as i32));
        for event in &events[(finish - 1) as usize..] {
            match &event.attributes {
                Some(A::WorkflowExecutionSignaledEventAttributes(a)) if !exclude_signals => {
                    m.replay(event);
                    m.add_event(a.clone());
                }
                Some(A::WorkflowExecutionUpdateAcceptedEventAttributes(a)) if !exclude_updates => {
                    m.add_event(WorkflowExecutionUpdateAdmittedEventAttributes {
                        request: a.accepted_request.clone(),
                        origin: UpdateAdmittedEventOrigin::Reapply as i32,
                    });
                }
                Some(A::WorkflowExecutionUpdateAdmittedEventAttributes(a)) if !exclude_updates => {
                    m.add_event(WorkflowExecutionUpdateAdmittedEventAttributes {
                        request: a.request.clone(),
                        origin: UpdateAdmittedEventOrigin::Reapply as i32,
                    });
                }
                _ => {}
            }
        }
        m.regenerate_tasks();
        m.schedule_workflow_task();
        m.update_visibility();
        m.count(Action::WorkflowReset);
        m.current = Some(CurrentWrite::Set {
            run_id: new_run_id.clone(),
            create_request_id: req.request_id.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            previous_run_id: Some(current.run_id.clone()),
        });
        if current.status == WorkflowExecutionStatus::Running as i32 {
            let (state, version) = self
                .load(&namespace_id, &workflow_id, &current.run_id)
                .await?;
            let mut old = Mutation::new(state, Some(version), shard.task_ids.clone());
            old.terminate(&req.reason, None, "history-resetter", Some(&new_run_id));
            old.current = m.current.take();
            old.new_run = Some(Box::new(m));
            self.commit(old).await?;
        } else {
            self.commit(m).await?;
        }
        Ok(new_run_id)
    }

    /// Every event of a run, in order.
    async fn all_events(
        &self,
        namespace_id: &str,
        run_id: &str,
        last_event_id: i64,
    ) -> CellResult<Vec<HistoryEvent>> {
        let mut events = Vec::with_capacity(last_event_id as usize);
        let mut from = 1;
        while from <= last_event_id {
            let (page, _) = self
                .history_page(namespace_id, run_id, from, last_event_id + 1, 1000)
                .await?;
            let Some(last) = page.last() else { break };
            from = last.event_id + 1;
            events.extend(page);
        }
        Ok(events)
    }
}
