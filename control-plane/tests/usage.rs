//! Usage pulled from a cell (the fake cell of tests/common, spoken to over
//! gRPC through the real client): replace semantics, the cursor, the usage
//! API's rows and `incomplete`, and the CSV export.
mod common;

use std::sync::atomic::Ordering;

use common::{Backend, Client, TestApp};
use orrery_control_plane::store::{Audit, Cell, Namespace, NamespaceState, UsageTotal};
use orrery_control_plane::usage::puller::{PullError, Pulled, Puller};
use orrery_control_plane::usage::{
    ACTIVE_STORAGE_BYTE_SECONDS, KNOWN_ACTION_KINDS, RETAINED_STORAGE_BYTE_SECONDS,
};
use serde_json::json;

on_both!(
    a_repeated_pull_replaces_and_never_double_counts,
    the_cursor_moves_only_after_every_page,
    a_backlog_longer_than_one_pull_is_read_over_several,
    usage_rows_by_hour_and_day,
    usage_requests_are_validated_and_scoped,
    incomplete_until_a_pull_covers_the_range,
    csv_export_has_the_billing_report_shape,
    usage_of_unknown_cell_namespaces_is_not_attributed,
    a_namespace_deleted_before_any_pull_keeps_its_usage,
    a_create_whose_cell_id_cannot_be_learned_is_undone,
    namespaces_mapped_before_creation_did_it_are_mapped_by_the_puller,
    one_answer_holds_a_bounded_number_of_rows,
);

/// 2025-03-01T00:00:00Z.
const MARCH: i64 = 1_740_787_200_000;
const HOUR: i64 = 3_600_000;
const GBH: i64 = 3_600_000_000_000;

async fn cell_a(app: &TestApp) -> Cell {
    app.store
        .cell_loads()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.cell)
        .find(|c| c.name == "cell-a")
        .unwrap()
}

async fn pull(app: &TestApp) -> Result<Pulled, PullError> {
    Puller::default()
        .pull_cell(&app.state, &cell_a(app).await)
        .await
}

/// Creates a namespace; (its control-plane id, the id the cell gave it).
async fn namespace(app: &TestApp, owner: &Client<'_>, name: &str) -> (String, String) {
    let id = owner
        .post("/api/v1/namespaces", json!({"name": name}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cell_id = app.cell.namespace_id(&id);
    (id, cell_id)
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn usage_uri(ns: Option<&str>, from: i64, to: i64, granularity: &str) -> String {
    let ns = ns.map(|n| format!("namespace={n}&")).unwrap_or_default();
    format!(
        "/api/v1/usage?{ns}from={}&to={}&granularity={granularity}",
        rfc(from),
        rfc(to)
    )
}

async fn a_repeated_pull_replaces_and_never_double_counts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (ns, cell_ns) = namespace(&app, &owner, "orders").await;
    app.cell.set_usage(&cell_ns, MARCH, "workflow_started", 5);
    app.cell.set_usage(&cell_ns, MARCH, "signal", 2);
    app.cell.set_settled_before(MARCH);
    assert_eq!(pull(&app).await.unwrap().rows, 2);
    // The same totals again (the hour is still open): replaced, not added.
    assert_eq!(pull(&app).await.unwrap().rows, 2);
    let uri = usage_uri(Some(&ns), MARCH, MARCH + HOUR, "hour");
    let res = owner.get(&uri).await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["total_actions"], 7);
    // The hour grew at the cell: the new total replaces the old one.
    app.cell.set_usage(&cell_ns, MARCH, "signal", 10);
    pull(&app).await.unwrap();
    pull(&app).await.unwrap();
    let res = owner.get(&uri).await;
    let row = &res.ok(200)["rows"][0];
    assert_eq!(row["total_actions"], 15);
    assert_eq!(row["actions"], json!({"signal": 10, "workflow_started": 5}));
}

async fn the_cursor_moves_only_after_every_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (ns, cell_ns) = namespace(&app, &owner, "orders").await;
    for h in 0..5 {
        app.cell
            .set_usage(&cell_ns, MARCH + h * HOUR, "timer_started", 1);
    }
    app.cell.set_settled_before(MARCH + 3 * HOUR);
    app.cell.state.usage_page_cap.store(2, Ordering::SeqCst);
    let cell = cell_a(&app).await;
    // The second page fails: the first page's rows are stored (harmless:
    // they are totals), but the cursor stays where it was.
    app.cell
        .state
        .fail_usage_continuation
        .store(true, Ordering::SeqCst);
    assert!(matches!(pull(&app).await, Err(PullError::Cell(_))));
    assert_eq!(app.store.usage_cursor(&cell.id).await.unwrap(), None);
    let uri = usage_uri(Some(&ns), MARCH, MARCH + 5 * HOUR, "hour");
    assert_eq!(
        owner.get(&uri).await.ok(200)["rows"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Retried whole from the same hour: every page, then the cursor.
    app.cell
        .state
        .fail_usage_continuation
        .store(false, Ordering::SeqCst);
    let pulled = pull(&app).await.unwrap();
    assert_eq!((pulled.rows, pulled.pages), (5, 3));
    assert_eq!(pulled.next_from_hour_ms, MARCH + 3 * HOUR);
    let cursor = app.store.usage_cursor(&cell.id).await.unwrap().unwrap();
    assert_eq!(cursor.from_hour_ms, MARCH + 3 * HOUR);
    let res = owner.get(&uri).await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["total_actions"] == 1), "{rows:?}");
    // The next pull starts at the settled hour and reads only from there.
    let pulled = pull(&app).await.unwrap();
    assert_eq!(pulled.rows, 2);
    let requests = app.cell.usage_requests();
    assert_eq!(
        requests
            .iter()
            .filter(|(_, more)| !more)
            .map(|(from, _)| *from)
            .collect::<Vec<_>>(),
        vec![0, 0, MARCH + 3 * HOUR]
    );
}

