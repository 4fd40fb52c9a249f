//! Storage metering through the engine: each second is billed once however
//! many processes sample it and whatever interval each one uses (across a
//! restart that changes it, or mixed on one database), a run's bytes are
//! active while it is
//! open, retained once it closes, and gone once retention deletes it;
//! standalone activities are billed to their namespace.
mod common;
use common::{on_both, spec};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_cell_api::{ACTIVE_STORAGE_BYTE_SECONDS, RETAINED_STORAGE_BYTE_SECONDS};
use orrery_core::dynamic_config::DynamicConfig;
use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{ClosePolicy, HistoryConfig, HistoryEngine, HistoryLimits};
use orrery_persistence::{CellStore, UsageTotal};
use orrery_proto::api::common::v1::WorkflowExecution;

struct Drop;
impl TaskSink for Drop {
    fn tasks_added(&self, _: Vec<QueueTask>) {}
}

const INTERVAL_SECS: i64 = 60;

async fn engine(store: Arc<dyn CellStore>, owner: &str, retention_ms: i64) -> Arc<HistoryEngine> {
    engine_sampling_every(store, owner, retention_ms, INTERVAL_SECS).await
}

async fn engine_sampling_every(
    store: Arc<dyn CellStore>,
    owner: &str,
    retention_ms: i64,
    interval_secs: i64,
) -> Arc<HistoryEngine> {
    let dc = DynamicConfig::parse([format!(
        "{}={interval_secs}",
        orrery_history::STORAGE_SAMPLE_INTERVAL_KEY
    )
    .as_str()])
    .unwrap();
    HistoryEngine::start(
        store,
        Arc::new(Drop),
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 2,
            owner: owner.into(),
            limits: HistoryLimits::from_dynamic_config(&dc),
            policies: Arc::new(ClosePolicy {
                retention_ms,
                ..Default::default()
            }),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap()
}

/// The storage totals billed to `namespace_id` for the hour of `slot_ms`:
/// (active, retained) byte-seconds.
async fn billed(store: &Arc<dyn CellStore>, namespace_id: &str, slot_ms: i64) -> (i64, i64) {
    let hour_ms = slot_ms / 3_600_000 * 3_600_000;
    let rows: Vec<UsageTotal> = store.usage_totals(hour_ms, None, 5000).await.unwrap();
    let of = |kind: &str| {
        rows.iter()
            .filter(|t| {
                t.key.hour_ms == hour_ms && t.key.namespace_id == namespace_id && t.key.kind == kind
            })
            .map(|t| t.total)
            .sum()
    };
    (
        of(ACTIVE_STORAGE_BYTE_SECONDS),
        of(RETAINED_STORAGE_BYTE_SECONDS),
    )
}

/// What a run really occupies: its state blob and every stored event.
async fn run_bytes(store: &Arc<dyn CellStore>, exec: &WorkflowExecution) -> i64 {
    let mut shard = None;
    for id in 1..=2 {
        if store
            .execution(id, "ns-id", &exec.workflow_id, &exec.run_id)
            .await
            .unwrap()
            .is_some()
        {
            shard = Some(id);
        }
    }
    let row = store
        .execution(shard.unwrap(), "ns-id", &exec.workflow_id, &exec.run_id)
        .await
        .unwrap()
        .unwrap();
    let events = store
        .events("ns-id", &exec.run_id, 1, i64::MAX, 10_000)
        .await
        .unwrap();
    row.state.len() as i64 + events.iter().map(|e| e.data.len() as i64).sum::<i64>()
}

/// A slot at least an hour after `now`, so its hour holds nothing else.
fn a_slot(offset_hours: i64) -> i64 {
    let now = orrery_core::time::now_millis();
    (now / 3_600_000 + offset_hours) * 3_600_000
}

async fn a_slot_is_billed_once(store: Arc<dyn CellStore>) {
    let first = engine(store.clone(), "a", 86_400_000).await;
    let started = first.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id,
    };
    let bytes = run_bytes(&store, &exec).await;
    assert!(bytes > 0);

    let slot = a_slot(2);
    assert_eq!(first.sample_storage(slot).await.unwrap(), 1);
    // Later in the same slot (a restart), and another process on the same
    // database: nothing more.
    assert_eq!(first.sample_storage(slot + 59_999).await.unwrap(), 0);
    let second = engine(store.clone(), "b", 86_400_000).await;
    assert_eq!(second.sample_storage(slot + 1).await.unwrap(), 0);
    assert_eq!(
        billed(&store, "ns-id", slot).await,
        (bytes * INTERVAL_SECS, 0)
    );

    // Both processes sampling the next slot at once: billed once.
    let next = slot + INTERVAL_SECS * 1000;
    let (x, y) = tokio::join!(first.sample_storage(next), second.sample_storage(next + 5));
    assert_eq!(x.unwrap() + y.unwrap(), 1);
    assert_eq!(
        billed(&store, "ns-id", slot).await,
        (2 * bytes * INTERVAL_SECS, 0)
    );
}

/// A run started on `engine` and what it occupies.
async fn a_run(engine: &HistoryEngine, store: &Arc<dyn CellStore>) -> i64 {
    let started = engine.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id,
    };
    let bytes = run_bytes(store, &exec).await;
    assert!(bytes > 0);
    bytes
}

