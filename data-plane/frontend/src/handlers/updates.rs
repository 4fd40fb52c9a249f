//! Workflow updates: UpdateWorkflowExecution, PollWorkflowExecutionUpdate and
//! update-with-start (ExecuteMultiOperation).
use std::time::Duration;

use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{
    UpdateWorkflowExecutionLifecycleStage as Stage, WorkflowIdConflictPolicy,
};
use orrery_proto::api::workflowservice::v1::execute_multi_operation_request::operation::Operation;
use orrery_proto::api::workflowservice::v1::execute_multi_operation_response::{
    Response as OpResponse, response,
};
use orrery_proto::api::workflowservice::v1::*;

use crate::{Frontend, validate};

/// The stage to wait for; `unset` applies when the caller names none.
fn wait_stage(
    policy: Option<&orrery_proto::api::update::v1::WaitPolicy>,
    unset: Stage,
) -> CellResult<Stage> {
    match policy.map(|p| p.lifecycle_stage).unwrap_or_default() {
        0 => Ok(unset),
        s => {
            Stage::try_from(s).map_err(|_| CellError::invalid("Invalid WaitPolicy.LifecycleStage."))
        }
    }
}

fn validate_update(req: &UpdateWorkflowExecutionRequest) -> CellResult<WorkflowExecution> {
    let exec = req.workflow_execution.clone().unwrap_or_default();
    validate::required_id(&exec.workflow_id, "WorkflowId")?;
    validate::run_id(&exec.run_id)?;
    let request = req
        .request
        .as_ref()
        .ok_or_else(|| CellError::invalid("Update request is not set on request."))?;
    let update_id = request
        .meta
        .as_ref()
        .map(|m| m.update_id.as_str())
        .unwrap_or_default();
    validate::required_id(update_id, "UpdateId")?;
    let name = request
        .input
        .as_ref()
        .map(|i| i.name.as_str())
        .unwrap_or_default();
    validate::required_id(name, "Update name")?;
    validate::payloads(request.input.as_ref().and_then(|i| i.args.as_ref()))?;
    Ok(exec)
}

impl Frontend {
    pub(crate) async fn update_workflow(
        &self,
        req: UpdateWorkflowExecutionRequest,
        wait: Duration,
    ) -> CellResult<UpdateWorkflowExecutionResponse> {
        let exec = validate_update(&req)?;
        let stage = wait_stage(req.wait_policy.as_ref(), Stage::Accepted)?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history
            .update_workflow(
                &ns.id,
                &exec,
                &req.first_execution_run_id,
                req.request.unwrap_or_default(),
                stage,
                wait,
            )
            .await
    }

    pub(crate) async fn poll_update(
        &self,
        req: PollWorkflowExecutionUpdateRequest,
        wait: Duration,
    ) -> CellResult<PollWorkflowExecutionUpdateResponse> {
        let update_ref = req.update_ref.clone().unwrap_or_default();
        let exec = update_ref.workflow_execution.clone().unwrap_or_default();
        validate::required_id(&exec.workflow_id, "WorkflowId")?;
        validate::run_id(&exec.run_id)?;
        validate::required_id(&update_ref.update_id, "UpdateId")?;
        // Without a wait policy a poll answers at once with where the update is.
        let stage = wait_stage(req.wait_policy.as_ref(), Stage::Admitted)?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let resp = self
            .history
            .poll_update(&ns.id, &exec, &update_ref.update_id, stage, wait)
            .await?;
        Ok(PollWorkflowExecutionUpdateResponse {
            outcome: resp.outcome,
            stage: resp.stage,
            update_ref: resp.update_ref,
        })
    }

    /// Update-with-start: start (or use) the workflow, then update it.
    pub(crate) async fn execute_multi_operation(
        &self,
        req: ExecuteMultiOperationRequest,
        wait: Duration,
    ) -> CellResult<ExecuteMultiOperationResponse> {
        let ops: Vec<_> = req.operations.iter().map(|o| o.operation.clone()).collect();
        let (start, update) = match ops.as_slice() {
            [
                Some(Operation::StartWorkflow(s)),
                Some(Operation::UpdateWorkflow(u)),
            ] => (s.clone(), u.clone()),
            _ => {
                return Err(CellError::invalid(
                    "ExecuteMultiOperation supports exactly a StartWorkflow followed by an UpdateWorkflow.",
                ));
            }
        };
        let target = update.workflow_execution.clone().unwrap_or_default();
        let invalid_start = if start.workflow_id != target.workflow_id {
            Some(CellError::invalid(
                "WorkflowId of the start and the update must be the same.",
            ))
        } else if !target.run_id.is_empty() {
            Some(CellError::invalid("RunId of the update must not be set."))
        } else if start.workflow_id_conflict_policy == WorkflowIdConflictPolicy::Unspecified as i32
        {
            Some(CellError::invalid("WorkflowIdConflictPolicy must be set."))
        } else {
            None
        };
        if let Some(err) = invalid_start {
            return Err(CellError::MultiOperation {
                code: tonic::Code::InvalidArgument,
                statuses: vec![err.operation_status(), CellError::aborted_operation()],
            });
        }
        let mut start = start;
        start.namespace = req.namespace.clone();
        // An update the workflow already knows is attached to, whatever the
        // id policies say (as on the real server): nothing is started.
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let update_id = update
            .request
            .as_ref()
            .and_then(|r| r.meta.as_ref())
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        let attached = if update_id.is_empty() {
            None
        } else {
            self.history
                .attachable_update(&ns.id, &start.workflow_id, &update_id)
                .await?
        };
        let started = match attached {
            Some((run_id, status)) => Ok(StartWorkflowExecutionResponse {
                run_id,
                started: false,
                status,
                ..Default::default()
            }),
            None => self.start_workflow(start).await,
        };
        let started = match started {
            Ok(s) => s,
            Err(err) => {
                let status = err.operation_status();
                return Err(CellError::MultiOperation {
                    code: tonic::Code::from_i32(status.code),
                    statuses: vec![status, CellError::aborted_operation()],
                });
            }
        };
        let mut update = update;
        update.namespace = req.namespace;
        if let Some(e) = update.workflow_execution.as_mut() {
            e.run_id = started.run_id.clone();
        }
        let updated = match self.update_workflow(update, wait).await {
            Ok(u) => u,
            Err(err) => {
                let status = err.operation_status();
                return Err(CellError::MultiOperation {
                    code: tonic::Code::from_i32(status.code),
                    statuses: vec![CellError::aborted_operation(), status],
                });
            }
        };
        Ok(ExecuteMultiOperationResponse {
            responses: vec![
                OpResponse {
                    response: Some(response::Response::StartWorkflow(started)),
                },
                OpResponse {
                    response: Some(response::Response::UpdateWorkflow(updated)),
                },
            ],
        })
    }
}
