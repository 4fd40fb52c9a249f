//! Workflow updates. An admitted update lives only in memory (the registry
//! below) until the workflow accepts it: it rides to the worker as a protocol
//! message on the next workflow task — a speculative one if none is pending —
//! and a rejection leaves no trace in history. Acceptance and completion are
//! events, and mutable state keeps pointers to them so duplicates and polls
//! find them after a restart. As in Temporal, admitted-but-unaccepted
//! updates do not survive a restart; the client retries them. The registry
//! itself and the per-run update limits are in `update_registry.rs`.
use orrery_core::actions::Action;
use std::collections::HashSet;
use std::time::Duration;

use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{
    UpdateWorkflowExecutionLifecycleStage as Stage, WorkflowExecutionStatus,
};
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::history::v1::history_event::Attributes;
use orrery_proto::api::history::v1::*;
use orrery_proto::api::protocol::v1::{Message, message::SequencingId};
use orrery_proto::api::update::v1::{
    Acceptance, Outcome, Rejection, Request, Response, UpdateRef, outcome,
};
use orrery_proto::api::workflowservice::v1::UpdateWorkflowExecutionResponse;
use prost::Message as _;
use tokio::sync::watch;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::state::{MutableState, UpdateInfo};

use super::update_registry::{NewUpdate, UpdateLimits, check_admission};
pub(crate) use super::update_registry::{UpdateRegistry, UpdateState, check_total};

fn server_application_failure(message: &str, r#type: &str) -> Outcome {
    use orrery_proto::api::failure::v1::{ApplicationFailureInfo, failure::FailureInfo};
    Outcome {
        value: Some(outcome::Value::Failure(Failure {
            message: message.into(),
            source: "Server".into(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: r#type.into(),
                    non_retryable: true,
                    ..Default::default()
                },
            )),
            ..Default::default()
        })),
    }
}

/// An accepted update whose workflow closed before it completed.
pub(crate) fn closed_before_completion() -> Outcome {
    server_application_failure(
        "Workflow Update failed because the Workflow completed before the Update completed.",
        "AcceptedUpdateCompletedWorkflow",
    )
}

/// An update a worker was sent but neither accepted nor rejected.
pub(crate) fn unprocessed() -> UpdateState {
    UpdateState::Completed(Box::new(server_application_failure(
        "Workflow Update is rejected because it wasn't processed by worker. Probably, Workflow Update is not supported by the worker.",
        "UnprocessedUpdate",
    )))
}

const REQUEST_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Request";

/// Protocol messages carrying the run's unanswered updates to a worker.
pub(crate) fn request_messages(requests: Vec<Request>, started_event_id: i64) -> Vec<Message> {
    requests
        .into_iter()
        .map(|r| {
            let id = r
                .meta
                .as_ref()
                .map(|m| m.update_id.clone())
                .unwrap_or_default();
            Message {
                id: format!("{id}/request"),
                protocol_instance_id: id,
                sequencing_id: Some(SequencingId::EventId(started_event_id - 1)),
                body: Some(prost_wkt_types::Any {
                    type_url: REQUEST_TYPE.into(),
                    value: r.encode_to_vec(),
                }),
            }
        })
        .collect()
}

/// What a worker's protocol message says.
pub(crate) enum Verdict {
    Accepted(Acceptance),
    Rejected(Rejection),
    Responded(Response),
}

pub(crate) fn verdict(message: &Message) -> Option<Verdict> {
    let body = message.body.as_ref()?;
    let name = body.type_url.rsplit('/').next().unwrap_or_default();
    match name {
        "temporal.api.update.v1.Acceptance" => Acceptance::decode(body.value.as_slice())
            .ok()
            .map(Verdict::Accepted),
        "temporal.api.update.v1.Rejection" => Rejection::decode(body.value.as_slice())
            .ok()
            .map(Verdict::Rejected),
        "temporal.api.update.v1.Response" => Response::decode(body.value.as_slice())
            .ok()
            .map(Verdict::Responded),
        _ => None,
    }
}

