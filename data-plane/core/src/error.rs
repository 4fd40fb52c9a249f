//! The cell's one error type. Every layer returns it; the gRPC edge turns it
//! into a `tonic::Status` with Temporal's failure detail first in
//! `google.rpc.Status.details`, which is the only place SDKs look.
use orrery_proto::api::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};
use orrery_proto::api::errordetails::v1 as details;
use prost::Message;

pub type CellResult<T> = Result<T, CellError>;

#[derive(Debug, thiserror::Error)]
pub enum CellError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("Namespace {0} is not found.")]
    NamespaceNotFound(String),
    #[error("Namespace already exists.")]
    NamespaceAlreadyExists,
    #[error("{0}")]
    NotFound(String),
    #[error("Workflow execution is already running. WorkflowId: {workflow_id}, RunId: {run_id}.")]
    WorkflowAlreadyStarted {
        workflow_id: String,
        run_id: String,
        start_request_id: String,
    },
    #[error("activity execution already started")]
    ActivityAlreadyStarted {
        run_id: String,
        start_request_id: String,
    },
    #[error("{0}")]
    CancellationAlreadyRequested(String),
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        cause: ResourceExhaustedCause,
    },
    /// Over a limit that is not a namespace's (Temporal's scope SYSTEM, as
    /// its "service rate limit exceeded").
    #[error("{message}")]
    ServiceExhausted {
        message: String,
        cause: ResourceExhaustedCause,
    },
    #[error("{0}")]
    FailedPrecondition(String),
    /// No credential, or one that does not check out.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid credential that does not grant this call.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    QueryFailed(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error("{0}")]
    Unavailable(String),
    /// ExecuteMultiOperation: one status per operation, the failing one(s)
    /// with their own code and details, the others aborted.
    #[error("MultiOperation could not be executed.")]
    MultiOperation {
        code: tonic::Code,
        statuses: Vec<details::multi_operation_execution_failure::OperationStatus>,
    },
    /// Another process owns the shard now: the write was fenced off.
    #[error("shard {0} ownership lost")]
    ShardOwnershipLost(i32),
    /// An optimistic write lost a race; callers retry from a fresh load.
    #[error("conditional update failed")]
    ConditionFailed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl CellError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }
    pub fn workflow_not_found() -> Self {
        Self::NotFound("workflow execution not found".into())
    }
}

fn status_with_detail<M: Message>(
    code: tonic::Code,
    message: String,
    type_name: &str,
    detail: &M,
) -> tonic::Status {
    let status = orrery_proto::google::rpc::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.errordetails.v1.{type_name}"),
            value: detail.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, message, status.encode_to_vec().into())
}

impl From<CellError> for tonic::Status {
    fn from(err: CellError) -> Self {
        use tonic::Code;
        let message = err.to_string();
        match err {
            CellError::InvalidArgument(_) => tonic::Status::invalid_argument(message),
            CellError::NamespaceNotFound(namespace) => status_with_detail(
                Code::NotFound,
                message,
                "NamespaceNotFoundFailure",
                &details::NamespaceNotFoundFailure { namespace },
            ),
            CellError::NamespaceAlreadyExists => status_with_detail(
                Code::AlreadyExists,
                message,
                "NamespaceAlreadyExistsFailure",
                &details::NamespaceAlreadyExistsFailure {},
            ),
            CellError::NotFound(_) => status_with_detail(
                Code::NotFound,
                message,
                "NotFoundFailure",
                &details::NotFoundFailure::default(),
            ),
            CellError::ActivityAlreadyStarted {
                run_id,
                start_request_id,
            } => status_with_detail(
                Code::AlreadyExists,
                message,
                "ActivityExecutionAlreadyStartedFailure",
                &details::ActivityExecutionAlreadyStartedFailure {
                    start_request_id,
                    run_id,
                },
            ),
            CellError::WorkflowAlreadyStarted {
                run_id,
                start_request_id,
                ..
            } => status_with_detail(
                Code::AlreadyExists,
                message,
                "WorkflowExecutionAlreadyStartedFailure",
                &details::WorkflowExecutionAlreadyStartedFailure {
                    start_request_id,
                    run_id,
                    first_execution_run_id: String::new(),
                },
            ),
            CellError::CancellationAlreadyRequested(_) => status_with_detail(
                Code::AlreadyExists,
                message,
                "CancellationAlreadyRequestedFailure",
                &details::CancellationAlreadyRequestedFailure {},
            ),
            CellError::ResourceExhausted { cause, .. } => status_with_detail(
                Code::ResourceExhausted,
                message,
                "ResourceExhaustedFailure",
                &details::ResourceExhaustedFailure {
                    cause: cause as i32,
                    scope: ResourceExhaustedScope::Namespace as i32,
                },
            ),
            CellError::ServiceExhausted { cause, .. } => status_with_detail(
                Code::ResourceExhausted,
                message,
                "ResourceExhaustedFailure",
                &details::ResourceExhaustedFailure {
                    cause: cause as i32,
                    scope: ResourceExhaustedScope::System as i32,
                },
            ),
            CellError::MultiOperation { code, statuses } => status_with_detail(
                code,
                message,
                "MultiOperationExecutionFailure",
                &details::MultiOperationExecutionFailure { statuses },
            ),
            CellError::FailedPrecondition(_) => tonic::Status::failed_precondition(message),
            CellError::Unauthenticated(_) => tonic::Status::unauthenticated(message),
            CellError::PermissionDenied(reason) => status_with_detail(
                Code::PermissionDenied,
                message,
                "PermissionDeniedFailure",
                &details::PermissionDeniedFailure { reason },
            ),
            CellError::QueryFailed(_) => status_with_detail(
                Code::InvalidArgument,
                message,
                "QueryFailedFailure",
                &details::QueryFailedFailure { failure: None },
            ),
            CellError::Unimplemented(_) => tonic::Status::unimplemented(message),
            CellError::DeadlineExceeded(_) => tonic::Status::deadline_exceeded(message),
            CellError::Unavailable(_)
            | CellError::ShardOwnershipLost(_)
            | CellError::ConditionFailed => tonic::Status::unavailable(message),
            CellError::Internal(_) => tonic::Status::internal("internal error"),
        }
    }
}

impl CellError {
    /// This error as one operation's status inside a multi-operation failure.
    pub fn operation_status(self) -> details::multi_operation_execution_failure::OperationStatus {
        let status = tonic::Status::from(self);
        let details = orrery_proto::google::rpc::Status::decode(status.details())
            .map(|s| s.details)
            .unwrap_or_default();
        details::multi_operation_execution_failure::OperationStatus {
            code: status.code() as i32,
            message: status.message().to_string(),
            details,
        }
    }

    /// The status of an operation not run because another one failed.
    pub fn aborted_operation() -> details::multi_operation_execution_failure::OperationStatus {
        details::multi_operation_execution_failure::OperationStatus {
            code: tonic::Code::Aborted as i32,
            message: "Operation was aborted.".into(),
            details: Vec::new(),
        }
    }
}
