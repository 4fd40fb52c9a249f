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
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tracing::Instrument;

use crate::app::AppState;
use crate::store::{Cell, Namespace};

pub mod catalog;
pub mod render;
pub mod window;

use render::NamespaceSeries;
use window::{CellWindow, NsPoint, Point};

pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);
/// A cell whose newest reading is older than this (a few failed pulls)
/// shows nothing rather than figures that stopped moving.
pub const STALE_AFTER_MS: i64 = 90_000;
/// Cell namespace ids resolved to names per cell and pull, at most.
const NAME_LOOKUPS_PER_PULL: usize = 50;
/// How long a resolved (or unknown) cell namespace id is trusted.
const NAME_TTL_MS: i64 = 10 * 60_000;
/// Resolved ids remembered per cell; past it the memo starts over.
const MAX_NAMES_PER_CELL: usize = 20_000;

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
        let cells = self.lock();
        namespaces
            .iter()
            .filter(|ns| ns.account_id == account_id)
            .filter_map(|ns| {
                let cell = cells.get(&ns.cell_id)?;
                let values = cell.window.compute(&ns.id, now_ms - STALE_AFTER_MS);
                (!values.is_empty()).then(|| NamespaceSeries {
                    namespace: ns.id.clone(),
                    account: account_id.to_owned(),
                    region: cell.name.clone(),
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

    fn cached_names(
        &self,
        cell_id: &str,
        ids: &[&str],
        now_ms: i64,
    ) -> HashMap<String, Option<String>> {
        let cells = self.lock();
        let Some(entry) = cells.get(cell_id) else {
            return HashMap::new();
        };
        ids.iter()
            .filter_map(|id| {
                let (name, at) = entry.names.get(*id)?;
                (now_ms - at < NAME_TTL_MS).then(|| ((*id).to_owned(), name.clone()))
            })
            .collect()
    }

    fn remember_names(&self, cell: &Cell, learned: &HashMap<String, Option<String>>, now_ms: i64) {
        if learned.is_empty() {
            return;
        }
        let mut cells = self.lock();
        let entry = cells.entry(cell.id.clone()).or_default();
        if entry.names.len() + learned.len() > MAX_NAMES_PER_CELL {
            entry.names.clear();
        }
        for (id, name) in learned {
            entry.names.insert(id.clone(), (name.clone(), now_ms));
        }
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
    let mut names = state
        .tenant_metrics
        .cached_names(&cell.id, &ids, received_ms);
    let mut learned = HashMap::new();
    for id in ids
        .iter()
        .filter(|id| !names.contains_key(**id))
        .take(NAME_LOOKUPS_PER_PULL)
    {
        match state.cells.namespace_name(cell, id).await {
            Ok(name) => {
                learned.insert((*id).to_owned(), name);
            }
            Err(e) => {
                tracing::debug!(error = %e, namespace_id = %id, "resolving a namespace id failed")
            }
        }
    }
    state
        .tenant_metrics
        .remember_names(cell, &learned, received_ms);
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
