//! Storage metering: what each namespace keeps stored, billed in
//! byte-seconds per hour as usage rows of the kinds
//! `orrery_cell_api::ACTIVE_STORAGE_BYTE_SECONDS` (open runs: state plus
//! history) and `orrery_cell_api::RETAINED_STORAGE_BYTE_SECONDS` (closed
//! runs not yet deleted by retention).
//!
//! Time is cut into slots of `usage.storageSampleInterval` seconds, aligned
//! on the epoch. A sample at the start of a slot [s, e) bills what is
//! stored at that moment for the part of the slot not yet billed: the store
//! keeps, per namespace, how far storage has been billed (`billed_until`),
//! bills e - max(s, billed_until) seconds when positive and moves
//! billed_until to e, in one transaction that locks the namespace's row.
//! Billing thus depends on what was billed, not on which slot is sampled:
//! a restart in the middle of a slot, a second cell process on the same
//! database, or a process using another interval (a changed config, a
//! rolling deploy) bills each second once. A slot that no process sampled
//! (the cell was down throughout) is not billed: metering may miss storage,
//! never count it twice.
//!
//! The interval must divide an hour (and be at most 300 s), so a slot
//! never straddles an hour and its seconds land in the hour they belong
//! to; another value is lowered to the largest such divisor not above it
//! (raised to 1 s if below), with a warning. (The store splits a span
//! across hours anyway, should one ever cross.)
//!
//! A sample reads each run's `stored_bytes`, which every commit maintains
//! (migration 0005), through a covering index: its cost grows with the
//! number of runs stored, not with the size of their histories, where
//! summing `history_events` would read every event's bytes every slot.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orrery_core::CellResult;
use orrery_core::dynamic_config::DynamicConfig;
use orrery_persistence::StorageSample;

use crate::engine::HistoryEngine;

/// The dynamic-config key of the sample interval, in seconds.
pub const SAMPLE_INTERVAL_KEY: &str = "usage.storageSampleInterval";
const DEFAULT_SAMPLE_SECS: i64 = 300;
/// Storage is sampled at least this often, whatever the config says: a
/// longer slot would bill a burst of storage for too long (or miss one).
const MAX_SAMPLE_SECS: i64 = 300;
/// How long a namespace's billed-until is remembered after it last moved.
/// Only the current slot is ever sampled, so a day covers any restart and
/// any clock skew between cells.
const REMEMBER_BILLED_MS: i64 = 24 * 3_600_000;

/// `usage.storageSampleInterval`, in whole seconds: a divisor of 3600
/// between 1 s and 300 s. Another value is lowered to the largest such
/// divisor not above it (raised to 1 s if below), with a warning, rather
/// than refused: a mistyped metering setting must not keep a cell from
/// starting.
pub(crate) fn sample_interval(dc: &DynamicConfig) -> Duration {
    let configured = dc.i64(SAMPLE_INTERVAL_KEY, DEFAULT_SAMPLE_SECS);
    let secs = divisor_of_an_hour_at_most(configured.clamp(1, MAX_SAMPLE_SECS));
    if secs != configured {
        tracing::warn!(
            key = SAMPLE_INTERVAL_KEY,
            configured,
            used = secs,
            "the storage sample interval must divide 3600 and lie between 1 and 300 seconds"
        );
    }
    Duration::from_secs(secs as u64)
}

/// The largest divisor of 3600 not above `secs` (>= 1).
fn divisor_of_an_hour_at_most(secs: i64) -> i64 {
    (1..=secs.max(1)).rev().find(|d| 3600 % d == 0).unwrap_or(1)
}

/// The namespace a keyspace's storage is billed to: a standalone
/// activity's keyspace (`<namespace id>/activities`) folds into its
/// namespace, as its Actions do.
fn billed_namespace(keyspace: &str) -> &str {
    let suffix = crate::activity_keyspace("");
    keyspace.strip_suffix(suffix.as_str()).unwrap_or(keyspace)
}

