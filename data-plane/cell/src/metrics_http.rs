//! The cell's operator metrics: `GET /metrics` (Prometheus' text format) on
//! its own plain-HTTP listener (`--metrics-addr`), for the operator's
//! scraper on the operator's network, never the tenants' endpoint. It serves
//! counts and latencies only: namespace and task-queue names, no workflow
//! ids, no payloads, no credentials.
//!
//! Also here: the task that keeps the metrics' namespace names current.
use std::sync::Arc;
use std::time::Duration;

use orrery_persistence::CellStore;
use tokio::net::TcpListener;
use tracing::Instrument;

/// How often the namespace names are listed again without being asked.
const NAMES_EVERY: Duration = Duration::from_secs(30);
/// The least time between two listings, however often one is asked for.
const NAMES_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// Namespaces one listing page reads.
const NAMES_PAGE: u32 = 1000;

/// What the probes read: whether the process is stopping, and its store.
#[derive(Clone)]
pub(crate) struct Health {
    pub(crate) stopping: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) store: Arc<dyn CellStore>,
}

/// How long readiness waits for the database.
const READY_PATIENCE: Duration = Duration::from_secs(2);

pub(crate) fn router(health: Health) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        orrery_core::metrics::CONTENT_TYPE,
                    )],
                    orrery_core::metrics::prometheus_text(),
                )
            }),
        )
        // Liveness: the process answers; nothing else is checked, so a
        // database outage never gets a healthy member restarted.
        .route("/livez", axum::routing::get(|| async { "ok" }))
        // Readiness: serving (joined its cell, not stopping) and its
        // database answers a one-row read in time.
        .route(
            "/readyz",
            axum::routing::get(move || {
                let health = health.clone();
                async move {
                    use axum::http::StatusCode;
                    if health.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "stopping");
                    }
                    let read = health.store.list_namespaces("", 1);
                    match tokio::time::timeout(READY_PATIENCE, read).await {
                        Ok(Ok(_)) => (StatusCode::OK, "ok"),
                        Ok(Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database too slow"),
                    }
                }
            }),
        )
}

/// Serves `/metrics` and the probes until `stopped` resolves.
pub(crate) fn spawn_server(
    listener: TcpListener,
    health: Health,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(
        async move {
            if let Err(err) = axum::serve(listener, router(health))
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %err, "the metrics listener failed");
            }
        }
        .instrument(tracing::info_span!("metrics_http")),
    );
}

/// Lists every namespace into the metrics' id ↔ name table now, every
/// [`NAMES_EVERY`], and soon after a call names one the table lacks.
pub(crate) fn spawn_namespace_names(store: Arc<dyn CellStore>) {
    let weak = Arc::downgrade(&store);
    drop(store);
    tokio::spawn(
        async move {
            loop {
                let Some(store) = weak.upgrade() else { break };
                let listed = list_namespaces(store.as_ref()).await;
                drop(store);
                orrery_core::metrics::background_run("metrics_namespace_names", listed.is_ok());
                match listed {
                    Ok(pairs) => orrery_core::metrics::set_namespace_names(pairs),
                    Err(err) => tracing::warn!(error = %err, "listing namespaces failed"),
                }
                tokio::time::sleep(NAMES_AT_MOST_EVERY).await;
                let _ = tokio::time::timeout(
                    NAMES_EVERY - NAMES_AT_MOST_EVERY,
                    orrery_core::metrics::names_wanted().notified(),
                )
                .await;
            }
        }
        .instrument(tracing::info_span!("metrics_namespace_names")),
    );
}

async fn list_namespaces(store: &dyn CellStore) -> orrery_core::CellResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.list_namespaces(&after, NAMES_PAGE).await?;
        let full = page.len() == NAMES_PAGE as usize;
        for ns in page {
            after.clone_from(&ns.name);
            pairs.push((ns.id, ns.name));
        }
        if !full {
            return Ok(pairs);
        }
    }
}
