//! What bounds the work anyone can make the control plane do without
//! credentials: per-source-address budgets on the unauthenticated routes and
//! a fixed number of concurrent password hashes for the whole process.
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::problem::ApiError;

/// Keys one budget map tracks at most (`Config::rate_limit_max_keys`): past
/// it a key it does not know is refused (429) until idle keys are pruned.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// A map is pruned of idle keys when it has doubled since its last pruning
/// (never below this many keys), so the scan's cost is spread over as many
/// requests as it scans keys ...
const KEYS_BEFORE_PRUNING: usize = 1_024;
/// ... or when this long has passed, so a full map frees up.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The key a source address is charged under: an IPv4 address as it is,
/// an IPv6 one by its /64, the block one host is routinely given (charging
/// each address would give such a host 2^64 budgets). Anything else (no
/// peer address) is one key.
pub fn address_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// `n` requests per `window` for each key, refilled evenly, with a burst of
/// `n` (GCRA: each key keeps only the instant its budget is full again).
pub struct Budgets {
    /// One request's share of the window.
    interval: Duration,
    /// How far ahead of now a key's full-again instant may be: the burst.
    tolerance: Duration,
    max_keys: usize,
    tracked: Mutex<Tracked>,
}

struct Tracked {
    full_at: HashMap<String, Instant>,
    prune_at: usize,
    pruned: Instant,
}

impl Tracked {
    /// Forgets the keys whose budget is full: forgetting them changes no answer.
    fn prune(&mut self, now: Instant) {
        self.full_at.retain(|_, full_at| *full_at > now);
        if self.full_at.capacity() > 4 * self.full_at.len().max(KEYS_BEFORE_PRUNING) {
            self.full_at.shrink_to_fit();
        }
        self.prune_at = (2 * self.full_at.len()).max(KEYS_BEFORE_PRUNING);
        self.pruned = now;
    }
}

impl Budgets {
    pub fn new(per_window: u32, window: Duration, max_keys: usize) -> Self {
        let n = per_window.max(1);
        let interval = (window / n).max(Duration::from_nanos(1));
        Self {
            interval,
            tolerance: interval.saturating_mul(n),
            max_keys: max_keys.max(1),
            tracked: Mutex::new(Tracked {
                full_at: HashMap::new(),
                prune_at: KEYS_BEFORE_PRUNING,
                pruned: Instant::now(),
            }),
        }
    }

    /// Charges one request to `key`; a refusal says when to come back.
    pub fn charge(&self, key: &str) -> Result<(), ApiError> {
        self.charge_at(key, Instant::now())
    }

    fn charge_at(&self, key: &str, now: Instant) -> Result<(), ApiError> {
        let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        if tracked.full_at.len() >= tracked.prune_at
            || now.saturating_duration_since(tracked.pruned) >= PRUNE_EVERY
        {
            tracked.prune(now);
        }
        if let Some(full_at) = tracked.full_at.get_mut(key) {
            let next = (*full_at).max(now) + self.interval;
            let ahead = next.saturating_duration_since(now);
            if ahead > self.tolerance {
                return Err(ApiError::TooManyRequests {
                    retry_after: ahead - self.tolerance,
                });
            }
            *full_at = next;
            return Ok(());
        }
        if tracked.full_at.len() >= self.max_keys {
            // Refused rather than tracked: the map stays bounded, and the
            // next pruning makes room.
            let since = now.saturating_duration_since(tracked.pruned);
            return Err(ApiError::TooManyRequests {
                retry_after: PRUNE_EVERY
                    .saturating_sub(since)
                    .max(Duration::from_secs(1)),
            });
        }
        tracked.full_at.insert(key.to_owned(), now + self.interval);
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        (self.tracked.lock().unwrap()).full_at.len()
    }
}

/// One budget per source address (IPv6: per /64) for one route.
pub struct PerAddress(Budgets);

impl PerAddress {
    pub fn new(per_window: u32, window: Duration, max_keys: usize) -> Self {
        Self(Budgets::new(per_window, window, max_keys))
    }

    pub fn check(&self, ip: &str) -> Result<(), ApiError> {
        self.0.charge(&address_key(ip))
    }
}

/// Login attempts (and password changes), counted per source address and
/// per email, so guessing across emails from one address and guessing one
/// email from many addresses are both slowed.
pub struct LoginLimits {
    per_email: Budgets,
    per_ip: Budgets,
}

impl LoginLimits {
    pub fn new(per_email: u32, per_ip: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            per_email: Budgets::new(per_email, window, max_keys),
            per_ip: Budgets::new(per_ip, window, max_keys),
        }
    }

    /// The address first: one refused there charges no email's budget, so
    /// an address sending a stream of distinct emails grows the email map
    /// only as fast as its own budget allows.
    pub fn check(&self, email: &str, ip: &str) -> Result<(), ApiError> {
        self.per_ip.charge(&address_key(ip))?;
        self.per_email.charge(email)
    }
}

