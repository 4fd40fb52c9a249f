//! The tower layer in front of every gRPC service of a tenant endpoint: an
//! unauthenticated call is answered UNAUTHENTICATED here and never reaches
//! a service; an authenticated one carries its `Caller` on.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use orrery_core::caller::Caller;
use tonic::body::Body;

use crate::TenantAuth;
use crate::tls::ConnectionInfo;

/// Probes (Kubernetes, load balancers) check health without credentials.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// `auth: None`: no tenant auth (a development cell); calls pass untouched.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Option<Arc<TenantAuth>>,
    operator_only: bool,
}

impl AuthLayer {
    pub fn new(auth: Option<Arc<TenantAuth>>) -> Self {
        Self {
            auth,
            operator_only: false,
        }
    }

    /// The cell's admin endpoint: only the admin token gets through.
    pub fn operator_only(auth: Arc<TenantAuth>) -> Self {
        Self {
            auth: Some(auth),
            operator_only: true,
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            auth: self.auth.clone(),
            operator_only: self.operator_only,
        }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    auth: Option<Arc<TenantAuth>>,
    operator_only: bool,
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
        if let Some(auth) = &self.auth
            && !request.uri().path().starts_with(OPEN_PREFIX)
        {
            let connection = request.extensions().get::<ConnectionInfo>();
            let authenticated = auth
                .authenticate(request.headers(), connection)
                .and_then(|caller| match caller {
                    Caller::Tenant { .. } if self.operator_only => Err(
                        "Request unauthorized: this is the cell's admin endpoint; tenants use the tenant endpoint."
                            .to_string(),
                    ),
                    caller => Ok(caller),
                });
            match authenticated {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                }
                Err(message) => {
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
