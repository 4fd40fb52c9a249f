//! Temporal's HTTP API on a cell: every RPC whose proto carries a
//! `google.api.http` annotation, at the route the annotation names, with
//! Temporal's JSON mapping (proto3 JSON plus payload shorthand).
//!
//! A request is matched against routes read from the descriptors
//! (`routes`), turned into the RPC's request message (`request`), and made
//! a gRPC call into the cell's own layered service stack (`grpc_call`), so
//! authentication, rate limits, admission, metrics and handlers are the
//! gRPC ones. The answer or the error goes back as the real server's HTTP
//! API writes it (`response`, `errors`).
mod errors;
mod grpc_call;
mod paths;
mod payloads;
mod request;
mod response;
mod routes;
mod serve;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tracing::Instrument;

pub use grpc_call::GrpcService;
pub use serve::{Peer, TlsListener, serve_plain, serve_tls};

/// The descriptors of the served services with their method options, compiled
/// in build.rs.
pub(crate) const DESCRIPTORS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/http_api_descriptors.bin"));

/// The served services' descriptors (WorkflowService, OperatorService and
/// their messages), for whatever else reads requests by their schema (the
/// routing of calls between a cell's members).
pub fn descriptor_pool() -> Result<DescriptorPool, String> {
    DescriptorPool::decode(DESCRIPTORS).map_err(|e| e.to_string())
}

/// Checks a request's credential (its headers, and the TLS connection's
/// client information in its extensions) before its body is read: a
/// stranger's body is never parsed. The gRPC stack checks it again, and
/// decides what it may do.
pub type Authenticate =
    Arc<dyn Fn(&http::HeaderMap, &http::Extensions) -> Result<(), String> + Send + Sync>;

/// How the HTTP API is configured.
#[derive(Clone)]
pub struct HttpApiConfig {
    /// Origins a browser may call from (CORS); empty: none.
    /// `--http-api-allowed-origin`.
    pub allowed_origins: Vec<String>,
    /// The largest request body read (the real server's 4 MiB).
    pub max_body_bytes: usize,
    /// `None`: everyone (a development cell).
    pub authenticate: Option<Authenticate>,
    /// Requests whose bodies are being turned into messages at once: the
    /// rest wait, so their memory stays bounded however many arrive.
    pub max_decoding: usize,
}

impl Default for HttpApiConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            authenticate: None,
            max_decoding: 8,
        }
    }
}

/// The HTTP API of one cell listener.
pub struct HttpApi {
    pool: DescriptorPool,
    routes: routes::Routes,
    grpc: GrpcService,
    decoding: tokio::sync::Semaphore,
    config: HttpApiConfig,
}

impl HttpApi {
    /// `grpc`: the listener's gRPC services behind the same layers as its
    /// gRPC port, so both answer the same credential the same way.
    pub fn new(grpc: GrpcService, config: HttpApiConfig) -> Result<Arc<Self>, String> {
        let pool = DescriptorPool::decode(DESCRIPTORS).map_err(|e| e.to_string())?;
        let routes = routes::Routes::from_pool(&pool)?;
        tracing::debug!(
            routes = routes.len(),
            "HTTP API routes read from the descriptors"
        );
        Ok(Arc::new(Self {
            pool,
            routes,
            grpc,
            decoding: tokio::sync::Semaphore::new(config.max_decoding.max(1)),
            config,
        }))
    }

    /// The axum router: every path goes to [`handle`], which knows the
    /// routes; CORS wraps it when origins are configured.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(self.clone());
        serve::with_cors(router, &self.config.allowed_origins)
    }
}

async fn handle(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(axum::extract::ConnectInfo(peer)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<Peer>>()
        .cloned()
    {
        parts.extensions.insert(peer.0);
    }
    if let Some(redirect) = paths::redirect_unclean(&parts.uri) {
        return redirect;
    }
    if let Some(document) = paths::openapi_document(&parts.method, parts.uri.path()) {
        return document;
    }
    let mode = response::Mode::of(&parts.headers, parts.uri.query());
    if let Some(bad) = paths::invalid_grpc_timeout(&parts.headers) {
        return errors::bad_request(&api.pool, mode, &format!("invalid grpc-timeout: {bad}"));
    }
    let mut query = parts.uri.query().map(str::to_string);
    let mut body = Some(body);
    let matched = match api.routes.find(&parts.method, parts.uri.path()) {
        Ok(matched) => matched,
        Err(routes::Miss::MethodNotAllowed) if paths::is_form_post(&parts) => {
            let Ok(matched) = api.routes.find(&http::Method::GET, parts.uri.path()) else {
                return errors::miss(mode, routes::Miss::MethodNotAllowed);
            };
            let form = body
                .take()
                .map(|b| axum::body::to_bytes(b, api.config.max_body_bytes));
            let form = match form {
                Some(read) => match read.await {
                    Ok(form) => form,
                    Err(err) => return errors::body_unreadable(&api.pool, mode, &err),
                },
                None => Default::default(),
            };
            let form = String::from_utf8_lossy(&form);
            query = Some(match query {
                Some(q) if !q.is_empty() => format!("{q}&{form}"),
                _ => form.into_owned(),
            });
            matched
        }
        Err(miss) => return errors::miss(mode, miss),
    };
    let rpc = matched.route.rpc.clone();
    let span = tracing::info_span!(
        "http_api",
        rpc = %rpc.name,
        method = %parts.method,
        route = %matched.route.template
    );
    async {
        if let Some(authenticate) = &api.config.authenticate
            && let Err(message) = authenticate(&parts.headers, &parts.extensions)
        {
            return errors::status(&api.pool, mode, &tonic::Status::unauthenticated(message));
        }
        // Held while the body becomes a message, not during the call (a
        // long poll must not keep others from being read).
        let Ok(decoding) = api.decoding.acquire().await else {
            return errors::status(
                &api.pool,
                mode,
                &tonic::Status::unavailable("shutting down"),
            );
        };
        let bytes = match body {
            Some(body) => match axum::body::to_bytes(body, api.config.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(err) => return errors::body_unreadable(&api.pool, mode, &err),
            },
            None => Default::default(),
        };
        let message = match request::build(&matched, query.as_deref(), &bytes, mode.shorthand_in) {
            Ok(message) => message,
            Err(bad) => return errors::bad_request(&api.pool, mode, &bad),
        };
        let namespace = match message.get_field_by_name("namespace").as_deref() {
            Some(prost_reflect::Value::String(ns)) if !ns.is_empty() => Some(ns.clone()),
            _ => None,
        };
        let encoded = message.encode_to_vec();
        drop((message, bytes, decoding));
        let answer = grpc_call::call(
            &api.grpc,
            &rpc.grpc_path,
            encoded,
            &parts,
            namespace.as_deref(),
        )
        .await;
        match answer {
            Ok(bytes) => {
                let written = DynamicMessage::decode(rpc.output.clone(), bytes)
                    .map_err(|e| tonic::Status::internal(format!("decoding the answer: {e}")))
                    .and_then(|output| {
                        mode.write(&api.pool, &output)
                            .map_err(tonic::Status::unknown)
                    });
                match written {
                    Ok(json) => mode.respond(http::StatusCode::OK, &json),
                    Err(status) => errors::status(&api.pool, mode, &status),
                }
            }
            Err(failed) => errors::status(&api.pool, mode, &failed.status),
        }
    }
    .instrument(span)
    .await
    .into_response()
}
