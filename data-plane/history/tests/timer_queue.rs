//! The timer queue under a burst: many timers due at once all fire, promptly.
//! A version that left fires unpolled while it read the queue deadlocked the
//! SQLite read pool (4 connections) this way, and nothing fired for the
//! pool's 30 s acquire timeout.
mod common;
use common::spec;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{ClosePolicy, HistoryConfig, HistoryEngine};
use orrery_persistence::{CellStore, SqliteStore};

/// Counts the tasks handed to matching: here, the first workflow tasks the
/// start timers schedule.
#[derive(Default)]
struct Count(AtomicUsize);
impl TaskSink for Count {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        self.0.fetch_add(tasks.len(), Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_due_timers_all_fire_within_seconds() {
    const RUNS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let scheduled = Arc::new(Count::default());
    let engine = HistoryEngine::start(
        store,
        scheduled.clone(),
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 4,
            owner: "a".into(),
            limits: Default::default(),
            policies: Arc::new(ClosePolicy::default()),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap();
    orrery_history::processors::spawn(engine.clone());
    // Every run starts after a 1 s backoff: its first workflow task waits
    // on a timer, and all of them come due together.
    let starts = (0..RUNS).map(|i| {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut run = spec(&format!("wf-{i}"));
            run.backoff_ms = 1000;
            engine.start_workflow(run, 0, 0, None).await.unwrap();
        })
    });
    futures::future::join_all(starts).await;
    assert_eq!(
        scheduled.0.load(Ordering::Relaxed),
        0,
        "no task before the backoff"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while scheduled.0.load(Ordering::Relaxed) < RUNS {
        assert!(
            Instant::now() < deadline,
            "only {} of {RUNS} start timers fired within 15 s",
            scheduled.0.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
