//! Listening: plain TCP (a development cell's loopback port) or the tenant
//! endpoint's TLS, where each request carries what its connection told
//! about the client (the certificate chain, the SNI namespace), as the
//! gRPC port's requests do. And CORS, only for configured origins.
use std::future::Future;
use std::io;
use std::pin::Pin;

use axum::serve::{IncomingStream, Listener};
use futures::{Stream, StreamExt};
use orrery_auth::tls::{ConnectionInfo, TenantStream};
use tokio::net::TcpListener;

/// A TLS connection's client information, as axum hands it to a request.
#[derive(Clone, Debug)]
pub struct Peer(pub ConnectionInfo);

type Incoming = Pin<Box<dyn Stream<Item = io::Result<TenantStream>> + Send>>;

/// The tenant endpoint's TLS connections (handshakes done by
/// `orrery_auth::tls::incoming`) as an axum listener.
pub struct TlsListener {
    incoming: Incoming,
}

impl TlsListener {
    pub fn new(incoming: impl Stream<Item = io::Result<TenantStream>> + Send + 'static) -> Self {
        Self {
            incoming: Box::pin(incoming),
        }
    }
}

impl Listener for TlsListener {
    type Io = TenantStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.incoming.next().await {
                Some(Ok(stream)) => {
                    let info = tonic::transport::server::Connected::connect_info(&stream);
                    return (stream, Peer(info));
                }
                // The handshake task logged it; the next connection is served.
                Some(Err(_)) => continue,
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer(ConnectionInfo::default()))
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Serves `router` on a plain listener until `shutdown`.
pub async fn serve_plain(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `router` on TLS connections until `shutdown`.
pub async fn serve_tls(
    listener: TlsListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// CORS for the configured origins only. A request from any other origin
/// (or none) is served exactly as without CORS, so a preflight from it is
/// the gateway's 501 as on the real server, which has no CORS at all.
pub(crate) fn with_cors(router: axum::Router, origins: &[String]) -> axum::Router {
    if origins.is_empty() {
        return router;
    }
    let allowed: std::sync::Arc<Vec<http::HeaderValue>> = std::sync::Arc::new(
        origins
            .iter()
            .filter_map(|o| http::HeaderValue::from_str(o.trim_end_matches('/')).ok())
            .collect(),
    );
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let allowed = allowed.clone();
            async move { cors(&allowed, request, next).await }
        },
    ))
}

/// Headers a browser may send on a cross-origin call.
const ALLOWED_HEADERS: &str = "authorization, content-type, grpc-timeout, accept";
const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, PATCH";

async fn cors(
    allowed: &[http::HeaderValue],
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let origin = request
        .headers()
        .get(http::header::ORIGIN)
        .filter(|o| allowed.contains(o))
        .cloned();
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == http::Method::OPTIONS
        && request
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = http::StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            http::HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            http::HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_MAX_AGE,
            http::HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(http::header::VARY, http::HeaderValue::from_static("origin"));
    response
}
