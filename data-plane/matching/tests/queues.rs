//! Matching against a real (SQLite) store: hand-over, backlog reload after a
//! restart, leases that put tasks back, queries, shutdown.
use std::sync::Arc;
use std::time::Duration;

use orrery_core::matching::{QueueTask, TASK_KIND_ACTIVITY, TASK_KIND_WORKFLOW, TaskSink};
use orrery_matching::{Matching, Polled, QueryTask};
use orrery_persistence::{CellStore, QueueRow, SqliteStore, Transaction};
use prost::Message;

async fn store() -> (Arc<dyn CellStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db", dir.path().display());
    (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
}

fn task(id: i64) -> QueueTask {
    QueueTask {
        namespace_id: "ns".into(),
        task_queue: "q".into(),
        kind: TASK_KIND_ACTIVITY,
        task_id: id,
        workflow_id: format!("wf{id}"),
        ..Default::default()
    }
}

/// Stores tasks the way history does: in a committed transaction.
async fn persist(store: &Arc<dyn CellStore>, tasks: &[QueueTask]) {
    let range = store.acquire_shard(1, "test").await.unwrap();
    let tx = Transaction {
        shard_id: 1,
        range_id: range,
        queue_tasks: tasks
            .iter()
            .map(|t| QueueRow {
                namespace_id: t.namespace_id.clone(),
                task_queue: t.task_queue.clone(),
                kind: t.kind,
                task_id: t.task_id,
                data: t.encode_to_vec(),
            })
            .collect(),
        ..Default::default()
    };
    store.commit(&tx).await.unwrap();
}

async fn poll_task(m: &Arc<Matching>, wait: Duration) -> Option<orrery_matching::TaskLease> {
    match m
        .poll("ns", "q", TASK_KIND_ACTIVITY, "me", wait)
        .await
        .unwrap()
    {
        Some(Polled::Task(lease)) => Some(lease),
        Some(Polled::Query(_)) => panic!("unexpected query"),
        None => None,
    }
}

#[tokio::test]
async fn waiting_poller_gets_a_new_task_at_once() {
    let (s, _d) = store().await;
    let m = Matching::new(s.clone());
    let poller = {
        let m = m.clone();
        tokio::spawn(async move { poll_task(&m, Duration::from_secs(10)).await })
    };
    // Give the poll time to park, then add.
    tokio::time::sleep(Duration::from_millis(50)).await;
    m.tasks_added(vec![task(7)]);
    let lease = tokio::time::timeout(Duration::from_secs(2), poller)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(lease.task().task_id, 7);
    lease.done();
}

#[tokio::test]
async fn poll_expires_empty_and_tasks_come_in_id_order() {
    let (s, _d) = store().await;
    let m = Matching::new(s.clone());
    assert!(poll_task(&m, Duration::from_millis(50)).await.is_none());
    m.tasks_added(vec![task(9), task(3), task(5)]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let lease = poll_task(&m, Duration::from_millis(50)).await.unwrap();
        ids.push(lease.task().task_id);
        lease.done();
    }
    assert_eq!(ids, [3, 5, 9]);
}

#[tokio::test]
async fn stored_backlog_survives_a_restart_until_started() {
    let (s, _d) = store().await;
    persist(&s, &[task(1), task(2)]).await;
    // A fresh matching (a restarted process) finds the stored tasks.
    let m = Matching::new(s.clone());
    let first = poll_task(&m, Duration::from_millis(100)).await.unwrap();
    assert_eq!(first.task().task_id, 1);
    first.done();
    // done() deletes the stored copy in the background.
    for _ in 0..50 {
        if s.queue_tasks("ns", "q", TASK_KIND_ACTIVITY, 10)
            .await
            .unwrap()
            .len()
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        s.queue_tasks("ns", "q", TASK_KIND_ACTIVITY, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let again = Matching::new(s.clone());
    let second = poll_task(&again, Duration::from_millis(100)).await.unwrap();
    assert_eq!(second.task().task_id, 2);
}

#[tokio::test]
async fn a_dropped_lease_puts_its_task_back() {
    let (s, _d) = store().await;
    let m = Matching::new(s.clone());
    m.tasks_added(vec![task(4)]);
    let lease = poll_task(&m, Duration::from_millis(50)).await.unwrap();
    drop(lease);
    let again = poll_task(&m, Duration::from_millis(50)).await.unwrap();
    assert_eq!(again.task().task_id, 4);
}

#[tokio::test]
async fn queries_reach_workflow_pollers_and_answers_come_back() {
    let (s, _d) = store().await;
    let m = Matching::new(s.clone());
    let asker = {
        let m = m.clone();
        tokio::spawn(async move {
            let q = QueryTask {
                id: "q1".into(),
                namespace_id: "ns".into(),
                workflow_id: "wf".into(),
                run_id: "run".into(),
                query: Default::default(),
            };
            m.query("wq", q, Duration::from_secs(5)).await
        })
    };
    let polled = m
        .poll("ns", "wq", TASK_KIND_WORKFLOW, "w", Duration::from_secs(2))
        .await
        .unwrap();
    let Some(Polled::Query(q)) = polled else {
        panic!("expected a query")
    };
    assert!(m.answer_query(&q.id, Err("boom".into())));
    assert_eq!(asker.await.unwrap().unwrap(), Err("boom".to_string()));
    assert!(!m.answer_query("q1", Ok(None)), "an answered query is gone");
}

#[tokio::test]
async fn shutdown_ends_parked_polls() {
    let (s, _d) = store().await;
    let m = Matching::new(s.clone());
    let poller = {
        let m = m.clone();
        tokio::spawn(async move { poll_task(&m, Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    m.shutdown();
    let polled = tokio::time::timeout(Duration::from_secs(2), poller)
        .await
        .unwrap()
        .unwrap();
    assert!(polled.is_none());
    assert!(poll_task(&m, Duration::from_secs(30)).await.is_none());
}

#[tokio::test]
async fn idle_queues_are_dropped_from_memory_and_their_backlog_survives() {
    let (s, _d) = store().await;
    let m = Matching::new(s.clone());
    // A queue with a waiting task is never idle.
    persist(&s, &[task(4)]).await;
    m.tasks_added(vec![task(4)]);
    assert_eq!(m.prune_idle(Duration::ZERO), 0);
    let lease = poll_task(&m, Duration::from_millis(50)).await.unwrap();
    lease.done();
    // Emptied and untouched for long enough: dropped; recently used: kept.
    assert_eq!(m.prune_idle(Duration::from_secs(3600)), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(m.prune_idle(Duration::from_millis(10)), 1);
    assert_eq!(m.queues_in_memory(), 0);
    // A task stored while the queue was out of memory is found by the next poll.
    persist(&s, &[task(8)]).await;
    let lease = poll_task(&m, Duration::from_millis(200)).await.unwrap();
    assert_eq!(lease.task().task_id, 8);
    lease.done();
}

#[tokio::test]
async fn an_identity_longer_than_the_id_limit_is_refused_as_temporal_does() {
    let (store, _dir) = store().await;
    let m = Matching::new(store);
    let long = "w".repeat(orrery_core::limits::MAX_ID_LENGTH + 1);
    let refused = m
        .poll("ns", "q", TASK_KIND_ACTIVITY, &long, Duration::ZERO)
        .await;
    match refused {
        Err(orrery_core::CellError::InvalidArgument(message)) => {
            assert_eq!(message, "Identity length exceeds limit.")
        }
        _ => panic!("a too-long identity was not refused"),
    }
    assert!(m.pollers("ns", "q", TASK_KIND_ACTIVITY).is_empty());
    let longest = "w".repeat(orrery_core::limits::MAX_ID_LENGTH);
    m.poll("ns", "q", TASK_KIND_ACTIVITY, &longest, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(m.pollers("ns", "q", TASK_KIND_ACTIVITY).len(), 1);
}
