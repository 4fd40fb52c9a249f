//! Conformance cases for usage: each run's stored bytes as commits, closes
//! and deletions move them; storage billed once per second whatever slots
//! sample it; usage
//! totals paged in (hour, namespace, kind) order.
use std::sync::Arc;

use orrery_cell_api::{ACTIVE_STORAGE_BYTE_SECONDS, RETAINED_STORAGE_BYTE_SECONDS};
use orrery_persistence::*;

use super::*;

const HOUR: i64 = 3_600_000;

fn storage_of(all: &[KeyspaceStorage], namespace_id: &str) -> (i64, i64) {
    all.iter()
        .find(|k| k.namespace_id == namespace_id)
        .map(|k| (k.active_bytes, k.retained_bytes))
        .unwrap_or((0, 0))
}

fn update_tx(
    range_id: i64,
    run: &str,
    version: i64,
    state: &[u8],
    events: &[(i64, &[u8])],
) -> Transaction {
    Transaction {
        shard_id: 1,
        range_id,
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        executions: vec![ExecutionWrite {
            row: ExecutionRow {
                run_id: run.into(),
                db_version: version + 1,
                next_event_id: 10,
                state: state.to_vec(),
            },
            expected_db_version: Some(version),
        }],
        events: events
            .iter()
            .map(|(id, data)| EventRow {
                run_id: run.into(),
                event_id: *id,
                data: data.to_vec(),
            })
            .collect(),
        ..Default::default()
    }
}

pub(super) async fn stored_bytes_follow_writes_close_and_deletion(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "a").await.unwrap();
    assert!(s.storage_by_keyspace().await.unwrap().is_empty());
    // "state" (5) + "e1" + "e2" (4).
    s.commit(&start_tx(range, "r1", 1)).await.unwrap();
    assert_eq!(
        storage_of(&s.storage_by_keyspace().await.unwrap(), "ns"),
        (9, 0)
    );

    // The state is replaced (5 -> 8 bytes), history grows by 3.
    s.commit(&update_tx(range, "r1", 1, b"state-v2", &[(3, b"e-3")]))
        .await
        .unwrap();
    assert_eq!(
        storage_of(&s.storage_by_keyspace().await.unwrap(), "ns"),
        (15, 0)
    );

    // A commit that fails its condition moves nothing.
    let stale = update_tx(range, "r1", 1, b"much longer state", &[(4, b"lost")]);
    assert!(matches!(
        s.commit(&stale).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(
        storage_of(&s.storage_by_keyspace().await.unwrap(), "ns"),
        (15, 0)
    );

    // Closing (its visibility record gets a close time): the same bytes,
    // now retained.
    let mut close = update_tx(range, "r1", 2, b"closed!!", &[(4, b"end")]);
    close.visibility = vec![VisibilityRow {
        namespace_id: "ns".into(),
        run_id: "r1".into(),
        workflow_id: "wf".into(),
        workflow_type: "T".into(),
        status: 2,
        start_ms: 1,
        close_ms: Some(50),
        ..Default::default()
    }];
    s.commit(&close).await.unwrap();
    assert_eq!(
        storage_of(&s.storage_by_keyspace().await.unwrap(), "ns"),
        (0, 18)
    );
    // A later write of a closed run (no visibility record) keeps it closed.
    s.commit(&update_tx(range, "r1", 3, b"closed!!", &[]))
        .await
        .unwrap();
    assert_eq!(
        storage_of(&s.storage_by_keyspace().await.unwrap(), "ns"),
        (0, 18)
    );

    // Another keyspace is reported on its own.
    let mut other = start_tx(range, "r2", 1);
    other.namespace_id = "ns/activities".into();
    other.workflow_id = "act".into();
    s.commit(&other).await.unwrap();
    let all = s.storage_by_keyspace().await.unwrap();
    assert_eq!(storage_of(&all, "ns"), (0, 18));
    assert_eq!(storage_of(&all, "ns/activities"), (9, 0));

    // Deletion at the end of retention: gone.
    s.delete_execution(1, range, "ns", "wf", "r1")
        .await
        .unwrap();
    let all = s.storage_by_keyspace().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(storage_of(&all, "ns"), (0, 0));
}

fn sample(namespace_id: &str, slot_ms: i64, active: i64, retained: i64) -> StorageSample {
    slot_of(namespace_id, slot_ms, 300, active, retained)
}

fn slot_of(
    namespace_id: &str,
    slot_ms: i64,
    seconds: i64,
    active: i64,
    retained: i64,
) -> StorageSample {
    StorageSample {
        namespace_id: namespace_id.into(),
        slot_ms,
        seconds,
        active_bytes: active,
        retained_bytes: retained,
    }
}

async fn totals(s: &Arc<dyn CellStore>, from_hour_ms: i64) -> Vec<(i64, String, String, i64)> {
    s.usage_totals(from_hour_ms, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.key.hour_ms, t.key.namespace_id, t.key.kind, t.total))
        .collect()
}

