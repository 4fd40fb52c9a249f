//! The tower layer in front of every gRPC service of a cell's listeners: an
//! unauthenticated call is answered UNAUTHENTICATED here and never reaches
//! a service; an authenticated one carries its `Caller` on.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use orrery_core::caller::Caller;
use tonic::body::Body;

use crate::TenantAuth;
use crate::admin::OperatorAuth;
use crate::tls::ConnectionInfo;

/// Probes (Kubernetes, load balancers) check health without credentials.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// Who a listener lets in.
#[derive(Clone)]
enum Gate {
    /// No tenant auth (a development cell): calls pass untouched.
    Open,
    /// The tenant endpoint: API keys and client certificates.
    Tenants(Arc<TenantAuth>),
    /// The admin listener: the control plane's signed token only.
    Operator(Arc<OperatorAuth>),
}

#[derive(Clone)]
pub struct AuthLayer {
    gate: Gate,
}

impl AuthLayer {
    /// The tenant endpoint; `None`: no tenant auth (a development cell).
    pub fn new(auth: Option<Arc<TenantAuth>>) -> Self {
        Self {
            gate: auth.map_or(Gate::Open, Gate::Tenants),
        }
    }

    /// The cell's admin listener: only the control plane gets through.
    pub fn operator_only(auth: Arc<OperatorAuth>) -> Self {
        Self {
            gate: Gate::Operator(auth),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            gate: self.gate.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    gate: Gate,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Authenticate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if !request.uri().path().starts_with(OPEN_PREFIX) {
            let authenticated: Option<Result<Caller, String>> = match &self.gate {
                Gate::Open => None,
                Gate::Tenants(auth) => {
                    let connection = request.extensions().get::<ConnectionInfo>();
                    Some(auth.authenticate(request.headers(), connection))
                }
                Gate::Operator(auth) => Some(auth.authenticate(request.headers())),
            };
            match authenticated {
                None => {}
                Some(Ok(caller)) => {
                    request.extensions_mut().insert(caller);
                }
                Some(Err(message)) => {
                    tracing::debug!(path = request.uri().path(), %message, "unauthenticated call");
                    let status = tonic::Status::unauthenticated(message);
                    return Box::pin(async move { Ok(status.into_http()) });
                }
            }
        }
        // The clone that was made ready is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}
