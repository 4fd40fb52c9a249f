//! Queries: the one Action that changes nothing durable, so there is no
//! transaction to count it in. Each is counted in memory per namespace and
//! the counts are added to the usage table at least every second, in one
//! transaction per flush. A crash (or a flush that fails) loses at most the
//! queries of the last second; nothing is ever counted twice, because a
//! flush that failed is not retried (its outcome may be unknown).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orrery_core::CellResult;
use orrery_core::actions::Action;
use orrery_persistence::UsageDelta;

use crate::engine::HistoryEngine;

/// How often counted queries reach the usage table.
pub const QUERY_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Queries counted since the last flush, by namespace id. Its size is
/// bounded by the namespaces of the cell, not by what a tenant sends.
#[derive(Default)]
pub(crate) struct QueryMeter(Mutex<HashMap<String, i64>>);

impl QueryMeter {
    pub(crate) fn count(&self, namespace_id: &str) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match counts.get_mut(namespace_id) {
            Some(n) => *n += 1,
            None => {
                counts.insert(namespace_id.to_string(), 1);
            }
        }
    }

    fn take(&self) -> Vec<UsageDelta> {
        let counts = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        counts
            .into_iter()
            .map(|(namespace_id, n)| UsageDelta {
                namespace_id,
                action: Action::Query.name(),
                count: n * Action::Query.weight(),
            })
            .collect()
    }
}

impl HistoryEngine {
    /// Adds the queries counted since the last flush to the usage table.
    pub async fn flush_query_usage(&self) -> CellResult<()> {
        let usage = self.query_meter.take();
        self.store.add_usage(&usage).await?;
        // The operator metric follows what was billed: counted once stored.
        for u in &usage {
            orrery_core::metrics::actions(&u.namespace_id, u.action, u.count as u64);
        }
        Ok(())
    }

    /// Flushes counted queries every [`QUERY_FLUSH_INTERVAL`], and once
    /// more at shutdown.
    pub(crate) async fn run_query_meter(self: Arc<Self>) {
        let mut closing = self.closing.subscribe();
        let mut tick = tokio::time::interval(QUERY_FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stop = *closing.borrow_and_update()
                || tokio::select! {
                    _ = tick.tick() => false,
                    _ = closing.changed() => true,
                };
            if let Err(err) = self.flush_query_usage().await {
                tracing::warn!(error = %err, "flushing query usage failed; those queries are not billed");
            }
            if stop {
                return;
            }
        }
    }
}