async fn a_changed_interval_across_a_restart_bills_each_second_once(store: Arc<dyn CellStore>) {
    let t0 = a_slot(2);
    let before = engine_sampling_every(store.clone(), "a", 86_400_000, 300).await;
    let bytes = a_run(&before, &store).await;
    assert_eq!(before.sample_storage(t0).await.unwrap(), 1);
    before.shutdown();

    // Restarted with 60 s: its slots inside the 300 s one already billed
    // add nothing; those after it bill their own minute.
    let after = engine_sampling_every(store.clone(), "a", 86_400_000, 60).await;
    for minute in 1..=10 {
        let billed = after.sample_storage(t0 + minute * 60_000).await.unwrap();
        assert_eq!(billed, usize::from(minute >= 5), "minute {minute}");
    }
    assert_eq!(billed(&store, "ns-id", t0).await, (bytes * 660, 0));
    after.shutdown();

    // And back to 300 s in the middle of its slot [t0+10 min, t0+15 min):
    // only what the 60 s process has not billed of it.
    let again = engine_sampling_every(store.clone(), "a", 86_400_000, 300).await;
    assert_eq!(again.sample_storage(t0 + 630_000).await.unwrap(), 1);
    assert_eq!(again.sample_storage(t0 + 899_999).await.unwrap(), 0);
    assert_eq!(billed(&store, "ns-id", t0).await, (bytes * 900, 0));
    again.shutdown();
}

async fn mixed_intervals_on_one_database_bill_each_second_once(store: Arc<dyn CellStore>) {
    let t0 = a_slot(2);
    let long = engine_sampling_every(store.clone(), "a", 86_400_000, 300).await;
    // Started before the second engine takes the shards over.
    let bytes = a_run(&long, &store).await;
    let short = engine_sampling_every(store.clone(), "b", 86_400_000, 60).await;
    // Twenty minutes as both would run them: the 60 s engine at the start
    // of each minute, the 300 s one at the start of each of its slots, at
    // the same moment (racing) or a few seconds late.
    for minute in 0..20 {
        let at = t0 + minute * 60_000;
        if minute % 5 != 0 {
            short.sample_storage(at).await.unwrap();
        } else if minute % 10 == 0 {
            let (x, y) = tokio::join!(long.sample_storage(at), short.sample_storage(at));
            assert!(x.unwrap() + y.unwrap() >= 1, "minute {minute}");
        } else {
            short.sample_storage(at).await.unwrap();
            long.sample_storage(at + 7_000).await.unwrap();
        }
    }
    assert_eq!(billed(&store, "ns-id", t0).await, (bytes * 20 * 60, 0));
    // Sampled again by both at any moment of what is billed: nothing more.
    for at in [t0, t0 + 61_000, t0 + 299_999, t0 + 1_140_000] {
        assert_eq!(long.sample_storage(at).await.unwrap(), 0);
        assert_eq!(short.sample_storage(at).await.unwrap(), 0);
    }
    assert_eq!(billed(&store, "ns-id", t0).await, (bytes * 20 * 60, 0));
    long.shutdown();
    short.shutdown();
}

async fn active_moves_to_retained_then_disappears(store: Arc<dyn CellStore>) {
    let engine = engine(store.clone(), "a", 1500).await;
    orrery_history::processors::spawn(engine.clone());
    let started = engine.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id,
    };
    let open_bytes = run_bytes(&store, &exec).await;
    let open_slot = a_slot(3);
    engine.sample_storage(open_slot).await.unwrap();
    assert_eq!(
        billed(&store, "ns-id", open_slot).await,
        (open_bytes * INTERVAL_SECS, 0)
    );

    engine
        .terminate_workflow("ns-id", &exec, "", "done", None, "test")
        .await
        .unwrap();
    let closed_bytes = run_bytes(&store, &exec).await;
    assert!(closed_bytes > open_bytes, "closing adds an event");
    let closed_slot = a_slot(4);
    engine.sample_storage(closed_slot).await.unwrap();
    assert_eq!(
        billed(&store, "ns-id", closed_slot).await,
        (0, closed_bytes * INTERVAL_SECS)
    );

    // Retention ends: the run is deleted and nothing is left to bill.
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.snapshot("ns-id", "wf", &exec.run_id).await.is_ok() {
        assert!(Instant::now() < deadline, "the run was not deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone_slot = a_slot(5);
    assert_eq!(engine.sample_storage(gone_slot).await.unwrap(), 0);
    assert_eq!(billed(&store, "ns-id", gone_slot).await, (0, 0));
    engine.shutdown();
}

async fn standalone_activities_are_billed_to_their_namespace(store: Arc<dyn CellStore>) {
    use orrery_proto::api::common::v1::ActivityType;
    use orrery_proto::api::taskqueue::v1::TaskQueue;
    use orrery_proto::api::workflowservice::v1::StartActivityExecutionRequest;
    let engine = engine(store.clone(), "a", 86_400_000).await;
    engine.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
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
    engine
        .start_activity_execution("ns-id", "ns", &request)
        .await
        .unwrap();
    let stored = store.storage_by_keyspace().await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let total: i64 = stored.iter().map(|k| k.active_bytes).sum();

    let slot = a_slot(2);
    assert_eq!(engine.sample_storage(slot).await.unwrap(), 1);
    assert_eq!(
        billed(&store, "ns-id", slot).await,
        (total * INTERVAL_SECS, 0)
    );
    assert_eq!(billed(&store, "ns-id/activities", slot).await, (0, 0));
}

on_both!(
    a_slot_is_billed_once,
    a_changed_interval_across_a_restart_bills_each_second_once,
    mixed_intervals_on_one_database_bill_each_second_once,
    active_moves_to_retained_then_disappears,
    standalone_activities_are_billed_to_their_namespace,
);
