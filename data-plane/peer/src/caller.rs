//! The caller of a forwarded call. The member a client reached has already
//! authenticated it (API key or client certificate) and counted it against
//! the rate limits; the owner it forwards to trusts that member's word,
//! because only a member holding a certificate of the cell's peer CA can
//! reach the peer listener at all. Only what the call needs crosses: the
//! principal and its permission in the call's namespace, never the
//! credential.
use std::collections::HashMap;
use std::sync::Arc;

use orrery_core::caller::{Caller, Permission};

/// The request header a forwarded call carries its caller in.
pub const HEADER: &str = "x-orrery-forwarded-caller";

/// `operator`, or `tenant <permission> <namespace> <principal>` (the
/// principal last: it may hold spaces).
pub fn encode(caller: &Caller, namespace: &str) -> String {
    match caller {
        Caller::Operator => "operator".into(),
        Caller::Tenant { principal, .. } => {
            let permission = caller
                .permission(namespace)
                .map_or("none", Permission::as_str);
            format!("tenant {permission} {} {principal}", escape(namespace))
        }
    }
}

pub fn decode(value: &str) -> Option<Caller> {
    if value == "operator" {
        return Some(Caller::Operator);
    }
    let rest = value.strip_prefix("tenant ")?;
    let (permission, rest) = rest.split_once(' ')?;
    let (namespace, principal) = rest.split_once(' ')?;
    let namespace = unescape(namespace);
    let mut grants = HashMap::new();
    let permission = match permission {
        "read" => Some(Permission::Read),
        "write" => Some(Permission::Write),
        "admin" => Some(Permission::Admin),
        "none" => None,
        _ => return None,
    };
    if let Some(permission) = permission {
        grants.insert(namespace, permission);
    }
    Some(Caller::Tenant {
        principal: principal.to_string(),
        grants: Arc::new(grants),
    })
}

/// Namespace names hold no spaces, but a header must never be ambiguous.
fn escape(namespace: &str) -> String {
    namespace.replace('%', "%25").replace(' ', "%20")
}

fn unescape(namespace: &str) -> String {
    namespace.replace("%20", " ").replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_crosses_with_its_permission_in_the_namespace_only() {
        let caller = Caller::Tenant {
            principal: "api key of ann".into(),
            grants: Arc::new(HashMap::from([
                ("a.acct".to_string(), Permission::Write),
                ("b.acct".to_string(), Permission::Admin),
            ])),
        };
        let back = decode(&encode(&caller, "a.acct")).unwrap();
        assert_eq!(back.principal(), "api key of ann");
        assert_eq!(back.permission("a.acct"), Some(Permission::Write));
        assert_eq!(back.permission("b.acct"), None);
        let none = decode(&encode(&caller, "c.acct")).unwrap();
        assert_eq!(none.permission("c.acct"), None);
    }

    #[test]
    fn operators_cross_and_garbage_does_not() {
        assert!(matches!(
            decode(&encode(&Caller::Operator, "x")),
            Some(Caller::Operator)
        ));
        assert!(decode("tenant root x y").is_none());
        assert!(decode("admin").is_none());
        assert!(decode("").is_none());
    }
}

/// On the peer listener: the forwarded caller becomes the request's
/// caller, as the authentication layer makes it on the tenant endpoint.
/// Only members reach this listener (mutual TLS with the peer CA).
#[derive(Clone, Default)]
pub struct PeerCallerLayer;

impl<S> tower::Layer<S> for PeerCallerLayer {
    type Service = PeerCaller<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PeerCaller { inner }
    }
}

#[derive(Clone)]
pub struct PeerCaller<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for PeerCaller<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let caller = request
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(decode);
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        self.inner.call(request)
    }
}
