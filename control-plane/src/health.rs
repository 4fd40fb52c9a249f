//! Probes for whatever runs the replicas (a Kubernetes Deployment, a load
//! balancer's health check): unauthenticated, cheap, and outside the
//! OpenAPI document, like the console's files (they are no part of the API).
//!
//! - `GET /livez`: the process serves HTTP. Never touches the database, so
//!   a database outage does not get every replica restarted.
//! - `GET /readyz`: the database answers a trivial query within
//!   [`READY_TIMEOUT`]; otherwise 503 problem+json, so a balancer stops
//!   sending this replica requests it could only fail.
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::problem::ApiError;

/// How long `/readyz` waits for the database: under a probe's usual timeout
/// (1 s to a few seconds), so a hung connection reads as not ready rather
/// than as a probe that timed out.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
}

fn ok() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/plain")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        "ok\n",
    )
        .into_response()
}

async fn livez() -> Response {
    ok()
}

async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(ok()),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: the database refused a query");
            Err(ApiError::NotReady)
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_TIMEOUT, "readiness: the database did not answer in time");
            Err(ApiError::NotReady)
        }
    }
}
