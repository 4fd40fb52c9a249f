//! The sampler's memo of cell namespace names and the lock the API shares
//! with the sampler (the window's arithmetic is tested in `window`).
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orrery_cell_api::{Label, NamespaceStats, Sample};

use super::*;
use crate::store::NamespaceState;

fn cell() -> Cell {
    Cell {
        id: "cell-1".into(),
        name: "cell-a".into(),
        grpc_endpoint: "https://cell-a".into(),
        admin_endpoint: "https://cell-a:7234".into(),
        http_endpoint: String::new(),
        capacity: 100,
        reported_capacity: None,
        created_ms: 0,
    }
}

fn ready(name: Option<&str>) -> std::future::Ready<Result<Option<String>, String>> {
    std::future::ready(Ok(name.map(str::to_owned)))
}

#[tokio::test]
async fn an_expired_name_is_used_until_the_cell_answers_again() {
    let tm = TenantMetrics::default();
    let cell = cell();
    tm.remember_name(&cell, "id-1", Some("orders.acme".into()), 0);
    // Past its time it is asked about again, and still used meanwhile.
    let later = NAME_TTL_MS + 1;
    let (known, lookups) = tm.known_names(&cell, &["id-1"], later);
    assert_eq!(known["id-1"].as_deref(), Some("orders.acme"));
    assert_eq!(lookups, ["id-1"]);
    // The cell fails to answer: the name stays.
    let learned = tm
        .resolve_names(
            &cell,
            lookups,
            |_| std::future::ready(Err::<Option<String>, _>("unavailable")),
            Duration::from_secs(5),
        )
        .await;
    assert!(learned.is_empty());
    let (known, _) = tm.known_names(&cell, &["id-1"], later);
    assert_eq!(known["id-1"].as_deref(), Some("orders.acme"));
    // It answers that the namespace is gone: that is what is used then.
    tm.resolve_names(
        &cell,
        vec!["id-1".into()],
        |_| ready(None),
        Duration::from_secs(5),
    )
    .await;
    let (known, lookups) = tm.known_names(&cell, &["id-1"], later);
    assert_eq!(known["id-1"], None);
    assert!(lookups.is_empty(), "{lookups:?}");
}

