//! Workflow workers' RPCs: polling for workflow tasks (and queries),
//! completing and failing them, answering queries.
use std::time::Duration;

use orrery_core::matching::TASK_KIND_WORKFLOW;
use orrery_core::token::{KIND_QUERY, KIND_WORKFLOW, TaskToken};
use orrery_core::{CellError, CellResult};
use orrery_matching::QueryTask;
use orrery_proto::api::common::v1::{WorkflowExecution, WorkflowType};
use orrery_proto::api::enums::v1::QueryResultType;
use orrery_proto::api::workflowservice::v1::*;

use crate::handlers::poll::Started;
use crate::{Frontend, validate};

impl Frontend {
    /// Verifies a task token and that it belongs to the namespace the
    /// request names: a token never crosses namespaces.
    pub(crate) async fn token(
        &self,
        bytes: &[u8],
        namespace: &str,
        kind: i32,
    ) -> CellResult<TaskToken> {
        if bytes.is_empty() {
            return Err(CellError::invalid("Task token not set on request."));
        }
        let token = self.history.signer().verify(bytes)?;
        if token.kind != kind {
            return Err(CellError::invalid(
                "Task token is of the wrong kind for this request.",
            ));
        }
        if !namespace.is_empty() {
            let ns = self.namespaces.by_name(namespace).await?;
            if ns.id != token.namespace_id {
                return Err(CellError::invalid(
                    "Operation requested with a token from a different namespace.",
                ));
            }
        }
        Ok(token)
    }

