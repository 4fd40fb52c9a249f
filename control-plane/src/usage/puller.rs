//! Copies each cell's usage totals into the control plane, every
//! `usage_pull_interval` (10 s by default).
//!
//! One pull of a cell: read the durable cursor (an hour; 0 the first time),
//! page through `PullUsage` from it, and *replace* the totals held for each
//! row's (cell, cell namespace, hour, kind), one transaction per page. Only
//! once every page is stored does the cursor move to the cell's
//! `settled_before_hour_ms` (and the pull's start time get recorded, which
//! is what `incomplete` is judged by). A pull that fails half-way leaves
//! the cursor where it was: the next pull reads the same hours again and
//! replaces the same rows with the same or larger totals, so nothing is
//! counted twice and nothing is skipped.
//!
//! Every replica of the control plane runs this, unelected: a stored total
//! only ever grows (a smaller one is an older reading of the same total)
//! and the cursor only moves forward, so pulls of one cell by two replicas,
//! interleaved in any order, leave what one pull alone would have. The
//! cost is that each cell answers every replica's pulls.
//!
//! Cells name namespaces by the id they gave them. Creating a namespace
//! stores which id is which namespace (`api::namespaces`), so the usage of
//! one deleted before any pull is still attributed. For ids without that
//! record (namespaces created before it existed), the first time a pull
//! meets one, the cell is asked its name (the control-plane namespace id it
//! was registered under) and the pair is stored for good.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orrery_cell_api::{MAX_USAGE_PAGE, PullUsageRequest, UsageRow};
use tracing::Instrument;

use super::HOUR_MS;
use crate::app::AppState;
use crate::cell_admin::CellAdminError;
use crate::store::{Cell, StoreError, UsageTotal};

/// Pages one pull reads at most (of [`MAX_USAGE_PAGE`] rows each). A
/// backlog bigger than this is read over several pulls: each moves the
/// cursor to the last hour it stored whole.
pub const MAX_PAGES_PER_PULL: u32 = 1000;
/// Cell namespace ids one pull asks the cell to name at most; the rest are
/// asked on later pulls (their rows are stored meanwhile and show up once
/// named).
pub const MAX_RESOLUTIONS_PER_PULL: usize = 100;
/// An id the cell could not name, or whose name is no control-plane
/// namespace of that cell, is asked again after this long.
const UNRESOLVED_RETRY: Duration = Duration::from_secs(600);
/// Unresolved ids remembered at most (then forgotten all at once).
const UNRESOLVED_MAX: usize = 100_000;
const MAX_KIND_LEN: usize = 128;
const MAX_NAMESPACE_ID_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Cell(#[from] CellAdminError),
    #[error("storing usage: {0}")]
    Store(#[from] StoreError),
    #[error("cell {cell} sent an invalid usage row: {why}")]
    InvalidRow { cell: String, why: String },
    #[error("cell {0} changed settled_before_hour_ms between pages of one pull")]
    InconsistentSettled(String),
    #[error(
        "cell {cell}: a pull from hour {from_hour_ms} did not end within {MAX_PAGES_PER_PULL} pages"
    )]
    TooManyPages { cell: String, from_hour_ms: i64 },
}

/// What one whole pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub rows: usize,
    pub pages: u32,
    pub from_hour_ms: i64,
    pub next_from_hour_ms: i64,
}

/// The puller's memory between rounds: ids the cells could not name.
#[derive(Clone, Default)]
pub struct Puller {
    unresolved: Arc<Mutex<HashMap<(String, String), Instant>>>,
    /// Rows per page asked for (0 = the cell's cap).
    pub page_size: u32,
    /// Pages one pull reads at most (0 = [`MAX_PAGES_PER_PULL`]).
    pub max_pages: u32,
}

