//! The half of a transfer task that acts on *another* run: starting a
//! child, signalling or cancelling an external workflow, telling a parent
//! its child closed, applying a parent close policy. In a cell of several
//! members that run's shard may be owned elsewhere; the half then runs on
//! its owner (`RemoteTargets`, the cell's peer call), which reads what it
//! needs (the source run, its initiating event) from the shared database
//! and answers with a small outcome the source records. Both halves are
//! idempotent, as the transfer queue retries them.
use std::sync::Arc;

use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::history::v1::history_event::Attributes;
use prost::Message;

use crate::engine::HistoryEngine;
use crate::state::{ExecutionInfo, ParentInfo};
use crate::tasks::{TransferKind, TransferTask};

/// What the target half is asked to do: the transfer task itself, and for
/// a parent close policy which child and how.
#[derive(Clone, PartialEq, Message)]
pub struct TargetRequest {
    /// The encoded transfer task.
    #[prost(bytes = "vec", tag = "1")]
    pub task: Vec<u8>,
    #[prost(string, tag = "2")]
    pub child_namespace_id: String,
    #[prost(string, tag = "3")]
    pub child_workflow_id: String,
    #[prost(int32, tag = "4")]
    pub parent_close_policy: i32,
}

impl TargetRequest {
    pub(crate) fn new(task: &TransferTask) -> Self {
        Self {
            task: task.encode_to_vec(),
            ..Default::default()
        }
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct TargetOutcome {
    /// A started child's run.
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// The child's workflow id was taken.
    #[prost(bool, tag = "2")]
    pub already_started: bool,
    /// The external workflow does not exist.
    #[prost(bool, tag = "3")]
    pub not_found: bool,
}

/// Runs a target half on the member owning `shard_id`; `None` when this
/// member owns it (or knows no other owner), and it runs here.
#[async_trait::async_trait]
pub trait RemoteTargets: Send + Sync + 'static {
    async fn run(&self, shard_id: i32, request: TargetRequest)
    -> Option<CellResult<TargetOutcome>>;
    /// A scheduler's action on a run of another member's shard.
    async fn scheduled(&self, shard_id: i32, action: ScheduledAction)
    -> Option<CellResult<String>>;
}

pub(crate) fn parent_info(
    parent: &crate::state::MutableState,
    initiated_event_id: i64,
) -> ParentInfo {
    let info: ExecutionInfo = parent.info.clone().unwrap_or_default();
    ParentInfo {
        namespace_id: info.namespace_id.clone(),
        namespace: info.namespace.clone(),
        execution: Some(WorkflowExecution {
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
        }),
        initiated_event_id,
    }
}

impl HistoryEngine {
    /// Where target halves go when their run's shard is another member's.
    pub fn set_remote_targets(&self, remote: Arc<dyn RemoteTargets>) {
        let _ = self.remote_targets.set(remote);
    }

    /// Runs the target half for the run `(namespace_id, workflow_id)`:
    /// here if this member owns its shard, else on its owner.
    pub(crate) async fn on_target(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        request: TargetRequest,
    ) -> CellResult<TargetOutcome> {
        let shard = self.shard_of(namespace_id, workflow_id);
        if self.shards.get(shard).is_err()
            && let Some(remote) = self.remote_targets.get()
            && let Some(outcome) = remote.run(shard, request.clone()).await
        {
            return outcome;
        }
        self.run_target(request).await
    }

    /// The target half, on the member that owns the target's shard.
    pub async fn run_target(&self, request: TargetRequest) -> CellResult<TargetOutcome> {
        let task = TransferTask::decode(request.task.as_slice())
            .map_err(|_| CellError::invalid("an undecodable transfer task"))?;
        match task.kind {
            k if k == TransferKind::StartChild as i32 => self.start_child_target(&task).await,
            k if k == TransferKind::SignalExternal as i32
                || k == TransferKind::CancelExternal as i32 =>
            {
                self.external_target(&task).await
            }
            k if k == TransferKind::NotifyParent as i32 => self
                .notify_parent_target(&task)
                .await
                .map(|()| TargetOutcome::default()),
            k if k == TransferKind::ParentClosePolicy as i32 => self
                .close_child_target(
                    &task,
                    &request.child_namespace_id,
                    &request.child_workflow_id,
                    request.parent_close_policy,
                )
                .await
                .map(|()| TargetOutcome::default()),
            other => Err(CellError::invalid(format!(
                "no target half for transfer kind {other}"
            ))),
        }
    }

