//! How often: per-namespace rate limits (Temporal's
//! `frontend.namespaceRPS`) and each caller's budget for the RPCs that name
//! no namespace (Orrery's `frontend.namespacelessRPSPerCaller`). Both are
//! charged by `Frontend::admit`; the namespace's also by the rate gate in
//! front of the services.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use orrery_core::caller::Caller;
use orrery_core::dynamic_config::{DynamicConfig, PerNamespace};
use orrery_core::{CellError, CellResult};
use orrery_proto::api::enums::v1::ResourceExhaustedCause;

/// Per-namespace request rate limits, as Temporal's `frontend.namespaceRPS`
/// (burst twice the rate, as there): one rate for every namespace, and any
/// namespace's own (a rate of 0 or less: unlimited).
pub struct RateLimits {
    every: Option<BoundedKeyed>,
    own: HashMap<String, Option<DefaultDirectRateLimiter>>,
}

/// How long a call refused for its namespace's rate waits for its answer.
/// The SDKs wait a second or more before retrying a RESOURCE_EXHAUSTED, so
/// they lose nothing; a client that retries at once is then paced by how
/// many calls it keeps in flight rather than by how fast the cell can refuse
/// them, and its refusals stop costing the cell's cores (and the neighbours
/// on them) per call.
pub(crate) const REFUSAL_PAUSE: Duration = Duration::from_millis(100);

/// `refused`, once [`REFUSAL_PAUSE`] has passed.
pub(crate) async fn after_pause(refused: CellError) -> CellError {
    tokio::time::sleep(REFUSAL_PAUSE).await;
    refused
}