    pub(crate) async fn poll_workflow_task(
        &self,
        req: PollWorkflowTaskQueueRequest,
        wait: Duration,
    ) -> CellResult<PollWorkflowTaskQueueResponse> {
        let queue = validate::task_queue(req.task_queue.as_ref())?;
        validate::optional_id(&req.identity, "Identity")?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let started = self
                .poll_and_start(
                    &ns.id,
                    &queue,
                    TASK_KIND_WORKFLOW,
                    &req.identity,
                    remaining,
                    |task| {
                        let request_id = uuid::Uuid::new_v4().to_string();
                        let (history, namespace, identity) =
                            (self.history.clone(), ns.name.clone(), req.identity.clone());
                        let peers = self.peers.get().cloned();
                        #[allow(deprecated)]
                        let worker_version = orrery_history::worker_version(
                            req.worker_version_capabilities
                                .as_ref()
                                .filter(|c| !c.build_id.is_empty())
                                .map(|c| orrery_proto::api::common::v1::WorkerVersionStamp {
                                    build_id: c.build_id.clone(),
                                    use_versioning: c.use_versioning,
                                })
                                .as_ref(),
                            req.deployment_options.as_ref(),
                            &req.binary_checksum,
                        );
                        async move {
                            if let Some(peers) = peers
                                && let Some(started) = peers
                                    .record_workflow_task_started(
                                        &task,
                                        &namespace,
                                        &identity,
                                        &request_id,
                                        worker_version.clone(),
                                    )
                                    .await
                            {
                                return started;
                            }
                            history
                                .record_workflow_task_started(
                                    &task,
                                    &namespace,
                                    &identity,
                                    &request_id,
                                    worker_version,
                                )
                                .await
                        }
                    },
                )
                .await?;
            match started {
                Started::Task(resp) => return Ok(resp),
                Started::Empty => return Ok(PollWorkflowTaskQueueResponse::default()),
                Started::Query(q) => match self.query_task_response(&queue, q).await {
                    Ok(resp) => return Ok(resp),
                    Err(err) => tracing::info!(error = %err, "dropping query task"),
                },
            }
        }
    }

    /// A query delivered as a workflow task of its own ("legacy" query):
    /// full history on the normal queue, none on a sticky one.
    async fn query_task_response(
        &self,
        queue: &str,
        q: QueryTask,
    ) -> CellResult<PollWorkflowTaskQueueResponse> {
        let state = self
            .history
            .snapshot(&q.namespace_id, &q.workflow_id, &q.run_id)
            .await?;
        let info = state.info.clone().unwrap_or_default();
        let execution = WorkflowExecution {
            workflow_id: q.workflow_id.clone(),
            run_id: q.run_id.clone(),
        };
        let sticky = queue != info.task_queue;
        let (history, next_page_token) = if sticky {
            (Some(Default::default()), Vec::new())
        } else {
            let read = self
                .history
                .read_history(
                    &q.namespace_id,
                    &execution,
                    orrery_history::HistoryQuery {
                        page_size: 0,
                        token: &[],
                        wait_new_event: false,
                        close_only: false,
                        max_wait: Duration::ZERO,
                    },
                )
                .await?;
            (Some(read.history), read.next_page_token)
        };
        let token = TaskToken {
            kind: KIND_QUERY,
            namespace_id: q.namespace_id.clone(),
            workflow_id: q.workflow_id.clone(),
            run_id: q.run_id.clone(),
            query_id: q.id.clone(),
            ..Default::default()
        };
        Ok(PollWorkflowTaskQueueResponse {
            task_token: self.history.signer().sign(&token),
            workflow_execution: Some(execution),
            workflow_type: Some(WorkflowType {
                name: info.workflow_type.clone(),
            }),
            previous_started_event_id: state.previous_started_event_id,
            started_event_id: state.previous_started_event_id,
            history,
            next_page_token,
            query: Some(q.query),
            workflow_execution_task_queue: Some(orrery_proto::api::taskqueue::v1::TaskQueue {
                name: info.task_queue.clone(),
                kind: orrery_proto::api::enums::v1::TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            ..Default::default()
        })
    }

    pub(crate) async fn respond_workflow_task_completed(
        &self,
        req: RespondWorkflowTaskCompletedRequest,
    ) -> CellResult<RespondWorkflowTaskCompletedResponse> {
        let token = self
            .token(&req.task_token, &req.namespace, KIND_WORKFLOW)
            .await?;
        // Queries answered alongside the task (not used by legacy queries):
        // only those buffered for the task's own run; an answer to any other
        // query id is ignored, as on the real server.
        let ids = req.query_results.keys().map(String::as_str);
        for id in self.history.queries_of_run(&token.run_id, ids) {
            let result = &req.query_results[id];
            self.matching.answer_query(
                id,
                query_answer(
                    result.result_type,
                    result.answer.clone(),
                    &result.error_message,
                ),
            );
        }
        // Most completions carry no search attributes: only those that do
        // pay for the namespace's catalog.
        let catalog = if carries_search_attributes(&req) {
            self.namespaces.by_id(&token.namespace_id).await?.catalog()
        } else {
            orrery_visibility::Catalog::default()
        };
        self.history
            .respond_workflow_task_completed(&token, req, &catalog)
            .await
    }

    pub(crate) async fn respond_workflow_task_failed(
        &self,
        req: RespondWorkflowTaskFailedRequest,
    ) -> CellResult<RespondWorkflowTaskFailedResponse> {
        let token = self
            .token(&req.task_token, &req.namespace, KIND_WORKFLOW)
            .await?;
        self.history
            .respond_workflow_task_failed(&token, req)
            .await?;
        Ok(RespondWorkflowTaskFailedResponse::default())
    }

    pub(crate) async fn respond_query_task_completed(
        &self,
        req: RespondQueryTaskCompletedRequest,
    ) -> CellResult<RespondQueryTaskCompletedResponse> {
        let token = self
            .token(&req.task_token, &req.namespace, KIND_QUERY)
            .await?;
        let message = if req.error_message.is_empty() {
            req.failure
                .as_ref()
                .map(|f| f.message.clone())
                .unwrap_or_default()
        } else {
            req.error_message.clone()
        };
        let answer = query_answer(req.completed_type, req.query_result, &message);
        if !self.matching.answer_query(&token.query_id, answer) {
            return Err(CellError::NotFound(
                "query not found or already timed out".into(),
            ));
        }
        Ok(RespondQueryTaskCompletedResponse::default())
    }
}

/// Whether any command of a completion sets search attributes.
fn carries_search_attributes(req: &RespondWorkflowTaskCompletedRequest) -> bool {
    use orrery_proto::api::command::v1::command::Attributes as Cmd;
    req.commands.iter().any(|c| match &c.attributes {
        Some(Cmd::UpsertWorkflowSearchAttributesCommandAttributes(a)) => {
            a.search_attributes.is_some()
        }
        Some(Cmd::StartChildWorkflowExecutionCommandAttributes(a)) => a.search_attributes.is_some(),
        Some(Cmd::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
            a.search_attributes.is_some()
        }
        _ => false,
    })
}

fn query_answer(
    result_type: i32,
    answer: Option<orrery_proto::api::common::v1::Payloads>,
    error: &str,
) -> orrery_matching::QueryAnswer {
    if result_type == QueryResultType::Answered as i32 {
        Ok(answer)
    } else {
        Err(error.to_string())
    }
}