    /// Starts the child the parent's task names, unless the parent no
    /// longer waits for it (then the source half finds nothing to record).
    async fn start_child_target(&self, task: &TransferTask) -> CellResult<TargetOutcome> {
        let parent = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        let Some(child) = parent
            .children
            .iter()
            .find(|c| c.initiated_event_id == task.initiated_event_id)
        else {
            return Ok(TargetOutcome::default());
        };
        if child.started_event_id != 0 {
            return Ok(TargetOutcome {
                run_id: child.run_id.clone(),
                ..Default::default()
            });
        }
        let Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a) = self
            .event(&task.namespace_id, &task.run_id, task.initiated_event_id)
            .await?
        else {
            return Err(CellError::internal("initiated event has the wrong type"));
        };
        match self.start_child_run(task, &parent, &a).await {
            Ok(outcome) => Ok(TargetOutcome {
                run_id: outcome.run_id,
                ..Default::default()
            }),
            Err(CellError::WorkflowAlreadyStarted { .. }) => Ok(TargetOutcome {
                already_started: true,
                ..Default::default()
            }),
            Err(err) => Err(err),
        }
    }
}

/// What the scheduler does to a run (start it, or cancel or terminate it
/// for an overlap policy); the run's shard may be another member's.
#[derive(Clone, PartialEq, Message)]
pub struct ScheduledAction {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    /// The namespace's name (a start's run records it).
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(message, optional, tag = "4")]
    pub start: Option<orrery_proto::api::workflowservice::v1::StartWorkflowExecutionRequest>,
    #[prost(message, optional, tag = "5")]
    pub execution: Option<WorkflowExecution>,
    #[prost(string, tag = "6")]
    pub reason: String,
    #[prost(string, tag = "7")]
    pub identity: String,
}

pub const SCHEDULED_START: i32 = 1;
pub const SCHEDULED_CANCEL: i32 = 2;
pub const SCHEDULED_TERMINATE: i32 = 3;

impl HistoryEngine {
    /// Runs a scheduler's action here if this member owns the run's shard,
    /// else on its owner. Returns the started run's id (a start).
    pub async fn scheduled_action(&self, action: ScheduledAction) -> CellResult<String> {
        let workflow_id = match (&action.start, &action.execution) {
            (Some(start), _) if action.kind == SCHEDULED_START => start.workflow_id.clone(),
            (_, Some(execution)) => execution.workflow_id.clone(),
            _ => return Err(CellError::invalid("a scheduled action names no workflow")),
        };
        let shard = self.shard_of(&action.namespace_id, &workflow_id);
        if self.shards.get(shard).is_err()
            && let Some(remote) = self.remote_targets.get()
            && let Some(outcome) = remote.scheduled(shard, action.clone()).await
        {
            return outcome;
        }
        self.run_scheduled_action(action).await
    }

    /// A scheduler's action, on the member owning the run's shard.
    pub async fn run_scheduled_action(&self, action: ScheduledAction) -> CellResult<String> {
        use orrery_proto::api::enums::v1::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy};
        let execution = action.execution.clone().unwrap_or_default();
        match action.kind {
            SCHEDULED_START => {
                let request = action
                    .start
                    .as_ref()
                    .ok_or_else(|| CellError::invalid("a scheduled start needs its request"))?;
                let spec = crate::RunSpec {
                    schedule_action: true,
                    ..crate::RunSpec::from_request(&action.namespace_id, &action.namespace, request)
                };
                self.start_workflow(
                    spec,
                    WorkflowIdReusePolicy::AllowDuplicate as i32,
                    WorkflowIdConflictPolicy::Fail as i32,
                    None,
                )
                .await
                .map(|outcome| outcome.run_id)
            }
            SCHEDULED_CANCEL => self
                .request_cancel_workflow(
                    &action.namespace_id,
                    &execution,
                    "",
                    &action.reason,
                    &action.identity,
                )
                .await
                .map(|()| String::new()),
            SCHEDULED_TERMINATE => self
                .terminate_workflow(
                    &action.namespace_id,
                    &execution,
                    "",
                    &action.reason,
                    None,
                    &action.identity,
                )
                .await
                .map(|()| String::new()),
            other => Err(CellError::invalid(format!("no scheduled action {other}"))),
        }
    }
}
