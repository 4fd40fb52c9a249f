//! Errors as the real server's HTTP API writes them: the HTTP status its
//! gateway maps each gRPC code to, and a `google.rpc.Status` in JSON
//! (`{"code":5,"message":"…","details":[{"@type":…}]}`), Temporal's error
//! details included, so a client reads the same failure either way.
use axum::response::Response;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};

use crate::response::Mode;
use crate::routes::Miss;

/// The HTTP status for a gRPC code, as grpc-gateway maps it.
pub(crate) fn http_status(code: tonic::Code) -> http::StatusCode {
    use http::StatusCode as S;
    use tonic::Code;
    match code {
        Code::Ok => S::OK,
        Code::Cancelled => S::from_u16(499).unwrap_or(S::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => S::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => S::BAD_REQUEST,
        Code::DeadlineExceeded => S::GATEWAY_TIMEOUT,
        Code::NotFound => S::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => S::CONFLICT,
        Code::PermissionDenied => S::FORBIDDEN,
        Code::Unauthenticated => S::UNAUTHORIZED,
        Code::ResourceExhausted => S::TOO_MANY_REQUESTS,
        Code::Unimplemented => S::NOT_IMPLEMENTED,
        Code::Unavailable => S::SERVICE_UNAVAILABLE,
    }
}

/// A gRPC status as the HTTP answer: its details (the encoded
/// `google.rpc.Status` of `grpc-status-details-bin`) are rendered with
/// their types, or, when there are none, code and message alone.
pub(crate) fn status(pool: &DescriptorPool, mode: Mode, status: &tonic::Status) -> Response {
    let descriptor = pool
        .get_message_by_name("google.rpc.Status")
        .expect("build.rs compiles google/rpc/status.proto");
    let mut body = DynamicMessage::decode(descriptor.clone(), status.details())
        .unwrap_or_else(|_| DynamicMessage::new(descriptor));
    body.set_field_by_name("code", Value::I32(status.code() as i32));
    body.set_field_by_name("message", Value::String(status.message().to_string()));
    let json = mode.write(pool, &body).unwrap_or_else(|_| {
        // A detail that cannot be written as JSON: answer without details
        // rather than not at all.
        serde_json::json!({"code": status.code() as i32, "message": status.message()})
    });
    mode.respond(http_status(status.code()), &json)
}

/// A request the API could not turn into its RPC's message: INVALID_ARGUMENT.
pub(crate) fn bad_request(pool: &DescriptorPool, mode: Mode, message: &str) -> Response {
    status(
        pool,
        mode,
        &tonic::Status::invalid_argument(message.to_string()),
    )
}

/// A body over the size limit, or one that broke off: the real server's
/// gateway answers both INVALID_ARGUMENT.
pub(crate) fn body_unreadable(pool: &DescriptorPool, mode: Mode, err: &axum::Error) -> Response {
    let too_large =
        std::error::Error::source(err).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
    let message = if too_large {
        "http: request body too large".to_string()
    } else {
        format!("reading the request body: {err}")
    };
    bad_request(pool, mode, &message)
}

/// No route: the gateway's own answers (a wrong method is UNIMPLEMENTED,
/// 501, on the real server, never 405).
pub(crate) fn miss(mode: Mode, miss: Miss) -> Response {
    let (status, code, message) = match miss {
        Miss::NotFound => (http::StatusCode::NOT_FOUND, 5, "Not Found"),
        Miss::MethodNotAllowed => (http::StatusCode::NOT_IMPLEMENTED, 12, "Method Not Allowed"),
        Miss::BadPath => (http::StatusCode::BAD_REQUEST, 3, "Bad Request"),
    };
    mode.respond(
        status,
        &serde_json::json!({"code": code, "message": message}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_gateways_statuses() {
        assert_eq!(http_status(tonic::Code::NotFound), 404);
        assert_eq!(http_status(tonic::Code::AlreadyExists), 409);
        assert_eq!(http_status(tonic::Code::FailedPrecondition), 400);
        assert_eq!(http_status(tonic::Code::ResourceExhausted), 429);
        assert_eq!(http_status(tonic::Code::Unauthenticated), 401);
        assert_eq!(http_status(tonic::Code::Cancelled).as_u16(), 499);
    }

    #[test]
    fn details_are_rendered_with_their_types() {
        let pool = DescriptorPool::decode(crate::DESCRIPTORS).unwrap();
        let any = prost_types_any(
            "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure",
            &[],
        );
        let details = encode_status(5, "gone", &any);
        let status = tonic::Status::with_details(tonic::Code::NotFound, "gone", details.into());
        let json = status_json(&pool, &status);
        assert_eq!(
            json,
            serde_json::json!({"code": 5, "message": "gone", "details": [
                {"@type": "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure"}
            ]})
        );
        let plain = status_json(&pool, &tonic::Status::invalid_argument("bad"));
        assert_eq!(plain, serde_json::json!({"code": 3, "message": "bad"}));
    }

    fn status_json(pool: &DescriptorPool, status: &tonic::Status) -> serde_json::Value {
        let mode = Mode {
            pretty: false,
            shorthand_out: true,
            shorthand_in: true,
        };
        let response = super::status(pool, mode, status);
        let bytes = futures_body(response);
        serde_json::from_slice(&bytes).unwrap()
    }

    fn futures_body(response: Response) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec()
        })
    }

    /// `google.protobuf.Any` encoded by hand: type_url = 1, value = 2.
    fn prost_types_any(type_url: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::string::encode(1, &type_url.to_string(), &mut out);
        prost::encoding::bytes::encode(2, &value.to_vec(), &mut out);
        out
    }

    /// `google.rpc.Status` encoded by hand: code = 1, message = 2, details = 3.
    fn encode_status(code: i32, message: &str, any: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::int32::encode(1, &code, &mut out);
        prost::encoding::string::encode(2, &message.to_string(), &mut out);
        prost::encoding::bytes::encode(3, &any.to_vec(), &mut out);
        out
    }
}
