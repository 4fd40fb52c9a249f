//! WorkflowService: each served RPC, under a span, handed to its handler.
//! RPCs not listed here keep the generated default, which answers
//! UNIMPLEMENTED naming the RPC.
use orrery_proto::api::workflowservice::v1::*;
use orrery_proto::workflowservice::workflow_service_server::WorkflowService;
use tonic::{Request, Response, Status};

use crate::serve::serve;
use crate::{FrontendService, long_poll_wait};

#[tonic::async_trait]
impl WorkflowService for FrontendService {
    async fn delete_workflow_execution(
        &self,
        r: Request<DeleteWorkflowExecutionRequest>,
    ) -> Result<Response<DeleteWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.delete_workflow(r.into_inner()).await
        })
        .await
    }

    async fn reset_workflow_execution(
        &self,
        r: Request<ResetWorkflowExecutionRequest>,
    ) -> Result<Response<ResetWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.reset_workflow(r.into_inner()).await
        })
        .await
    }

    async fn start_activity_execution(
        &self,
        r: Request<StartActivityExecutionRequest>,
    ) -> Result<Response<StartActivityExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.start_activity_execution(r.into_inner()).await
        })
        .await
    }

    async fn describe_activity_execution(
        &self,
        r: Request<DescribeActivityExecutionRequest>,
    ) -> Result<Response<DescribeActivityExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.describe_activity_execution(r.into_inner()).await
        })
        .await
    }

    async fn poll_activity_execution(
        &self,
        r: Request<PollActivityExecutionRequest>,
    ) -> Result<Response<PollActivityExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.poll_activity_execution(r.into_inner()).await
        })
        .await
    }

    async fn request_cancel_activity_execution(
        &self,
        r: Request<RequestCancelActivityExecutionRequest>,
    ) -> Result<Response<RequestCancelActivityExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.request_cancel_activity_execution(r.into_inner()).await
        })
        .await
    }

    async fn terminate_activity_execution(
        &self,
        r: Request<TerminateActivityExecutionRequest>,
    ) -> Result<Response<TerminateActivityExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.terminate_activity_execution(r.into_inner()).await
        })
        .await
    }

    async fn delete_activity_execution(
        &self,
        r: Request<DeleteActivityExecutionRequest>,
    ) -> Result<Response<DeleteActivityExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.delete_activity_execution(r.into_inner()).await
        })
        .await
    }

    async fn update_activity_options(
        &self,
        r: Request<UpdateActivityOptionsRequest>,
    ) -> Result<Response<UpdateActivityOptionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.update_activity_options(r.into_inner()).await
        })
        .await
    }

    async fn pause_activity(
        &self,
        r: Request<PauseActivityRequest>,
    ) -> Result<Response<PauseActivityResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.pause_activity(r.into_inner())
                .await
                .map(|()| PauseActivityResponse {})
        })
        .await
    }

    async fn unpause_activity(
        &self,
        r: Request<UnpauseActivityRequest>,
    ) -> Result<Response<UnpauseActivityResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.unpause_activity(r.into_inner())
                .await
                .map(|()| UnpauseActivityResponse {})
        })
        .await
    }

    async fn reset_activity(
        &self,
        r: Request<ResetActivityRequest>,
    ) -> Result<Response<ResetActivityResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.reset_activity(r.into_inner())
                .await
                .map(|()| ResetActivityResponse {})
        })
        .await
    }

    async fn reset_sticky_task_queue(
        &self,
        r: Request<ResetStickyTaskQueueRequest>,
    ) -> Result<Response<ResetStickyTaskQueueResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.reset_sticky_task_queue(r.into_inner()).await
        })
        .await
    }

    async fn update_workflow_execution(
        &self,
        r: Request<UpdateWorkflowExecutionRequest>,
    ) -> Result<Response<UpdateWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let wait = long_poll_wait(r.metadata());
            f.update_workflow(r.into_inner(), wait).await
        })
        .await
    }

    async fn poll_workflow_execution_update(
        &self,
        r: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Result<Response<PollWorkflowExecutionUpdateResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let wait = long_poll_wait(r.metadata());
            f.poll_update(r.into_inner(), wait).await
        })
        .await
    }

    async fn execute_multi_operation(
        &self,
        r: Request<ExecuteMultiOperationRequest>,
    ) -> Result<Response<ExecuteMultiOperationResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let wait = long_poll_wait(r.metadata());
            f.execute_multi_operation(r.into_inner(), wait).await
        })
        .await
    }

    async fn register_namespace(
        &self,
        r: Request<RegisterNamespaceRequest>,
    ) -> Result<Response<RegisterNamespaceResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let caller = r.extensions().get::<orrery_core::caller::Caller>().cloned();
            f.register_namespace(r.into_inner(), caller).await
        })
        .await
    }

    async fn describe_namespace(
        &self,
        r: Request<DescribeNamespaceRequest>,
    ) -> Result<Response<DescribeNamespaceResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.describe_namespace(r.into_inner()).await
        })
        .await
    }

    async fn list_namespaces(
        &self,
        r: Request<ListNamespacesRequest>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let caller = r.extensions().get::<orrery_core::caller::Caller>().cloned();
            f.list_namespaces(r.into_inner(), caller).await
        })
        .await
    }

    async fn update_namespace(
        &self,
        r: Request<UpdateNamespaceRequest>,
    ) -> Result<Response<UpdateNamespaceResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let caller = r.extensions().get::<orrery_core::caller::Caller>().cloned();
            f.update_namespace(r.into_inner(), caller).await
        })
        .await
    }

    async fn start_workflow_execution(
        &self,
        r: Request<StartWorkflowExecutionRequest>,
    ) -> Result<Response<StartWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.start_workflow(r.into_inner()).await
        })
        .await
    }

    async fn signal_with_start_workflow_execution(
        &self,
        r: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Result<Response<SignalWithStartWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.signal_with_start(r.into_inner()).await
        })
        .await
    }

    async fn signal_workflow_execution(
        &self,
        r: Request<SignalWorkflowExecutionRequest>,
    ) -> Result<Response<SignalWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.signal_workflow(r.into_inner()).await
        })
        .await
    }

    async fn request_cancel_workflow_execution(
        &self,
        r: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Result<Response<RequestCancelWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.request_cancel_workflow(r.into_inner()).await
        })
        .await
    }

    async fn terminate_workflow_execution(
        &self,
        r: Request<TerminateWorkflowExecutionRequest>,
    ) -> Result<Response<TerminateWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.terminate_workflow(r.into_inner()).await
        })
        .await
    }

    async fn describe_workflow_execution(
        &self,
        r: Request<DescribeWorkflowExecutionRequest>,
    ) -> Result<Response<DescribeWorkflowExecutionResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.describe_workflow(r.into_inner()).await
        })
        .await
    }

    async fn get_workflow_execution_history(
        &self,
        r: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Result<Response<GetWorkflowExecutionHistoryResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            {
                let wait = long_poll_wait(r.metadata());
                f.get_history(r.into_inner(), wait).await
            }
        })
        .await
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        r: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Result<Response<GetWorkflowExecutionHistoryReverseResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.get_history_reverse(r.into_inner()).await
        })
        .await
    }

    async fn list_archived_workflow_executions(
        &self,
        r: Request<ListArchivedWorkflowExecutionsRequest>,
    ) -> Result<Response<ListArchivedWorkflowExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_archived(r.into_inner()).await
        })
        .await
    }

    async fn list_workflow_executions(
        &self,
        r: Request<ListWorkflowExecutionsRequest>,
    ) -> Result<Response<ListWorkflowExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_workflows(r.into_inner()).await
        })
        .await
    }

    async fn count_workflow_executions(
        &self,
        r: Request<CountWorkflowExecutionsRequest>,
    ) -> Result<Response<CountWorkflowExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.count_workflows(r.into_inner()).await
        })
        .await
    }

    async fn scan_workflow_executions(
        &self,
        r: Request<ScanWorkflowExecutionsRequest>,
    ) -> Result<Response<ScanWorkflowExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.scan_workflows(r.into_inner()).await
        })
        .await
    }

    async fn list_open_workflow_executions(
        &self,
        r: Request<ListOpenWorkflowExecutionsRequest>,
    ) -> Result<Response<ListOpenWorkflowExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_open_workflows(r.into_inner()).await
        })
        .await
    }

    async fn list_closed_workflow_executions(
        &self,
        r: Request<ListClosedWorkflowExecutionsRequest>,
    ) -> Result<Response<ListClosedWorkflowExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_closed_workflows(r.into_inner()).await
        })
        .await
    }

    async fn get_search_attributes(
        &self,
        r: Request<GetSearchAttributesRequest>,
    ) -> Result<Response<GetSearchAttributesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async { Ok(f.get_search_attributes()) }).await
    }

    async fn create_schedule(
        &self,
        r: Request<CreateScheduleRequest>,
    ) -> Result<Response<CreateScheduleResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.create_schedule(r.into_inner()).await
        })
        .await
    }

    async fn describe_schedule(
        &self,
        r: Request<DescribeScheduleRequest>,
    ) -> Result<Response<DescribeScheduleResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.describe_schedule(r.into_inner()).await
        })
        .await
    }

    async fn update_schedule(
        &self,
        r: Request<UpdateScheduleRequest>,
    ) -> Result<Response<UpdateScheduleResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.update_schedule(r.into_inner()).await
        })
        .await
    }

    async fn patch_schedule(
        &self,
        r: Request<PatchScheduleRequest>,
    ) -> Result<Response<PatchScheduleResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.patch_schedule(r.into_inner()).await
        })
        .await
    }

    async fn delete_schedule(
        &self,
        r: Request<DeleteScheduleRequest>,
    ) -> Result<Response<DeleteScheduleResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.delete_schedule(r.into_inner()).await
        })
        .await
    }

    async fn list_schedules(
        &self,
        r: Request<ListSchedulesRequest>,
    ) -> Result<Response<ListSchedulesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_schedules(r.into_inner()).await
        })
        .await
    }

    async fn list_schedule_matching_times(
        &self,
        r: Request<ListScheduleMatchingTimesRequest>,
    ) -> Result<Response<ListScheduleMatchingTimesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.schedule_matching_times(r.into_inner()).await
        })
        .await
    }

    async fn list_activity_executions(
        &self,
        r: Request<ListActivityExecutionsRequest>,
    ) -> Result<Response<ListActivityExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_activities(r.into_inner()).await
        })
        .await
    }

    async fn count_activity_executions(
        &self,
        r: Request<CountActivityExecutionsRequest>,
    ) -> Result<Response<CountActivityExecutionsResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.count_activities(r.into_inner()).await
        })
        .await
    }

    async fn query_workflow(
        &self,
        r: Request<QueryWorkflowRequest>,
    ) -> Result<Response<QueryWorkflowResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            {
                let wait = long_poll_wait(r.metadata());
                f.query_workflow(r.into_inner(), wait).await
            }
        })
        .await
    }

    async fn poll_workflow_task_queue(
        &self,
        r: Request<PollWorkflowTaskQueueRequest>,
    ) -> Result<Response<PollWorkflowTaskQueueResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            {
                let wait = long_poll_wait(r.metadata());
                f.poll_workflow_task(r.into_inner(), wait).await
            }
        })
        .await
    }

    async fn respond_workflow_task_completed(
        &self,
        r: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Result<Response<RespondWorkflowTaskCompletedResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.respond_workflow_task_completed(r.into_inner()).await
        })
        .await
    }

    async fn respond_workflow_task_failed(
        &self,
        r: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Result<Response<RespondWorkflowTaskFailedResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.respond_workflow_task_failed(r.into_inner()).await
        })
        .await
    }

    async fn respond_query_task_completed(
        &self,
        r: Request<RespondQueryTaskCompletedRequest>,
    ) -> Result<Response<RespondQueryTaskCompletedResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.respond_query_task_completed(r.into_inner()).await
        })
        .await
    }

    async fn poll_activity_task_queue(
        &self,
        r: Request<PollActivityTaskQueueRequest>,
    ) -> Result<Response<PollActivityTaskQueueResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            {
                let wait = long_poll_wait(r.metadata());
                f.poll_activity_task(r.into_inner(), wait).await
            }
        })
        .await
    }

    async fn respond_activity_task_completed(
        &self,
        r: Request<RespondActivityTaskCompletedRequest>,
    ) -> Result<Response<RespondActivityTaskCompletedResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_completed(r.into_inner())
                .await
                .map(|()| Default::default())
        })
        .await
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        r: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> Result<Response<RespondActivityTaskCompletedByIdResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_completed_by_id(r.into_inner())
                .await
                .map(|()| Default::default())
        })
        .await
    }

    async fn respond_activity_task_failed(
        &self,
        r: Request<RespondActivityTaskFailedRequest>,
    ) -> Result<Response<RespondActivityTaskFailedResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_failed(r.into_inner())
                .await
                .map(|()| Default::default())
        })
        .await
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        r: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> Result<Response<RespondActivityTaskFailedByIdResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_failed_by_id(r.into_inner())
                .await
                .map(|()| Default::default())
        })
        .await
    }

    async fn respond_activity_task_canceled(
        &self,
        r: Request<RespondActivityTaskCanceledRequest>,
    ) -> Result<Response<RespondActivityTaskCanceledResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_canceled(r.into_inner())
                .await
                .map(|()| Default::default())
        })
        .await
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        r: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> Result<Response<RespondActivityTaskCanceledByIdResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_canceled_by_id(r.into_inner())
                .await
                .map(|()| Default::default())
        })
        .await
    }

    async fn record_activity_task_heartbeat(
        &self,
        r: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Result<Response<RecordActivityTaskHeartbeatResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_heartbeat(r.into_inner()).await
        })
        .await
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        r: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Result<Response<RecordActivityTaskHeartbeatByIdResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.activity_heartbeat_by_id(r.into_inner()).await.map(|x| {
                RecordActivityTaskHeartbeatByIdResponse {
                    cancel_requested: x.cancel_requested,
                    activity_paused: x.activity_paused,
                    activity_reset: x.activity_reset,
                }
            })
        })
        .await
    }

    async fn get_system_info(
        &self,
        r: Request<GetSystemInfoRequest>,
    ) -> Result<Response<GetSystemInfoResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async { Ok(f.system_info()) }).await
    }

    async fn get_cluster_info(
        &self,
        r: Request<GetClusterInfoRequest>,
    ) -> Result<Response<GetClusterInfoResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async { Ok(f.cluster_info()) }).await
    }

    async fn describe_task_queue(
        &self,
        r: Request<DescribeTaskQueueRequest>,
    ) -> Result<Response<DescribeTaskQueueResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.describe_task_queue(r.into_inner()).await
        })
        .await
    }

    async fn shutdown_worker(
        &self,
        r: Request<ShutdownWorkerRequest>,
    ) -> Result<Response<ShutdownWorkerResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.shutdown_worker(r.into_inner()).await
        })
        .await
    }

    async fn record_worker_heartbeat(
        &self,
        r: Request<RecordWorkerHeartbeatRequest>,
    ) -> Result<Response<RecordWorkerHeartbeatResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.record_worker_heartbeat(r.into_inner()).await
        })
        .await
    }
}