impl Puller {
    /// Pulls every cell, each in a task of its own (a slow cell delays no
    /// other); errors are logged and the cell is tried again next round.
    pub async fn pull_all(&self, state: &AppState) {
        let cells = match state.store.cell_loads().await {
            Ok(loads) => loads.into_iter().map(|l| l.cell),
            Err(err) => {
                tracing::error!(error = %err, "usage pull: listing cells");
                return;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for cell in cells {
            let (puller, state) = (self.clone(), state.clone());
            let span = tracing::info_span!("usage_pull", cell = %cell.name);
            tasks.spawn(
                async move {
                    match puller.pull_cell(&state, &cell).await {
                        Ok(p) => {
                            crate::metrics::background_run("usage_pull", true);
                            tracing::debug!(rows = p.rows, pages = p.pages, "usage pulled")
                        }
                        Err(err) => {
                            crate::metrics::background_run("usage_pull", false);
                            tracing::warn!(error = %err, "usage pull failed; retried next round")
                        }
                    }
                }
                .instrument(span),
            );
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(err) = joined {
                tracing::error!(error = %err, "a usage pull task failed");
            }
        }
    }

    /// One whole pull of one cell (see the module's doc).
    pub async fn pull_cell(&self, state: &AppState, cell: &Cell) -> Result<Pulled, PullError> {
        let started_ms = chrono::Utc::now().timestamp_millis();
        let cursor = state.store.usage_cursor(&cell.id).await?;
        let from_hour_ms = cursor.as_ref().map_or(0, |c| c.from_hour_ms);
        let last_whole_pull_ms = cursor.as_ref().map_or(0, |c| c.last_pull_started_ms);
        let mut mapped: HashSet<String> = state
            .store
            .mapped_usage_namespaces(&cell.id)
            .await?
            .into_iter()
            .collect();
        let mut resolutions = 0;
        let mut page_token = Vec::new();
        let mut settled = None;
        let mut rows = 0;
        let mut last_hour_ms = from_hour_ms;
        let max_pages = match self.max_pages {
            0 => MAX_PAGES_PER_PULL,
            n => n.min(MAX_PAGES_PER_PULL),
        };
        for page in 1..=max_pages {
            let answer = state
                .cells
                .pull_usage(
                    cell,
                    PullUsageRequest {
                        from_hour_ms,
                        page_token: std::mem::take(&mut page_token),
                        page_size: self.page_size.min(MAX_USAGE_PAGE),
                    },
                )
                .await?;
            if *settled.get_or_insert(answer.settled_before_hour_ms)
                != answer.settled_before_hour_ms
            {
                return Err(PullError::InconsistentSettled(cell.name.clone()));
            }
            let totals = answer
                .rows
                .into_iter()
                .map(|row| valid_row(cell, from_hour_ms, row))
                .collect::<Result<Vec<_>, _>>()?;
            for id in totals.iter().map(|t| &t.cell_namespace_id) {
                if mapped.contains(id) || resolutions >= MAX_RESOLUTIONS_PER_PULL {
                    continue;
                }
                if self.skip_unresolved(&cell.id, id) {
                    continue;
                }
                resolutions += 1;
                if self.resolve(state, cell, id).await? {
                    mapped.insert(id.clone());
                }
            }
            state.store.replace_usage(&cell.id, &totals).await?;
            rows += totals.len();
            if let Some(last) = totals.last() {
                last_hour_ms = last.hour_ms;
            }
            if answer.next_page_token.is_empty() {
                let next = settled.unwrap_or(from_hour_ms);
                if next < 0 || next % HOUR_MS != 0 {
                    return Err(PullError::InvalidRow {
                        cell: cell.name.clone(),
                        why: format!("settled_before_hour_ms {next} is not an hour's start"),
                    });
                }
                // Every page is stored: only now may the cursor move.
                state
                    .store
                    .finish_usage_pull(&cell.id, next, started_ms)
                    .await?;
                return Ok(Pulled {
                    rows,
                    pages: page,
                    from_hour_ms,
                    next_from_hour_ms: next,
                });
            }
            page_token = answer.next_page_token;
        }
        // A backlog longer than one pull (a long outage, an old cell
        // attached): rows come in hour order, so every hour before the last
        // row's is stored whole. Moving the cursor there (not past what the
        // cell calls settled) lets the next pull continue instead of
        // starting over forever; the pull is not whole, so the time of the
        // last whole one stays and `incomplete` still says so.
        let resume = last_hour_ms.min(settled.unwrap_or(from_hour_ms));
        if resume > from_hour_ms {
            state
                .store
                .finish_usage_pull(&cell.id, resume, last_whole_pull_ms)
                .await?;
        }
        Err(PullError::TooManyPages {
            cell: cell.name.clone(),
            from_hour_ms,
        })
    }

    fn skip_unresolved(&self, cell_id: &str, id: &str) -> bool {
        let unresolved = self.unresolved.lock().unwrap_or_else(|e| e.into_inner());
        unresolved
            .get(&(cell_id.to_owned(), id.to_owned()))
            .is_some_and(|at| at.elapsed() < UNRESOLVED_RETRY)
    }

    /// Asks the cell which namespace `id` is and records it; false if it is
    /// none of this cell's control-plane namespaces (remembered for a while).
    async fn resolve(&self, state: &AppState, cell: &Cell, id: &str) -> Result<bool, PullError> {
        let name = state.cells.namespace_name(cell, id).await?;
        let mapped = match &name {
            Some(name) => state.store.map_usage_namespace(&cell.id, id, name).await?,
            None => false,
        };
        if !mapped {
            tracing::warn!(
                cell_namespace_id = %id,
                name = name.as_deref().unwrap_or(""),
                "usage of a cell namespace that is no control-plane namespace of this cell: kept, not attributed"
            );
            let mut unresolved = self.unresolved.lock().unwrap_or_else(|e| e.into_inner());
            if unresolved.len() >= UNRESOLVED_MAX {
                unresolved.clear();
            }
            unresolved.insert((cell.id.clone(), id.to_owned()), Instant::now());
        }
        Ok(mapped)
    }
}

fn valid_row(cell: &Cell, from_hour_ms: i64, row: UsageRow) -> Result<UsageTotal, PullError> {
    let why = if row.hour_ms % HOUR_MS != 0 {
        Some(format!("hour_ms {} is not an hour's start", row.hour_ms))
    } else if row.hour_ms < from_hour_ms {
        Some(format!(
            "hour_ms {} is before the pull's from_hour_ms {from_hour_ms}",
            row.hour_ms
        ))
    } else if row.total < 0 {
        Some(format!("negative total {}", row.total))
    } else if row.kind.is_empty() || row.kind.len() > MAX_KIND_LEN {
        Some(format!("kind of {} bytes", row.kind.len()))
    } else if row.namespace_id.is_empty() || row.namespace_id.len() > MAX_NAMESPACE_ID_LEN {
        Some(format!("namespace_id of {} bytes", row.namespace_id.len()))
    } else {
        None
    };
    match why {
        Some(why) => Err(PullError::InvalidRow {
            cell: cell.name.clone(),
            why,
        }),
        None => Ok(UsageTotal {
            cell_namespace_id: row.namespace_id,
            hour_ms: row.hour_ms,
            kind: row.kind,
            total: row.total,
        }),
    }
}

/// Pulls every `interval` until the process ends; started with the
/// control plane.
pub async fn run(state: AppState, interval: Duration) {
    let puller = Puller::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        puller
            .pull_all(&state)
            .instrument(tracing::info_span!("usage_puller"))
            .await;
    }
}
