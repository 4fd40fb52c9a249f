//! What bounds the work anyone can make the control plane do without
//! credentials: per-source-address (and per-email) budgets on the
//! unauthenticated routes, kept in the database so they hold across
//! replicas, and a fixed number of concurrent password hashes per process
//! (a replica's cores are its own).
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::app::AppState;
use crate::problem::ApiError;
use crate::store::{Charged, ControlStore};

/// Keys one budget tracks at most (`Config::rate_limit_max_keys`): once a
/// pruning finds it at that many, a key it does not know is refused (429)
/// until a later pruning finds room.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// How often the budgets are pruned of idle keys (by every replica: a
/// delete of what has expired, harmless to repeat), and so how long a full
/// budget refuses new keys at most.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

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

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// `n` requests per `window` for each key, refilled evenly, with a burst of
/// `n` (GCRA: each key keeps only the instant its budget is full again).
/// The instants live in the database (`rate_limits`), so every replica of
/// the control plane charges the same budget: N replicas do not make N
/// budgets. Instants are the replicas' wall clocks, which must agree to
/// well under one request's share of the window (NTP).
pub struct Budgets {
    store: Arc<dyn ControlStore>,
    /// The budget's name in the table.
    bucket: &'static str,
    /// One request's share of the window.
    interval_ms: i64,
    /// How far ahead of now a key's full-again instant may be: the burst.
    tolerance_ms: i64,
    max_keys: usize,
    /// Set by the last pruning when the budget tracked `max_keys` keys.
    full: AtomicBool,
    pruned: Mutex<Instant>,
}

impl Budgets {
    pub fn new(
        store: Arc<dyn ControlStore>,
        bucket: &'static str,
        per_window: u32,
        window: Duration,
        max_keys: usize,
    ) -> Self {
        let n = per_window.max(1);
        let interval_ms = (millis(window) / i64::from(n)).max(1);
        Self {
            store,
            bucket,
            interval_ms,
            tolerance_ms: interval_ms.saturating_mul(i64::from(n)),
            max_keys: max_keys.max(1),
            full: AtomicBool::new(false),
            pruned: Mutex::new(Instant::now()),
        }
    }

    /// Charges one request to `key`; a refusal says when to come back.
    pub async fn charge(&self, key: &str) -> Result<(), ApiError> {
        self.charge_at(key, chrono::Utc::now().timestamp_millis())
            .await
    }

    async fn charge_at(&self, key: &str, now_ms: i64) -> Result<(), ApiError> {
        let may_add = !self.full.load(Ordering::Relaxed);
        let charged = self
            .store
            .charge_rate_limit(
                self.bucket,
                key,
                now_ms,
                self.interval_ms,
                self.tolerance_ms,
                may_add,
            )
            .await?;
        match charged {
            Charged::Allowed => Ok(()),
            Charged::Limited { full_at_ms } => {
                let ahead = full_at_ms.max(now_ms) + self.interval_ms - now_ms;
                let wait = (ahead - self.tolerance_ms).max(1);
                Err(ApiError::TooManyRequests {
                    retry_after: Duration::from_millis(u64::try_from(wait).unwrap_or(1)),
                })
            }
            // Refused rather than tracked: the table stays bounded, and
            // the next pruning makes room.
            Charged::Untracked => {
                let since = self
                    .pruned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .elapsed();
                Err(ApiError::TooManyRequests {
                    retry_after: PRUNE_EVERY
                        .saturating_sub(since)
                        .max(Duration::from_secs(1)),
                })
            }
        }
    }

