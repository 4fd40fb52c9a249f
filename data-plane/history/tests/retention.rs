//! A closed run is archived where its namespace says, then deleted when
//! retention ends; an archive that cannot be written delays the deletion
//! and loses nothing.
mod common;
use common::spec;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{ClosePolicy, HistoryConfig, HistoryEngine};
use orrery_persistence::{CellStore, SqliteStore};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::EventType;

struct Drop;
impl TaskSink for Drop {
    fn tasks_added(&self, _: Vec<QueueTask>) {}
}

async fn engine(
    store: Arc<dyn CellStore>,
    policy: ClosePolicy,
) -> (Arc<HistoryEngine>, Arc<orrery_archival::Archives>) {
    let archives = Arc::new(orrery_archival::Archives::new(Default::default()));
    let engine = HistoryEngine::start(
        store,
        Arc::new(Drop),
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 2,
            owner: "a".into(),
            limits: Default::default(),
            policies: Arc::new(policy),
            archives: archives.clone(),
        },
    )
    .await
    .unwrap();
    orrery_history::processors::spawn(engine.clone());
    (engine, archives)
}

async fn start_and_terminate(engine: &HistoryEngine, workflow_id: &str) -> WorkflowExecution {
    let started = engine
        .start_workflow(spec(workflow_id), 0, 0, None)
        .await
        .unwrap();
    let exec = WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: started.run_id,
    };
    engine
        .terminate_workflow("ns-id", &exec, "", "done", None, "test")
        .await
        .unwrap();
    exec
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn archived_then_deleted_after_retention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let uri = format!("file://{}/archive", dir.path().display());
    let policy = ClosePolicy {
        retention_ms: 1500,
        history_archival_uri: Some(uri.clone()),
        visibility_archival_uri: Some(uri.clone()),
    };
    let (engine, archives) = engine(store.clone(), policy).await;
    let exec = start_and_terminate(&engine, "wf").await;
    let closed_at = Instant::now();

    eventually("the history is archived", async || {
        archives
            .history(&uri, "ns-id", "wf", &exec.run_id)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let history = archives
        .history(&uri, "ns-id", "wf", &exec.run_id)
        .await
        .unwrap()
        .unwrap();
    let types: Vec<i32> = history.events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types.first(),
        Some(&(EventType::WorkflowExecutionStarted as i32))
    );
    assert_eq!(
        types.last(),
        Some(&(EventType::WorkflowExecutionTerminated as i32))
    );
    let records = archives
        .visibility_records(&uri, "ns-id", Some("wf"))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].execution.as_ref().unwrap().run_id, exec.run_id);
    // Archived, but retained until retention ends.
    assert!(engine.snapshot("ns-id", "wf", &exec.run_id).await.is_ok());

    eventually("the run is deleted", async || {
        engine.snapshot("ns-id", "wf", &exec.run_id).await.is_err()
    })
    .await;
    assert!(closed_at.elapsed() >= Duration::from_millis(1400));
    assert!(
        store
            .events("ns-id", &exec.run_id, 1, 100, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // The archive outlives the run.
    assert!(
        archives
            .history(&uri, "ns-id", "wf", &exec.run_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_unwritable_archive_delays_deletion_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    // A plain file where the archive directory should be: every upload fails.
    let blocked = dir.path().join("archive");
    std::fs::write(&blocked, b"not a directory").unwrap();
    let uri = format!("file://{}", blocked.display());
    let policy = ClosePolicy {
        retention_ms: 200,
        history_archival_uri: Some(uri.clone()),
        visibility_archival_uri: None,
    };
    let (engine, archives) = engine(store.clone(), policy).await;
    let exec = start_and_terminate(&engine, "wf").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Retention passed long ago, but the run was never archived: it stays.
    assert!(engine.snapshot("ns-id", "wf", &exec.run_id).await.is_ok());
    // Other workflows are not held up meanwhile.
    start_and_terminate(&engine, "other").await;

    // The archive comes back; the retried upload lands, then the deletion.
    std::fs::remove_file(&blocked).unwrap();
    eventually("the history is archived after the outage", async || {
        archives
            .history(&uri, "ns-id", "wf", &exec.run_id)
            .await
            .is_ok_and(|h| h.is_some())
    })
    .await;
    eventually("the run is deleted", async || {
        engine.snapshot("ns-id", "wf", &exec.run_id).await.is_err()
    })
    .await;
}

#[tokio::test]
async fn without_archival_a_run_is_deleted_when_retention_ends() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let policy = ClosePolicy {
        retention_ms: 1000,
        ..Default::default()
    };
    let (engine, _) = engine(store.clone(), policy).await;
    let exec = start_and_terminate(&engine, "wf").await;
    let running = engine
        .start_workflow(spec("still-running"), 0, 0, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(engine.snapshot("ns-id", "wf", &exec.run_id).await.is_ok());
    eventually("the run is deleted", async || {
        engine.snapshot("ns-id", "wf", &exec.run_id).await.is_err()
    })
    .await;
    // A running workflow is never touched.
    assert!(
        engine
            .snapshot("ns-id", "still-running", &running.run_id)
            .await
            .is_ok()
    );
}