impl HistoryEngine {
    fn sample_interval_ms(&self) -> i64 {
        self.limits.storage_sample_interval.as_millis().max(1) as i64
    }

    /// Samples the slot `now_ms` falls in: reads what every keyspace stores
    /// and bills it for the part of the slot not yet billed. Returns how
    /// many namespaces this call billed (0 when the slot was already
    /// billed, by this or another process, whatever its interval).
    pub async fn sample_storage(&self, now_ms: i64) -> CellResult<usize> {
        let interval_ms = self.sample_interval_ms();
        let slot_ms = now_ms.div_euclid(interval_ms) * interval_ms;
        let mut by_namespace: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for k in self.store.storage_by_keyspace().await? {
            let total = by_namespace
                .entry(billed_namespace(&k.namespace_id).to_string())
                .or_default();
            total.0 += k.active_bytes;
            total.1 += k.retained_bytes;
        }
        let samples: Vec<StorageSample> = by_namespace
            .into_iter()
            .filter(|(_, (active, retained))| *active > 0 || *retained > 0)
            .map(|(namespace_id, (active, retained))| StorageSample {
                namespace_id,
                slot_ms,
                seconds: interval_ms / 1000,
                active_bytes: active,
                retained_bytes: retained,
            })
            .collect();
        self.store
            .record_storage_samples(&samples, slot_ms - REMEMBER_BILLED_MS)
            .await
    }

    /// Samples the current slot now (a restart may be the first process to
    /// see it) and then at the start of every slot, until shutdown.
    pub(crate) async fn run_storage_meter(self: Arc<Self>) {
        let mut closing = self.closing.subscribe();
        let interval_ms = self.sample_interval_ms();
        loop {
            if *closing.borrow_and_update() {
                return;
            }
            let now_ms = orrery_core::time::now_millis();
            let sampled = self.sample_storage(now_ms).await;
            orrery_core::metrics::background_run("storage_meter", sampled.is_ok());
            match sampled {
                Ok(billed) => tracing::debug!(billed, "storage sampled"),
                // Not retried within the slot: the next slot samples anew,
                // and a second is billed by whoever samples it first.
                Err(err) => {
                    tracing::warn!(error = %err, "sampling storage failed; this slot may go unbilled")
                }
            }
            let next_slot_ms = (now_ms.div_euclid(interval_ms) + 1) * interval_ms;
            let wait = Duration::from_millis(
                (next_slot_ms - orrery_core::time::now_millis()).max(0) as u64,
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closing.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_activity_keyspaces_fold_into_their_namespace() {
        assert_eq!(billed_namespace("ns-id/activities"), "ns-id");
        assert_eq!(billed_namespace("ns-id"), "ns-id");
        assert_eq!(billed_namespace(&crate::activity_keyspace("x")), "x");
    }

    #[test]
    fn the_interval_is_configured_in_seconds_dividing_an_hour_and_at_most_five_minutes() {
        let of = |value: &str| {
            let pair = format!("{SAMPLE_INTERVAL_KEY}={value}");
            sample_interval(&DynamicConfig::parse([pair.as_str()]).unwrap()).as_secs()
        };
        assert_eq!(
            sample_interval(&DynamicConfig::default()),
            Duration::from_secs(300)
        );
        for (configured, used) in [
            ("2", 2),
            ("60", 60),
            ("225", 225),
            ("300", 300),
            ("0", 1),
            ("-5", 1),
            ("7", 6),
            ("250", 240),
            ("299", 240),
            ("301", 300),
            ("3600", 300),
        ] {
            assert_eq!(of(configured), used, "{configured}");
        }
        // Every interval allowed cuts an hour into whole slots.
        for secs in 1..=MAX_SAMPLE_SECS {
            let d = divisor_of_an_hour_at_most(secs);
            assert!(d <= secs && 3600 % d == 0, "{secs} -> {d}");
        }
    }
}
