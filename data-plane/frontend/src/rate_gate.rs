//! Refuses a namespace's over-limit calls in front of the gRPC services,
//! from the `temporal-namespace` header every SDK sends, before the body is
//! read or decoded: a flood past the limit then costs the cell little more
//! than parsing its frames, and does not crowd out other namespaces.
//!
//! The header only decides what is charged here; `Frontend::admit` still
//! charges the namespace named in the body, unless it is the one charged
//! here, so each call counts once and a call whose header lies is charged
//! for what it really touches.
//!
//! A refusal here, as in `Frontend::admit`, is answered after
//! [`rate_limits::REFUSAL_PAUSE`](crate::rate_limits::REFUSAL_PAUSE).
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderValue;
use orrery_core::caller::Caller;
use tonic::body::Body;

use crate::rate_limits::{RateLimits, after_pause};

const NAMESPACE_HEADER: &str = "temporal-namespace";

/// The namespace this call was charged to here (the header's value).
#[derive(Clone)]
pub(crate) struct Charged(pub(crate) HeaderValue);

#[derive(Clone)]
pub struct RateGateLayer {
    limits: Option<Arc<RateLimits>>,
}

impl RateGateLayer {
    pub(crate) fn new(limits: Option<Arc<RateLimits>>) -> Self {
        Self { limits }
    }
}

impl<S> tower::Layer<S> for RateGateLayer {
    type Service = RateGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateGate {
            inner,
            limits: self.limits.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RateGate<S> {
    inner: S,
    limits: Option<Arc<RateLimits>>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for RateGate<S>
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
        if let Some(limits) = &self.limits
            && let Some(header) = request.headers().get(NAMESPACE_HEADER)
            && let Ok(namespace) = header.to_str()
            && !namespace.is_empty()
            && may_charge(request.extensions().get::<Caller>(), namespace)
        {
            if let Err(refused) = limits.check(namespace) {
                return Box::pin(async move {
                    Ok(tonic::Status::from(after_pause(refused).await).into_http())
                });
            }
            let charged = Charged(header.clone());
            request.extensions_mut().insert(charged);
        }
        // The clone that was made ready is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

/// Whether a call may spend `namespace`'s budget: a tenant only that of a
/// namespace it holds a permission in, so no one drains another tenant's
/// budget by naming it in a header. Without tenant auth (a development cell)
/// there is no caller, and every call may.
fn may_charge(caller: Option<&Caller>, namespace: &str) -> bool {
    match caller {
        Some(caller) => caller.permission(namespace).is_some(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use std::time::Duration;

    use orrery_core::caller::Permission;
    use tower::{Layer, Service, ServiceExt};

    use crate::rate_limits::REFUSAL_PAUSE;

    use super::*;

    /// Counts the calls that get through and echoes whether each was charged.
    #[derive(Clone)]
    struct Inner(Arc<AtomicUsize>);

    impl tower::Service<http::Request<()>> for Inner {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<()>) -> Self::Future {
            self.0.fetch_add(1, Ordering::Relaxed);
            let charged = request
                .extensions()
                .get::<Charged>()
                .map(|c| c.0.clone())
                .unwrap_or(HeaderValue::from_static("-"));
            let mut response = http::Response::new(Body::empty());
            response.headers_mut().insert("charged", charged);
            std::future::ready(Ok(response))
        }
    }

    fn call(namespace: &str, caller: Option<Caller>) -> http::Request<()> {
        let mut request = http::Request::builder()
            .uri("/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace")
            .header(NAMESPACE_HEADER, namespace)
            .body(())
            .unwrap();
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        request
    }

    async fn send(
        service: &mut RateGate<Inner>,
        request: http::Request<()>,
    ) -> http::Response<Body> {
        service.ready().await.unwrap().call(request).await.unwrap()
    }

    // Paused time: the refusal's pause passes at once, and can be measured.
    #[tokio::test(start_paused = true)]
    async fn over_the_limit_is_refused_before_the_service_and_others_go_on() {
        let passed = Arc::new(AtomicUsize::new(0));
        let limits = RateLimits::per_second(1).map(Arc::new);
        let mut service = RateGateLayer::new(limits).layer(Inner(passed.clone()));
        // The burst is twice the rate.
        for _ in 0..2 {
            let response = send(&mut service, call("flood", None)).await;
            assert_eq!(response.headers()["charged"], "flood");
        }
        let before = tokio::time::Instant::now();
        let refused = send(&mut service, call("flood", None)).await;
        assert!(
            before.elapsed() >= REFUSAL_PAUSE,
            "a refusal is answered after the pause"
        );
        assert_eq!(refused.headers()["grpc-status"], "8", "RESOURCE_EXHAUSTED");
        assert!(refused.headers().contains_key("grpc-status-details-bin"));
        assert_eq!(passed.load(Ordering::Relaxed), 2);
        let before = tokio::time::Instant::now();
        let other = send(&mut service, call("quiet", None)).await;
        assert_eq!(
            before.elapsed(),
            Duration::ZERO,
            "a call under the limit waits for nothing"
        );
        assert_eq!(other.headers()["charged"], "quiet");
        assert_eq!(passed.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_tenant_cannot_spend_a_namespace_it_holds_nothing_in() {
        let passed = Arc::new(AtomicUsize::new(0));
        let limits = RateLimits::per_second(1).map(Arc::new);
        let mut service = RateGateLayer::new(limits).layer(Inner(passed.clone()));
        let stranger = Caller::Tenant {
            principal: "user:x".into(),
            grants: Arc::new(HashMap::from([("mine".to_string(), Permission::Write)])),
        };
        for _ in 0..5 {
            let response = send(&mut service, call("victim", Some(stranger.clone()))).await;
            assert_eq!(response.headers()["charged"], "-");
        }
        // The victim's budget is whole.
        let victim = send(&mut service, call("victim", None)).await;
        assert_eq!(victim.headers()["charged"], "victim");
        assert_eq!(passed.load(Ordering::Relaxed), 6);
    }

    #[tokio::test]
    async fn without_limits_nothing_is_charged() {
        let passed = Arc::new(AtomicUsize::new(0));
        let mut service = RateGateLayer::new(None).layer(Inner(passed.clone()));
        for _ in 0..10 {
            let response = send(&mut service, call("any", None)).await;
            assert_eq!(response.headers()["charged"], "-");
        }
        assert_eq!(passed.load(Ordering::Relaxed), 10);
    }
}