/// A backlog longer than one pull is read over several: each stops at its
/// page budget, moves the cursor to the last hour it stored whole (never
/// past the settled hour), and leaves the last whole pull's time alone.
async fn a_backlog_longer_than_one_pull_is_read_over_several(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (ns, cell_ns) = namespace(&app, &owner, "orders").await;
    for h in 0..5 {
        app.cell
            .set_usage(&cell_ns, MARCH + h * HOUR, "timer_started", 1);
    }
    app.cell.set_settled_before(MARCH + 4 * HOUR);
    app.cell.state.usage_page_cap.store(1, Ordering::SeqCst);
    let cell = cell_a(&app).await;
    let mut puller = Puller::default();
    puller.max_pages = 2;
    // Pages: hour 0, hour 1; out of budget. Hour 0 is whole: resume at 1.
    assert!(matches!(
        puller.pull_cell(&app.state, &cell).await,
        Err(PullError::TooManyPages { .. })
    ));
    let cursor = app.store.usage_cursor(&cell.id).await.unwrap().unwrap();
    assert_eq!(cursor.from_hour_ms, MARCH + HOUR);
    assert_eq!(cursor.last_pull_started_ms, 0, "no pull was whole yet");
    // Hours 1, 2: resume at 2. Then hours 2, 3: resume at 3.
    assert!(puller.pull_cell(&app.state, &cell).await.is_err());
    assert!(puller.pull_cell(&app.state, &cell).await.is_err());
    let cursor = app.store.usage_cursor(&cell.id).await.unwrap().unwrap();
    assert_eq!(cursor.from_hour_ms, MARCH + 3 * HOUR);
    // Hours 3, 4 and the end: a whole pull, the cursor at the settled hour.
    let pulled = puller.pull_cell(&app.state, &cell).await.unwrap();
    assert_eq!(pulled.next_from_hour_ms, MARCH + 4 * HOUR);
    let cursor = app.store.usage_cursor(&cell.id).await.unwrap().unwrap();
    assert!(cursor.last_pull_started_ms > 0);
    // Every hour arrived once.
    let uri = usage_uri(Some(&ns), MARCH, MARCH + 5 * HOUR, "hour");
    let rows = owner.get(&uri).await.ok(200)["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["total_actions"] == 1), "{rows:?}");
}

async fn usage_rows_by_hour_and_day(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (a, cell_a_ns) = namespace(&app, &owner, "alpha").await;
    let (b, cell_b_ns) = namespace(&app, &owner, "beta").await;
    app.cell.set_usage(&cell_a_ns, MARCH, "workflow_started", 3);
    app.cell.set_usage(&cell_a_ns, MARCH, "schedule_action", 2);
    app.cell
        .set_usage(&cell_a_ns, MARCH, ACTIVE_STORAGE_BYTE_SECONDS, 2 * GBH);
    app.cell
        .set_usage(&cell_a_ns, MARCH, RETAINED_STORAGE_BYTE_SECONDS, GBH / 4);
    app.cell
        .set_usage(&cell_a_ns, MARCH + 5 * HOUR, "signal", 4);
    app.cell.set_usage(&cell_b_ns, MARCH + HOUR, "query", 6);
    app.cell
        .set_usage(&cell_a_ns, MARCH + 24 * HOUR, "heartbeat", 1);
    pull(&app).await.unwrap();

    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + 48 * HOUR, "hour"))
        .await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["namespace"].as_str().unwrap().to_owned(),
                r["start"].as_str().unwrap().to_owned(),
                r["total_actions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (a.clone(), rfc(MARCH), 5),
            (b.clone(), rfc(MARCH + HOUR), 6),
            (a.clone(), rfc(MARCH + 5 * HOUR), 4),
            (a.clone(), rfc(MARCH + 24 * HOUR), 1),
        ]
    );
    let first = &rows[0];
    assert_eq!(first["end"], rfc(MARCH + HOUR));
    assert_eq!(
        first["actions"],
        json!({"schedule_action": 2, "workflow_started": 3})
    );
    assert_eq!(first["active_storage_gbh"], 2.0);
    assert_eq!(first["retained_storage_gbh"], 0.25);
    assert_eq!(first["active_storage_byte_seconds"], 2 * GBH);
    assert_eq!(rows[1]["active_storage_gbh"], 0.0);

    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + 48 * HOUR, "day"))
        .await;
    let days = res.ok(200)["rows"].as_array().unwrap().clone();
    let got: Vec<_> = days
        .iter()
        .map(|r| {
            (
                r["namespace"].as_str().unwrap().to_owned(),
                r["start"].as_str().unwrap().to_owned(),
                r["total_actions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (a.clone(), rfc(MARCH), 9),
            (b.clone(), rfc(MARCH), 6),
            (a.clone(), rfc(MARCH + 24 * HOUR), 1),
        ]
    );
    assert_eq!(days[0]["end"], rfc(MARCH + 24 * HOUR));
    assert_eq!(days[0]["actions"]["signal"], 4);

    // One namespace; the range's ends are honoured ([from, to)).
    let res = owner
        .get(&usage_uri(Some(&b), MARCH, MARCH + 48 * HOUR, "hour"))
        .await;
    assert_eq!(res.ok(200)["rows"].as_array().unwrap().len(), 1);
    let res = owner
        .get(&usage_uri(None, MARCH + HOUR, MARCH + 5 * HOUR, "hour"))
        .await;
    assert_eq!(res.ok(200)["rows"].as_array().unwrap().len(), 1);
    // Granularity defaults to hours.
    let uri = format!("/api/v1/usage?from={}&to={}", rfc(MARCH), rfc(MARCH + HOUR));
    assert_eq!(owner.get(&uri).await.ok(200)["rows"][0]["total_actions"], 5);
}

async fn usage_requests_are_validated_and_scoped(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (other, _) = app.signup("other@example.com").await;
    let (theirs, their_cell_ns) = namespace(&app, &other, "theirs").await;
    app.cell.set_usage(&their_cell_ns, MARCH, "signal", 1);
    pull(&app).await.unwrap();
    // Another account's namespace, and one that does not exist: 404 alike.
    owner
        .get(&usage_uri(Some(&theirs), MARCH, MARCH + HOUR, "hour"))
        .await
        .problem(404);
    owner
        .get(&usage_uri(
            Some("nope.nowhere"),
            MARCH,
            MARCH + HOUR,
            "hour",
        ))
        .await
        .problem(404);
    // Without a namespace, only the caller's account.
    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + HOUR, "hour"))
        .await;
    assert_eq!(res.ok(200)["rows"], json!([]));
    assert_eq!(
        other
            .get(&usage_uri(None, MARCH, MARCH + HOUR, "hour"))
            .await
            .ok(200)["rows"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    assert_eq!(fields(&owner, "/api/v1/usage").await, ["from", "to"]);
    assert_eq!(
        fields(&owner, &usage_uri(None, MARCH + HOUR, MARCH, "hour")).await,
        ["to"]
    );
    assert_eq!(
        fields(&owner, &usage_uri(None, MARCH, MARCH, "hour")).await,
        ["to"]
    );
    assert_eq!(
        fields(&owner, &usage_uri(None, MARCH, MARCH + HOUR, "week")).await,
        ["granularity"]
    );
    assert_eq!(
        fields(
            &owner,
            &usage_uri(None, MARCH, MARCH + 94 * 24 * HOUR, "hour")
        )
        .await,
        ["to"]
    );
    // 94 days is fine by the day, not by the hour; days start at midnight UTC.
    owner
        .get(&usage_uri(None, MARCH, MARCH + 94 * 24 * HOUR, "day"))
        .await
        .ok(200);
    assert_eq!(
        fields(
            &owner,
            &usage_uri(None, MARCH + HOUR, MARCH + 48 * HOUR, "day")
        )
        .await,
        ["from"]
    );
    assert_eq!(
        fields(
            &owner,
            &format!(
                "/api/v1/usage?from=2025-03-01T00:30:00Z&to={}",
                rfc(MARCH + HOUR)
            )
        )
        .await,
        ["from"]
    );
    assert_eq!(
        fields(
            &owner,
            &format!("/api/v1/usage?from=yesterday&to={}", rfc(MARCH + HOUR))
        )
        .await,
        ["from"]
    );
    owner.get("/api/v1/usage?bogus=1").await.problem(400);
    app.anon()
        .get(&usage_uri(None, MARCH, MARCH + HOUR, "hour"))
        .await
        .problem(401);
}

async fn fields(client: &Client<'_>, uri: &str) -> Vec<String> {
    client.get(uri).await.fields()
}

async fn incomplete_until_a_pull_covers_the_range(backend: Backend) {
    let (store, dir, raw) = common::open_store_raw(backend).await;
    let app = TestApp::on_store(store, dir, |_| {}).await.unwrap();
    let (owner, _) = app.signup("owner@example.com").await;
    // No namespace, no cell involved: nothing can be missing.
    let uri = usage_uri(None, MARCH, MARCH + HOUR, "hour");
    assert_eq!(owner.get(&uri).await.ok(200)["incomplete"], false);
    let (ns, _) = namespace(&app, &owner, "orders").await;
    // Its cell has never been pulled.
    assert_eq!(owner.get(&uri).await.ok(200)["incomplete"], true);
    pull(&app).await.unwrap();
    // Pulled now: a past range, and one running into the future, are whole.
    assert_eq!(owner.get(&uri).await.ok(200)["incomplete"], false);
    let now = chrono::Utc::now().timestamp_millis();
    let hour = now - now % HOUR;
    let current = usage_uri(Some(&ns), hour, hour + 2 * HOUR, "hour");
    assert_eq!(owner.get(&current).await.ok(200)["incomplete"], false);
    // The last whole pull started long ago (as after the cell has been
    // unreachable): ranges after it are incomplete, ranges before are not.
    // (A pull never moves the cursor or its start time back, whichever
    // replica finishes last, so the test turns them back itself.)
    let cell = cell_a(&app).await;
    raw.execute(&format!(
        "UPDATE usage_cursors SET from_hour_ms = 0, last_pull_started_ms = {}
         WHERE cell_id = '{}'",
        MARCH + 10 * HOUR,
        cell.id
    ))
    .await;
    assert_eq!(owner.get(&current).await.ok(200)["incomplete"], true);
    assert_eq!(owner.get(&uri).await.ok(200)["incomplete"], false);
    let after = usage_uri(None, MARCH, MARCH + 11 * HOUR, "hour");
    assert_eq!(owner.get(&after).await.ok(200)["incomplete"], true);
    // A failed pull changes nothing; the next good one makes it whole.
    app.cell.set_failing(true);
    assert!(pull(&app).await.is_err());
    assert_eq!(owner.get(&after).await.ok(200)["incomplete"], true);
    app.cell.set_failing(false);
    pull(&app).await.unwrap();
    assert_eq!(owner.get(&after).await.ok(200)["incomplete"], false);
    assert_eq!(owner.get(&current).await.ok(200)["incomplete"], false);
}

async fn csv_export_has_the_billing_report_shape(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (a, cell_a_ns) = namespace(&app, &owner, "alpha").await;
    let (b, cell_b_ns) = namespace(&app, &owner, "beta").await;
    app.cell.set_usage(&cell_a_ns, MARCH, "workflow_started", 3);
    app.cell.set_usage(&cell_a_ns, MARCH, "some_future_kind", 2);
    app.cell
        .set_usage(&cell_a_ns, MARCH, ACTIVE_STORAGE_BYTE_SECONDS, GBH / 2);
    app.cell.set_usage(
        &cell_b_ns,
        MARCH + 30 * 24 * HOUR,
        RETAINED_STORAGE_BYTE_SECONDS,
        3 * GBH,
    );
    // April: outside the month.
    app.cell
        .set_usage(&cell_b_ns, MARCH + 31 * 24 * HOUR, "signal", 9);
    pull(&app).await.unwrap();

    let res = owner.get("/api/v1/usage/export.csv?month=2025-03").await;
    res.ok(200);
    assert_eq!(res.content_type(), "text/csv; charset=utf-8");
    assert_eq!(res.headers["x-orrery-usage-incomplete"], "false");
    assert!(
        res.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("usage-2025-03.csv")
    );
    let text = res.body.as_str().unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let mut expected = vec![
        "namespace".to_owned(),
        "start".into(),
        "end".into(),
        "total_actions".into(),
        "active_storage_gbh".into(),
        "retained_storage_gbh".into(),
    ];
    expected.extend(KNOWN_ACTION_KINDS.iter().map(|k| format!("actions_{k}")));
    expected.push("other_actions".into());
    assert_eq!(header, expected);
    assert_eq!(lines.len(), 3, "{text}");
    let row = |i: usize| -> Vec<String> { lines[i].split(',').map(str::to_owned).collect() };
    let col = |name: &str| expected.iter().position(|c| c == name).unwrap();
    let first = row(1);
    assert_eq!(first.len(), expected.len());
    assert_eq!(first[0], a);
    assert_eq!(first[1], "2025-03-01T00:00:00Z");
    assert_eq!(first[2], "2025-03-01T01:00:00Z");
    assert_eq!(first[3], "5");
    assert_eq!(first[4], "0.500000");
    assert_eq!(first[5], "0.000000");
    assert_eq!(first[col("actions_workflow_started")], "3");
    assert_eq!(first[col("actions_signal")], "0");
    assert_eq!(first[col("other_actions")], "2");
    let second = row(2);
    assert_eq!(
        (second[0].as_str(), second[1].as_str()),
        (b.as_str(), "2025-03-31T00:00:00Z")
    );
    assert_eq!((second[3].as_str(), second[5].as_str()), ("0", "3.000000"));

    // from/to and a namespace instead of a month.
    let uri = format!(
        "/api/v1/usage/export.csv?namespace={b}&from={}&to={}",
        rfc(MARCH),
        rfc(MARCH + 32 * 24 * HOUR)
    );
    let res = owner.get(&uri).await;
    let text = res.ok(200).as_str().unwrap().to_owned();
    assert_eq!(
        text.split("\r\n").filter(|l| !l.is_empty()).count(),
        3,
        "{text}"
    );
    assert!(text.lines().skip(1).all(|l| l.starts_with(&b)));
    // Month and range together, a bad month, and no range at all are 422.
    let both = format!("/api/v1/usage/export.csv?month=2025-03&from={}", rfc(MARCH));
    assert_eq!(owner.get(&both).await.fields(), ["month"]);
    assert_eq!(
        owner
            .get("/api/v1/usage/export.csv?month=2025-3")
            .await
            .fields(),
        ["month"]
    );
    assert_eq!(
        owner.get("/api/v1/usage/export.csv").await.fields(),
        ["from", "to"]
    );
    owner
        .get("/api/v1/usage/export.csv?month=2025-03&namespace=nope.nowhere")
        .await
        .problem(404);
}

async fn usage_of_unknown_cell_namespaces_is_not_attributed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (_, cell_ns) = namespace(&app, &owner, "orders").await;
    app.cell.set_usage(&cell_ns, MARCH, "signal", 1);
    // An id the cell cannot name (a namespace created behind the control
    // plane's back, or gone): stored, attributed to nobody, and the pull
    // still completes.
    app.cell.set_usage("not-a-namespace", MARCH, "signal", 100);
    let pulled = pull(&app).await.unwrap();
    assert_eq!(pulled.rows, 2);
    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + HOUR, "hour"))
        .await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["total_actions"], 1);
    // A deleted namespace's usage stays the account's.
    let ns = rows[0]["namespace"].as_str().unwrap().to_owned();
    owner
        .delete(&format!("/api/v1/namespaces/{ns}"))
        .await
        .ok(204);
    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + HOUR, "hour"))
        .await;
    assert_eq!(res.ok(200)["rows"][0]["total_actions"], 1);
    owner
        .get(&usage_uri(Some(&ns), MARCH, MARCH + HOUR, "hour"))
        .await
        .ok(200);
}

