//! Client RPCs on workflows: start, signal, cancel, terminate, describe,
//! history, list, query.
use std::time::Duration;

use orrery_core::{CellError, CellResult};
use orrery_history::{HistoryQuery, QueryRoute, RunSpec, StartSignal};
use orrery_matching::QueryTask;
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{
    HistoryEventFilterType, QueryRejectCondition, WorkflowExecutionStatus,
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
};
use orrery_proto::api::query::v1::QueryRejected;
use orrery_proto::api::workflowservice::v1::*;

use crate::namespaces::Namespace;
use crate::{Frontend, validate};

fn execution(e: Option<&WorkflowExecution>) -> CellResult<WorkflowExecution> {
    let e = e.cloned().unwrap_or_default();
    validate::required_id(&e.workflow_id, "WorkflowId")?;
    validate::run_id(&e.run_id)?;
    Ok(e)
}

// TERMINATE_IF_RUNNING is deprecated but still sent by older clients.
#[allow(deprecated)]
fn validate_start(req: &StartWorkflowExecutionRequest) -> CellResult<()> {
    validate::required_id(&req.workflow_id, "WorkflowId")?;
    let workflow_type = req
        .workflow_type
        .as_ref()
        .map(|t| t.name.as_str())
        .unwrap_or_default();
    validate::required_id(workflow_type, "WorkflowType")?;
    validate::task_queue(req.task_queue.as_ref())?;
    validate::optional_id(&req.request_id, "RequestId")?;
    validate::non_negative(
        req.workflow_execution_timeout.as_ref(),
        "WorkflowExecutionTimeout",
    )?;
    validate::non_negative(req.workflow_run_timeout.as_ref(), "WorkflowRunTimeout")?;
    validate::non_negative(req.workflow_task_timeout.as_ref(), "WorkflowTaskTimeout")?;
    validate::non_negative(req.workflow_start_delay.as_ref(), "WorkflowStartDelay")?;
    validate::payloads(req.input.as_ref())?;
    validate::memo(req.memo.as_ref())?;
    if req.workflow_id_reuse_policy == WorkflowIdReusePolicy::TerminateIfRunning as i32
        && req.workflow_id_conflict_policy != WorkflowIdConflictPolicy::Unspecified as i32
    {
        return Err(CellError::invalid(
            "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together with a WorkflowIDConflictPolicy.",
        ));
    }
    validate::cron_schedule(&req.cron_schedule)?;
    if !req.cron_schedule.is_empty() && validate::duration_set(req.workflow_start_delay.as_ref()) {
        return Err(CellError::invalid(
            "CronSchedule and WorkflowStartDelay may not be used together.",
        ));
    }
    if let Some(p) = &req.retry_policy {
        if p.maximum_attempts < 0 {
            return Err(CellError::invalid(
                "MaximumAttempts cannot be negative on retry policy.",
            ));
        }
        if p.backoff_coefficient != 0.0 && p.backoff_coefficient < 1.0 {
            return Err(CellError::invalid(
                "BackoffCoefficient cannot be less than 1 on retry policy.",
            ));
        }
    }
    Ok(())
}

/// What history starts for a start request, its search attributes checked
/// against the namespace's and stamped with their types.
fn run_spec(ns: &Namespace, req: &StartWorkflowExecutionRequest) -> CellResult<RunSpec> {
    let mut spec = RunSpec::from_request(&ns.id, &ns.name, req);
    if let Some(sa) = spec.search_attributes.as_mut() {
        orrery_visibility::validate(sa, &ns.catalog())
            .map_err(|e| CellError::invalid(e.to_string()))?;
    }
    Ok(spec)
}

