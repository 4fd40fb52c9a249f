//! Tenant metrics: Temporal Cloud's OpenMetrics endpoint for this cloud.
//! A background sampler pulls every cell's per-namespace statistics
//! (`PullNamespaceStats`) every [`SAMPLE_INTERVAL`] and keeps a few minutes
//! of them per cell in memory ([`window`]); `GET /api/v1/metrics` computes
//! the caller's account's namespaces' rates, values and percentiles from
//! that window ([`catalog`] says which Cloud metric each statistic
//! becomes) and renders them as OpenMetrics text ([`render`]).
//!
//! Nothing here is durable: after a control-plane restart the first
//! figures appear one sampling interval later. A namespace's figures are
//! read only from the cell the store places it in, so a cell cannot report
//! for another cell's namespaces.
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::Instrument;

use crate::app::AppState;
use crate::store::{Cell, Namespace};

pub mod catalog;
pub mod render;
pub mod window;

#[cfg(test)]
mod tests;

use render::NamespaceSeries;
use window::{CellWindow, NsPoint, Point};

pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);
/// A cell whose newest reading is older than this (a few failed pulls)
/// shows nothing rather than figures that stopped moving.
pub const STALE_AFTER_MS: i64 = 90_000;
/// Cell namespace ids resolved to names per cell and pull, at most.
pub const NAME_LOOKUPS_PER_PULL: usize = 50;
/// Of those, how many are asked at once.
pub const NAME_LOOKUPS_AT_ONCE: usize = 8;
/// How long a pull spends resolving names at most; what is not resolved by
/// then waits for the next pull, so slow lookups cannot make the whole pull
/// miss its interval (statistics pull ≤ 10 s, this, within 15 s).
pub const NAME_LOOKUP_BUDGET: Duration = Duration::from_secs(4);
/// How long a resolved (or unknown) cell namespace id is trusted before it
/// is asked again; until the answer comes it is still used.
pub const NAME_TTL_MS: i64 = 10 * 60_000;
/// Resolved ids remembered per cell, at most.
pub const MAX_NAMES_PER_CELL: usize = 20_000;

#[derive(Default)]
struct CellEntry {
    /// The cell's name: the `region` label.
    name: String,
    window: CellWindow,
    /// The cell's namespace id → its name (None: the cell has none such),
    /// and when that was learned.
    names: HashMap<String, (Option<String>, i64)>,
    consecutive_failures: u32,
}

/// What the sampler holds, shared with the API.
#[derive(Default)]
pub struct TenantMetrics {
    cells: Mutex<HashMap<String, CellEntry>>,
}

impl TenantMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CellEntry>> {
        // A panic while holding the lock leaves plain data behind, still usable.
        self.cells.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds one reading of `cell`. `namespaces` is by namespace name.
    pub fn record(
        &self,
        cell: &Cell,
        process_start_ms: i64,
        as_of_ms: i64,
        received_ms: i64,
        namespaces: HashMap<String, NsPoint>,
    ) {
        let mut cells = self.lock();
        let entry = cells.entry(cell.id.clone()).or_default();
        entry.name = cell.name.clone();
        entry.consecutive_failures = 0;
        entry.window.push(Point {
            process_start_ms,
            as_of_ms,
            received_ms,
            namespaces,
        });
    }

    /// The computed series of these namespaces (all of one account), each
    /// from the cell it is placed in.
    pub fn account_series(
        &self,
        account_id: &str,
        namespaces: &[Namespace],
        now_ms: i64,
    ) -> Vec<NamespaceSeries> {
        let namespaces: Vec<&Namespace> = namespaces
            .iter()
            .filter(|ns| ns.account_id == account_id)
            .collect();
        // Only copies of the windows (shared readings) under the lock: the
        // computing, which for a large account takes a while, happens
        // without it, so neither the sampler nor other scrapes wait on it.
        let windows: HashMap<&str, (String, CellWindow)> = {
            let cells = self.lock();
            namespaces
                .iter()
                .filter_map(|ns| {
                    let cell = cells.get(&ns.cell_id)?;
                    Some((
                        ns.cell_id.as_str(),
                        (cell.name.clone(), cell.window.clone()),
                    ))
                })
                .collect()
        };
        namespaces
            .iter()
            .filter_map(|ns| {
                let (region, window) = windows.get(ns.cell_id.as_str())?;
                let values = window.compute(&ns.id, now_ms - STALE_AFTER_MS);
                (!values.is_empty()).then(|| NamespaceSeries {
                    namespace: ns.id.clone(),
                    account: account_id.to_owned(),
                    region: region.clone(),
                    values,
                })
            })
            .collect()
    }