/// At most `permits` Argon2 computations at once. A caller waits at most
/// `wait` for a turn, then is told to come back: a flood of logins or
/// signups queues nothing and slows no one beyond that wait.
pub struct HashPool {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl HashPool {
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            wait,
        }
    }

    /// Runs `work` on a blocking thread once a permit is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Busy {
                retry_after: Duration::from_secs(1),
            })?
            .map_err(|_| ApiError::Internal("the hashing pool is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))
    }
}

/// The limits of the unauthenticated routes and of account growth, built
/// from the [`crate::Config`].
pub struct Bounds {
    pub signups: PerAddress,
    pub invitation_accepts: PerAddress,
    pub hashing: HashPool,
    /// Namespaces (pending or active) one account may hold.
    pub namespace_quota: u32,
}

/// Runs `task` every `every` (the first time at once) until the process ends.
pub async fn every<F, Fut>(every: Duration, mut task: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        task().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_says_when_to_come_back() {
        let limits = PerAddress::new(2, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        limits.check("192.0.2.1").unwrap();
        limits.check("192.0.2.1").unwrap();
        match limits.check("192.0.2.1") {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!(retry_after > Duration::from_secs(20), "{retry_after:?}");
                assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}");
            }
            other => panic!("{other:?}"),
        }
        // Another address has its own budget.
        limits.check("192.0.2.2").unwrap();
    }

    #[test]
    fn a_budget_refills_evenly_over_its_window() {
        let budgets = Budgets::new(3, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        let t0 = Instant::now();
        for _ in 0..3 {
            budgets.charge_at("k", t0).unwrap();
        }
        assert!(budgets.charge_at("k", t0).is_err());
        assert!(
            budgets
                .charge_at("k", t0 + Duration::from_secs(19))
                .is_err()
        );
        budgets
            .charge_at("k", t0 + Duration::from_secs(20))
            .unwrap();
        assert!(
            budgets
                .charge_at("k", t0 + Duration::from_secs(21))
                .is_err()
        );
    }

    #[test]
    fn ipv6_addresses_share_their_64_and_ipv4_its_address() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(address_key("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("unknown"), "unknown");

        // One host rotating through its /64 has one budget.
        let limits = PerAddress::new(2, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        limits.check("2001:db8:1:2::1").unwrap();
        limits.check("2001:db8:1:2::2").unwrap();
        assert!(matches!(
            limits.check("2001:db8:1:2::3"),
            Err(ApiError::TooManyRequests { .. })
        ));
        limits.check("2001:db8:1:3::1").unwrap();
    }

    #[test]
    fn an_address_refused_charges_no_email() {
        let limits = LoginLimits::new(10, 2, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        for i in 0..50 {
            let _ = limits.check(&format!("guess-{i}@example.com"), "192.0.2.1");
        }
        // Only the two attempts the address was allowed reached the email map.
        assert_eq!(limits.per_email.len(), 2);
        assert_eq!(limits.per_ip.len(), 1);
        // The refusal is the address's.
        assert!(matches!(
            limits.check("victim@example.com", "192.0.2.1"),
            Err(ApiError::TooManyRequests { .. })
        ));
        assert_eq!(limits.per_email.len(), 2);
        // An email refused still charged the address: both budgets slow guessing.
        let limits = LoginLimits::new(1, 30, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        limits.check("v@example.com", "192.0.2.9").unwrap();
        assert!(limits.check("v@example.com", "192.0.2.10").is_err());
    }

    #[test]
    fn maps_are_pruned_when_doubled_and_capped() {
        let budgets = Budgets::new(1, Duration::from_secs(1), 3_000);
        let t0 = Instant::now();
        // Idle keys (their budget full again a second later) are kept until
        // the map reaches the pruning size, not scanned on every request.
        for i in 0..KEYS_BEFORE_PRUNING {
            budgets.charge_at(&format!("k{i}"), t0).unwrap();
        }
        let later = t0 + Duration::from_secs(2);
        budgets.charge_at("fresh-0", later).unwrap();
        assert_eq!(budgets.len(), 1, "the doubled map was pruned");
        // Live keys are kept, and the next pruning waits for the map to double.
        let t1 = later + Duration::from_millis(1);
        for i in 0..3_000 {
            let _ = budgets.charge_at(&format!("live-{i}"), t1);
        }
        assert_eq!(budgets.len(), 3_000);
        // Full: a new key is refused until a pruning frees room; known keys
        // keep their budgets.
        match budgets.charge_at("new", t1) {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            budgets.charge_at("live-7", t1).is_err(),
            "its own budget is spent"
        );
        budgets
            .charge_at("live-7", t1 + Duration::from_secs(1))
            .unwrap();
        // The timer prunes a full map of idle keys.
        budgets
            .charge_at("new", later + PRUNE_EVERY + Duration::from_secs(1))
            .unwrap();
        assert_eq!(budgets.len(), 1);
    }

    #[tokio::test]
    async fn hashes_beyond_the_pool_wait_then_are_refused() {
        let pool = Arc::new(HashPool::new(1, Duration::from_millis(50)));
        let (started, wait_started) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started.send(());
                    let _ = released.recv();
                })
                .await
            })
        };
        wait_started.await.unwrap();
        match pool.run(|| ()).await {
            Err(ApiError::Busy { retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        pool.run(|| ()).await.unwrap();
    }
}
