//! Activity workers' RPCs: polling, heartbeats, and completion by token or
//! by id.
use std::time::Duration;

use orrery_core::matching::TASK_KIND_ACTIVITY;
use orrery_core::token::KIND_ACTIVITY;
use orrery_core::{CellError, CellResult};
use orrery_history::{ActivityOutcome, ActivityRef};
use orrery_proto::api::workflowservice::v1::*;

use crate::handlers::poll::Started;
use crate::{Frontend, validate};

/// Which activity a request names: its token, or namespace + ids.
struct Target {
    namespace_id: String,
    workflow_id: String,
    run_id: String,
    token: Option<orrery_core::token::TaskToken>,
    activity_id: String,
}

impl Target {
    fn activity(&self) -> ActivityRef<'_> {
        match &self.token {
            Some(t) => ActivityRef::Token(t),
            None => ActivityRef::Id(&self.activity_id),
        }
    }
}

impl Frontend {
    pub(crate) async fn poll_activity_task(
        &self,
        req: PollActivityTaskQueueRequest,
        wait: Duration,
    ) -> CellResult<PollActivityTaskQueueResponse> {
        let queue = validate::task_queue(req.task_queue.as_ref())?;
        validate::optional_id(&req.identity, "Identity")?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let started = self
            .poll_and_start(
                &ns.id,
                &queue,
                TASK_KIND_ACTIVITY,
                &req.identity,
                wait,
                |task| {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    let (history, namespace, identity) =
                        (self.history.clone(), ns.name.clone(), req.identity.clone());
                    let peers = self.peers.get().cloned();
                    async move {
                        if let Some(peers) = peers
                            && let Some(started) = peers
                                .record_activity_task_started(
                                    &task,
                                    &namespace,
                                    &identity,
                                    &request_id,
                                )
                                .await
                        {
                            return started;
                        }
                        history
                            .record_activity_task_started(&task, &namespace, &identity, &request_id)
                            .await
                    }
                },
            )
            .await?;
        match started {
            Started::Task(resp) => Ok(resp),
            // Queries only ever wait on workflow queues.
            Started::Empty | Started::Query(_) => Ok(PollActivityTaskQueueResponse::default()),
        }
    }

    async fn by_token(&self, token: &[u8], namespace: &str) -> CellResult<Target> {
        let t = self.token(token, namespace, KIND_ACTIVITY).await?;
        // A token naming no workflow is a standalone activity's.
        if t.workflow_id.is_empty() {
            return Ok(Target {
                namespace_id: orrery_history::activity_keyspace(&t.namespace_id),
                workflow_id: t.activity_id.clone(),
                run_id: t.run_id.clone(),
                activity_id: t.activity_id.clone(),
                token: Some(t),
            });
        }
        Ok(Target {
            namespace_id: t.namespace_id.clone(),
            workflow_id: t.workflow_id.clone(),
            run_id: t.run_id.clone(),
            activity_id: t.activity_id.clone(),
            token: Some(t),
        })
    }

    async fn by_id(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        activity_id: &str,
    ) -> CellResult<Target> {
        validate::optional_id(workflow_id, "WorkflowId")?;
        validate::required_id(activity_id, "ActivityId")?;
        validate::run_id(run_id)?;
        let ns = self.namespaces.by_name(namespace).await?;
        // Without a workflow id the activity is a standalone one.
        if workflow_id.is_empty() {
            return Ok(Target {
                namespace_id: orrery_history::activity_keyspace(&ns.id),
                workflow_id: activity_id.to_string(),
                run_id: run_id.to_string(),
                token: None,
                activity_id: activity_id.to_string(),
            });
        }
        Ok(Target {
            namespace_id: ns.id,
            workflow_id: workflow_id.to_string(),
            run_id: run_id.to_string(),
            token: None,
            activity_id: activity_id.to_string(),
        })
    }

    async fn finish(&self, t: Target, outcome: ActivityOutcome, identity: &str) -> CellResult<()> {
        self.history
            .finish_activity(
                &t.namespace_id,
                &t.workflow_id,
                &t.run_id,
                t.activity(),
                outcome,
                identity,
            )
            .await
    }

