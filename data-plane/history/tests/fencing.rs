//! Two engines on one database: the one that took the shards last writes;
//! the other is fenced off and writes nothing.
mod common;
use common::spec;
use std::sync::{Arc, Mutex};

use orrery_core::CellError;
use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{HistoryConfig, HistoryEngine, StartSignal};
use orrery_persistence::{CellStore, SqliteStore};
use orrery_proto::api::common::v1::WorkflowExecution;

/// Collects what history hands to matching after each commit.
#[derive(Default)]
struct Collect(Mutex<Vec<QueueTask>>);

impl TaskSink for Collect {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        self.0.lock().unwrap().extend(tasks);
    }
}

async fn engine(store: Arc<dyn CellStore>, sink: Arc<Collect>, owner: &str) -> Arc<HistoryEngine> {
    HistoryEngine::start(
        store,
        sink,
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 4,
            owner: owner.into(),
            limits: Default::default(),
            policies: Arc::new(orrery_history::ClosePolicy {
                retention_ms: 86_400_000,
                ..Default::default()
            }),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap()
}

fn signal(name: &str) -> StartSignal {
    StartSignal {
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_new_owner_fences_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let sink_a = Arc::new(Collect::default());
    let a = engine(store.clone(), sink_a.clone(), "a").await;
    let started = a.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    assert!(started.started);
    // The first workflow task went to matching after the commit.
    assert_eq!(sink_a.0.lock().unwrap().len(), 1);

    let b = engine(store.clone(), Arc::new(Collect::default()), "b").await;
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    let fenced = a.signal_workflow("ns-id", &exec, signal("from-a")).await;
    assert!(
        matches!(fenced, Err(CellError::ShardOwnershipLost(_))),
        "{fenced:?}"
    );
    b.signal_workflow("ns-id", &exec, signal("from-b"))
        .await
        .unwrap();

    // History holds b's signal and nothing of a's.
    let state = b.snapshot("ns-id", "wf", "").await.unwrap();
    assert_eq!(state.signal_count, 1);
    let described = b.describe_workflow("ns-id", &exec).await.unwrap();
    let info = described.workflow_execution_info.unwrap();
    assert_eq!(info.history_length, 3);
    // Each commit of the run is a state transition: start, then the signal.
    assert_eq!(info.state_transition_count, 2);
    let config = described.execution_config.unwrap();
    assert!(
        config.workflow_run_timeout.is_none(),
        "no run timeout: unset"
    );
}

#[tokio::test]
async fn duplicate_start_is_refused_with_the_running_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let e = engine(store, Arc::new(Collect::default()), "a").await;
    let first = e.start_workflow(spec("dup"), 0, 0, None).await.unwrap();
    match e.start_workflow(spec("dup"), 0, 0, None).await {
        Err(CellError::WorkflowAlreadyStarted { run_id, .. }) => assert_eq!(run_id, first.run_id),
        other => panic!(
            "expected WorkflowAlreadyStarted, got {:?}",
            other.map(|o| o.run_id)
        ),
    }
}

async fn member(store: Arc<dyn CellStore>, owner: &str) -> Arc<HistoryEngine> {
    HistoryEngine::start_member(
        store,
        Arc::new(Collect::default()),
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 4,
            owner: owner.into(),
            limits: Default::default(),
            policies: Arc::new(orrery_history::ClosePolicy {
                retention_ms: 86_400_000,
                ..Default::default()
            }),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap()
}

/// Members of one cell: a member owns only the shards it acquired; a
/// shard taken by another member is dropped at the first fenced commit,
/// and is served by the new owner, which reads what the old one wrote.
#[tokio::test]
async fn shards_move_between_members() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let a = member(store.clone(), "a").await;
    let b = member(store.clone(), "b").await;
    assert!(a.owned_shards().is_empty());
    let shard = a.shard_of("ns-id", "wf");
    // Nobody owns the shard yet: a retryable refusal, nothing written.
    let refused = a
        .start_workflow(spec("wf"), 0, 0, None)
        .await
        .map(|o| o.run_id);
    assert!(
        matches!(refused, Err(CellError::ShardOwnershipLost(s)) if s == shard),
        "{refused:?}"
    );
    assert!(
        store
            .execution(shard, "ns-id", "wf", "x")
            .await
            .unwrap()
            .is_none()
    );

    a.acquire_shard(shard).await.unwrap();
    let started = a.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    // b takes the shard over: a's next write is fenced and a lets go of it.
    b.acquire_shard(shard).await.unwrap();
    let fenced = a.signal_workflow("ns-id", &exec, signal("from-a")).await;
    assert!(
        matches!(fenced, Err(CellError::ShardOwnershipLost(_))),
        "{fenced:?}"
    );
    assert!(a.owned_shards().iter().all(|(s, _)| *s != shard));
    // A later call on a is refused before it loads anything.
    let again = a.signal_workflow("ns-id", &exec, signal("again")).await;
    assert!(
        matches!(again, Err(CellError::ShardOwnershipLost(_))),
        "{again:?}"
    );
    b.signal_workflow("ns-id", &exec, signal("from-b"))
        .await
        .unwrap();
    assert_eq!(b.snapshot("ns-id", "wf", "").await.unwrap().signal_count, 1);

    // Released, it is free for the next acquirer, whose range is higher.
    let held = b.owned_shards();
    b.release_shard(shard).await.unwrap();
    assert!(b.owned_shards().is_empty());
    let row = store
        .shard_owners()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.shard_id == shard)
        .unwrap();
    assert_eq!(row.owner, "");
    let range = a.acquire_shard(shard).await.unwrap();
    assert!(range > held[0].1);
    a.signal_workflow("ns-id", &exec, signal("back-on-a"))
        .await
        .unwrap();
    assert_eq!(a.snapshot("ns-id", "wf", "").await.unwrap().signal_count, 2);
    assert!(a.acquire_shard(99).await.is_err());
}

/// A history long poll waiting on a member whose shard moves away ends at
/// once (an empty page to continue from), instead of waiting out its
/// deadline for commits that now happen on the new owner.
#[tokio::test]
async fn long_polls_end_when_their_shard_moves() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn CellStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let a = member(store.clone(), "a").await;
    let shard = a.shard_of("ns-id", "wf");
    a.acquire_shard(shard).await.unwrap();
    let started = a.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    // Past the start's events: a poll that waits for the next one.
    let first = a
        .read_history(
            "ns-id",
            &exec,
            orrery_history::HistoryQuery {
                page_size: 100,
                token: &[],
                wait_new_event: true,
                close_only: false,
                max_wait: std::time::Duration::from_secs(1),
            },
        )
        .await
        .unwrap();
    let seen = first.history.events.len();
    assert!(seen >= 2);
    let poller = a.clone();
    let poll_exec = exec.clone();
    let token = first.next_page_token.clone();
    let began = std::time::Instant::now();
    let poll = tokio::spawn(async move {
        poller
            .read_history(
                "ns-id",
                &poll_exec,
                orrery_history::HistoryQuery {
                    page_size: 100,
                    token: &token,
                    wait_new_event: true,
                    close_only: false,
                    max_wait: std::time::Duration::from_secs(30),
                },
            )
            .await
            .map(|read| read.history.events.len())
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!poll.is_finished(), "the poll should wait for a new event");
    a.release_shard(shard).await.unwrap();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), poll)
        .await
        .expect("the poll ended when its shard left")
        .unwrap()
        .unwrap();
    assert_eq!(answered, 0, "nothing new was written");
    assert!(began.elapsed() < std::time::Duration::from_secs(10));
}