async fn a_namespace_deleted_before_any_pull_keeps_its_usage(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (ns, cell_ns) = namespace(&app, &owner, "brief").await;
    app.cell.set_usage(&cell_ns, MARCH, "workflow_started", 40);
    app.cell
        .set_usage(&cell_ns, MARCH + HOUR, ACTIVE_STORAGE_BYTE_SECONDS, GBH);
    // Deleted before the puller met its id: the cell can no longer name
    // it, so only the mapping recorded at creation attributes it.
    owner
        .delete(&format!("/api/v1/namespaces/{ns}"))
        .await
        .ok(204);
    assert_eq!(pull(&app).await.unwrap().rows, 2);
    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + 2 * HOUR, "hour"))
        .await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["namespace"] == ns.as_str()));
    assert_eq!(rows[0]["total_actions"], 40);
    assert_eq!(rows[1]["active_storage_byte_seconds"], GBH);
    // Still addressable by its id, and no one else's.
    owner
        .get(&usage_uri(Some(&ns), MARCH, MARCH + HOUR, "hour"))
        .await
        .ok(200);
    let (other, _) = app.signup("other@example.com").await;
    let res = other
        .get(&usage_uri(None, MARCH, MARCH + 2 * HOUR, "hour"))
        .await;
    assert_eq!(res.ok(200)["rows"], json!([]));
}