impl Frontend {
    pub(crate) async fn start_workflow(
        &self,
        req: StartWorkflowExecutionRequest,
    ) -> CellResult<StartWorkflowExecutionResponse> {
        validate_start(&req)?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let spec = run_spec(&ns, &req)?;
        let outcome = self
            .history
            .start_workflow(
                spec,
                req.workflow_id_reuse_policy,
                req.workflow_id_conflict_policy,
                None,
            )
            .await?;
        Ok(StartWorkflowExecutionResponse {
            run_id: outcome.run_id,
            started: outcome.started,
            status: WorkflowExecutionStatus::Running as i32,
            eager_workflow_task: outcome.eager_task,
            ..Default::default()
        })
    }

    pub(crate) async fn signal_with_start(
        &self,
        req: SignalWithStartWorkflowExecutionRequest,
    ) -> CellResult<SignalWithStartWorkflowExecutionResponse> {
        validate::required_id(&req.signal_name, "SignalName")?;
        validate::payloads(req.signal_input.as_ref())?;
        let start = StartWorkflowExecutionRequest {
            namespace: req.namespace.clone(),
            workflow_id: req.workflow_id.clone(),
            workflow_type: req.workflow_type.clone(),
            task_queue: req.task_queue.clone(),
            input: req.input.clone(),
            workflow_execution_timeout: req.workflow_execution_timeout,
            workflow_run_timeout: req.workflow_run_timeout,
            workflow_task_timeout: req.workflow_task_timeout,
            identity: req.identity.clone(),
            request_id: req.request_id.clone(),
            workflow_id_reuse_policy: req.workflow_id_reuse_policy,
            workflow_id_conflict_policy: req.workflow_id_conflict_policy,
            retry_policy: req.retry_policy.clone(),
            cron_schedule: req.cron_schedule.clone(),
            memo: req.memo.clone(),
            search_attributes: req.search_attributes.clone(),
            header: req.header.clone(),
            workflow_start_delay: req.workflow_start_delay,
            ..Default::default()
        };
        validate_start(&start)?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let spec = run_spec(&ns, &start)?;
        let signal = StartSignal {
            name: req.signal_name,
            input: req.signal_input,
            header: req.header,
            identity: req.identity,
            request_id: req.request_id,
            external: None,
        };
        let outcome = self
            .history
            .start_workflow(
                spec,
                req.workflow_id_reuse_policy,
                req.workflow_id_conflict_policy,
                Some(signal),
            )
            .await?;
        Ok(SignalWithStartWorkflowExecutionResponse {
            run_id: outcome.run_id,
            started: outcome.started,
            ..Default::default()
        })
    }

