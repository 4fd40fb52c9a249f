//! The gateway in front of a gRPC service that answers every call with a
//! fixed status (the cell's real services are exercised end to end in
//! tests/side_by_side/test_http_api.py and tests/e2e/test_http_api.py):
//! what reaches the service, how its status comes back, and CORS.
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{Method, Request, StatusCode};
use orrery_http_api::{GrpcService, HttpApi, HttpApiConfig};
use tower::ServiceExt;

/// The calls that reached the service: path and headers.
type Seen = Arc<Mutex<Vec<(String, http::HeaderMap)>>>;

/// Records each call's path and headers, and answers NOT_FOUND.
fn grpc(seen: Seen) -> GrpcService {
    tower::util::BoxCloneSyncService::new(tower::service_fn(
        move |request: http::Request<tonic::body::Body>| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push((request.uri().path().to_string(), request.headers().clone()));
                let status = tonic::Status::not_found("workflow not found for ID: w1");
                Ok::<_, Infallible>(status.into_http())
            }
        },
    ))
}

fn api(origins: &[&str]) -> (axum::Router, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = HttpApiConfig {
        allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..HttpApiConfig::default()
    };
    (
        HttpApi::new(grpc(seen.clone()), config).unwrap().router(),
        seen,
    )
}

async fn call(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn a_call_becomes_its_rpc_with_the_namespace_and_credential() {
    let (router, seen) = api(&[]);
    let request = Request::get("/api/v1/namespaces/ns1/workflows/w1")
        .header("authorization", "Bearer k")
        .header("cookie", "not-forwarded=1")
        .header("temporal-namespace", "someone-else")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "*");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"code": 5, "message": "workflow not found for ID: w1"})
    );
    let seen = seen.lock().unwrap();
    let (path, headers) = &seen[0];
    assert_eq!(
        path,
        "/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution"
    );
    assert_eq!(headers["authorization"], "Bearer k");
    // The route's namespace, whatever header the caller sent.
    assert_eq!(headers["temporal-namespace"], "ns1");
    assert_eq!(headers.get_all("temporal-namespace").iter().count(), 1);
    assert!(
        headers.get("cookie").is_none(),
        "only named headers are forwarded"
    );
}

#[tokio::test]
async fn bad_input_never_reaches_the_service() {
    let (router, seen) = api(&[]);
    let request = Request::post("/api/v1/namespaces/ns1/workflows/w1")
        .body(Body::from(r#"{"bogusField": 1}"#))
        .unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("bogusField"), "{body}");
    let request = Request::get("/api/v1/namespaces/ns1/workflows/w1/history?maximumPageSize=x")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, request).await.0, StatusCode::BAD_REQUEST);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let (router, _) = api(&["http://console.test:8233"]);
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/namespaces/ns1/workflows")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = call(&router, preflight("http://console.test:8233")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://console.test:8233"
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );

    // Any other origin is served as without CORS: the real server's 501.
    let (status, headers, _) = call(&router, preflight("http://evil.test")).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(headers.get("access-control-allow-origin").is_none());

    let get = Request::get("/api/v1/namespaces/ns1/workflows/w1")
        .header("origin", "http://console.test:8233")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = call(&router, get).await;
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://console.test:8233"
    );
}

#[tokio::test]
async fn a_stranger_is_refused_before_its_body_is_read() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = HttpApiConfig {
        authenticate: Some(Arc::new(
            |headers: &http::HeaderMap, _: &http::Extensions| match headers.get("authorization") {
                Some(v) if v == "Bearer good" => Ok(()),
                _ => Err("Request unauthorized: no credential".to_string()),
            },
        )),
        ..HttpApiConfig::default()
    };
    let router = HttpApi::new(grpc(seen.clone()), config).unwrap().router();
    // Not even JSON: a stranger's body is never looked at.
    let request = Request::post("/api/v1/namespaces/ns1/workflows/w1")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":16"), "{body}");
    assert!(seen.lock().unwrap().is_empty());
    let request = Request::get("/api/v1/namespaces/ns1/workflows/w1")
        .header("authorization", "Bearer good")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, request).await.0, StatusCode::NOT_FOUND);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_payloads_one_request_may_hold_are_bounded() {
    let (router, seen) = api(&[]);
    let start = |n: usize| {
        let input = vec!["1"; n].join(",");
        let body = format!(
            r#"{{"workflowType":{{"name":"W"}},"taskQueue":{{"name":"q"}},"input":[{input}]}}"#
        );
        Request::post("/api/v1/namespaces/ns1/workflows/w1")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, body) = call(&router, start(10_001)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("at most 10000 payloads"), "{body}");
    assert!(seen.lock().unwrap().is_empty());
    // Up to the bound the call goes through (the recording service answers
    // NOT_FOUND to everything).
    assert_eq!(call(&router, start(10_000)).await.0, StatusCode::NOT_FOUND);
}