    fn failed(&self, cell: &Cell) -> u32 {
        let mut cells = self.lock();
        let entry = cells.entry(cell.id.clone()).or_default();
        entry.name = cell.name.clone();
        entry.consecutive_failures += 1;
        entry.consecutive_failures
    }

    fn forget_cells_except(&self, ids: &[&str]) {
        self.lock().retain(|id, _| ids.contains(&id.as_str()));
    }

    /// Every name known for `ids` of the cell, however old (a name
    /// past its time is still right far more often than a gap is), and
    /// the ids to ask the cell about: unknown ones first, then those known
    /// longest past [`NAME_TTL_MS`], at most [`NAME_LOOKUPS_PER_PULL`].
    fn known_names(
        &self,
        cell: &Cell,
        ids: &[&str],
        now_ms: i64,
    ) -> (HashMap<String, Option<String>>, Vec<String>) {
        let mut cells = self.lock();
        let entry = cells.entry(cell.id.clone()).or_default();
        entry.name = cell.name.clone();
        if entry.names.len() >= MAX_NAMES_PER_CELL {
            // Full: keep only the ids the cell still reports.
            let reported: HashSet<&str> = ids.iter().copied().collect();
            entry.names.retain(|id, _| reported.contains(id.as_str()));
        }
        let mut known = HashMap::new();
        let mut unknown = Vec::new();
        let mut expired = Vec::new();
        for id in ids {
            match entry.names.get(*id) {
                Some((name, at)) => {
                    known.insert((*id).to_owned(), name.clone());
                    if now_ms - at >= NAME_TTL_MS {
                        expired.push((*at, (*id).to_owned()));
                    }
                }
                None => unknown.push((*id).to_owned()),
            }
        }
        expired.sort();
        unknown.extend(expired.into_iter().map(|(_, id)| id));
        unknown.truncate(NAME_LOOKUPS_PER_PULL);
        (known, unknown)
    }

    /// Remembers one answer as soon as it comes, so what a pull learned is
    /// kept even if the pull itself then fails or runs out of time.
    fn remember_name(&self, cell: &Cell, id: &str, name: Option<String>, now_ms: i64) {
        let mut cells = self.lock();
        let entry = cells.entry(cell.id.clone()).or_default();
        if entry.names.len() >= MAX_NAMES_PER_CELL && !entry.names.contains_key(id) {
            tracing::debug!(namespace_id = %id, "tenant metrics: the name memo is full");
            return;
        }
        entry.names.insert(id.to_owned(), (name, now_ms));
    }

    /// Resolves `lookups` (ids of `cell`) with `lookup`, at most
    /// [`NAME_LOOKUPS_AT_ONCE`] at a time and for at most `budget`,
    /// remembering each answer as it comes; returns the answers. A failed
    /// lookup is left out (whatever name was known stays in use).
    pub async fn resolve_names<F, Fut, E>(
        &self,
        cell: &Cell,
        lookups: Vec<String>,
        lookup: F,
        budget: Duration,
    ) -> HashMap<String, Option<String>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Option<String>, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let mut learned = HashMap::new();
        let mut queue = lookups.into_iter();
        // Dropping the set (when the budget runs out) aborts what is left.
        let mut running = tokio::task::JoinSet::new();
        let mut spawn_next = |running: &mut tokio::task::JoinSet<_>| {
            let Some(id) = queue.next() else {
                return false;
            };
            let answer = lookup(id.clone());
            running.spawn(async move { (id, answer.await) }.in_current_span());
            true
        };
        for _ in 0..NAME_LOOKUPS_AT_ONCE {
            if !spawn_next(&mut running) {
                break;
            }
        }
        let collect = async {
            while let Some(joined) = running.join_next().await {
                match joined {
                    Ok((id, Ok(name))) => {
                        self.remember_name(cell, &id, name.clone(), now_ms());
                        learned.insert(id, name);
                    }
                    Ok((id, Err(e))) => {
                        tracing::debug!(error = %e, namespace_id = %id, "resolving a namespace id failed");
                    }
                    Err(e) => tracing::warn!(error = %e, "a namespace lookup task failed"),
                }
                spawn_next(&mut running);
            }
        };
        if tokio::time::timeout(budget, collect).await.is_err() {
            tracing::debug!("tenant metrics: namespace lookups left for the next pull");
        }
        learned
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Pulls every cell every `interval`, until the process ends.
pub async fn run_sampler(state: AppState, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sample_once(&state, interval)
            .instrument(tracing::info_span!("tenant_metrics.sample"))
            .await;
    }
}