async fn a_create_whose_cell_id_cannot_be_learned_is_undone(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    app.cell.state.fail_describe.store(true, Ordering::SeqCst);
    let res = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await;
    res.problem(502);
    // Nothing is left: not here, not at the cell, not pending.
    assert_eq!(owner.get("/api/v1/namespaces").await.ok(200), &json!([]));
    assert!(app.cell.namespaces().is_empty());
    assert!(app.store.pending_namespaces().await.unwrap().is_empty());
    // Once the cell answers again the same create succeeds, mapped.
    app.cell.state.fail_describe.store(false, Ordering::SeqCst);
    let (ns, cell_ns) = namespace(&app, &owner, "orders").await;
    let cell = cell_a(&app).await;
    assert_eq!(
        app.store.mapped_usage_namespaces(&cell.id).await.unwrap(),
        [cell_ns]
    );
    assert_eq!(app.cell.namespaces().len(), 1);
    assert!(app.cell.namespaces().contains_key(&ns));
}

/// A namespace as one created before creation recorded the cell's id:
/// registered at the cell and active, with no mapping.
async fn unmapped_namespace(app: &TestApp, account_id: &str, name: &str) -> (String, String) {
    let cell = cell_a(app).await;
    let id = format!("{name}.unmapped");
    let ns = Namespace {
        id: id.clone(),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        cell_id: cell.id.clone(),
        retention_days: 30,
        state: NamespaceState::Pending,
        created_by: "test".into(),
        created_ms: MARCH,
        updated_ms: MARCH,
    };
    app.store
        .insert_pending_namespace(&ns, None, 1000)
        .await
        .unwrap();
    app.state
        .cells
        .register_namespace(&cell, &id, 30)
        .await
        .unwrap();
    let audit = Audit {
        account_id: Some(account_id.to_owned()),
        actor: "test".into(),
        action: "namespace.create".into(),
        target: format!("namespace:{id}"),
        source_ip: "test".into(),
        detail: String::new(),
    };
    app.store.activate_namespace(&id, &audit).await.unwrap();
    let cell_ns = app.cell.namespace_id(&id);
    (id, cell_ns)
}