    async fn heartbeat(
        &self,
        t: Target,
        details: Option<orrery_proto::api::common::v1::Payloads>,
    ) -> CellResult<RecordActivityTaskHeartbeatResponse> {
        validate::payloads(details.as_ref())?;
        let reply = self
            .history
            .heartbeat_activity(
                &t.namespace_id,
                &t.workflow_id,
                &t.run_id,
                t.activity(),
                details,
            )
            .await?;
        Ok(RecordActivityTaskHeartbeatResponse {
            cancel_requested: reply.cancel_requested,
            activity_paused: reply.paused,
            activity_reset: reply.reset,
        })
    }

    pub(crate) async fn activity_completed(
        &self,
        req: RespondActivityTaskCompletedRequest,
    ) -> CellResult<()> {
        validate::payloads(req.result.as_ref())?;
        let t = self.by_token(&req.task_token, &req.namespace).await?;
        self.finish(t, ActivityOutcome::Completed(req.result), &req.identity)
            .await
    }

    pub(crate) async fn activity_completed_by_id(
        &self,
        req: RespondActivityTaskCompletedByIdRequest,
    ) -> CellResult<()> {
        validate::payloads(req.result.as_ref())?;
        let t = self
            .by_id(
                &req.namespace,
                &req.workflow_id,
                &req.run_id,
                &req.activity_id,
            )
            .await?;
        self.finish(t, ActivityOutcome::Completed(req.result), &req.identity)
            .await
    }

    pub(crate) async fn activity_failed(
        &self,
        req: RespondActivityTaskFailedRequest,
    ) -> CellResult<()> {
        let t = self.by_token(&req.task_token, &req.namespace).await?;
        let outcome = ActivityOutcome::Failed {
            failure: Box::new(req.failure),
            last_heartbeat_details: req.last_heartbeat_details,
        };
        self.finish(t, outcome, &req.identity).await
    }

    pub(crate) async fn activity_failed_by_id(
        &self,
        req: RespondActivityTaskFailedByIdRequest,
    ) -> CellResult<()> {
        let t = self
            .by_id(
                &req.namespace,
                &req.workflow_id,
                &req.run_id,
                &req.activity_id,
            )
            .await?;
        let outcome = ActivityOutcome::Failed {
            failure: Box::new(req.failure),
            last_heartbeat_details: req.last_heartbeat_details,
        };
        self.finish(t, outcome, &req.identity).await
    }

    pub(crate) async fn activity_canceled(
        &self,
        req: RespondActivityTaskCanceledRequest,
    ) -> CellResult<()> {
        let t = self.by_token(&req.task_token, &req.namespace).await?;
        self.finish(t, ActivityOutcome::Canceled(req.details), &req.identity)
            .await
    }

    pub(crate) async fn activity_canceled_by_id(
        &self,
        req: RespondActivityTaskCanceledByIdRequest,
    ) -> CellResult<()> {
        let t = self
            .by_id(
                &req.namespace,
                &req.workflow_id,
                &req.run_id,
                &req.activity_id,
            )
            .await?;
        self.finish(t, ActivityOutcome::Canceled(req.details), &req.identity)
            .await
    }

    pub(crate) async fn activity_heartbeat(
        &self,
        req: RecordActivityTaskHeartbeatRequest,
    ) -> CellResult<RecordActivityTaskHeartbeatResponse> {
        let t = self.by_token(&req.task_token, &req.namespace).await?;
        self.heartbeat(t, req.details).await
    }

    pub(crate) async fn activity_heartbeat_by_id(
        &self,
        req: RecordActivityTaskHeartbeatByIdRequest,
    ) -> CellResult<RecordActivityTaskHeartbeatResponse> {
        let t = self
            .by_id(
                &req.namespace,
                &req.workflow_id,
                &req.run_id,
                &req.activity_id,
            )
            .await?;
        self.heartbeat(t, req.details).await
    }
}

/// The activities an operator command names: one id, one type, or all.
fn selector(
    id: Option<&str>,
    activity_type: Option<&str>,
    all: bool,
) -> CellResult<orrery_history::ActivitySelector> {
    use orrery_history::ActivitySelector;
    match (id, activity_type) {
        (Some(id), _) if !id.is_empty() => Ok(ActivitySelector::Id(id.to_string())),
        (_, Some(t)) if !t.is_empty() => Ok(ActivitySelector::Type(t.to_string())),
        _ if all => Ok(ActivitySelector::All),
        _ => Err(CellError::invalid(
            "Either activity id or activity type must be provided.",
        )),
    }
}

