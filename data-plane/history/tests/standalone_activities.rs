//! Standalone activities live in their namespace's activity keyspace but
//! are dispatched to, and billed to, the namespace itself.
use std::sync::{Arc, Mutex};

use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{HistoryConfig, HistoryEngine};
use orrery_persistence::{CellStore, SqliteStore};
use orrery_proto::api::common::v1::ActivityType;
use orrery_proto::api::taskqueue::v1::TaskQueue;
use orrery_proto::api::workflowservice::v1::StartActivityExecutionRequest;

#[derive(Default)]
struct Collect(Mutex<Vec<QueueTask>>);

impl TaskSink for Collect {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        self.0.lock().unwrap().extend(tasks);
    }
}

#[tokio::test]
async fn dispatched_and_billed_to_the_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let sink = Arc::new(Collect::default());
    let engine = HistoryEngine::start(
        store.clone(),
        sink.clone(),
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 4,
            owner: "a".into(),
            limits: Default::default(),
            policies: Arc::new(orrery_history::ClosePolicy {
                retention_ms: 86_400_000,
                ..Default::default()
            }),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap();
    let request = StartActivityExecutionRequest {
        namespace: "ns".into(),
        activity_id: "act".into(),
        activity_type: Some(ActivityType { name: "A".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        start_to_close_timeout: Some(prost_wkt_types::Duration {
            seconds: 5,
            nanos: 0,
        }),
        request_id: "r1".into(),
        ..Default::default()
    };
    let (run_id, started) = engine
        .start_activity_execution("ns-id", "ns", &request)
        .await
        .unwrap();
    assert!(started);
    // The same request again is the same activity.
    let again = engine
        .start_activity_execution("ns-id", "ns", &request)
        .await
        .unwrap();
    assert_eq!(again.0, run_id);

    let tasks = sink.0.lock().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].namespace_id, "ns-id");
    assert_eq!(tasks[0].workflow_id, "act");
    assert!(tasks[0].standalone_activity);

    // Scheduling is free; the attempt that starts is the Action, billed to
    // the namespace, not to the activity keyspace.
    assert!(store.usage("ns-id", 0).await.unwrap().is_empty());
    engine
        .record_activity_task_started(&tasks[0], "ns", "worker", "poll-1")
        .await
        .unwrap();
    let usage = store.usage("ns-id", 0).await.unwrap();
    assert_eq!(usage, [("activity_started".to_string(), 1)], "{usage:?}");
    assert!(store.usage("ns-id/activities", 0).await.unwrap().is_empty());
    // Its id does not name a workflow.
    assert!(
        engine
            .describe_workflow(
                "ns-id",
                &orrery_proto::api::common::v1::WorkflowExecution {
                    workflow_id: "act".into(),
                    run_id: String::new(),
                },
            )
            .await
            .is_err()
    );
}