impl Mutation {
    /// Applies one worker message: acceptance and response write events;
    /// a rejection only tells the caller.
    pub(crate) fn apply_update_message(
        &mut self,
        message: &Message,
        registry_request: Option<Request>,
    ) {
        let update_id = message.protocol_instance_id.clone();
        match verdict(message) {
            Some(Verdict::Accepted(a)) => {
                if self.state.updates.iter().any(|u| u.update_id == update_id) {
                    return;
                }
                let id = self.add_event(WorkflowExecutionUpdateAcceptedEventAttributes {
                    protocol_instance_id: update_id.clone(),
                    accepted_request_message_id: a.accepted_request_message_id,
                    accepted_request_sequencing_event_id: a.accepted_request_sequencing_event_id,
                    // An update admitted from history (reapplied by a reset)
                    // is known by its admitted event; its request is not
                    // repeated, as on the real server.
                    accepted_request: registry_request
                        .or((a.accepted_request_sequencing_event_id == 0)
                            .then_some(a.accepted_request)
                            .flatten()),
                });
                self.state.updates.push(UpdateInfo {
                    update_id: update_id.clone(),
                    accepted_event_id: id,
                    completed_event_id: 0,
                });
                self.count(Action::UpdateAccepted);
                self.update_effects.push((update_id, UpdateState::Accepted));
            }
            Some(Verdict::Responded(r)) => {
                let Some(info) = self
                    .state
                    .updates
                    .iter()
                    .find(|u| u.update_id == update_id && u.completed_event_id == 0)
                    .cloned()
                else {
                    return;
                };
                let outcome = r.outcome.clone().unwrap_or_default();
                let id = self.add_event(WorkflowExecutionUpdateCompletedEventAttributes {
                    meta: r.meta,
                    accepted_event_id: info.accepted_event_id,
                    outcome: Some(outcome.clone()),
                });
                if let Some(u) = self
                    .state
                    .updates
                    .iter_mut()
                    .find(|u| u.update_id == update_id)
                {
                    u.completed_event_id = id;
                }
                self.update_effects
                    .push((update_id, UpdateState::Completed(Box::new(outcome))));
            }
            Some(Verdict::Rejected(r)) => {
                // A rejection of an update this run already accepted (a
                // repeated message) changes nothing and is free.
                if !self.state.updates.iter().any(|u| u.update_id == update_id) {
                    self.count(Action::UpdateRejected);
                }
                let failure = r.failure.unwrap_or_else(|| Failure {
                    message: "update rejected".into(),
                    ..Default::default()
                });
                self.update_effects.push((
                    update_id,
                    UpdateState::Completed(Box::new(Outcome {
                        value: Some(outcome::Value::Failure(failure)),
                    })),
                ));
            }
            None => {
                tracing::warn!(message_id = %message.id, "ignoring an unknown protocol message")
            }
        }
    }
}

fn closed() -> CellError {
    CellError::NotFound("workflow execution already completed".into())
}

impl HistoryEngine {
    /// A run's updates as its limits count them: in flight (admitted, or
    /// accepted and not completed) and completed. Rejected updates are in
    /// neither, as on the real server.
    pub(crate) fn update_counts(&self, ms: &MutableState, run_id: &str) -> (usize, usize) {
        let mut in_flight: HashSet<String> = self.updates.update_ids(run_id).into_iter().collect();
        let mut completed = 0;
        for u in &ms.updates {
            if u.completed_event_id > 0 {
                completed += 1;
            } else {
                in_flight.insert(u.update_id.clone());
            }
        }
        (in_flight.len(), completed)
    }

    pub(crate) fn run_update_limits(&self, ms: &MutableState) -> UpdateLimits {
        let namespace = ms.info.as_ref().map(|i| i.namespace.as_str());
        self.limits.update_limits(namespace.unwrap_or_default())
    }

    /// Whether the run may admit `request`, an update it does not know yet
    /// (`history.maxInFlightUpdates`, `history.maxTotalUpdates`,
    /// `history.maxInFlightUpdatePayloads`).
    fn check_new_update(
        &self,
        ms: &MutableState,
        run_id: &str,
        request: &Request,
    ) -> CellResult<()> {
        let (in_flight, completed) = self.update_counts(ms, run_id);
        let new = NewUpdate::of(request, self.updates.held_bytes(run_id));
        check_admission(self.run_update_limits(ms), in_flight, completed, new)
    }

