//! What the history integration tests share.
use orrery_history::RunSpec;

/// A start of workflow type `T` on task queue `q` in namespace `ns`.
pub fn spec(workflow_id: &str) -> RunSpec {
    RunSpec {
        namespace_id: "ns-id".into(),
        namespace: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: uuid::Uuid::new_v4().to_string(),
        workflow_type: "T".into(),
        task_queue: "q".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        attempt: 1,
        ..Default::default()
    }
}
