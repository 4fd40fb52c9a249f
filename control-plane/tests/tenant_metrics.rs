//! `GET /api/v1/metrics`: statistics pulled over real gRPC from a cell
//! admin server (the generated `CellAdmin` service), rendered as Temporal
//! Cloud's OpenMetrics, for the caller's account only; the `metrics_read`
//! role reads that and nothing else.
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use common::{ADMIN_TOKEN, Backend, Client, TestApp, open_store, test_kek};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use orrery_cell_api::cell_admin_server::{CellAdmin as CellAdminService, CellAdminServer};
use orrery_cell_api::{
    Histogram, Label, NamespaceStats, PullNamespaceStatsRequest, PullNamespaceStatsResponse,
    PullUsageRequest, PullUsageResponse, Sample,
};
use orrery_control_plane::store::Cell;
use orrery_control_plane::{
    AppState, CellAdmin, CellAdminError, CellSpec, Config, GrpcCellAdmin, router,
};
use orrery_tenant_auth::{Authorizer, Principal};
use serde_json::json;
use tower::ServiceExt;

on_both!(
    tenants_see_only_their_own_series,
    metrics_read_reads_metrics_and_nothing_else,
    a_namespace_named_late_shows_no_spike,
);

/// A cell's admin service answering `PullNamespaceStats` with what the
/// test sets.
#[derive(Clone, Default)]
struct StatsCell(Arc<Mutex<PullNamespaceStatsResponse>>);

#[async_trait]
impl CellAdminService for StatsCell {
    async fn pull_usage(
        &self,
        _: tonic::Request<PullUsageRequest>,
    ) -> Result<tonic::Response<PullUsageResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }

    async fn pull_namespace_stats(
        &self,
        _: tonic::Request<PullNamespaceStatsRequest>,
    ) -> Result<tonic::Response<PullNamespaceStatsResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.0.lock().unwrap().clone()))
    }
}

async fn start_stats_cell() -> (String, StatsCell) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cell = StatsCell::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CellAdminServer::new(cell.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (url, cell)
}

/// The real gRPC client; namespace calls go to the fake cell (as in every
/// other test), the statistics pull to the stats server, both as cell-a.
/// The cell's namespace ids resolve from `names` (the fake cell does not
/// answer DescribeNamespace); looking up one in `failing` fails.
struct SplitCell {
    grpc: GrpcCellAdmin,
    stats_url: String,
    names: Names,
    failing: Failing,
}

type Names = Arc<Mutex<BTreeMap<String, String>>>;
type Failing = Arc<Mutex<std::collections::BTreeSet<String>>>;

#[async_trait]
impl CellAdmin for SplitCell {
    async fn register_namespace(
        &self,
        c: &Cell,
        ns: &str,
        days: u32,
    ) -> Result<(), CellAdminError> {
        self.grpc.register_namespace(c, ns, days).await
    }
    async fn update_namespace(&self, c: &Cell, ns: &str, days: u32) -> Result<(), CellAdminError> {
        self.grpc.update_namespace(c, ns, days).await
    }
    async fn delete_namespace(&self, c: &Cell, ns: &str) -> Result<(), CellAdminError> {
        self.grpc.delete_namespace(c, ns).await
    }
    async fn pull_usage(
        &self,
        c: &Cell,
        r: PullUsageRequest,
    ) -> Result<PullUsageResponse, CellAdminError> {
        self.grpc.pull_usage(c, r).await
    }
    async fn namespace_name(&self, c: &Cell, id: &str) -> Result<Option<String>, CellAdminError> {
        if self.failing.lock().unwrap().contains(id) {
            // What an unreachable cell answers.
            let mut unreachable = c.clone();
            unreachable.admin_endpoint = "http://127.0.0.1:1".into();
            return self
                .grpc
                .pull_namespace_stats(&unreachable)
                .await
                .map(|_| None);
        }
        Ok(self.names.lock().unwrap().get(id).cloned())
    }
    async fn namespace_id(&self, c: &Cell, ns: &str) -> Result<Option<String>, CellAdminError> {
        self.grpc.namespace_id(c, ns).await
    }
    async fn pull_namespace_stats(
        &self,
        c: &Cell,
    ) -> Result<PullNamespaceStatsResponse, CellAdminError> {
        let mut stats_cell = c.clone();
        stats_cell.admin_endpoint = self.stats_url.clone();
        self.grpc.pull_namespace_stats(&stats_cell).await
    }
}