    /// A worker may answer an update the server no longer holds (admitted
    /// before a restart, say): the real server takes it back in, but only
    /// within the run's total (`history.maxTotalUpdates`), and otherwise
    /// fails the workflow task. Returns that failure's message.
    pub(crate) fn unknown_updates_over_total(
        &self,
        ms: &MutableState,
        run_id: &str,
        messages: &[Message],
    ) -> Option<String> {
        let limits = self.run_update_limits(ms);
        let (in_flight, completed) = self.update_counts(ms, run_id);
        let mut total = in_flight + completed;
        let mut seen = HashSet::new();
        for msg in messages {
            let id = msg.protocol_instance_id.as_str();
            let accepted = match verdict(msg) {
                Some(Verdict::Accepted(_)) => true,
                Some(Verdict::Rejected(_)) => false,
                _ => continue,
            };
            let known = self.updates.subscribe(run_id, id).is_some()
                || ms.updates.iter().any(|u| u.update_id == id);
            if known || !seen.insert(id) {
                continue;
            }
            if let Err(err) = check_total(limits, total) {
                return Some(err.to_string());
            }
            // A rejected one leaves at once and is not counted.
            total += usize::from(accepted);
        }
        None
    }

    async fn completed_outcome(
        &self,
        namespace_id: &str,
        run_id: &str,
        event_id: i64,
    ) -> CellResult<Outcome> {
        let (events, _) = self
            .history_page(namespace_id, run_id, event_id, event_id + 1, 1)
            .await?;
        match events.into_iter().next().and_then(|e| e.attributes) {
            Some(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(c)) => {
                Ok(c.outcome.unwrap_or_default())
            }
            _ => Err(CellError::internal("update completed event missing")),
        }
    }

    /// The state of an update the run already knows, and a receiver to
    /// follow it if it is still in flight.
    async fn known_update(
        &self,
        namespace_id: &str,
        run_id: &str,
        info: &UpdateInfo,
        running: bool,
    ) -> CellResult<(UpdateState, Option<watch::Receiver<UpdateState>>)> {
        if info.completed_event_id > 0 {
            let outcome = self
                .completed_outcome(namespace_id, run_id, info.completed_event_id)
                .await?;
            return Ok((UpdateState::Completed(Box::new(outcome)), None));
        }
        if !running {
            return Ok((
                UpdateState::Completed(Box::new(closed_before_completion())),
                None,
            ));
        }
        let rx = self.updates.register(run_id, &info.update_id, None);
        let state = rx.borrow().clone();
        Ok((state, Some(rx)))
    }

    /// UpdateWorkflowExecution: admits (or finds) the update and waits up to
    /// `wait` for it to reach `wait_stage`.
    pub async fn update_workflow(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        first_execution_run_id: &str,
        request: Request,
        wait_stage: Stage,
        wait: Duration,
    ) -> CellResult<UpdateWorkflowExecutionResponse> {
        let update_id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        let (run_id, state, rx) = {
            let _guard = self.lock(namespace_id, &execution.workflow_id).await;
            let run_id = self
                .resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
                .await?;
            let (ms, version) = self
                .load(namespace_id, &execution.workflow_id, &run_id)
                .await?;
            let running = ms
                .info
                .as_ref()
                .is_some_and(|i| i.status == WorkflowExecutionStatus::Running as i32);
            if !first_execution_run_id.is_empty()
                && ms
                    .info
                    .as_ref()
                    .is_some_and(|i| i.first_execution_run_id != first_execution_run_id)
            {
                return Err(CellError::NotFound("workflow execution not found".into()));
            }
            if let Some(info) = ms.updates.iter().find(|u| u.update_id == update_id) {
                let (state, rx) = self
                    .known_update(namespace_id, &run_id, info, running)
                    .await?;
                (run_id, state, rx)
            } else if let Some(rx) = self.updates.subscribe(&run_id, &update_id) {
                let state = rx.borrow().clone();
                (run_id, state, Some(rx))
            } else {
                if !running {
                    return Err(closed());
                }
                self.check_new_update(&ms, &run_id, &request)?;
                let rx = self.updates.register(&run_id, &update_id, Some(request));
                if ms.workflow_task.is_none() {
                    let shard = self.shard(namespace_id, &execution.workflow_id)?;
                    let mut m = Mutation::new(ms, Some(version), shard.task_ids.clone());
                    m.schedule_speculative_workflow_task();
                    if let Err(err) = self.commit(m).await {
                        self.updates.set(
                            &run_id,
                            &update_id,
                            UpdateState::Aborted(err.to_string()),
                        );
                        return Err(err);
                    }
                }
                (run_id, UpdateState::Admitted, Some(rx))
            }
        };
        let state = match rx {
            Some(rx) => self.wait_update(rx, wait_stage, wait).await,
            None => state,
        };
        update_response(execution, &run_id, &update_id, state)
    }