#[tokio::test]
async fn unknown_ids_are_asked_first_and_the_lookups_bounded() {
    let tm = TenantMetrics::default();
    let cell = cell();
    let ids: Vec<String> = (0..NAME_LOOKUPS_PER_PULL + 20)
        .map(|i| format!("id-{i}"))
        .collect();
    // The first ten are known but expired; the rest unknown.
    for id in &ids[..10] {
        tm.remember_name(&cell, id, Some(format!("{id}.acme")), 0);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (known, lookups) = tm.known_names(&cell, &refs, NAME_TTL_MS);
    assert_eq!(known.len(), 10);
    assert_eq!(lookups.len(), NAME_LOOKUPS_PER_PULL);
    assert!(
        lookups.iter().all(|id| !known.contains_key(id)),
        "{lookups:?}"
    );
}

#[tokio::test]
async fn names_are_kept_as_each_is_learned_even_when_the_pull_runs_out_of_time() {
    let tm = TenantMetrics::default();
    let cell = cell();
    let ids: Vec<String> = (0..5).map(|i| format!("id-{i}")).collect();
    // id-0 never answers; the others do at once.
    let learned = tm
        .resolve_names(
            &cell,
            ids.clone(),
            |id| async move {
                if id == "id-0" {
                    std::future::pending::<()>().await;
                }
                Ok::<_, String>(Some(format!("{id}.acme")))
            },
            Duration::from_millis(300),
        )
        .await;
    assert_eq!(learned.len(), 4);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (known, lookups) = tm.known_names(&cell, &refs, now_ms());
    assert_eq!(known.len(), 4);
    assert_eq!(known["id-3"].as_deref(), Some("id-3.acme"));
    assert_eq!(lookups, ["id-0"]);
}

#[tokio::test]
async fn lookups_run_at_once_up_to_a_bound() {
    let tm = TenantMetrics::default();
    let cell = cell();
    let ids: Vec<String> = (0..NAME_LOOKUPS_PER_PULL)
        .map(|i| format!("id-{i}"))
        .collect();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    // Each lookup takes 200 ms: one at a time, 50 would take 10 s, past the
    // 8 s budget, and `learned` would come up short.
    let learned = tm
        .resolve_names(
            &cell,
            ids,
            |id| {
                let (running, most) = (running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, String>(Some(format!("{id}.acme")))
                }
            },
            Duration::from_secs(8),
        )
        .await;
    assert_eq!(learned.len(), NAME_LOOKUPS_PER_PULL);
    assert_eq!(most.load(Ordering::SeqCst), NAME_LOOKUPS_AT_ONCE);
}

/// A namespace's cumulative statistics with `series` counters.
fn heavy_point(
    series: usize,
    scale: f64,
    as_of_ms: i64,
    namespaces: &[String],
) -> HashMap<String, NsPoint> {
    namespaces
        .iter()
        .map(|ns| {
            let samples = (0..series)
                .map(|i| Sample {
                    name: "workflow_success".into(),
                    labels: vec![
                        Label {
                            name: "task_queue".into(),
                            value: format!("q{i}"),
                        },
                        Label {
                            name: "workflow_type".into(),
                            value: "Pay".into(),
                        },
                    ],
                    value: scale * (i as f64 + 1.0) + as_of_ms as f64 / 1000.0,
                    gauge: false,
                })
                .collect();
            let stats = NamespaceStats {
                namespace_id: ns.clone(),
                samples,
                histograms: vec![],
            };
            (ns.clone(), NsPoint::from_stats(&stats))
        })
        .collect()
}

#[test]
fn scrapes_compute_without_holding_the_samplers_lock() {
    let tm = Arc::new(TenantMetrics::default());
    let (busy, other) = (
        cell(),
        Cell {
            id: "cell-2".into(),
            name: "cell-b".into(),
            ..cell()
        },
    );
    let names: Vec<String> = (0..100).map(|i| format!("ns{i}.acme")).collect();
    let namespaces: Vec<Namespace> = names
        .iter()
        .map(|id| Namespace {
            id: id.clone(),
            account_id: "acme".into(),
            name: id.clone(),
            cell_id: busy.id.clone(),
            retention_days: 1,
            state: NamespaceState::Active,
            created_by: "user:1".into(),
            created_ms: 0,
            updated_ms: 0,
        })
        .collect();
    let now = now_ms();
    for (i, as_of) in [now - 60_000, now].into_iter().enumerate() {
        tm.record(
            &busy,
            0,
            as_of,
            now,
            heavy_point(1_000, i as f64 + 1.0, as_of, &names),
        );
    }
    // A large account's scrape takes a while to compute ...
    let done = Arc::new(AtomicBool::new(false));
    let scraper = {
        let (tm, done) = (tm.clone(), done.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let series = tm.account_series("acme", &namespaces, now);
            let took = started.elapsed();
            done.store(true, Ordering::SeqCst);
            assert_eq!(series.len(), 100);
            took
        })
    };
    // ... during which the sampler records another cell's reading at will:
    // many records finish before the scrape does. Counted, not timed, so a
    // slow or busy machine changes nothing: under a lock held for the whole
    // computation the first record would wait for the scrape to end.
    let mut recorded_meanwhile = 0;
    let mut as_of = now;
    while !done.load(Ordering::SeqCst) {
        as_of += 1;
        tm.record(&other, 0, as_of, now, HashMap::new());
        if !done.load(Ordering::SeqCst) {
            recorded_meanwhile += 1;
        }
    }
    let took = scraper.join().unwrap();
    assert!(
        recorded_meanwhile >= 3,
        "{recorded_meanwhile} records finished during a {took:?} scrape"
    );
}

#[test]
fn a_full_name_memo_keeps_the_ids_still_reported() {
    let tm = TenantMetrics::default();
    let cell = cell();
    for i in 0..MAX_NAMES_PER_CELL {
        tm.remember_name(&cell, &format!("id-{i}"), Some(format!("n{i}.acme")), 0);
    }
    // Full: a new id is not remembered ...
    tm.remember_name(&cell, "new", Some("new.acme".into()), 0);
    let (known, lookups) = tm.known_names(&cell, &["id-7", "id-8"], 0);
    assert_eq!(known.len(), 2);
    assert!(lookups.is_empty());
    // ... until the memo is cut down to what the cell still reports (and
    // never emptied of those: their names stay in use).
    tm.remember_name(&cell, "new", Some("new.acme".into()), 0);
    let (known, lookups) = tm.known_names(&cell, &["id-7", "id-8", "new"], 0);
    assert_eq!(known.len(), 3, "{known:?} {lookups:?}");
    assert_eq!(tm.lock()[&cell.id].names.len(), 3);
}
