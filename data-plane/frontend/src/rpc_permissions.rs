//! Each served RPC's name and what it needs of its caller, in one table
//! per service: `Frontend::admit` takes only a request declared here, so a
//! new RPC does not compile until someone chooses its permission, and a
//! review reads every choice in one place.
use orrery_proto::api::operatorservice::v1::*;
use orrery_proto::api::workflowservice::v1::*;

use crate::access::served;

served! {
    WORKFLOW_RPCS:
    // Any authenticated caller: they name no namespace.
    ListNamespacesRequest => "ListNamespaces", Any;
    GetSearchAttributesRequest => "GetSearchAttributes", Any;
    GetSystemInfoRequest => "GetSystemInfo", Any;
    GetClusterInfoRequest => "GetClusterInfo", Any;
    // Only the operator: namespaces come and go through the control plane.
    RegisterNamespaceRequest => "RegisterNamespace", Operator;
    // Changing the namespace itself.
    UpdateNamespaceRequest => "UpdateNamespace", Admin;
    // Reading: describe, list, count, scan, histories, queries, and waiting
    // for an outcome (an update's, a standalone activity's).
    DescribeActivityExecutionRequest => "DescribeActivityExecution", Read;
    PollActivityExecutionRequest => "PollActivityExecution", Read;
    PollWorkflowExecutionUpdateRequest => "PollWorkflowExecutionUpdate", Read;
    DescribeNamespaceRequest => "DescribeNamespace", Read;
    DescribeWorkflowExecutionRequest => "DescribeWorkflowExecution", Read;
    GetWorkflowExecutionHistoryRequest => "GetWorkflowExecutionHistory", Read;
    GetWorkflowExecutionHistoryReverseRequest => "GetWorkflowExecutionHistoryReverse", Read;
    ListArchivedWorkflowExecutionsRequest => "ListArchivedWorkflowExecutions", Read;
    ListWorkflowExecutionsRequest => "ListWorkflowExecutions", Read;
    CountWorkflowExecutionsRequest => "CountWorkflowExecutions", Read;
    ScanWorkflowExecutionsRequest => "ScanWorkflowExecutions", Read;
    ListOpenWorkflowExecutionsRequest => "ListOpenWorkflowExecutions", Read;
    ListClosedWorkflowExecutionsRequest => "ListClosedWorkflowExecutions", Read;
    DescribeScheduleRequest => "DescribeSchedule", Read;
    ListSchedulesRequest => "ListSchedules", Read;
    ListScheduleMatchingTimesRequest => "ListScheduleMatchingTimes", Read;
    ListActivityExecutionsRequest => "ListActivityExecutions", Read;
    CountActivityExecutionsRequest => "CountActivityExecutions", Read;
    QueryWorkflowRequest => "QueryWorkflow", Read;
    DescribeTaskQueueRequest => "DescribeTaskQueue", Read;
    // Everything that starts, changes or ends work, polling for tasks and
    // answering them included.
    DeleteWorkflowExecutionRequest => "DeleteWorkflowExecution", Write;
    ResetWorkflowExecutionRequest => "ResetWorkflowExecution", Write;
    StartActivityExecutionRequest => "StartActivityExecution", Write;
    RequestCancelActivityExecutionRequest => "RequestCancelActivityExecution", Write;
    TerminateActivityExecutionRequest => "TerminateActivityExecution", Write;
    DeleteActivityExecutionRequest => "DeleteActivityExecution", Write;
    UpdateActivityOptionsRequest => "UpdateActivityOptions", Write;
    PauseActivityRequest => "PauseActivity", Write;
    UnpauseActivityRequest => "UnpauseActivity", Write;
    ResetActivityRequest => "ResetActivity", Write;
    ResetStickyTaskQueueRequest => "ResetStickyTaskQueue", Write;
    UpdateWorkflowExecutionRequest => "UpdateWorkflowExecution", Write;
    ExecuteMultiOperationRequest => "ExecuteMultiOperation", Write;
    StartWorkflowExecutionRequest => "StartWorkflowExecution", Write;
    SignalWithStartWorkflowExecutionRequest => "SignalWithStartWorkflowExecution", Write;
    SignalWorkflowExecutionRequest => "SignalWorkflowExecution", Write;
    RequestCancelWorkflowExecutionRequest => "RequestCancelWorkflowExecution", Write;
    TerminateWorkflowExecutionRequest => "TerminateWorkflowExecution", Write;
    CreateScheduleRequest => "CreateSchedule", Write;
    UpdateScheduleRequest => "UpdateSchedule", Write;
    PatchScheduleRequest => "PatchSchedule", Write;
    DeleteScheduleRequest => "DeleteSchedule", Write;
    PollWorkflowTaskQueueRequest => "PollWorkflowTaskQueue", Write;
    RespondWorkflowTaskCompletedRequest => "RespondWorkflowTaskCompleted", Write;
    RespondWorkflowTaskFailedRequest => "RespondWorkflowTaskFailed", Write;
    RespondQueryTaskCompletedRequest => "RespondQueryTaskCompleted", Write;
    PollActivityTaskQueueRequest => "PollActivityTaskQueue", Write;
    RespondActivityTaskCompletedRequest => "RespondActivityTaskCompleted", Write;
    RespondActivityTaskCompletedByIdRequest => "RespondActivityTaskCompletedById", Write;
    RespondActivityTaskFailedRequest => "RespondActivityTaskFailed", Write;
    RespondActivityTaskFailedByIdRequest => "RespondActivityTaskFailedById", Write;
    RespondActivityTaskCanceledRequest => "RespondActivityTaskCanceled", Write;
    RespondActivityTaskCanceledByIdRequest => "RespondActivityTaskCanceledById", Write;
    RecordActivityTaskHeartbeatRequest => "RecordActivityTaskHeartbeat", Write;
    RecordActivityTaskHeartbeatByIdRequest => "RecordActivityTaskHeartbeatById", Write;
    ShutdownWorkerRequest => "ShutdownWorker", Write;
    RecordWorkerHeartbeatRequest => "RecordWorkerHeartbeat", Write;
}

served! {
    OPERATOR_RPCS:
    // Only the operator: namespaces come and go through the control plane.
    DeleteNamespaceRequest => "DeleteNamespace", Operator;
    // Changing the namespace itself.
    AddSearchAttributesRequest => "AddSearchAttributes", Admin;
    RemoveSearchAttributesRequest => "RemoveSearchAttributes", Admin;
    // Reading: describe, list, count, scan, histories, queries, and waiting
    // for an outcome (an update's, a standalone activity's).
    ListSearchAttributesRequest => "ListSearchAttributes", Read;
}
