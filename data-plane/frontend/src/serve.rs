//! Serving one admitted call, for both services: the handler runs in the
//! call's span, its error is mapped once, and the call is counted in the RPC
//! metrics (refused ones too).
use tonic::{Response, Status};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Runs a handler in its call's span (see `access::rpc_span`), maps its
/// error once, and counts the call in the RPC metrics, refused ones too.
/// `admitted` is `Frontend::admit`'s verdict: a refusal is the answer and
/// the handler never runs.
pub(crate) async fn serve<T>(
    admitted: crate::access::Admitted,
    handler: impl std::future::Future<Output = orrery_core::CellResult<T>>,
) -> Result<Response<T>, Status> {
    let crate::access::Admitted {
        rpc,
        namespace,
        span,
        started,
        verdict,
        by_operator,
    } = admitted;
    // A call refused before it was authorized for its namespace counts under
    // no namespace: otherwise anyone could add requests, errors and latency
    // to another tenant's metrics by naming its namespace.
    let authorized = !matches!(
        verdict,
        Err(orrery_core::CellError::Unauthenticated(_)
            | orrery_core::CellError::PermissionDenied(_))
    );
    let outcome = match verdict {
        Ok(()) => handler.instrument(span.clone()).await,
        Err(refused) => Err(refused),
    };
    let answer = match outcome {
        Ok(response) => Ok(Response::new(response)),
        Err(err) => {
            if matches!(err, orrery_core::CellError::Internal(_)) {
                span.in_scope(|| tracing::error!(rpc, error = %err, "internal error"));
            }
            Err(Status::from(err))
        }
    };
    let error = answer.as_ref().err().map(|status| code_name(status.code()));
    if let Some(code) = error {
        span.set_status(opentelemetry::trace::Status::error(code));
    }
    let counted_under = if authorized && !by_operator {
        namespace.as_str()
    } else {
        ""
    };
    orrery_core::metrics::rpc_finished(rpc, counted_under, started.elapsed(), error);
    answer
}

/// A gRPC code's name as Temporal's metrics and the `tonic::Code` variants
/// spell it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}