async fn namespaces_mapped_before_creation_did_it_are_mapped_by_the_puller(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, account) = app.signup("owner@example.com").await;
    let account_id = account["account"]["id"].as_str().unwrap();
    let (ns, cell_ns) = unmapped_namespace(&app, account_id, "old").await;
    let cell = cell_a(&app).await;
    assert!(
        app.store
            .mapped_usage_namespaces(&cell.id)
            .await
            .unwrap()
            .is_empty()
    );
    app.cell.set_usage(&cell_ns, MARCH, "signal", 3);
    pull(&app).await.unwrap();
    let res = owner
        .get(&usage_uri(None, MARCH, MARCH + HOUR, "hour"))
        .await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0]["namespace"].as_str(),
            rows[0]["total_actions"].as_i64()
        ),
        (Some(ns.as_str()), Some(3))
    );
}

async fn one_answer_holds_a_bounded_number_of_rows(backend: Backend) {
    use orrery_control_plane::api::usage::MAX_USAGE_ROWS;
    let app = TestApp::start(backend).await;
    let (owner, account) = app.signup("owner@example.com").await;
    let account_id = account["account"]["id"].as_str().unwrap();
    let cell = cell_a(&app).await;
    // 93 days of hours is 2232 buckets a namespace: one more namespace than
    // fits under the bound, each with usage every hour.
    let hours: i64 = 93 * 24;
    let namespaces = MAX_USAGE_ROWS as i64 / hours + 1;
    let mut first = String::new();
    for n in 0..namespaces {
        let (ns, cell_ns) = unmapped_namespace(&app, account_id, &format!("ns{n}")).await;
        assert!(
            app.store
                .map_usage_namespace(&cell.id, &cell_ns, &ns)
                .await
                .unwrap()
        );
        let rows: Vec<_> = (0..hours)
            .map(|h| UsageTotal {
                cell_namespace_id: cell_ns.clone(),
                hour_ms: MARCH + h * HOUR,
                kind: "signal".into(),
                total: 1,
            })
            .collect();
        app.store.replace_usage(&cell.id, &rows).await.unwrap();
        if n == 0 {
            first = ns;
        }
    }
    let end = MARCH + hours * HOUR;
    let all = usage_uri(None, MARCH, end, "hour");
    assert_eq!(fields(&owner, &all).await, ["namespace"]);
    let csv = format!(
        "/api/v1/usage/export.csv?from={}&to={}",
        rfc(MARCH),
        rfc(end)
    );
    assert_eq!(fields(&owner, &csv).await, ["namespace"]);
    // Narrowed by namespace, by range or by granularity, it answers.
    let one = usage_uri(Some(&first), MARCH, end, "hour");
    let res = owner.get(&one).await;
    assert_eq!(res.ok(200)["rows"].as_array().unwrap().len() as i64, hours);
    let shorter = usage_uri(None, MARCH, MARCH + 100 * HOUR, "hour");
    let res = owner.get(&shorter).await;
    assert_eq!(
        res.ok(200)["rows"].as_array().unwrap().len() as i64,
        100 * namespaces
    );
    let daily = usage_uri(None, MARCH, end, "day");
    let res = owner.get(&daily).await;
    let rows = res.ok(200)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len() as i64, 93 * namespaces);
    assert!(rows.iter().all(|r| r["total_actions"] == 24));
}