fn quota(rps: i64) -> Option<Quota> {
    let rate = NonZeroU32::new(u32::try_from(rps.max(0)).unwrap_or(u32::MAX))?;
    let burst = NonZeroU32::new(rate.get().saturating_mul(2))?;
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl RateLimits {
    /// None when no namespace is limited.
    pub fn new(rps: &PerNamespace<i64>) -> Option<Self> {
        let limits = Self {
            every: quota(rps.default).map(BoundedKeyed::new),
            own: (rps.namespaces.iter())
                .map(|(namespace, &rps)| (namespace.clone(), quota(rps).map(RateLimiter::direct)))
                .collect(),
        };
        (limits.every.is_some() || limits.own.values().any(Option::is_some)).then_some(limits)
    }

    #[cfg(test)]
    pub(crate) fn per_second(rps: u32) -> Option<Self> {
        Self::new(&PerNamespace {
            default: rps.into(),
            namespaces: HashMap::new(),
        })
    }

    pub(crate) fn check(&self, namespace: &str) -> CellResult<()> {
        let allowed = match self.own.get(namespace) {
            Some(own) => own.as_ref().is_none_or(|limiter| limiter.check().is_ok()),
            None => (self.every.as_ref()).is_none_or(|limiter| limiter.check(namespace)),
        };
        allowed
            .then_some(())
            .ok_or_else(|| CellError::ResourceExhausted {
                message: format!("namespace rate limit exceeded for namespace {namespace}"),
                cause: ResourceExhaustedCause::RpsLimit,
            })
    }
}

/// Temporal's `frontend.namespaceRPS` keys namespaces by name; a cell with
/// no tenant auth (`orrery dev`) charges whatever a header names, so the
/// keyed limiters forget idle keys once they hold this many.
const KEYS_BEFORE_PRUNING: usize = 10_000;
/// A keyed rate limiter whose key map stays bounded: idle keys (whose
/// bucket has refilled, so forgetting them changes nothing) are dropped
/// whenever the map has doubled since the last pruning. A key is busy for
/// at most the time its burst takes to refill (two seconds), so the map
/// holds at most about twice the keys used in the last two seconds, and the
/// pruning's cost is spread over as many calls as it scans keys.
struct BoundedKeyed {
    limiter: DefaultKeyedRateLimiter<String>,
    prune_at: AtomicUsize,
}

impl BoundedKeyed {
    fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            prune_at: AtomicUsize::new(KEYS_BEFORE_PRUNING),
        }
    }

    fn check(&self, key: &str) -> bool {
        let allowed = self.limiter.check_key(&key.to_owned()).is_ok();
        if self.limiter.len() > self.prune_at.load(Ordering::Relaxed) {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            let next = (self.limiter.len() * 2).max(KEYS_BEFORE_PRUNING);
            self.prune_at.store(next, Ordering::Relaxed);
        }
        allowed
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Orrery's own (Temporal limits these RPCs only per frontend host, with
/// `frontend.rps`): each caller's rate for the RPCs that name no namespace
/// (GetSystemInfo, GetClusterInfo, ListNamespaces, GetSearchAttributes,
/// DescribeNamespace by id), burst twice the rate; 0 or less: unlimited.
pub const NAMESPACELESS_RPS_PER_CALLER: &str = "frontend.namespacelessRPSPerCaller";
pub const DEFAULT_NAMESPACELESS_RPS_PER_CALLER: i64 = 50;

/// Per-caller rate limits on the RPCs that name no namespace, keyed by the
/// caller's principal; those RPCs charge no namespace's budget, so without
/// this one credential could call them as fast as the cell answers.
pub struct CallerLimits {
    per_caller: BoundedKeyed,
}

impl CallerLimits {
    /// None when unlimited.
    pub fn new(rps: i64) -> Option<Self> {
        Some(Self {
            per_caller: BoundedKeyed::new(quota(rps)?),
        })
    }

    /// From [`NAMESPACELESS_RPS_PER_CALLER`] in the dynamic config.
    pub fn from_dynamic_config(config: &DynamicConfig) -> Option<Arc<Self>> {
        Self::new(config.i64(
            NAMESPACELESS_RPS_PER_CALLER,
            DEFAULT_NAMESPACELESS_RPS_PER_CALLER,
        ))
        .map(Arc::new)
    }

    /// The operator (the control plane) is not limited: it is ours.
    pub(crate) fn check(&self, caller: &Caller) -> CellResult<()> {
        let Caller::Tenant { principal, .. } = caller else {
            return Ok(());
        };
        if self.per_caller.check(principal) {
            return Ok(());
        }
        // The real server's answer for a limit that is not a namespace's.
        Err(CellError::ServiceExhausted {
            message: "service rate limit exceeded".into(),
            cause: ResourceExhaustedCause::RpsLimit,
        })
    }
}

#[cfg(test)]
mod tests {
    use orrery_core::caller::Permission;

    use super::*;

    fn caller(principal: &str) -> Caller {
        Caller::Tenant {
            principal: principal.into(),
            grants: Arc::new(HashMap::<String, Permission>::new()),
        }
    }

    #[test]
    fn a_caller_over_its_namespaceless_rate_is_exhausted_and_others_are_not() {
        let limits = CallerLimits::new(5).unwrap();
        // The burst is twice the rate.
        for _ in 0..10 {
            limits.check(&caller("user:flood")).unwrap();
        }
        let refused = limits.check(&caller("user:flood")).unwrap_err();
        assert!(matches!(
            &refused,
            CellError::ServiceExhausted {
                cause: ResourceExhaustedCause::RpsLimit,
                ..
            }
        ));
        let status = tonic::Status::from(refused);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), "service rate limit exceeded");
        assert!(limits.check(&caller("user:quiet")).is_ok());
        // The operator is never limited; a rate of 0 means no limit.
        for _ in 0..100 {
            limits.check(&Caller::Operator).unwrap();
        }
        assert!(CallerLimits::new(0).is_none());
    }

    #[test]
    fn the_namespaceless_rate_is_read_from_its_key() {
        let config = DynamicConfig::parse(["frontend.namespacelessRPSPerCaller=1"]).unwrap();
        let limits = CallerLimits::from_dynamic_config(&config).unwrap();
        for _ in 0..2 {
            limits.check(&caller("user:a")).unwrap();
        }
        assert!(limits.check(&caller("user:a")).is_err());
        let off = DynamicConfig::parse(["frontend.namespacelessRPSPerCaller=0"]).unwrap();
        assert!(CallerLimits::from_dynamic_config(&off).is_none());
        // Unset: the default, limited.
        assert!(CallerLimits::from_dynamic_config(&DynamicConfig::default()).is_some());
    }

    #[test]
    fn keyed_limits_forget_idle_keys_so_many_callers_do_not_grow_them() {
        // A fast rate: each key's one spent token is back within a
        // microsecond, so every earlier key is idle when pruning runs.
        let keyed = BoundedKeyed::new(quota(1_000_000).unwrap());
        for i in 0..5 * KEYS_BEFORE_PRUNING {
            assert!(keyed.check(&format!("user:{i}")));
        }
        assert!(
            keyed.len() <= KEYS_BEFORE_PRUNING + 1,
            "{} keys held",
            keyed.len()
        );
    }

    #[test]
    fn a_namespace_over_its_rate_is_exhausted_and_others_are_not() {
        let limits = RateLimits::per_second(5).unwrap();
        for _ in 0..10 {
            limits.check("busy").unwrap();
        }
        assert!(matches!(
            limits.check("busy"),
            Err(CellError::ResourceExhausted {
                cause: ResourceExhaustedCause::RpsLimit,
                ..
            })
        ));
        assert!(limits.check("quiet").is_ok());
        assert!(RateLimits::per_second(0).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_comes_back_after_the_pause() {
        let before = tokio::time::Instant::now();
        let refused = after_pause(CellError::Unavailable("x".into())).await;
        assert!(before.elapsed() >= REFUSAL_PAUSE);
        assert!(matches!(refused, CellError::Unavailable(_)));
    }

    #[test]
    fn a_namespace_with_its_own_rate_is_held_to_it_alone() {
        let rps = PerNamespace {
            default: 5,
            namespaces: HashMap::from([("flood".to_string(), 1), ("free".to_string(), 0)]),
        };
        let limits = RateLimits::new(&rps).unwrap();
        // Its own burst (2), not the default's (10).
        for _ in 0..2 {
            limits.check("flood").unwrap();
        }
        assert!(limits.check("flood").is_err());
        // The default rate is whole for the others; "free" has none.
        for _ in 0..10 {
            limits.check("quiet").unwrap();
        }
        assert!(limits.check("quiet").is_err());
        for _ in 0..100 {
            limits.check("free").unwrap();
        }
        // Only one namespace limited: still limits.
        let one = PerNamespace {
            default: 0,
            namespaces: HashMap::from([("flood".to_string(), 1)]),
        };
        let limits = RateLimits::new(&one).unwrap();
        for _ in 0..100 {
            limits.check("other").unwrap();
        }
        let none = PerNamespace {
            default: 0,
            namespaces: HashMap::from([("free".to_string(), 0)]),
        };
        assert!(RateLimits::new(&none).is_none());
    }
}
