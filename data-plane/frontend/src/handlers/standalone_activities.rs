//! Standalone activities (StartActivityExecution and friends): checked
//! here, run by history in the namespace's activity keyspace. Their tasks
//! reach workers through the ordinary activity task queues.
use orrery_core::{CellError, CellResult};
use orrery_proto::api::workflowservice::v1::*;

use crate::{Frontend, validate};

impl Frontend {
    /// Checks the ids a request names an activity execution by and returns
    /// its namespace's id.
    async fn activity_namespace(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
    ) -> CellResult<String> {
        validate::required_id(activity_id, "ActivityId")?;
        validate::run_id(run_id)?;
        Ok(self.namespaces.by_name(namespace).await?.id)
    }

    pub(crate) async fn start_activity_execution(
        &self,
        mut req: StartActivityExecutionRequest,
    ) -> CellResult<StartActivityExecutionResponse> {
        validate::required_id(&req.activity_id, "ActivityId")?;
        let activity_type = req
            .activity_type
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or_default();
        validate::required_id(activity_type, "ActivityType")?;
        validate::task_queue(req.task_queue.as_ref())?;
        validate::optional_id(&req.request_id, "RequestId")?;
        validate::non_negative(req.start_delay.as_ref(), "StartDelay")?;
        validate::payloads(req.input.as_ref())?;
        if !validate::duration_set(req.start_to_close_timeout.as_ref())
            && !validate::duration_set(req.schedule_to_close_timeout.as_ref())
        {
            return Err(CellError::invalid(
                "A valid StartToClose or ScheduleToCloseTimeout is not set on request.",
            ));
        }
        let ns = self.namespaces.by_name(&req.namespace).await?;
        if let Some(sa) = req.search_attributes.as_mut() {
            orrery_visibility::validate(sa, &ns.catalog())
                .map_err(|e| CellError::invalid(e.to_string()))?;
        }
        let (run_id, started) = self
            .history
            .start_activity_execution(&ns.id, &ns.name, &req)
            .await?;
        Ok(StartActivityExecutionResponse {
            link: Some(orrery_proto::api::common::v1::Link {
                variant: Some(orrery_proto::api::common::v1::link::Variant::Activity(
                    orrery_proto::api::common::v1::link::Activity {
                        namespace: ns.name.clone(),
                        activity_id: req.activity_id.clone(),
                        run_id: run_id.clone(),
                    },
                )),
            }),
            run_id,
            started,
        })
    }

    pub(crate) async fn describe_activity_execution(
        &self,
        req: DescribeActivityExecutionRequest,
    ) -> CellResult<DescribeActivityExecutionResponse> {
        let ns_id = self
            .activity_namespace(&req.namespace, &req.activity_id, &req.run_id)
            .await?;
        self.history
            .describe_activity_execution(
                &ns_id,
                &req.activity_id,
                &req.run_id,
                &req.long_poll_token,
                req.include_input,
                req.include_outcome,
            )
            .await
    }

    pub(crate) async fn poll_activity_execution(
        &self,
        req: PollActivityExecutionRequest,
    ) -> CellResult<PollActivityExecutionResponse> {
        let ns_id = self
            .activity_namespace(&req.namespace, &req.activity_id, &req.run_id)
            .await?;
        self.history
            .poll_activity_execution(&ns_id, &req.activity_id, &req.run_id)
            .await
    }

    pub(crate) async fn request_cancel_activity_execution(
        &self,
        req: RequestCancelActivityExecutionRequest,
    ) -> CellResult<RequestCancelActivityExecutionResponse> {
        let ns_id = self
            .activity_namespace(&req.namespace, &req.activity_id, &req.run_id)
            .await?;
        self.history
            .cancel_activity_execution(
                &ns_id,
                &req.activity_id,
                &req.run_id,
                &req.reason,
                &req.identity,
            )
            .await?;
        Ok(RequestCancelActivityExecutionResponse {})
    }

    pub(crate) async fn terminate_activity_execution(
        &self,
        req: TerminateActivityExecutionRequest,
    ) -> CellResult<TerminateActivityExecutionResponse> {
        let ns_id = self
            .activity_namespace(&req.namespace, &req.activity_id, &req.run_id)
            .await?;
        self.history
            .terminate_activity_execution(
                &ns_id,
                &req.activity_id,
                &req.run_id,
                &req.reason,
                &req.identity,
            )
            .await?;
        Ok(TerminateActivityExecutionResponse {})
    }

    pub(crate) async fn delete_activity_execution(
        &self,
        req: DeleteActivityExecutionRequest,
    ) -> CellResult<DeleteActivityExecutionResponse> {
        let ns_id = self
            .activity_namespace(&req.namespace, &req.activity_id, &req.run_id)
            .await?;
        self.history
            .delete_activity_execution(&ns_id, &req.activity_id, &req.run_id)
            .await?;
        Ok(DeleteActivityExecutionResponse {})
    }
}