impl Frontend {
    async fn activity_op(
        &self,
        namespace: &str,
        execution: Option<&orrery_proto::api::common::v1::WorkflowExecution>,
        selector: orrery_history::ActivitySelector,
        op: orrery_history::ActivityOp,
    ) -> CellResult<orrery_proto::api::activity::v1::ActivityOptions> {
        let execution = execution
            .filter(|e| !e.workflow_id.is_empty())
            .ok_or_else(|| CellError::invalid("Execution is not set on request."))?;
        validate::run_id(&execution.run_id)?;
        let ns = self.namespaces.by_name(namespace).await?;
        self.history
            .activity_op(&ns.id, execution, selector, op)
            .await
    }

    pub(crate) async fn pause_activity(&self, req: PauseActivityRequest) -> CellResult<()> {
        use pause_activity_request::Activity;
        let selector = match &req.activity {
            Some(Activity::Id(id)) => selector(Some(id), None, false)?,
            Some(Activity::Type(t)) => selector(None, Some(t), false)?,
            None => selector(None, None, false)?,
        };
        let op = orrery_history::ActivityOp::Pause {
            identity: req.identity.clone(),
            reason: req.reason.clone(),
        };
        self.activity_op(&req.namespace, req.execution.as_ref(), selector, op)
            .await
            .map(|_| ())
    }

    pub(crate) async fn unpause_activity(&self, req: UnpauseActivityRequest) -> CellResult<()> {
        use unpause_activity_request::Activity;
        let selector = match &req.activity {
            Some(Activity::Id(id)) => selector(Some(id), None, false)?,
            Some(Activity::Type(t)) => selector(None, Some(t), false)?,
            Some(Activity::UnpauseAll(all)) => selector(None, None, *all)?,
            None => selector(None, None, false)?,
        };
        let op = orrery_history::ActivityOp::Unpause {
            reset_attempts: req.reset_attempts,
            reset_heartbeat: req.reset_heartbeat,
        };
        self.activity_op(&req.namespace, req.execution.as_ref(), selector, op)
            .await
            .map(|_| ())
    }

    pub(crate) async fn update_activity_options(
        &self,
        req: UpdateActivityOptionsRequest,
    ) -> CellResult<UpdateActivityOptionsResponse> {
        use update_activity_options_request::Activity;
        if req.restore_original {
            return Err(CellError::Unimplemented(
                "UpdateActivityOptions with restore_original is not implemented by Orrery yet"
                    .into(),
            ));
        }
        let selector = match &req.activity {
            Some(Activity::Id(id)) => selector(Some(id), None, false)?,
            Some(Activity::Type(t)) => selector(None, Some(t), false)?,
            Some(Activity::MatchAll(all)) => selector(None, None, *all)?,
            None => selector(None, None, false)?,
        };
        let paths = req
            .update_mask
            .as_ref()
            .map(|m| m.paths.clone())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(CellError::invalid("UpdateMask is not set on request."));
        }
        let options = req
            .activity_options
            .clone()
            .ok_or_else(|| CellError::invalid("ActivityOptions is not set on request."))?;
        let op = orrery_history::ActivityOp::UpdateOptions {
            options: Box::new(options),
            paths,
        };
        let current = self
            .activity_op(&req.namespace, req.execution.as_ref(), selector, op)
            .await?;
        Ok(UpdateActivityOptionsResponse {
            activity_options: Some(current),
        })
    }

    pub(crate) async fn reset_activity(&self, req: ResetActivityRequest) -> CellResult<()> {
        use reset_activity_request::Activity;
        let selector = match &req.activity {
            Some(Activity::Id(id)) => selector(Some(id), None, false)?,
            Some(Activity::Type(t)) => selector(None, Some(t), false)?,
            Some(Activity::MatchAll(all)) => selector(None, None, *all)?,
            None => selector(None, None, false)?,
        };
        let op = orrery_history::ActivityOp::Reset {
            reset_heartbeat: req.reset_heartbeat,
            keep_paused: req.keep_paused,
        };
        self.activity_op(&req.namespace, req.execution.as_ref(), selector, op)
            .await
            .map(|_| ())
    }
}
