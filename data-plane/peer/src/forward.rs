//! Forwarding: a call that reaches a member other than the one that should
//! answer it (see `route`) goes on to that member's peer listener, as it
//! came (same method, body and deadline), with the caller the first member
//! authenticated; the answer comes back unchanged. SDKs never see which
//! member answered. A member that cannot be reached answers UNAVAILABLE,
//! which SDKs retry, as the real server's frontend does while a shard moves.
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use orrery_core::caller::Caller;
use orrery_membership::Member;
use tonic::body::Body;
use tonic::transport::Channel;

use crate::route::{RouteKey, Routes};
use crate::tls::PeerCredentials;

/// Who should answer a routed call.
#[async_trait]
pub trait Placement: Send + Sync + 'static {
    /// Whether calls are forwarded at all (another member is alive).
    fn forwarding(&self) -> bool;
    /// The member that should answer `key`; `None` when this one should
    /// (it owns what the call names, nobody does yet, or the key names
    /// nothing this member can resolve: it then answers, or refuses, itself).
    async fn owner(&self, key: &RouteKey) -> Option<Member>;
    /// A peer could not be reached: the view may be stale.
    fn unreachable(&self, member: &Member);
}

/// Connections to peers, one lazily connected channel per address.
pub struct PeerClients {
    credentials: Option<PeerCredentials>,
    channels: Mutex<HashMap<String, Channel>>,
}

impl PeerClients {
    pub fn new(credentials: Option<PeerCredentials>) -> Arc<Self> {
        Arc::new(Self {
            credentials,
            channels: Mutex::new(HashMap::new()),
        })
    }

    /// The channel to `peer_addr` (`host:port`).
    pub fn channel(&self, peer_addr: &str) -> Result<Channel, tonic::Status> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(peer_addr) {
            return Ok(channel.clone());
        }
        let scheme = if self.credentials.is_some() {
            "https"
        } else {
            "http"
        };
        let unavailable = |e: &dyn std::fmt::Display| {
            tonic::Status::unavailable(format!("peer {peer_addr}: {e}"))
        };
        let mut endpoint = Channel::from_shared(format!("{scheme}://{peer_addr}"))
            .map_err(|e| unavailable(&e))?
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(2))
            .http2_keep_alive_interval(std::time::Duration::from_secs(10))
            .keep_alive_timeout(std::time::Duration::from_secs(5));
        if let Some(credentials) = &self.credentials {
            endpoint = endpoint
                .tls_config(credentials.client())
                .map_err(|e| unavailable(&e))?;
        }
        let channel = endpoint.connect_lazy();
        channels.insert(peer_addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// The largest request body a member reads to route it; larger ones are
/// answered where they arrive (and refused there by the message limit).
const MAX_ROUTED_BODY: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct ForwardLayer {
    shared: Arc<Shared>,
}

struct Shared {
    routes: Routes,
    placement: Arc<dyn Placement>,
    clients: Arc<PeerClients>,
}

impl ForwardLayer {
    pub fn new(routes: Routes, placement: Arc<dyn Placement>, clients: Arc<PeerClients>) -> Self {
        Self {
            shared: Arc::new(Shared {
                routes,
                placement,
                clients,
            }),
        }
    }
}

impl<S> tower::Layer<S> for ForwardLayer {
    type Service = Forward<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Forward {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Forward<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Forward<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // Only a member's own word names a forwarded caller.
        request.headers_mut().remove(crate::caller::HEADER);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        if !shared.placement.forwarding() || !shared.routes.is_routed(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match http_body_util::Limited::new(body, MAX_ROUTED_BODY)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(err) => {
                    let status = tonic::Status::invalid_argument(format!(
                        "the request could not be read: {err}"
                    ));
                    return Ok(status.into_http());
                }
            };
            let key = match grpc_message(&parts.headers, &bytes) {
                Some(message) => shared.routes.key(parts.uri.path(), &message),
                None => RouteKey::Any,
            };
            let owner = shared.placement.owner(&key).await;
            let request =
                http::Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes)));
            match owner {
                None => inner.call(request).await,
                Some(member) => Ok(forward(&shared, &member, &key, request).await),
            }
        })
    }
}

async fn forward(
    shared: &Shared,
    member: &Member,
    key: &RouteKey,
    mut request: http::Request<Body>,
) -> http::Response<Body> {
    let caller = request.extensions().get::<Caller>().cloned();
    let headers = request.headers_mut();
    // The credential stays with the member that checked it.
    headers.remove(http::header::AUTHORIZATION);
    if let Some(caller) = caller
        && let Ok(value) =
            http::HeaderValue::from_str(&crate::caller::encode(&caller, key.namespace()))
    {
        headers.insert(crate::caller::HEADER, value);
    }
    let channel = match shared.clients.channel(&member.peer_addr) {
        Ok(channel) => channel,
        Err(status) => return status.into_http(),
    };
    let span = tracing::debug_span!("forward", member = %member.id, path = request.uri().path());
    let _entered = span.enter();
    match tower::ServiceExt::oneshot(channel, request).await {
        Ok(response) => response,
        Err(err) => {
            shared.placement.unreachable(member);
            tracing::warn!(member = %member.id, error = %err, "forwarding failed");
            tonic::Status::unavailable(format!(
                "the cell member serving this call is unreachable ({err}); retry"
            ))
            .into_http()
        }
    }
}

impl RouteKey {
    /// The namespace (a name) the call acts in, `""` if it names none.
    pub fn namespace(&self) -> &str {
        match self {
            RouteKey::Any => "",
            RouteKey::Workflow { namespace, .. }
            | RouteKey::Activity { namespace, .. }
            | RouteKey::TaskQueue { namespace, .. }
            | RouteKey::TaskToken { namespace, .. } => namespace,
        }
    }
}

/// The message of a unary gRPC request body (one length-prefixed frame),
/// decompressed if the client compressed it.
fn grpc_message<'a>(
    headers: &http::HeaderMap,
    body: &'a Bytes,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    let (&flag, rest) = body.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let message = rest.get(4..4 + len)?;
    match flag {
        0 => Some(std::borrow::Cow::Borrowed(message)),
        1 if headers
            .get("grpc-encoding")
            .is_some_and(|e| e.as_bytes() == b"gzip") =>
        {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(message)
                .take(MAX_ROUTED_BODY as u64)
                .read_to_end(&mut out)
                .ok()?;
            Some(std::borrow::Cow::Owned(out))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, message: &[u8]) -> Bytes {
        let mut out = vec![flag];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        Bytes::from(out)
    }

    #[test]
    fn frames_are_read_plain_and_gzipped() {
        let plain = frame(0, b"hello");
        assert_eq!(
            grpc_message(&Default::default(), &plain).unwrap().as_ref(),
            b"hello"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"hello").unwrap();
        let zipped = frame(1, &gz.finish().unwrap());
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-encoding", "gzip".parse().unwrap());
        assert_eq!(grpc_message(&headers, &zipped).unwrap().as_ref(), b"hello");
        // Compressed without saying how, or cut short: not routable.
        assert!(grpc_message(&Default::default(), &zipped).is_none());
        assert!(grpc_message(&Default::default(), &plain.slice(..6)).is_none());
    }
}