/// Pulls every registered cell once, at once; a cell that does not answer
/// within `budget` is counted as failed this round.
pub async fn sample_once(state: &AppState, budget: Duration) {
    let cells = match state.store.cell_loads().await {
        Ok(loads) => loads.into_iter().map(|l| l.cell).collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(error = %e, "tenant metrics: listing cells failed");
            return;
        }
    };
    state
        .tenant_metrics
        .forget_cells_except(&cells.iter().map(|c| c.id.as_str()).collect::<Vec<_>>());
    let mut pulls = tokio::task::JoinSet::new();
    for cell in cells {
        let state = state.clone();
        let span = tracing::info_span!("tenant_metrics.pull", cell = %cell.name);
        pulls.spawn(
            async move {
                let outcome = tokio::time::timeout(budget, pull_cell(&state, &cell)).await;
                // Operator metrics: control_plane_background_task_{runs,failures}.
                let ok = matches!(outcome, Ok(Ok(())));
                crate::metrics::background_run("tenant_metrics_pull", ok);
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let failures = state.tenant_metrics.failed(&cell);
                        tracing::warn!(error = %e, failures, "tenant metrics: the pull failed");
                    }
                    Err(_) => {
                        let failures = state.tenant_metrics.failed(&cell);
                        tracing::warn!(failures, "tenant metrics: the cell did not answer in time");
                    }
                }
            }
            .instrument(span),
        );
    }
    while pulls.join_next().await.is_some() {}
}

/// One cell: its statistics, keyed by namespace name.
pub async fn pull_cell(state: &AppState, cell: &Cell) -> Result<(), crate::CellAdminError> {
    let stats = state.cells.pull_namespace_stats(cell).await?;
    let received_ms = now_ms();
    // Cells name namespaces by name (`<name>.<account slug>`, which always
    // has a dot) or by the id the cell gave them, which is resolved.
    let ids: Vec<&str> = stats
        .namespaces
        .iter()
        .map(|n| n.namespace_id.as_str())
        .filter(|id| !id.contains('.'))
        .collect();
    let (mut names, lookups) = state.tenant_metrics.known_names(cell, &ids, received_ms);
    let cells = Arc::clone(&state.cells);
    let learned = state
        .tenant_metrics
        .resolve_names(
            cell,
            lookups,
            |id| {
                let (cells, cell) = (Arc::clone(&cells), cell.clone());
                async move { cells.namespace_name(&cell, &id).await }
            },
            NAME_LOOKUP_BUDGET,
        )
        .await;
    names.extend(learned);
    let mut namespaces: HashMap<String, NsPoint> = HashMap::new();
    for ns in &stats.namespaces {
        let name = if ns.namespace_id.contains('.') {
            Some(ns.namespace_id.clone())
        } else {
            names.get(&ns.namespace_id).cloned().flatten()
        };
        let Some(name) = name else { continue };
        let point = NsPoint::from_stats(ns);
        if point.dropped > 0 {
            tracing::warn!(
                namespace = %name,
                dropped = point.dropped,
                "tenant metrics: series past the per-namespace cap dropped"
            );
        }
        namespaces.insert(name, point);
    }
    tracing::debug!(namespaces = namespaces.len(), "tenant metrics: pulled");
    state.tenant_metrics.record(
        cell,
        stats.process_start_ms,
        stats.as_of_ms,
        received_ms,
        namespaces,
    );
    Ok(())
}
