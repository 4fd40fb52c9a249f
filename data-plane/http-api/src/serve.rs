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

/// CORS for the configured origins only: with none, no CORS header is ever
/// sent and browsers keep other sites' pages out.
pub(crate) fn with_cors(router: axum::Router, origins: &[String]) -> axum::Router {
    if origins.is_empty() {
        return router;
    }
    let origins: Vec<http::HeaderValue> = origins
        .iter()
        .filter_map(|o| http::HeaderValue::from_str(o).ok())
        .collect();
    router.layer(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                http::Method::GET,
                http::Method::POST,
                http::Method::PUT,
                http::Method::DELETE,
                http::Method::PATCH,
            ])
            .allow_headers([
                http::header::AUTHORIZATION,
                http::header::CONTENT_TYPE,
                http::HeaderName::from_static("temporal-namespace"),
                http::HeaderName::from_static("x-temporal-pretty"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
