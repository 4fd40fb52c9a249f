//! One suite, run against SQLite (always) and PostgreSQL (127.0.0.1:5432, or
//! ORRERY_TEST_POSTGRES_URL). Each case gets a fresh database or schema.
use std::sync::Arc;

use orrery_core::{CellError, CellResult};
use orrery_persistence::*;

async fn sqlite() -> (Arc<dyn CellStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
}

/// A store in a schema of its own inside the test database.
async fn postgres() -> Arc<dyn CellStore> {
    Arc::new(
        PostgresStore::open_with(postgres_schema().await)
            .await
            .unwrap(),
    )
}

/// Options for a new schema of its own inside the test database.
async fn postgres_schema() -> sqlx::postgres::PgConnectOptions {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let url = std::env::var("ORRERY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required for these tests at {url} (set ORRERY_TEST_POSTGRES_URL): {e}"
        )
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())])
}

#[path = "conformance/filters.rs"]
mod filters;
use filters::*;
#[path = "conformance/usage.rs"]
mod usage;
use usage::*;
#[path = "conformance/members.rs"]
mod members;
use members::*;

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $case() { let (s, _dir) = super::sqlite().await; super::$case(s).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $case() { super::$case(super::postgres().await).await; })*
        }
    };
}

conformance!(
    metadata_is_inserted_once,
    namespaces_crud,
    shard_acquisition_fences_old_owner,
    commit_is_atomic_and_conditional,
    current_pointer_moves_only_from_expected_run,
    timers_transfers_and_queue_tasks,
    visibility_pages_newest_first_and_usage_sums,
    deleting_a_run_removes_it_everywhere,
    visibility_filters_select_the_same_runs,
    removed_search_attributes_match_nothing,
    schedules_are_conditional_and_listed,
    retention_tasks_are_a_queue_of_their_own,
    concurrent_commits_of_different_workflows_all_land,
    racing_conditional_updates_of_one_workflow_let_one_win,
    a_fenced_writer_fails_beside_current_ones,
    stored_bytes_follow_writes_close_and_deletion,
    a_storage_slot_counts_once,
    usage_pages_return_each_row_once_with_growing_totals,
    heartbeats_list_live_members_in_order,
    a_silent_member_drops_out_after_its_ttl,
    a_released_shard_has_no_owner_until_acquired,
);

async fn deleting_a_run_removes_it_everywhere(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    let mut tx = start_tx(range, "r1", 1);
    tx.visibility = vec![VisibilityRow {
        namespace_id: "ns".into(),
        run_id: "r1".into(),
        workflow_id: "wf".into(),
        workflow_type: "T".into(),
        status: 1,
        start_ms: 1,
        search_attributes: keyword("CustomKeywordField", "x"),
        ..Default::default()
    }];
    s.commit(&tx).await.unwrap();
    assert_eq!(count(&s, "ns", "CustomKeywordField = 'x'").await, 1);
    // A fenced delete changes nothing.
    assert!(matches!(
        s.delete_execution(1, range - 1, "ns", "wf", "r1").await,
        Err(CellError::ShardOwnershipLost(1))
    ));
    assert!(s.execution(1, "ns", "wf", "r1").await.unwrap().is_some());
    s.delete_execution(1, range, "ns", "wf", "r1")
        .await
        .unwrap();
    assert_eq!(s.execution(1, "ns", "wf", "r1").await.unwrap(), None);
    assert_eq!(s.current_execution(1, "ns", "wf").await.unwrap(), None);
    assert!(s.events("ns", "r1", 1, 100, 10).await.unwrap().is_empty());
    assert_eq!(count(&s, "ns", "").await, 0);
    assert_eq!(count(&s, "ns", "CustomKeywordField = 'x'").await, 0);
    // The id can start again.
    s.commit(&start_tx(range, "r2", 1)).await.unwrap();
}

async fn metadata_is_inserted_once(s: Arc<dyn CellStore>) {
    assert_eq!(s.get_or_insert("k", b"a".to_vec()).await.unwrap(), b"a");
    assert_eq!(s.get_or_insert("k", b"b".to_vec()).await.unwrap(), b"a");
}