struct Harness {
    app: TestApp,
    state: AppState,
    stats: StatsCell,
    /// The cell's namespace id → name.
    names: Names,
    /// Ids whose lookup fails.
    failing: Failing,
}

async fn harness(backend: Backend) -> Harness {
    let (store, dir) = open_store(backend).await;
    let mut app = TestApp::on_store(store.clone(), dir, |_| {}).await.unwrap();
    let (stats_url, stats) = start_stats_cell().await;
    // The same configuration the harness runs with, over the same store,
    // but with a CellAdmin whose statistics come from the stats server.
    let mut config = Config::new("unused://", "127.0.0.1:0".parse().unwrap());
    config.cells = vec![CellSpec {
        name: "cell-a".into(),
        grpc_url: app.cell.url.clone(),
        http_url: None,
    }];
    config.cell_capacity = 100;
    config.cell_channel.insecure_plaintext = true;
    config.bootstrap_admin_token = Some(ADMIN_TOKEN.into());
    config.login_window = std::time::Duration::from_secs(24 * 3600);
    config.key_encryption = Some(test_kek());
    let channel = config.cell_channel.clone();
    let names = Names::default();
    let cell_names = names.clone();
    let failing = Failing::default();
    let cell_failing = failing.clone();
    let state = AppState::new(
        store,
        move |key| {
            Arc::new(SplitCell {
                grpc: GrpcCellAdmin::new(key, channel),
                stats_url,
                names: cell_names,
                failing: cell_failing,
            })
        },
        &config,
    )
    .await
    .unwrap();
    app.router = router(state.clone());
    Harness {
        app,
        state,
        stats,
        names,
        failing,
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn counter(name: &str, labels: Vec<Label>, value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels,
        value,
        gauge: false,
    }
}

/// One namespace's cumulative statistics after `requests` start calls.
fn namespace_stats(namespace: &str, requests: f64, queue: &str) -> NamespaceStats {
    NamespaceStats {
        namespace_id: namespace.into(),
        samples: vec![
            counter(
                "service_requests",
                vec![label("operation", "StartWorkflowExecution")],
                requests,
            ),
            counter(
                "workflow_success",
                vec![label("task_queue", queue), label("workflow_type", "Pay")],
                requests / 2.0,
            ),
            counter(
                "action",
                vec![label("action_type", "workflow_started")],
                requests,
            ),
            Sample {
                name: "approximate_backlog_count".into(),
                labels: vec![label("task_queue", queue), label("task_type", "Workflow")],
                value: 7.0,
                gauge: true,
            },
        ],
        histograms: vec![Histogram {
            name: "service_latency".into(),
            labels: vec![label("operation", "StartWorkflowExecution")],
            bounds: vec![0.01, 0.1, 1.0],
            counts: vec![requests as u64, 0, 0, 0],
            sum: 0.0,
        }],
    }
}

async fn cell_a(h: &Harness) -> Cell {
    (h.state.store.cell_loads().await.unwrap())
        .into_iter()
        .map(|l| l.cell)
        .find(|c| c.name == "cell-a")
        .unwrap()
}

/// Two pulls 15 s apart (the cell's clock): `requests` grows by 30 for
/// every namespace in `namespaces`, so each one's rate is 2/s.
async fn pull_twice(h: &Harness, namespaces: &[(&str, &str)]) {
    let cell = cell_a(h).await;
    let as_of = chrono::Utc::now().timestamp_millis();
    for (i, total) in [(0, 100.0), (1, 130.0)] {
        *h.stats.0.lock().unwrap() = PullNamespaceStatsResponse {
            process_start_ms: as_of - 3_600_000,
            as_of_ms: as_of + i * 15_000,
            namespaces: namespaces
                .iter()
                .map(|(ns, queue)| namespace_stats(ns, total, queue))
                .collect(),
        };
        orrery_control_plane::tenant_metrics::pull_cell(&h.state, &cell)
            .await
            .unwrap();
    }
}

async fn scrape(app: &TestApp, client: &Client<'_>) -> (StatusCode, String, String) {
    let mut req = Request::get("/api/v1/metrics");
    if let Some(token) = &client.bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(session) = &client.session {
        req = req.header(header::COOKIE, format!("orrery_session={session}"));
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo::<std::net::SocketAddr>(
            "127.0.0.1:40000".parse().unwrap(),
        ));
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// One sample of an OpenMetrics body.
#[derive(Debug)]
struct Parsed {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reading of the OpenMetrics text this endpoint writes: every
/// line a `# TYPE <name> gauge` / `# HELP` comment, a sample
/// `name{labels} value` of the family last typed, or `# EOF` last; label
/// values with only OpenMetrics's three escapes. Panics on anything else.
fn parse(body: &str) -> Vec<Parsed> {
    assert!(body.ends_with("# EOF\n"), "no final # EOF: {body}");
    let lines: Vec<&str> = body.lines().collect();
    let (last, lines) = lines.split_last().unwrap();
    assert_eq!(*last, "# EOF");
    let mut family: Option<String> = None;
    let mut typed = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert_eq!(kind, "gauge", "{line}");
            assert!(typed.insert(name.to_owned()), "family {name} typed twice");
            family = Some(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("# HELP name text");
            assert_eq!(Some(name), family.as_deref(), "{line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let open = line.find('{').expect("labels");
        let name = &line[..open];
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        assert_eq!(
            Some(name),
            family.as_deref(),
            "sample outside its family: {line}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = &line[open + 1..];
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find("=\"").expect("label=\"value\"");
            let key = &rest[..eq];
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{key}"
            );
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                let (i, c) = chars.next().expect("unterminated label value");
                match c {
                    '"' => break i,
                    '\\' => match chars.next().expect("escape").1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other} in {line}"),
                    },
                    '\n' => panic!("raw newline"),
                    c => value.push(c),
                }
            };
            assert!(
                labels.insert(key.to_owned(), value).is_none(),
                "{key} twice"
            );
            rest = &rest[eq + 2 + end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        let value = rest.strip_prefix(' ').expect("a space before the value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value {value:?}"));
        out.push(Parsed {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

fn value(samples: &[Parsed], name: &str, namespace: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && s.labels["temporal_namespace"] == namespace)
        .map(|s| s.value)
}

async fn create_namespace(owner: &Client<'_>, name: &str) -> String {
    owner
        .post("/api/v1/namespaces", json!({"name": name}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A `metrics_read` service account of the owner's account and its key.
async fn metrics_key(owner: &Client<'_>) -> (String, String) {
    let sa = owner
        .post(
            "/api/v1/service-accounts",
            json!({"name": "scraper", "role": "metrics_read"}),
        )
        .await;
    let sa_id = sa.ok(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(sa.body["role"], "metrics_read");
    let key = owner
        .post(
            "/api/v1/api-keys",
            json!({"name": "scrape", "owner": format!("service-account:{sa_id}"), "expiry_days": 30}),
        )
        .await;
    (sa_id, key.ok(201)["token"].as_str().unwrap().to_owned())
}

async fn tenants_see_only_their_own_series(backend: Backend) {
    let h = harness(backend).await;
    let app = &h.app;
    let (owner_a, a) = app.signup("a@example.com").await;
    let (owner_b, b) = app.signup("b@example.com").await;
    let account_a = a["account"]["id"].as_str().unwrap().to_owned();
    let account_b = b["account"]["id"].as_str().unwrap().to_owned();
    let ns_a = create_namespace(&owner_a, "orders").await;
    let ns_b = create_namespace(&owner_b, "orders").await;
    assert_ne!(ns_a, ns_b);
    let (_, token) = metrics_key(&owner_a).await;
    let scraper = app.bearer(&token);

    // Before any pull: nothing but # EOF, already in the right format.
    let (status, content_type, body) = scrape(app, &scraper).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(body, "# EOF\n");

    // The cell reports both accounts' namespaces by the ids it gave them,
    // and one it cannot name; A's task queue name tries to forge a series
    // of B's namespace.
    let (id_a, id_b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    h.names
        .lock()
        .unwrap()
        .extend([(id_a.clone(), ns_a.clone()), (id_b.clone(), ns_b.clone())]);
    let forged =
        format!("q\"}} 1\ntemporal_cloud_v1_service_request_count{{temporal_namespace=\"{ns_b}");
    let stray = uuid::Uuid::new_v4().to_string();
    pull_twice(
        &h,
        &[
            (&id_a, forged.as_str()),
            (&id_b, "b-queue"),
            (&stray, "stray-queue"),
        ],
    )
    .await;

    let (status, _, body) = scrape(app, &scraper).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let samples = parse(&body);
    assert!(!samples.is_empty());
    for s in &samples {
        assert!(s.name.starts_with("temporal_cloud_v1_"), "{}", s.name);
        assert_eq!(s.labels["temporal_namespace"], ns_a, "{s:?}");
        assert_eq!(s.labels["temporal_account"], account_a, "{s:?}");
    }
    assert!(!body.contains(&account_b) && !body.contains("b-queue") && !body.contains("stray"));
    assert!(!body.contains(&id_a), "the cell's ids stay inside");
    // 30 requests in 15 s: 2/s; half of them workflows completed.
    let rate = value(&samples, "temporal_cloud_v1_service_request_count", &ns_a).unwrap();
    assert!((rate - 2.0).abs() < 1e-9, "{rate}");
    let done = value(&samples, "temporal_cloud_v1_workflow_success_count", &ns_a).unwrap();
    assert!((done - 1.0).abs() < 1e-9, "{done}");
    let wf = samples
        .iter()
        .find(|s| s.name == "temporal_cloud_v1_workflow_success_count")
        .unwrap();
    assert_eq!(
        wf.labels["temporal_task_queue"], forged,
        "escaped and read back whole"
    );
    assert_eq!(wf.labels["temporal_workflow_type"], "Pay");
    assert_eq!(wf.labels["region"], "cell-a");
    assert_eq!(
        value(
            &samples,
            "temporal_cloud_v1_approximate_backlog_count",
            &ns_a
        ),
        Some(7.0)
    );
    let total = samples
        .iter()
        .find(|s| s.name == "temporal_cloud_v1_total_action_count")
        .unwrap();
    assert!((total.value - 2.0).abs() < 1e-9);
    assert_eq!(total.labels["is_background"], "false");
    assert!(!total.labels.contains_key("region"));
    // All 30 new requests fell under 10 ms.
    let p99 = value(&samples, "temporal_cloud_v1_service_latency_p99", &ns_a).unwrap();
    assert!(p99 > 0.0 && p99 <= 0.01, "{p99}");

    // B's owner sees B's namespace only.
    let (status, _, body) = scrape(app, &owner_b).await;
    assert_eq!(status, StatusCode::OK);
    let samples = parse(&body);
    assert!(!samples.is_empty());
    for s in &samples {
        assert_eq!(s.labels["temporal_namespace"], ns_b, "{s:?}");
        assert_eq!(s.labels["temporal_account"], account_b, "{s:?}");
    }
    assert!(!body.contains(&account_a));
}

async fn metrics_read_reads_metrics_and_nothing_else(backend: Backend) {
    let h = harness(backend).await;
    let app = &h.app;
    let (owner, _) = app.signup("owner@example.com").await;
    let ns = create_namespace(&owner, "orders").await;
    let (sa_id, token) = metrics_key(&owner).await;
    let scraper = app.bearer(&token);
    assert_eq!(scrape(app, &scraper).await.0, StatusCode::OK);
    assert_eq!(scrape(app, &owner).await.0, StatusCode::OK);

    // The role is a service account's: no user is invited into it or given it.
    let refused = owner
        .post(
            "/api/v1/users",
            json!({"email": "scraper@example.com", "role": "metrics_read"}),
        )
        .await;
    let problem = refused.problem(422);
    assert!(problem.to_string().contains("role"), "{problem}");

    for path in [
        "/api/v1/namespaces",
        "/api/v1/users",
        "/api/v1/api-keys",
        "/api/v1/service-accounts",
        "/api/v1/audit-log",
        "/api/v1/account",
        "/api/v1/me",
        &format!("/api/v1/namespaces/{ns}"),
        &format!("/api/v1/namespaces/{ns}/permissions"),
    ] {
        scraper.get(path).await.problem(403);
    }
    scraper
        .post(
            "/api/v1/api-keys",
            json!({"name": "more", "expiry_days": 90}),
        )
        .await
        .problem(403);
    scraper
        .post("/api/v1/namespaces", json!({"name": "mine"}))
        .await
        .problem(403);
    scraper
        .delete(&format!("/api/v1/namespaces/{ns}"))
        .await
        .problem(403);

    // A grant on the namespace gives it nothing on the data plane either.
    let principal = format!("service-account:{sa_id}");
    owner
        .put(
            &format!("/api/v1/namespaces/{ns}/permissions/{principal}"),
            json!({"permission": "write"}),
        )
        .await
        .ok(200);
    let snap = app.verify_snapshot(app.snapshot(None).await.ok(200));
    let auth = Authorizer::new(snap);
    assert_eq!(
        auth.namespace_permission(&Principal::ServiceAccount(sa_id.clone()), &ns),
        None
    );
    scraper
        .get(&format!("/api/v1/namespaces/{ns}"))
        .await
        .problem(403);

    // Other roles may not scrape; nobody unauthenticated may.
    let (read, _) = app.invite(&owner, "read@example.com", "read").await;
    let (dev, _) = app.invite(&owner, "dev@example.com", "developer").await;
    let (fin, _) = app.invite(&owner, "fin@example.com", "finance_admin").await;
    for client in [&read, &dev, &fin] {
        let (status, content_type, body) = scrape(app, client).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(content_type, "application/problem+json");
    }
    assert_eq!(scrape(app, &app.anon()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(app, &app.bearer("not-a-key")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Demoted to read, the same key no longer scrapes.
    owner
        .patch(
            &format!("/api/v1/service-accounts/{sa_id}"),
            json!({"role": "read"}),
        )
        .await
        .ok(200);
    assert_eq!(scrape(app, &scraper).await.0, StatusCode::FORBIDDEN);
}

/// A namespace the control plane could not name for a while (its lookup
/// failed) appears in a later reading with everything it counted since the
/// cell started: that is not a last-minute rate.
async fn a_namespace_named_late_shows_no_spike(backend: Backend) {
    let h = harness(backend).await;
    let app = &h.app;
    let (owner, _) = app.signup("a@example.com").await;
    let ns_a = create_namespace(&owner, "orders").await;
    let ns_b = create_namespace(&owner, "billing").await;
    let (id_a, id_b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    h.names
        .lock()
        .unwrap()
        .extend([(id_a.clone(), ns_a.clone()), (id_b.clone(), ns_b.clone())]);
    h.failing.lock().unwrap().insert(id_b.clone());
    let cell = cell_a(&h).await;
    let as_of = chrono::Utc::now().timestamp_millis();
    // The cell has been up an hour; billing has 9 000 requests since.
    for (i, (a, b)) in [(100.0, 9_000.0), (130.0, 9_030.0), (160.0, 9_060.0)]
        .into_iter()
        .enumerate()
    {
        if i == 1 {
            h.failing.lock().unwrap().clear();
        }
        *h.stats.0.lock().unwrap() = PullNamespaceStatsResponse {
            process_start_ms: as_of - 3_600_000,
            as_of_ms: as_of + i as i64 * 15_000,
            namespaces: vec![
                namespace_stats(&id_a, a, "q"),
                namespace_stats(&id_b, b, "q"),
            ],
        };
        orrery_control_plane::tenant_metrics::pull_cell(&h.state, &cell)
            .await
            .unwrap();
        let samples = parse(&scrape(app, &owner).await.2);
        let rate = |ns: &str| value(&samples, "temporal_cloud_v1_service_request_count", ns);
        match i {
            0 => assert_eq!(rate(&ns_b), None),
            // Named now, but no earlier reading has it: no rate yet (not
            // 9 030 / 15 s), while its current values show.
            1 => {
                assert_eq!(rate(&ns_a), Some(2.0));
                assert_eq!(rate(&ns_b), None, "{samples:?}");
                assert_eq!(
                    value(
                        &samples,
                        "temporal_cloud_v1_approximate_backlog_count",
                        &ns_b
                    ),
                    Some(7.0)
                );
            }
            // From the reading that has it: 30 in 15 s.
            _ => assert_eq!(rate(&ns_b), Some(2.0)),
        }
    }
}
