//! The control plane's operator metrics: `GET /metrics` on its HTTP address
//! (Prometheus' text format): requests by method, route template and
//! status, and their latency. The route is the template (`/api/v1/
//! namespaces/{id}`), never the path, so ids in paths and made-up URLs
//! never become label values.
//!
//! `/metrics` asks for no credential: it is for the operator's scraper and
//! holds counts and latencies by route only, nothing about any tenant. An
//! operator who does not want it public filters `/metrics` at the proxy in
//! front (docs/operations.md, "Metrics").
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The route label of a request no route matched (the console's fallback,
/// unknown paths).
const UNMATCHED: &str = "unmatched";
const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    task_runs: Family<TaskLabels, Counter>,
    task_failures: Family<TaskLabels, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "control_plane_http_requests",
        "Requests answered by the control plane's HTTP API, by method, route template and status",
        requests.clone(),
    );
    let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
        (|| Histogram::new(LATENCY_BOUNDS)) as fn() -> Histogram,
    );
    registry.register(
        "control_plane_http_latency",
        "Time the control plane took to answer, in seconds",
        latency.clone(),
    );
    let task_runs = Family::<TaskLabels, Counter>::default();
    registry.register(
        "control_plane_background_task_runs",
        "Passes of a control-plane background task",
        task_runs.clone(),
    );
    let task_failures = Family::<TaskLabels, Counter>::default();
    registry.register(
        "control_plane_background_task_failures",
        "Passes of a control-plane background task that failed",
        task_failures.clone(),
    );
    Metrics {
        registry,
        requests,
        latency,
        task_runs,
        task_failures,
    }
});

/// What `/metrics` appends after the control plane's own: `orrery dev`
/// serves its cell's metrics there too (the control plane links no
/// data-plane crate, so the binary hands it the function).
static ALSO_SERVE: OnceLock<fn() -> String> = OnceLock::new();

/// Serves `more()`'s text (Prometheus' format, no family named as one of
/// the control plane's) after the control plane's own at `/metrics`. The
/// first call wins.
pub fn also_serve(more: fn() -> String) {
    let _ = ALSO_SERVE.set(more);
}

/// One pass of a background task ended (`ok` false: it failed).
pub fn background_run(task: &'static str, ok: bool) {
    let labels = TaskLabels { task };
    METRICS.task_runs.get_or_create(&labels).inc();
    if !ok {
        METRICS.task_failures.get_or_create(&labels).inc();
    }
}

/// The control plane's metrics (and what [`also_serve`] added), as
/// Prometheus' text format.
pub fn text() -> String {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &METRICS.registry)
        .expect("writing to a String cannot fail");
    if let Some(more) = ALSO_SERVE.get() {
        out.push_str(&more());
    }
    out
}

/// A method as a bounded label value.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The router's middleware (`axum::middleware::from_fn(track)`): answers
/// `GET /metrics` itself, and counts and times every other request by its
/// route template.
pub async fn track(req: Request, next: Next) -> Response {
    if req.uri().path() == "/metrics" && req.method() == axum::http::Method::GET {
        return (
            [(
                axum::http::header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            text(),
        )
            .into_response();
    }
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    METRICS
        .latency
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn requests_are_labelled_by_route_template_not_path() {
        let app = axum::Router::new()
            .route("/things/{id}", axum::routing::get(|| async { "ok" }))
            .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no") })
            .layer(axum::middleware::from_fn(track));
        for path in ["/things/1", "/things/2", "/made-up/abc", "/made-up/def"] {
            let req = Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        let req = Request::builder()
            .uri("/metrics")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains(
                r#"control_plane_http_requests_total{method="GET",route="/things/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"control_plane_http_requests_total{method="GET",route="unmatched",status="404"} 2"#
            ),
            "{text}"
        );
        assert!(
            !text.contains("/things/1") && !text.contains("made-up"),
            "{text}"
        );
    }
}
