//! What bounds the work anyone can make the control plane do without
//! credentials: per-source-address budgets on the unauthenticated routes and
//! a fixed number of concurrent password hashes for the whole process.
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::problem::ApiError;

/// Keyed maps are trimmed of idle keys past this size, so a sweep of
/// addresses cannot grow them without bound.
const MAX_TRACKED_KEYS: usize = 10_000;

/// `n` requests per `window` for each key, refilled evenly, with a burst of `n`.
pub fn quota(n: u32, window: Duration) -> Quota {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(window / n.get())
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(n)
}

/// Charges one request to `key`; a refusal says when to come back.
pub fn charge(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Result<(), ApiError> {
    let outcome = limiter.check_key(&key.to_owned());
    if limiter.len() > MAX_TRACKED_KEYS {
        limiter.retain_recent();
    }
    outcome.map_err(|not_until| ApiError::TooManyRequests {
        retry_after: not_until.wait_time_from(limiter.clock().now()),
    })
}

/// One budget per source address for one route.
pub struct PerAddress(DefaultKeyedRateLimiter<String>);

impl PerAddress {
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self(RateLimiter::keyed(quota(per_window, window)))
    }

    pub fn check(&self, ip: &str) -> Result<(), ApiError> {
        charge(&self.0, ip)
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
        let limits = PerAddress::new(2, Duration::from_secs(60));
        limits.check("a").unwrap();
        limits.check("a").unwrap();
        match limits.check("a") {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!(retry_after > Duration::from_secs(20), "{retry_after:?}");
                assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}");
            }
            other => panic!("{other:?}"),
        }
        // Another address has its own budget.
        limits.check("b").unwrap();
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