    pub(crate) async fn signal_workflow(
        &self,
        req: SignalWorkflowExecutionRequest,
    ) -> CellResult<SignalWorkflowExecutionResponse> {
        let exec = execution(req.workflow_execution.as_ref())?;
        validate::required_id(&req.signal_name, "SignalName")?;
        validate::payloads(req.input.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history
            .signal_workflow(
                &ns.id,
                &exec,
                StartSignal {
                    name: req.signal_name,
                    input: req.input,
                    header: req.header,
                    identity: req.identity,
                    request_id: req.request_id,
                    external: None,
                },
            )
            .await?;
        Ok(SignalWorkflowExecutionResponse::default())
    }

    pub(crate) async fn request_cancel_workflow(
        &self,
        req: RequestCancelWorkflowExecutionRequest,
    ) -> CellResult<RequestCancelWorkflowExecutionResponse> {
        let exec = execution(req.workflow_execution.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history
            .request_cancel_workflow(
                &ns.id,
                &exec,
                &req.first_execution_run_id,
                &req.reason,
                &req.identity,
            )
            .await?;
        Ok(RequestCancelWorkflowExecutionResponse::default())
    }

    pub(crate) async fn terminate_workflow(
        &self,
        req: TerminateWorkflowExecutionRequest,
    ) -> CellResult<TerminateWorkflowExecutionResponse> {
        let exec = execution(req.workflow_execution.as_ref())?;
        validate::payloads(req.details.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history
            .terminate_workflow(
                &ns.id,
                &exec,
                &req.first_execution_run_id,
                &req.reason,
                req.details,
                &req.identity,
            )
            .await?;
        Ok(TerminateWorkflowExecutionResponse::default())
    }

    pub(crate) async fn describe_workflow(
        &self,
        req: DescribeWorkflowExecutionRequest,
    ) -> CellResult<DescribeWorkflowExecutionResponse> {
        let exec = execution(req.execution.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history.describe_workflow(&ns.id, &exec).await
    }

    pub(crate) async fn get_history(
        &self,
        req: GetWorkflowExecutionHistoryRequest,
        wait: Duration,
    ) -> CellResult<GetWorkflowExecutionHistoryResponse> {
        let exec = execution(req.execution.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        if crate::handlers::archival::is_archived_token(&req.next_page_token) {
            return self
                .archived_history(&ns, &req, &exec)
                .await?
                .ok_or_else(CellError::workflow_not_found);
        }
        let close_only = req.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
        let read = match self
            .history
            .read_history(
                &ns.id,
                &exec,
                HistoryQuery {
                    page_size: req.maximum_page_size.max(0) as usize,
                    token: &req.next_page_token,
                    wait_new_event: req.wait_new_event,
                    close_only,
                    max_wait: wait,
                },
            )
            .await
        {
            Ok(read) => read,
            // Retention removed the run; its archive may still have it.
            Err(CellError::NotFound(msg)) => {
                return match self.archived_history(&ns, &req, &exec).await? {
                    Some(archived) => Ok(archived),
                    None => Err(CellError::NotFound(msg)),
                };
            }
            Err(err) => return Err(err),
        };
        Ok(GetWorkflowExecutionHistoryResponse {
            history: Some(read.history),
            next_page_token: read.next_page_token,
            ..Default::default()
        })
    }

    pub(crate) async fn delete_workflow(
        &self,
        req: DeleteWorkflowExecutionRequest,
    ) -> CellResult<DeleteWorkflowExecutionResponse> {
        let exec = execution(req.workflow_execution.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history.delete_workflow(&ns.id, &exec, "").await?;
        Ok(DeleteWorkflowExecutionResponse::default())
    }

    pub(crate) async fn reset_workflow(
        &self,
        req: ResetWorkflowExecutionRequest,
    ) -> CellResult<ResetWorkflowExecutionResponse> {
        let exec = execution(req.workflow_execution.as_ref())?;
        validate::optional_id(&req.request_id, "RequestId")?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let run_id = self
            .history
            .reset_workflow(orrery_history::ResetRequest {
                namespace_id: ns.id.clone(),
                execution: exec,
                reason: req.reason,
                workflow_task_finish_event_id: req.workflow_task_finish_event_id,
                request_id: req.request_id,
                identity: req.identity,
                exclude: req.reset_reapply_exclude_types,
            })
            .await?;
        Ok(ResetWorkflowExecutionResponse { run_id })
    }

    pub(crate) async fn reset_sticky_task_queue(
        &self,
        req: ResetStickyTaskQueueRequest,
    ) -> CellResult<ResetStickyTaskQueueResponse> {
        let exec = execution(req.execution.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.history.reset_sticky_task_queue(&ns.id, &exec).await?;
        Ok(ResetStickyTaskQueueResponse::default())
    }

    pub(crate) async fn get_history_reverse(
        &self,
        req: GetWorkflowExecutionHistoryReverseRequest,
    ) -> CellResult<GetWorkflowExecutionHistoryReverseResponse> {
        let exec = execution(req.execution.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let read = self
            .history
            .read_history_reverse(
                &ns.id,
                &exec,
                req.maximum_page_size.max(0) as usize,
                &req.next_page_token,
            )
            .await?;
        Ok(GetWorkflowExecutionHistoryReverseResponse {
            history: Some(read.history),
            next_page_token: read.next_page_token,
        })
    }

    pub(crate) async fn query_workflow(
        &self,
        req: QueryWorkflowRequest,
        wait: Duration,
    ) -> CellResult<QueryWorkflowResponse> {
        let exec = execution(req.execution.as_ref())?;
        let query = req.query.clone().unwrap_or_default();
        validate::required_id(&query.query_type, "QueryType")?;
        validate::payloads(query.query_args.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        // A query before the first workflow task completed waits for it, as
        // on the real server: there is no workflow state to ask yet.
        let state = self
            .history
            .wait_for_state(&ns.id, &exec.workflow_id, &exec.run_id, wait, |s| {
                s.previous_started_event_id > 0
                    || s.info
                        .as_ref()
                        .is_some_and(|i| i.status != WorkflowExecutionStatus::Running as i32)
            })
            .await?;
        let info = state.info.clone().unwrap_or_default();
        let status = info.status;
        let running = status == WorkflowExecutionStatus::Running as i32;
        let reject = match QueryRejectCondition::try_from(req.query_reject_condition) {
            Ok(QueryRejectCondition::NotOpen) => !running,
            Ok(QueryRejectCondition::NotCompletedCleanly) => {
                status != WorkflowExecutionStatus::Running as i32
                    && status != WorkflowExecutionStatus::Completed as i32
            }
            _ => false,
        };
        if reject {
            return Ok(QueryWorkflowResponse {
                query_rejected: Some(QueryRejected { status }),
                ..Default::default()
            });
        }
        if state.previous_started_event_id == 0 {
            return Err(CellError::FailedPrecondition(
                "Cannot query workflow due to Workflow Task in failed state.".into(),
            ));
        }
        let exec = WorkflowExecution {
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
        };
        let id = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + wait;
        let answer = self.matching.expect_answer(&id);
        let (route, state) = self.history.route_query(&ns.id, &exec, &id, &query).await?;
        let info = state.info.clone().unwrap_or_default();
        let queue = self.direct_query_queue(&ns.id, &info);
        let task = QueryTask {
            id: id.clone(),
            namespace_id: ns.id.clone(),
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
            query,
        };
        let answered = match route {
            QueryRoute::Direct => {
                self.dispatch_query(&queue, task);
                tokio::time::timeout_at(deadline, answer).await
            }
            QueryRoute::Buffered(released) => {
                tokio::pin!(answer);
                tokio::select! {
                    a = tokio::time::timeout_at(deadline, &mut answer) => a,
                    r = released => {
                        if r.is_ok() {
                            // No workflow task will carry it: ask directly.
                            self.dispatch_query(&self.direct_query_queue(&ns.id, &info), task);
                        }
                        tokio::time::timeout_at(deadline, &mut answer).await
                    }
                }
            }
        };
        self.history.forget_query(&info.run_id, &id);
        self.matching.forget_query(&ns.id, &queue, &id);
        match answered {
            Ok(Ok(Ok(result))) => Ok(QueryWorkflowResponse {
                query_result: result,
                ..Default::default()
            }),
            Ok(Ok(Err(message))) => Err(CellError::QueryFailed(message)),
            _ => Err(orrery_matching::query_timeout()),
        }
    }

    /// The queue a query task goes to: the worker holding the workflow in
    /// its cache (sticky) if it is alive, else the workflow's queue.
    fn direct_query_queue(
        &self,
        namespace_id: &str,
        info: &orrery_history::state::ExecutionInfo,
    ) -> String {
        let running = info.status == WorkflowExecutionStatus::Running as i32;
        let sticky_alive = running
            && !info.sticky_task_queue.is_empty()
            && self.matching.has_recent_poller(
                namespace_id,
                &info.sticky_task_queue,
                orrery_core::matching::TASK_KIND_WORKFLOW,
                Duration::from_secs(10),
            );
        if sticky_alive {
            info.sticky_task_queue.clone()
        } else {
            info.task_queue.clone()
        }
    }
}
