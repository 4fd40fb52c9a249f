//! Temporal's HTTP API on its own listener, beside the tenant gRPC port:
//! the same services behind the same layers (status mapping, tenant
//! authentication, rate gate), and the same TLS, so a credential answers
//! the same way over HTTP as over gRPC.
use std::net::SocketAddr;
use std::sync::Arc;

use orrery_frontend::Frontend;
use orrery_http_api::{GrpcService, HttpApi, HttpApiConfig};
use tokio::net::TcpListener;

/// Where the HTTP API listens, and which browser origins may call it.
#[derive(Clone, Debug)]
pub struct HttpApiSettings {
    pub addr: SocketAddr,
    /// CORS origins (`--http-api-allowed-origin`); empty: none, as the
    /// real server (which has no CORS at all).
    pub allowed_origins: Vec<String>,
}

/// The tenant endpoint's gRPC services as one in-process service.
pub(crate) fn grpc_stack(
    frontend: &Arc<Frontend>,
    auth: Option<Arc<orrery_auth::TenantAuth>>,
    forward: Option<orrery_peer::ForwardLayer>,
) -> GrpcService {
    let routes = tonic::service::Routes::new(frontend.workflow_service())
        .add_service(frontend.operator_service())
        .prepare();
    let stack = tower::ServiceBuilder::new()
        .layer(crate::status_mapping::layer())
        .layer(orrery_auth::AuthLayer::new(auth))
        .layer(frontend.rate_gate())
        .option_layer(forward)
        .service(routes);
    tower::util::BoxCloneSyncService::new(stack)
}

/// Serves the HTTP API until `stopped` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    settings: HttpApiSettings,
    grpc: GrpcService,
    auth: Option<Arc<orrery_auth::TenantAuth>>,
    tls: Option<Arc<orrery_auth::tls::TlsConfigs>>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // The credential is checked before the body is read, so no stranger's
    // body costs the cell its parsing (the gRPC stack checks it again).
    let authenticate: Option<orrery_http_api::Authenticate> = auth.map(|auth| {
        Arc::new(
            move |headers: &http::HeaderMap, extensions: &http::Extensions| {
                auth.authenticate(
                    headers,
                    extensions.get::<orrery_auth::tls::ConnectionInfo>(),
                )
                .map(|_| ())
            },
        ) as orrery_http_api::Authenticate
    });
    let api = HttpApi::new(
        grpc,
        HttpApiConfig {
            allowed_origins: settings.allowed_origins,
            authenticate,
            ..HttpApiConfig::default()
        },
    )?;
    let router = api.router();
    let served = match tls {
        Some(tls) => {
            let incoming = orrery_auth::tls::incoming(listener, tls);
            orrery_http_api::serve_tls(orrery_http_api::TlsListener::new(incoming), router, stopped)
                .await
        }
        None => orrery_http_api::serve_plain(listener, router, stopped).await,
    };
    served.map_err(|e| format!("HTTP API server: {e}"))
}
