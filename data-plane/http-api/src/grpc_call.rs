//! One HTTP call made a gRPC call to the cell's own service stack, in
//! process: the same authentication layer, rate gate, admission, metrics and
//! handlers as a gRPC client gets, so the two APIs cannot drift apart.
use std::convert::Infallible;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;

/// The cell's gRPC services behind their layers, as one cloneable service.
pub type GrpcService = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// What a failed call answered: its gRPC status.
#[derive(Debug)]
pub struct Failed {
    pub status: tonic::Status,
}

/// Request headers carried over to the gRPC call: credentials, the
/// caller's deadline, and trace context. Anything else an HTTP client sends
/// stays behind; `temporal-namespace` (which certificates and rate limits go
/// by) is set from the request's own namespace, never taken from a header.
const FORWARDED: &[&str] = &[
    "authorization",
    "grpc-timeout",
    "traceparent",
    "tracestate",
    "user-agent",
    "client-name",
    "client-version",
];

/// Calls `grpc_path` with the encoded `message`; `from` lends its headers
/// (see [`FORWARDED`]) and extensions (the TLS connection's client info).
pub async fn call(
    service: &GrpcService,
    grpc_path: &str,
    message: Vec<u8>,
    from: &http::request::Parts,
    namespace: Option<&str>,
) -> Result<Bytes, Failed> {
    let mut framed = BytesMut::with_capacity(message.len() + 5);
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).map_err(|_| internal("request too large"))?);
    framed.extend_from_slice(&message);
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(grpc_path)
        .version(http::Version::HTTP_2)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            framed.freeze(),
        )))
        .map_err(|e| internal(&e.to_string()))?;
    for name in FORWARDED {
        for value in from.headers.get_all(*name) {
            request.headers_mut().append(*name, value.clone());
        }
    }
    if let Some(namespace) = namespace
        && let Ok(value) = http::HeaderValue::from_str(namespace)
    {
        request.headers_mut().insert("temporal-namespace", value);
    }
    *request.extensions_mut() = from.extensions.clone();
    let mut service = service.clone();
    let response = match tower::ServiceExt::oneshot(&mut service, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // A trailers-only answer carries its status in the headers.
    if let Some(status) = status_from(response.headers()) {
        return Err(Failed { status });
    }
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Failed { status: e })?;
    let trailers = collected.trailers().cloned();
    let mut body = collected.to_bytes();
    match trailers.as_ref().and_then(status_from) {
        Some(status) => Err(Failed { status }),
        None if trailers.is_none() => Err(internal("the gRPC call ended without a status")),
        None => read_frame(&mut body),
    }
}

/// The status of a gRPC answer, unless it is OK.
fn status_from(headers: &http::HeaderMap) -> Option<tonic::Status> {
    headers.get("grpc-status")?;
    let status = tonic::Status::from_header_map(headers)?;
    (status.code() != tonic::Code::Ok).then_some(status)
}

/// The one length-prefixed, uncompressed message of a unary answer.
fn read_frame(body: &mut Bytes) -> Result<Bytes, Failed> {
    if body.len() < 5 {
        return Err(internal("the gRPC answer has no message"));
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if compressed != 0 || body.len() < len {
        return Err(internal("the gRPC answer is compressed or truncated"));
    }
    Ok(body.split_to(len))
}

fn internal(message: &str) -> Failed {
    Failed {
        status: tonic::Status::internal(message.to_string()),
    }
}