pub(super) async fn a_storage_slot_counts_once(s: Arc<dyn CellStore>) {
    let slot = 10 * HOUR + 5 * 60_000;
    let first = [sample("a", slot, 100, 7), sample("b", slot, 0, 2)];
    assert_eq!(s.record_storage_samples(&first, 0).await.unwrap(), 2);
    // The same slot again (a restart), even with other numbers: nothing.
    let again = [sample("a", slot, 999, 999), sample("b", slot, 999, 999)];
    assert_eq!(s.record_storage_samples(&again, 0).await.unwrap(), 0);
    // Two writers racing on the next slot: one of them counts it.
    let next = slot + 300_000;
    let racing = [sample("a", next, 10, 0)];
    let (x, y) = tokio::join!(
        s.record_storage_samples(&racing, 0),
        s.record_storage_samples(&racing, 0)
    );
    assert_eq!(x.unwrap() + y.unwrap(), 1);

    let active = ACTIVE_STORAGE_BYTE_SECONDS.to_string();
    let retained = RETAINED_STORAGE_BYTE_SECONDS.to_string();
    assert_eq!(
        totals(&s, 0).await,
        vec![
            (10 * HOUR, "a".into(), active, (100 + 10) * 300),
            (10 * HOUR, "a".into(), retained.clone(), 7 * 300),
            (10 * HOUR, "b".into(), retained, 2 * 300),
        ]
    );
    // Storage is not an Action.
    assert!(s.usage("a", 0).await.unwrap().is_empty());

    // Forgotten: a namespace billed only before `forget_before_ms` is
    // forgotten; the sample that forgets counts itself and is remembered.
    let later = slot + 2 * HOUR;
    assert_eq!(
        s.record_storage_samples(&[sample("a", later, 1, 0)], later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.record_storage_samples(&[sample("a", later, 1, 0)], later)
            .await
            .unwrap(),
        0
    );

    overlapping_slots_bill_each_second_once(&s).await;
    racing_writers_bill_each_second_once(&s).await;
    a_slot_across_an_hour_bills_each_hour_its_part(&s).await;
}

/// Slots of other lengths over seconds already billed (a changed interval,
/// a rolling deploy) bill only what is new; a gap stays unbilled.
async fn overlapping_slots_bill_each_second_once(s: &Arc<dyn CellStore>) {
    let active = ACTIVE_STORAGE_BYTE_SECONDS.to_string();
    let t0 = 20 * HOUR;
    let of_20 = |rows: Vec<(i64, String, String, i64)>| {
        rows.into_iter()
            .filter(|r| r.0 == t0 && r.1 == "o")
            .collect::<Vec<_>>()
    };
    // A 300 s slot, then the 60 s slots inside it: nothing more.
    assert_eq!(
        s.record_storage_samples(&[slot_of("o", t0, 300, 1, 0)], 0)
            .await
            .unwrap(),
        1
    );
    for k in 0..5 {
        let slot = slot_of("o", t0 + k * 60_000, 60, 1, 0);
        assert_eq!(
            s.record_storage_samples(&[slot], 0).await.unwrap(),
            0,
            "{k}"
        );
    }
    // A 60 s slot after it, then a 300 s slot over it: only the rest.
    assert_eq!(
        s.record_storage_samples(&[slot_of("o", t0 + 300_000, 60, 1, 0)], 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.record_storage_samples(&[slot_of("o", t0 + 300_000, 300, 1, 0)], 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        of_20(totals(s, t0).await),
        vec![(t0, "o".into(), active.clone(), 600)]
    );
    // Racing writers with slots of different lengths from the same start:
    // each second once, whoever wins (the longer one first bills it all;
    // the shorter one first leaves the longer one only the rest).
    let t1 = t0 + 600_000;
    let (long, short) = ([slot_of("o", t1, 300, 1, 0)], [slot_of("o", t1, 60, 1, 0)]);
    let (x, y) = tokio::join!(
        s.record_storage_samples(&long, 0),
        s.record_storage_samples(&short, 0)
    );
    assert!((1..=2).contains(&(x.unwrap() + y.unwrap())));
    assert_eq!(
        of_20(totals(s, t0).await),
        vec![(t0, "o".into(), active.clone(), 900)]
    );
    // A slot nobody sampled is not billed: after a gap, from its start.
    assert_eq!(
        s.record_storage_samples(&[slot_of("o", t0 + 1_200_000, 60, 1, 0)], 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        of_20(totals(s, t0).await),
        vec![(t0, "o".into(), active, 960)]
    );
}

/// Four writers at once, round after round (warm connections, so their
/// transactions overlap), with slots of different lengths from the same
/// start: each round bills its 300 s once, whoever wins.
async fn racing_writers_bill_each_second_once(s: &Arc<dyn CellStore>) {
    let t0 = 40 * HOUR;
    for round in 0..12 {
        let start = t0 + round * 300_000;
        let [a, b, c, d] = [300, 60, 120, 300].map(|secs| [slot_of("r", start, secs, 3, 0)]);
        let (a, b, c, d) = tokio::join!(
            s.record_storage_samples(&a, 0),
            s.record_storage_samples(&b, 0),
            s.record_storage_samples(&c, 0),
            s.record_storage_samples(&d, 0)
        );
        let billing = a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap();
        assert!((1..=3).contains(&billing), "round {round}: {billing}");
    }
    let rows: Vec<_> = totals(s, t0)
        .await
        .into_iter()
        .filter(|r| r.1 == "r")
        .collect();
    let active = ACTIVE_STORAGE_BYTE_SECONDS.to_string();
    assert_eq!(rows, vec![(t0, "r".into(), active, 3 * 12 * 300)]);
}

/// A slot across an hour boundary (not sampled by an engine, whose slots
/// divide the hour, but the store does not rely on it) bills each hour
/// only its own seconds.
async fn a_slot_across_an_hour_bills_each_hour_its_part(s: &Arc<dyn CellStore>) {
    let retained = RETAINED_STORAGE_BYTE_SECONDS.to_string();
    let slot = 31 * HOUR - 60_000;
    assert_eq!(
        s.record_storage_samples(&[slot_of("h", slot, 300, 0, 2)], 0)
            .await
            .unwrap(),
        1
    );
    let rows: Vec<_> = totals(s, 30 * HOUR)
        .await
        .into_iter()
        .filter(|r| r.1 == "h")
        .collect();
    assert_eq!(
        rows,
        vec![
            (30 * HOUR, "h".into(), retained.clone(), 2 * 60),
            (31 * HOUR, "h".into(), retained, 2 * 240),
        ]
    );
}

pub(super) async fn usage_pages_return_each_row_once_with_growing_totals(s: Arc<dyn CellStore>) {
    // Storage rows in three past hours, Actions in the current one.
    for (hour, namespace) in [(3, "n1"), (3, "n2"), (4, "n1"), (5, "n3")] {
        s.record_storage_samples(&[sample(namespace, hour * HOUR, 1, 1)], 0)
            .await
            .unwrap();
    }
    let delta = |namespace: &str, action: &'static str, count| UsageDelta {
        namespace_id: namespace.into(),
        action,
        count,
    };
    s.add_usage(&[delta("n1", "workflow_started", 1), delta("n2", "signal", 2)])
        .await
        .unwrap();

    let all = s.usage_totals(0, None, 1000).await.unwrap();
    assert_eq!(all.len(), 10);
    for pair in all.windows(2) {
        let (a, b) = (&pair[0].key, &pair[1].key);
        assert!(
            (a.hour_ms, &a.namespace_id, &a.kind) < (b.hour_ms, &b.namespace_id, &b.kind),
            "{a:?} before {b:?}"
        );
    }
    // Pages of every size: each row once, in the same order.
    for size in [1, 2, 3, 7] {
        let mut paged = Vec::new();
        let mut after: Option<UsageKey> = None;
        loop {
            let page = s.usage_totals(0, after.as_ref(), size).await.unwrap();
            assert!(page.len() <= size as usize);
            after = page.last().map(|t| t.key.clone());
            let done = page.len() < size as usize;
            paged.extend(page);
            if done {
                break;
            }
        }
        assert_eq!(paged, all, "page size {size}");
    }
    // From an hour on: only its rows and later.
    let from_4 = s.usage_totals(4 * HOUR, None, 1000).await.unwrap();
    assert_eq!(from_4.len(), 6);
    assert!(from_4.iter().all(|t| t.key.hour_ms >= 4 * HOUR));
    // A key before the first hour still respects the first hour.
    let early = UsageKey {
        hour_ms: 0,
        namespace_id: String::new(),
        kind: String::new(),
    };
    assert_eq!(
        s.usage_totals(4 * HOUR, Some(&early), 1000).await.unwrap(),
        from_4
    );

    // Totals, not increments: pulled again later, a row only grows.
    s.add_usage(&[delta("n1", "workflow_started", 4)])
        .await
        .unwrap();
    let again = s.usage_totals(0, None, 1000).await.unwrap();
    assert_eq!(again.len(), all.len());
    for (before, after) in all.iter().zip(&again) {
        assert_eq!(before.key, after.key);
        assert!(after.total >= before.total);
    }
    let started = |rows: &[UsageTotal]| {
        rows.iter()
            .find(|t| t.key.namespace_id == "n1" && t.key.kind == "workflow_started")
            .unwrap()
            .total
    };
    assert_eq!((started(&all), started(&again)), (1, 5));
}