fn ns(id: &str, name: &str) -> NamespaceRecord {
    NamespaceRecord {
        id: id.into(),
        name: name.into(),
        version: 1,
        data: vec![1, 2, 3],
    }
}

async fn namespaces_crud(s: Arc<dyn CellStore>) {
    s.create_namespace(&ns("id1", "one")).await.unwrap();
    s.create_namespace(&ns("id2", "two")).await.unwrap();
    assert!(matches!(
        s.create_namespace(&ns("id3", "one")).await,
        Err(CellError::NamespaceAlreadyExists)
    ));
    assert_eq!(
        s.namespace_by_name("one").await.unwrap(),
        Some(ns("id1", "one"))
    );
    assert_eq!(s.namespace_by_id("id2").await.unwrap().unwrap().name, "two");
    assert_eq!(s.namespace_by_name("nope").await.unwrap(), None);
    let mut updated = ns("id1", "one");
    updated.version = 2;
    updated.data = vec![9];
    s.update_namespace(&updated).await.unwrap();
    // A second writer holding version 1 loses.
    assert!(matches!(
        s.update_namespace(&updated).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(
        s.namespace_by_id("id1").await.unwrap().unwrap().data,
        vec![9]
    );
    let names = |page: Vec<NamespaceRecord>| page.into_iter().map(|n| n.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_namespaces("", 10).await.unwrap()),
        ["one", "two"]
    );
    // Pages: at most `limit` names, each page after the last name seen.
    s.create_namespace(&ns("id4", "three")).await.unwrap();
    assert_eq!(
        names(s.list_namespaces("", 2).await.unwrap()),
        ["one", "three"]
    );
    assert_eq!(names(s.list_namespaces("three", 2).await.unwrap()), ["two"]);
    assert!(s.list_namespaces("two", 2).await.unwrap().is_empty());
    s.delete_namespace("id2").await.unwrap();
    assert_eq!(s.list_namespaces("", 10).await.unwrap().len(), 2);
}

fn start_tx(range_id: i64, run: &str, status: i32) -> Transaction {
    Transaction {
        shard_id: 1,
        range_id,
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        current: Some(CurrentWrite::Set {
            run_id: run.into(),
            create_request_id: format!("req-{run}"),
            status,
            previous_run_id: None,
        }),
        executions: vec![ExecutionWrite {
            row: ExecutionRow {
                run_id: run.into(),
                db_version: 1,
                next_event_id: 3,
                state: b"state".to_vec(),
            },
            expected_db_version: None,
        }],
        events: vec![
            EventRow {
                run_id: run.into(),
                event_id: 1,
                data: b"e1".to_vec(),
            },
            EventRow {
                run_id: run.into(),
                event_id: 2,
                data: b"e2".to_vec(),
            },
        ],
        ..Default::default()
    }
}

async fn shard_acquisition_fences_old_owner(s: Arc<dyn CellStore>) {
    let first = s.acquire_shard(1, "a").await.unwrap();
    let second = s.acquire_shard(1, "b").await.unwrap();
    assert!(second > first);
    assert!(matches!(
        s.commit(&start_tx(first, "r1", 1)).await,
        Err(CellError::ShardOwnershipLost(1))
    ));
    // Nothing of the fenced transaction was written.
    assert_eq!(s.current_execution(1, "ns", "wf").await.unwrap(), None);
    s.commit(&start_tx(second, "r1", 1)).await.unwrap();
    assert!(s.current_execution(1, "ns", "wf").await.unwrap().is_some());
}

async fn commit_is_atomic_and_conditional(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    s.commit(&start_tx(range, "r1", 1)).await.unwrap();
    let row = s.execution(1, "ns", "wf", "r1").await.unwrap().unwrap();
    assert_eq!(
        (row.db_version, row.next_event_id, row.state.as_slice()),
        (1, 3, &b"state"[..])
    );
    let events = s.events("ns", "r1", 1, 100, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(s.events("ns", "r1", 2, 100, 10).await.unwrap().len(), 1);
    assert_eq!(s.events("ns", "r1", 1, 100, 1).await.unwrap().len(), 1);

    let update = |expected: i64, event_id: i64| Transaction {
        shard_id: 1,
        range_id: range,
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        executions: vec![ExecutionWrite {
            row: ExecutionRow {
                run_id: "r1".into(),
                db_version: expected + 1,
                next_event_id: event_id + 1,
                state: b"s2".to_vec(),
            },
            expected_db_version: Some(expected),
        }],
        events: vec![EventRow {
            run_id: "r1".into(),
            event_id,
            data: b"e".to_vec(),
        }],
        timers: vec![TimerRow {
            shard_id: 1,
            fire_ms: 5,
            task_id: event_id,
            data: vec![],
        }],
        usage: vec![UsageDelta {
            namespace_id: "ns".into(),
            action: "timer",
            count: 1,
        }],
        ..Default::default()
    };
    s.commit(&update(1, 3)).await.unwrap();
    // A stale version writes nothing: no event, no timer, no usage.
    assert!(matches!(
        s.commit(&update(1, 4)).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(s.events("ns", "r1", 1, 100, 10).await.unwrap().len(), 3);
    assert_eq!(
        s.due_timers(TimerQueue::Timers, &[1], 10, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.usage("ns", 0).await.unwrap(),
        vec![("timer".to_string(), 1)]
    );
    // A duplicate event id is a conflict too.
    let mut dup = update(2, 3);
    dup.timers.clear();
    assert!(matches!(
        s.commit(&dup).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(
        s.execution(1, "ns", "wf", "r1")
            .await
            .unwrap()
            .unwrap()
            .db_version,
        2
    );
}

async fn current_pointer_moves_only_from_expected_run(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    s.commit(&start_tx(range, "r1", 1)).await.unwrap();
    // A second "first" run of the same id is refused.
    assert!(matches!(
        s.commit(&start_tx(range, "r2", 1)).await,
        Err(CellError::ConditionFailed)
    ));
    let status = |run: &str| Transaction {
        shard_id: 1,
        range_id: range,
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        current: Some(CurrentWrite::Status {
            run_id: run.into(),
            status: 2,
        }),
        ..Default::default()
    };
    assert!(matches!(
        s.commit(&status("other")).await,
        Err(CellError::ConditionFailed)
    ));
    s.commit(&status("r1")).await.unwrap();
    let mut reuse = start_tx(range, "r2", 1);
    reuse.current = Some(CurrentWrite::Set {
        run_id: "r2".into(),
        create_request_id: "req2".into(),
        status: 1,
        previous_run_id: Some("r1".into()),
    });
    s.commit(&reuse).await.unwrap();
    let current = s.current_execution(1, "ns", "wf").await.unwrap().unwrap();
    assert_eq!(
        (
            current.run_id.as_str(),
            current.create_request_id.as_str(),
            current.status
        ),
        ("r2", "req2", 1)
    );
    assert!(s.execution(1, "ns", "wf", "r1").await.unwrap().is_some());
}

async fn timers_transfers_and_queue_tasks(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    let range2 = s.acquire_shard(2, "a").await.unwrap();
    let mut tx = start_tx(range, "r1", 1);
    tx.timers = vec![
        TimerRow {
            shard_id: 1,
            fire_ms: 300,
            task_id: 1,
            data: b"late".to_vec(),
        },
        TimerRow {
            shard_id: 1,
            fire_ms: 100,
            task_id: 2,
            data: b"early".to_vec(),
        },
    ];
    tx.transfers = vec![TransferRow {
        shard_id: 1,
        task_id: 7,
        data: b"t".to_vec(),
    }];
    tx.queue_tasks = vec![
        QueueRow {
            namespace_id: "ns".into(),
            task_queue: "q".into(),
            kind: 0,
            task_id: 9,
            data: b"b".to_vec(),
        },
        QueueRow {
            namespace_id: "ns".into(),
            task_queue: "q".into(),
            kind: 0,
            task_id: 8,
            data: b"a".to_vec(),
        },
        QueueRow {
            namespace_id: "ns".into(),
            task_queue: "q".into(),
            kind: 1,
            task_id: 10,
            data: b"c".to_vec(),
        },
    ];
    s.commit(&tx).await.unwrap();
    let mut other = start_tx(range2, "r9", 1);
    other.shard_id = 2;
    other.workflow_id = "wf2".into();
    other.timers = vec![TimerRow {
        shard_id: 2,
        fire_ms: 50,
        task_id: 1,
        data: vec![],
    }];
    s.commit(&other).await.unwrap();

    assert_eq!(
        s.next_timer_ms(TimerQueue::Timers, &[1]).await.unwrap(),
        Some(100)
    );
    assert_eq!(
        s.next_timer_ms(TimerQueue::Timers, &[1, 2]).await.unwrap(),
        Some(50)
    );
    assert_eq!(
        s.next_timer_ms(TimerQueue::Timers, &[3]).await.unwrap(),
        None
    );
    let due = s
        .due_timers(TimerQueue::Timers, &[1], 200, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|t| t.data.as_slice()).collect::<Vec<_>>(),
        [&b"early"[..]]
    );
    s.delete_timers(TimerQueue::Timers, &due[..1])
        .await
        .unwrap();
    assert_eq!(
        s.next_timer_ms(TimerQueue::Timers, &[1]).await.unwrap(),
        Some(300)
    );

    let transfers = s.transfer_tasks(&[1, 2], 10).await.unwrap();
    assert_eq!(transfers.len(), 1);
    s.delete_transfer(&transfers[0]).await.unwrap();
    assert!(s.transfer_tasks(&[1], 10).await.unwrap().is_empty());

    let tasks = s.queue_tasks("ns", "q", 0, 10).await.unwrap();
    assert_eq!(tasks.iter().map(|t| t.task_id).collect::<Vec<_>>(), [8, 9]);
    s.delete_queue_task("ns", "q", 0, 8).await.unwrap();
    assert_eq!(s.queue_tasks("ns", "q", 0, 10).await.unwrap().len(), 1);
    assert_eq!(s.queue_tasks("ns", "q", 1, 10).await.unwrap().len(), 1);
    assert!(s.queue_tasks("other", "q", 0, 10).await.unwrap().is_empty());
}

async fn visibility_pages_newest_first_and_usage_sums(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    let mut tx = start_tx(range, "r1", 1);
    tx.visibility = (0..5)
        .map(|i| VisibilityRow {
            namespace_id: "ns".into(),
            run_id: format!("run{i}"),
            workflow_id: format!("wf{i}"),
            workflow_type: "T".into(),
            status: 1,
            start_ms: 1000 + i,
            ..Default::default()
        })
        .collect();
    tx.usage = vec![
        UsageDelta {
            namespace_id: "ns".into(),
            action: "workflow_started",
            count: 2,
        },
        UsageDelta {
            namespace_id: "other".into(),
            action: "workflow_started",
            count: 5,
        },
    ];
    s.commit(&tx).await.unwrap();
    let all = query("");
    let page1 = s
        .list_executions("ns", &all, &VisibilityPage::First, 3)
        .await
        .unwrap();
    assert_eq!(
        page1.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["run4", "run3", "run2"]
    );
    let last = page1.last().unwrap();
    let page2 = s
        .list_executions("ns", &all, &last.position(), 3)
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["run1", "run0"]
    );
    assert_eq!(count(&s, "ns", "").await, 5);
    assert_eq!(count(&s, "other", "").await, 0);
    // Closing updates the row in place.
    let mut close = start_tx(range, "x", 2);
    close.workflow_id = "wfx".into();
    close.visibility = vec![VisibilityRow {
        close_ms: Some(2000),
        status: 2,
        ..page1[0].clone()
    }];
    s.commit(&close).await.unwrap();
    assert_eq!(count(&s, "ns", "").await, 5);
    // Closed runs sort after running ones.
    let listed = s
        .list_executions("ns", &all, &VisibilityPage::First, 5)
        .await
        .unwrap();
    assert_eq!(listed[4].run_id, "run4");
    assert_eq!(listed[4].close_ms, Some(2000));
    assert_eq!(
        s.usage("ns", 0).await.unwrap(),
        vec![("workflow_started".to_string(), 2)]
    );
}

async fn retention_tasks_are_a_queue_of_their_own(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "owner").await.unwrap();
    let mut tx = start_tx(range, "r1", 1);
    tx.retention_tasks = vec![
        TimerRow {
            shard_id: 1,
            fire_ms: 10,
            task_id: 1,
            data: b"first".to_vec(),
        },
        TimerRow {
            shard_id: 1,
            fire_ms: 20,
            task_id: 2,
            data: b"second".to_vec(),
        },
    ];
    s.commit(&tx).await.unwrap();
    // Not timers: the timer queue never sees them.
    assert_eq!(
        s.next_timer_ms(TimerQueue::Timers, &[1]).await.unwrap(),
        None
    );
    assert_eq!(
        s.next_timer_ms(TimerQueue::Retention, &[1]).await.unwrap(),
        Some(10)
    );
    let due = s
        .due_timers(TimerQueue::Retention, &[1], 15, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    // A retry moves the task later with its new attempt count, and counts
    // its Actions with the move; a move of a task moved already counts none.
    let archived = [UsageDelta {
        namespace_id: "ns-r".into(),
        action: "workflow_archived",
        count: 1,
    }];
    s.reschedule_timer(
        TimerQueue::Retention,
        &due[0],
        30,
        b"first, again".to_vec(),
        &archived,
    )
    .await
    .unwrap();
    assert!(matches!(
        s.reschedule_timer(TimerQueue::Retention, &due[0], 40, vec![], &archived)
            .await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(
        s.usage("ns-r", 0).await.unwrap(),
        [("workflow_archived".to_string(), 1)]
    );
    // Usage counted outside a state change (flushed queries) adds up.
    s.add_usage(&archived).await.unwrap();
    s.add_usage(&[]).await.unwrap();
    assert_eq!(
        s.usage("ns-r", 0).await.unwrap(),
        [("workflow_archived".to_string(), 2)]
    );
    let due = s
        .due_timers(TimerQueue::Retention, &[1], 100, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter()
            .map(|t| (t.fire_ms, t.data.as_slice()))
            .collect::<Vec<_>>(),
        [(20, &b"second"[..]), (30, &b"first, again"[..])]
    );
    s.delete_timers(TimerQueue::Retention, &due).await.unwrap();
    assert_eq!(
        s.next_timer_ms(TimerQueue::Retention, &[1]).await.unwrap(),
        None
    );
}

/// `start_tx` for workflow `wf`, with a timer and a transfer task.
fn start_wf(range_id: i64, wf: &str, task_id: i64) -> Transaction {
    let mut tx = start_tx(range_id, &format!("run-{wf}"), 1);
    tx.workflow_id = wf.into();
    tx.timers = vec![TimerRow {
        shard_id: 1,
        fire_ms: 5,
        task_id,
        data: vec![],
    }];
    tx.transfers = vec![TransferRow {
        shard_id: 1,
        task_id,
        data: vec![],
    }];
    tx
}

/// Commits every transaction at once, each from a task of its own; the
/// results in the transactions' order.
async fn commit_all(s: &Arc<dyn CellStore>, txs: Vec<Transaction>) -> Vec<CellResult<()>> {
    let tasks: Vec<_> = txs
        .into_iter()
        .map(|tx| {
            let s = s.clone();
            tokio::spawn(async move { s.commit(&tx).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

async fn concurrent_commits_of_different_workflows_all_land(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    let n = 200;
    let txs = (0..n)
        .map(|i| start_wf(range, &format!("wf-{i}"), i))
        .collect();
    for r in commit_all(&s, txs).await {
        r.unwrap();
    }
    for i in 0..n {
        let wf = format!("wf-{i}");
        let current = s.current_execution(1, "ns", &wf).await.unwrap().unwrap();
        assert_eq!(current.run_id, format!("run-{wf}"));
        assert_eq!(
            s.events("ns", &current.run_id, 1, 100, 10)
                .await
                .unwrap()
                .len(),
            2
        );
    }
    let limit = 2 * n as usize;
    assert_eq!(
        s.transfer_tasks(&[1], limit).await.unwrap().len(),
        n as usize
    );
    assert_eq!(
        s.due_timers(TimerQueue::Timers, &[1], 10, limit)
            .await
            .unwrap()
            .len(),
        n as usize
    );
}

async fn racing_conditional_updates_of_one_workflow_let_one_win(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    s.commit(&start_tx(range, "r1", 1)).await.unwrap();
    // Each racer first writes the current pointer's status (which succeeds
    // for all), then fails on the execution's version unless it is first: a
    // loser's status must not survive.
    let racer = |i: i64| Transaction {
        shard_id: 1,
        range_id: range,
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        current: Some(CurrentWrite::Status {
            run_id: "r1".into(),
            status: 100 + i as i32,
        }),
        executions: vec![ExecutionWrite {
            row: ExecutionRow {
                run_id: "r1".into(),
                db_version: 2,
                next_event_id: 4,
                state: format!("s{i}").into_bytes(),
            },
            expected_db_version: Some(1),
        }],
        events: vec![EventRow {
            run_id: "r1".into(),
            event_id: 3,
            data: format!("e{i}").into_bytes(),
        }],
        timers: vec![TimerRow {
            shard_id: 1,
            fire_ms: 5,
            task_id: 100 + i,
            data: vec![],
        }],
        ..Default::default()
    };
    let results = commit_all(&s, (0..20).map(racer).collect()).await;
    let winners: Vec<_> = (0..20).filter(|&i| results[i as usize].is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one racer wins: {results:?}");
    for r in &results {
        assert!(
            matches!(r, Ok(()) | Err(CellError::ConditionFailed)),
            "{r:?}"
        );
    }
    let w = winners[0];
    let row = s.execution(1, "ns", "wf", "r1").await.unwrap().unwrap();
    assert_eq!(
        (row.db_version, row.state),
        (2, format!("s{w}").into_bytes())
    );
    let current = s.current_execution(1, "ns", "wf").await.unwrap().unwrap();
    assert_eq!(current.status, 100 + w as i32);
    let events = s.events("ns", "r1", 1, 100, 10).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].data, format!("e{w}").into_bytes());
    let timers = s
        .due_timers(TimerQueue::Timers, &[1], 10, 100)
        .await
        .unwrap();
    assert_eq!(
        timers.iter().map(|t| t.task_id).collect::<Vec<_>>(),
        [100 + w]
    );
}

async fn a_fenced_writer_fails_beside_current_ones(s: Arc<dyn CellStore>) {
    let stale = s.acquire_shard(1, "a").await.unwrap();
    let range = s.acquire_shard(1, "b").await.unwrap();
    // Stale and current writers interleaved, all at once.
    let txs = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                start_wf(range, &format!("current-{i}"), i)
            } else {
                start_wf(stale, &format!("stale-{i}"), i)
            }
        })
        .collect();
    for (i, r) in commit_all(&s, txs).await.into_iter().enumerate() {
        if i % 2 == 0 {
            r.unwrap();
            let wf = format!("current-{i}");
            assert!(s.current_execution(1, "ns", &wf).await.unwrap().is_some());
        } else {
            assert!(matches!(r, Err(CellError::ShardOwnershipLost(1))), "{r:?}");
            let wf = format!("stale-{i}");
            assert_eq!(s.current_execution(1, "ns", &wf).await.unwrap(), None);
            assert!(
                s.events("ns", &format!("run-{wf}"), 1, 100, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
    assert_eq!(s.transfer_tasks(&[1], 100).await.unwrap().len(), 10);
}
