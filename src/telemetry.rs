//! The process's tracing subscriber: log lines on stderr always, and spans
//! exported over OTLP/HTTP (protobuf) when the standard OpenTelemetry
//! environment names a collector (docs/operations.md, "Traces").
//!
//! Exporting never holds up the work it traces: finished spans go to a
//! bounded queue that the SDK's batch processor drains on its own thread
//! (a full queue drops spans, it does not wait), and each export request
//! runs on a one-thread runtime of its own with the OTLP timeout, so a
//! collector that is slow or gone costs a warning on stderr, nothing else.
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How long shutdown waits for the last batch to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Flushes and stops the exporter when dropped (at the end of `main`):
/// spans still queued are sent, within [`SHUTDOWN_TIMEOUT`].
#[must_use = "dropping the guard stops exporting"]
pub struct Guard {
    exporting: Option<Exporting>,
}

struct Exporting {
    provider: SdkTracerProvider,
    runtime: tokio::runtime::Runtime,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(Exporting { provider, runtime }) = self.exporting.take() else {
            return;
        };
        if let Err(err) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(error = %err, "flushing traces at shutdown");
        }
        // Dropping a runtime blocks, which is refused inside `main`'s own.
        runtime.shutdown_background();
    }
}

/// Installs the global subscriber. Exporting is on only when an OTLP
/// endpoint is configured; a configuration it cannot use is reported on
/// stderr and the process runs on without traces.
pub fn init() -> Guard {
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()));
    let (exporting, problem) = match configured() {
        Ok(true) => match Exporting::start() {
            Ok(exporting) => (Some(exporting), None),
            Err(err) => (None, Some(err)),
        },
        Ok(false) => (None, None),
        Err(err) => (None, Some(err)),
    };
    let spans = exporting.as_ref().map(|e| {
        tracing_opentelemetry::layer()
            .with_tracer(e.provider.tracer("orrery"))
            // The span's name, target and fields say enough; source
            // locations, thread ids and busy/idle times would double its size.
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(exported))
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
    if let Some(problem) = problem {
        tracing::warn!("traces are not exported: {problem}");
    } else if exporting.is_some() {
        tracing::info!("exporting traces over OTLP/HTTP");
    }
    Guard { exporting }
}

/// Whether the environment asks for exported traces: an OTLP endpoint is
/// set, and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`
/// turns them off. Only the `otlp` exporter over `http/protobuf` is built in.
fn configured() -> Result<bool, String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        return Ok(false);
    }
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match set("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
        None | Some("otlp") => {}
        Some("none") => return Ok(false),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER={other}: only `otlp` (or `none`) is supported"
            ));
        }
    }
    let protocol =
        set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref().map(str::trim) {
        None | Some("http/protobuf") => Ok(true),
        Some(other) => Err(format!(
            "OTLP protocol `{other}`: only `http/protobuf` is supported"
        )),
    }
}

/// The spans of background tasks that live as long as the process (each
/// wraps a loop). Exported, each would be one span hours long, sent only
/// at a clean shutdown, with every unit of work (a timer task, a transfer
/// task) its child in one endless trace; left out, each unit of work is a
/// trace of its own. A new long-lived task's span belongs here.
const TASK_LOOPS: &[&str] = &[
    "auth_snapshot_poller",
    "https_accept",
    "matching_pruner",
    "metrics_http",
    "metrics_namespace_names",
    "query_meter",
    "queue_lag_sampler",
    "retention_queue",
    "scheduler",
    "storage_meter",
    "timer_queue",
    "transfer_queue",
    "usage_puller",
];

/// What the exporter sees: spans at INFO and above, and the cell's own
/// DEBUG spans (one per timer and transfer task) too; events only at WARN
/// and above, as events of the span they happen in. Never the task loops'
/// spans (above), nor the SDK's and the HTTP client's own diagnostics, so
/// exporting cannot trace itself.
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    if target.starts_with("opentelemetry") || target.starts_with("hyper") {
        return false;
    }
    if meta.is_span() && TASK_LOOPS.contains(&meta.name()) {
        return false;
    }
    if meta.is_span() {
        *meta.level() <= Level::INFO
            || (*meta.level() <= Level::DEBUG && target.starts_with("orrery"))
    } else {
        *meta.level() <= Level::WARN
    }
}

impl Exporting {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the export runtime: {e}"))?;
        let client = OnRuntime::new(runtime.handle().clone())?;
        // The endpoint, headers, timeout and compression come from the
        // standard OTEL_EXPORTER_OTLP_* variables, read by the exporter.
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(client)
            .build()
            .map_err(|e| e.to_string())?;
        // OTEL_BSP_* (delay, queue and batch sizes) are read by the builder.
        let processor = BatchSpanProcessor::builder(exporter).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource())
            .build();
        Ok(Self { provider, runtime })
    }
}

/// The detected resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES),
/// with `service.name` = `orrery` unless the environment names one.
fn resource() -> Resource {
    let named = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|attrs| {
            attrs
                .split(',')
                .any(|kv| kv.trim_start().starts_with("service.name="))
        });
    let builder = Resource::builder();
    if named {
        builder.build()
    } else {
        builder.with_service_name("orrery").build()
    }
}

/// Hyper (with rustls for an `https` collector) driven by the export
/// runtime: the batch processor's thread has no runtime of its own, and the
/// process's main runtime should neither carry nor wait on exports.
#[derive(Debug, Clone)]
struct OnRuntime {
    client: Arc<dyn HttpClient>,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new(runtime: tokio::runtime::Handle) -> Result<Self, String> {
        // The exporter bounds each request by OTEL_EXPORTER_OTLP_TIMEOUT
        // too; this is the ceiling for the client itself.
        let timeout = Duration::from_secs(30);
        // Hyper's client spawns its connection tasks where it is built.
        let _entered = runtime.enter();
        let client: Arc<dyn HttpClient> = if endpoint_is_https() {
            // The tree's one crypto backend, named: `ClientConfig::builder()`
            // would panic if another ever became enabled beside it.
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                .map_err(|e| format!("loading the system's root certificates: {e}"))?
                .https_only()
                .enable_http1()
                .build();
            Arc::new(opentelemetry_http::hyper::HyperClient::new(
                connector, timeout, None,
            ))
        } else {
            Arc::new(opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None))
        };
        Ok(Self { client, runtime })
    }
}

/// Whether the collector's URL (the traces-specific one first, as the
/// exporter resolves it) is `https`.
fn endpoint_is_https() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    .is_some_and(|url| url.trim().to_ascii_lowercase().starts_with("https:"))
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await
            .map_err(|e| Box::new(e) as HttpError)?
    }
}