    async fn wait_update(
        &self,
        mut rx: watch::Receiver<UpdateState>,
        wait_stage: Stage,
        wait: Duration,
    ) -> UpdateState {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let state = rx.borrow_and_update().clone();
            if state.stage() as i32 >= wait_stage as i32 {
                return state;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The entry left the registry: it completed or was aborted.
                Ok(Err(_)) => return rx.borrow().clone(),
                Err(_) => return state,
            }
        }
    }

    /// The current run of `workflow_id` (and its status) when an update-with-start must
    /// attach to its update `update_id` instead of starting anything: the
    /// run knows the update and either still runs or completed the update.
    pub async fn attachable_update(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        update_id: &str,
    ) -> CellResult<Option<(String, i32)>> {
        let shard = self.shard(namespace_id, workflow_id)?;
        let Some(current) = self
            .store
            .current_execution(shard.id, namespace_id, workflow_id)
            .await?
        else {
            return Ok(None);
        };
        let (ms, _) = self
            .load(namespace_id, workflow_id, &current.run_id)
            .await?;
        let running = ms
            .info
            .as_ref()
            .is_some_and(|i| i.status == WorkflowExecutionStatus::Running as i32);
        let known = match ms.updates.iter().find(|u| u.update_id == update_id) {
            Some(info) => running || info.completed_event_id > 0,
            None => running && self.updates.subscribe(&current.run_id, update_id).is_some(),
        };
        Ok(known.then_some((current.run_id, current.status)))
    }

    /// PollWorkflowExecutionUpdate.
    pub async fn poll_update(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        update_id: &str,
        wait_stage: Stage,
        wait: Duration,
    ) -> CellResult<UpdateWorkflowExecutionResponse> {
        let run_id = self
            .resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
            .await?;
        let rx = match self.updates.subscribe(&run_id, update_id) {
            Some(rx) => rx,
            None => {
                // Under the workflow's lock, so the update cannot complete
                // between the load and registering a waiter (which would
                // then wait, and stay registered, for nothing).
                let _guard = self.lock(namespace_id, &execution.workflow_id).await;
                let (ms, _) = self
                    .load(namespace_id, &execution.workflow_id, &run_id)
                    .await?;
                let Some(info) = ms.updates.iter().find(|u| u.update_id == update_id) else {
                    return Err(CellError::NotFound(format!("update {update_id} not found")));
                };
                let running = ms
                    .info
                    .as_ref()
                    .is_some_and(|i| i.status == WorkflowExecutionStatus::Running as i32);
                match self
                    .known_update(namespace_id, &run_id, info, running)
                    .await?
                {
                    (state, None) => return update_response(execution, &run_id, update_id, state),
                    (_, Some(rx)) => rx,
                }
            }
        };
        let state = self.wait_update(rx, wait_stage, wait).await;
        update_response(execution, &run_id, update_id, state)
    }
}

fn update_response(
    execution: &WorkflowExecution,
    run_id: &str,
    update_id: &str,
    state: UpdateState,
) -> CellResult<UpdateWorkflowExecutionResponse> {
    let stage = state.stage() as i32;
    let outcome = match state {
        UpdateState::Completed(outcome) => Some(*outcome),
        UpdateState::Aborted(message) => return Err(CellError::NotFound(message)),
        _ => None,
    };
    Ok(UpdateWorkflowExecutionResponse {
        update_ref: Some(UpdateRef {
            workflow_execution: Some(WorkflowExecution {
                workflow_id: execution.workflow_id.clone(),
                run_id: run_id.to_string(),
            }),
            update_id: update_id.to_string(),
        }),
        outcome,
        stage,
        ..Default::default()
    })
}