    /// Takes what a pruning counted: whether new keys may be added.
    fn pruned(&self, counts: &[(String, i64)]) {
        let tracked = counts
            .iter()
            .find(|(bucket, _)| bucket == self.bucket)
            .map_or(0, |(_, n)| usize::try_from(*n).unwrap_or(usize::MAX));
        self.full.store(tracked >= self.max_keys, Ordering::Relaxed);
        *self.pruned.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

/// One budget per source address (IPv6: per /64) for one route.
pub struct PerAddress(Budgets);

impl PerAddress {
    pub fn new(
        store: Arc<dyn ControlStore>,
        bucket: &'static str,
        per_window: u32,
        window: Duration,
        max_keys: usize,
    ) -> Self {
        Self(Budgets::new(store, bucket, per_window, window, max_keys))
    }

    pub async fn check(&self, ip: &str) -> Result<(), ApiError> {
        self.0.charge(&address_key(ip)).await
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
    pub fn new(
        store: Arc<dyn ControlStore>,
        per_email: u32,
        per_ip: u32,
        window: Duration,
        max_keys: usize,
    ) -> Self {
        Self {
            per_email: Budgets::new(store.clone(), "login_email", per_email, window, max_keys),
            per_ip: Budgets::new(store, "login_ip", per_ip, window, max_keys),
        }
    }

    /// The address first: one refused there charges no email's budget, so
    /// an address sending a stream of distinct emails grows the email
    /// budgets only as fast as its own budget allows.
    pub async fn check(&self, email: &str, ip: &str) -> Result<(), ApiError> {
        self.per_ip.charge(&address_key(ip)).await?;
        self.per_email.charge(email).await
    }
}

/// Prunes every budget once (expired keys out, `full` flags from what is
/// left); errors are logged and the next round tries again.
pub async fn prune(state: &AppState) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    match state.store.prune_rate_limits(now_ms).await {
        Ok(counts) => {
            crate::metrics::background_run("rate_limit_prune", true);
            for budgets in [
                &state.limits.per_email,
                &state.limits.per_ip,
                &state.bounds.signups.0,
                &state.bounds.invitation_accepts.0,
            ] {
                budgets.pruned(&counts);
            }
        }
        Err(err) => {
            crate::metrics::background_run("rate_limit_prune", false);
            tracing::warn!(error = %err, "pruning the rate-limit budgets");
        }
    }
}

/// Prunes every [`PRUNE_EVERY`] until the process ends; started with the
/// control plane.
pub async fn run_pruner(state: AppState) {
    every(PRUNE_EVERY, || {
        prune(&state).instrument(tracing::info_span!("rate_limit_prune"))
    })
    .await
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
    use crate::store::SqliteStore;

    /// A store on a database of its own (the budgets live there).
    async fn store() -> (Arc<dyn ControlStore>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/limits.db", dir.path().display());
        (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_refusal_says_when_to_come_back() {
        let (store, _dir) = store().await;
        let limits = PerAddress::new(store, "signup_ip", 2, MINUTE, DEFAULT_MAX_KEYS);
        limits.check("192.0.2.1").await.unwrap();
        limits.check("192.0.2.1").await.unwrap();
        match limits.check("192.0.2.1").await {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!(retry_after > Duration::from_secs(20), "{retry_after:?}");
                assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}");
            }
            other => panic!("{other:?}"),
        }
        // Another address has its own budget.
        limits.check("192.0.2.2").await.unwrap();
    }

    #[tokio::test]
    async fn a_budget_refills_evenly_over_its_window() {
        let (store, _dir) = store().await;
        let budgets = Budgets::new(store, "b", 3, MINUTE, DEFAULT_MAX_KEYS);
        let t0 = 1_000_000;
        for _ in 0..3 {
            budgets.charge_at("k", t0).await.unwrap();
        }
        assert!(budgets.charge_at("k", t0).await.is_err());
        assert!(budgets.charge_at("k", t0 + 19_000).await.is_err());
        budgets.charge_at("k", t0 + 20_000).await.unwrap();
        assert!(budgets.charge_at("k", t0 + 21_000).await.is_err());
    }

    #[tokio::test]
    async fn budgets_of_one_name_are_one_budget_whoever_charges_them() {
        // Two replicas' limiters over one database.
        let (store, _dir) = store().await;
        let a = Budgets::new(store.clone(), "login_email", 3, MINUTE, DEFAULT_MAX_KEYS);
        let b = Budgets::new(store.clone(), "login_email", 3, MINUTE, DEFAULT_MAX_KEYS);
        let other = Budgets::new(store, "signup_ip", 3, MINUTE, DEFAULT_MAX_KEYS);
        let t0 = 5_000_000;
        a.charge_at("k", t0).await.unwrap();
        b.charge_at("k", t0).await.unwrap();
        a.charge_at("k", t0).await.unwrap();
        assert!(b.charge_at("k", t0).await.is_err());
        assert!(a.charge_at("k", t0).await.is_err());
        // Another budget's key of the same text is not charged.
        other.charge_at("k", t0).await.unwrap();
    }

    #[tokio::test]
    async fn ipv6_addresses_share_their_64_and_ipv4_its_address() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(address_key("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("unknown"), "unknown");

        // One host rotating through its /64 has one budget.
        let (store, _dir) = store().await;
        let limits = PerAddress::new(store, "signup_ip", 2, MINUTE, DEFAULT_MAX_KEYS);
        limits.check("2001:db8:1:2::1").await.unwrap();
        limits.check("2001:db8:1:2::2").await.unwrap();
        assert!(matches!(
            limits.check("2001:db8:1:2::3").await,
            Err(ApiError::TooManyRequests { .. })
        ));
        limits.check("2001:db8:1:3::1").await.unwrap();
    }

    /// Keys each bucket tracks, as the pruning counts them (pruning
    /// nothing: no instant is before 0).
    async fn tracked(store: &dyn ControlStore, bucket: &str) -> i64 {
        let counts = store.prune_rate_limits(0).await.unwrap();
        counts
            .iter()
            .find(|(b, _)| b == bucket)
            .map_or(0, |(_, n)| *n)
    }

    #[tokio::test]
    async fn an_address_refused_charges_no_email() {
        let (store, _dir) = store().await;
        let limits = LoginLimits::new(store.clone(), 10, 2, MINUTE, DEFAULT_MAX_KEYS);
        for i in 0..50 {
            let _ = limits
                .check(&format!("guess-{i}@example.com"), "192.0.2.1")
                .await;
        }
        // Only the two attempts the address was allowed reached the emails.
        assert_eq!(tracked(store.as_ref(), "login_email").await, 2);
        assert_eq!(tracked(store.as_ref(), "login_ip").await, 1);
        // The refusal is the address's.
        assert!(matches!(
            limits.check("victim@example.com", "192.0.2.1").await,
            Err(ApiError::TooManyRequests { .. })
        ));
        assert_eq!(tracked(store.as_ref(), "login_email").await, 2);
        // An email refused still charged the address: both budgets slow guessing.
        let limits = LoginLimits::new(store, 1, 30, MINUTE, DEFAULT_MAX_KEYS);
        limits.check("v@example.com", "192.0.2.9").await.unwrap();
        assert!(limits.check("v@example.com", "192.0.2.10").await.is_err());
    }

    #[tokio::test]
    async fn pruning_forgets_idle_keys_and_a_full_budget_refuses_new_ones() {
        let (store, _dir) = store().await;
        let budgets = Budgets::new(store.clone(), "b", 1, Duration::from_secs(1), 3);
        let t0 = 1_000_000;
        for key in ["k1", "k2", "k3"] {
            budgets.charge_at(key, t0).await.unwrap();
        }
        // Pruned while all three are live: full, so a new key is refused
        // (for the rest of the pruning period) while known keys keep
        // their budgets.
        let counts = store.prune_rate_limits(t0).await.unwrap();
        assert_eq!(counts, vec![("b".to_owned(), 3)]);
        budgets.pruned(&counts);
        match budgets.charge_at("new", t0).await {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            budgets.charge_at("k2", t0).await.is_err(),
            "its own budget is spent"
        );
        budgets.charge_at("k2", t0 + 1_000).await.unwrap();
        // Once their budgets are full again the keys are forgotten and new
        // ones are taken.
        let counts = store.prune_rate_limits(t0 + 10_000).await.unwrap();
        assert!(counts.is_empty(), "{counts:?}");
        budgets.pruned(&counts);
        budgets.charge_at("new", t0 + 10_000).await.unwrap();
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
