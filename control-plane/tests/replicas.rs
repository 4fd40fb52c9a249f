//! Two control planes (`ControlPlane::start`, two ports) on one database,
//! spoken to over real HTTP as a load balancer would: whatever one replica
//! did, the other honours (sessions, logout, rate limits, the snapshot
//! version and the key it is signed with), and the probes answer. On a
//! SQLite file and on PostgreSQL (a schema per case).
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use common::{ADMIN_TOKEN, Backend, FakeCell, PASSWORD, TestApp, test_kek};
use orrery_control_plane::store::{
    Audit, ControlStore, Namespace, NamespaceState, PostgresStore, SqliteStore, UsageTotal,
};
use orrery_control_plane::{CellSpec, Config, ControlPlane};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both!(
    a_session_made_on_one_replica_works_on_the_other_until_logged_out_on_either,
    login_attempts_count_on_every_replica,
    snapshot_versions_never_go_back_between_replicas,
    probes_answer_and_readyz_says_when_the_database_is_gone,
    usage_pulled_by_two_replicas_out_of_order_keeps_the_newest_totals,
    a_pending_namespace_is_finished_only_once_past_its_grace,
);

/// One database two replicas share: its URL, and what keeps it alive.
struct Database {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn database(backend: Backend) -> Database {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            Database {
                url: format!("sqlite://{}/control-plane.db", dir.path().display()),
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let url = std::env::var("ORRERY_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("cp_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            let sep = if url.contains('?') { '&' } else { '?' };
            Database {
                url: format!("{url}{sep}options[search_path]={schema}"),
                _dir: None,
            }
        }
    }
}

/// The store a test reads behind the replicas' backs.
async fn open(db: &Database) -> std::sync::Arc<dyn ControlStore> {
    if db.url.starts_with("sqlite:") {
        std::sync::Arc::new(SqliteStore::open(&db.url).await.unwrap())
    } else {
        std::sync::Arc::new(PostgresStore::open(&db.url).await.unwrap())
    }
}

fn config(db: &Database, cell: &FakeCell) -> Config {
    let mut config = Config::new(db.url.clone(), "127.0.0.1:0".parse().unwrap());
    config.cells = vec![CellSpec {
        name: "cell-a".into(),
        grpc_url: cell.url.clone(),
        http_url: None,
    }];
    config.cell_channel.insecure_plaintext = true;
    config.insecure_http = true;
    config.bootstrap_admin_token = Some(ADMIN_TOKEN.into());
    config.key_encryption = Some(test_kek());
    // No refill during a test, however slowly it runs.
    config.login_window = Duration::from_secs(24 * 3600);
    config
}

/// Starts a replica serving until the test's runtime ends; its address.
async fn replica(config: Config) -> SocketAddr {
    let cp = ControlPlane::start(config).await.unwrap();
    let addr = cp.local_addr;
    tokio::spawn(cp.serve(std::future::pending()));
    addr
}

/// Two replicas on one database, started together as a deployment would.
async fn two_replicas(
    db: &Database,
    cell: &FakeCell,
    configure: impl Fn(&mut Config),
) -> (SocketAddr, SocketAddr) {
    let (mut a, mut b) = (config(db, cell), config(db, cell));
    configure(&mut a);
    configure(&mut b);
    tokio::join!(replica(a), replica(b))
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The value a `set-cookie` header gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        (self.headers.iter())
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                let pair = v.split(';').next()?;
                let (k, val) = pair.split_once('=')?;
                (k == name).then(|| val.to_owned())
            })
    }
}

/// One HTTP/1.1 request on a connection of its own, as a client behind a
/// load balancer makes them.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    Answer {
        status: status.parse().unwrap(),
        body: if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        },
        headers,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

/// A browser's session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn headers(&self) -> [(&str, &str); 2] {
        [("cookie", &self.cookie), ("x-csrf-token", &self.csrf)]
    }
}

async fn signup(addr: SocketAddr, email: &str) {
    let res = http(
        addr,
        "POST",
        "/api/v1/signup",
        &[],
        Some(json!({"account_name": "Acme", "email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
}

async fn login(addr: SocketAddr, email: &str, password: &str) -> Answer {
    http(
        addr,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn session(addr: SocketAddr, email: &str) -> Session {
    let res = login(addr, email, PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.body);
    Session {
        cookie: format!("orrery_session={}", res.cookie("orrery_session").unwrap()),
        csrf: res.json()["csrf_token"].as_str().unwrap().to_owned(),
    }
}

async fn a_session_made_on_one_replica_works_on_the_other_until_logged_out_on_either(
    backend: Backend,
) {
    let db = database(backend).await;
    let cell = FakeCell::start().await;
    let (a, b) = two_replicas(&db, &cell, |_| {}).await;
    signup(a, "alice@example.com").await;
    let alice = session(a, "alice@example.com").await;

    // Read and, with the CSRF token the session holds, write on B.
    let me = http(b, "GET", "/api/v1/me", &alice.headers(), None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["email"], "alice@example.com");
    let key = http(
        b,
        "POST",
        "/api/v1/api-keys",
        &alice.headers(),
        Some(json!({"name": "ci", "expiry_days": 30})),
    )
    .await;
    assert_eq!(key.status, 201, "{}", key.body);
    // The CSRF check is the stored session's, whichever replica made it.
    let forged = http(
        b,
        "POST",
        "/api/v1/api-keys",
        &[("cookie", &alice.cookie), ("x-csrf-token", "not-the-token")],
        Some(json!({"name": "forged", "expiry_days": 30})),
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // Logged out on B: the session ends on A too.
    let out = http(b, "POST", "/api/v1/logout", &alice.headers(), None).await;
    assert_eq!(out.status, 204, "{}", out.body);
    for addr in [a, b] {
        let me = http(addr, "GET", "/api/v1/me", &alice.headers(), None).await;
        assert_eq!(me.status, 401, "{}", me.body);
    }

    // And the other way round: made on B, ended on A.
    let again = session(b, "alice@example.com").await;
    assert_eq!(
        http(a, "GET", "/api/v1/me", &again.headers(), None)
            .await
            .status,
        200
    );
    let out = http(a, "POST", "/api/v1/logout", &again.headers(), None).await;
    assert_eq!(out.status, 204, "{}", out.body);
    let me = http(b, "GET", "/api/v1/me", &again.headers(), None).await;
    assert_eq!(me.status, 401, "{}", me.body);
}

async fn login_attempts_count_on_every_replica(backend: Backend) {
    let db = database(backend).await;
    let cell = FakeCell::start().await;
    let (a, b) = two_replicas(&db, &cell, |c| {
        c.login_attempts_per_email = 3;
        c.login_attempts_per_ip = 5;
    })
    .await;
    signup(a, "bob@example.com").await;
    // Three wrong guesses for one email, spread over both replicas ...
    for addr in [a, b, a] {
        let res = login(addr, "bob@example.com", "wrong password 123").await;
        assert_eq!(res.status, 401, "{}", res.body);
    }
    // ... spend its budget on both: one replica alone would have allowed
    // three more.
    for addr in [b, a] {
        let res = login(addr, "bob@example.com", PASSWORD).await;
        assert_eq!(res.status, 429, "{}", res.body);
        assert_eq!(res.json()["type"], "urn:orrery:problem:rate-limited");
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1, "{retry}");
    }
    // The address's budget (5) is shared too: two more attempts (one of
    // them refused above already counted) exhaust it for every email.
    let res = login(b, "carol@example.com", PASSWORD).await;
    assert_eq!(
        res.status, 429,
        "the address spent 5 attempts: {}",
        res.body
    );
}

/// The version a signed snapshot answer states (its claims, unverified:
/// the signature is checked separately).
fn version_of(jws: &str) -> u64 {
    let payload = jws.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["version"].as_u64().unwrap()
}

async fn snapshot_versions_never_go_back_between_replicas(backend: Backend) {
    let db = database(backend).await;
    let cell = FakeCell::start().await;
    let (a, b) = two_replicas(&db, &cell, |_| {}).await;
    // The operator registers the cell through A; its credential works on B.
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let registered = http(
        a,
        "POST",
        "/api/v1/admin/cells",
        &[("authorization", &admin)],
        Some(json!({"name": "cell-a", "grpc_endpoint": cell.url, "capacity": 100})),
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let credential = registered.json()["credential"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {credential}");
    let cell_id = orrery_tenant_auth::control::cell_id_of_credential(&credential)
        .unwrap()
        .to_owned();

    // Both replicas sign with the one control key kept in the database, so
    // a cell configured with (or fetching) it verifies either's answers.
    let key_a = http(a, "GET", "/internal/v1/control-key", &[], None).await;
    let key_b = http(b, "GET", "/internal/v1/control-key", &[], None).await;
    assert_eq!(key_a.json(), key_b.json());
    let public_key = key_a.json()["public_key"].as_str().unwrap().to_owned();
    let verifier =
        orrery_tenant_auth::control::ControlVerifier::new([public_key.as_str()], &cell_id).unwrap();

    signup(a, "dora@example.com").await;
    let dora = session(a, "dora@example.com").await;
    let mut seen = 0;
    let mut since: Option<u64> = None;
    for round in 0..3 {
        // A change made through one replica, polled on both in turn.
        let writer = if round % 2 == 0 { a } else { b };
        let key = http(
            writer,
            "POST",
            "/api/v1/api-keys",
            &dora.headers(),
            Some(json!({"name": format!("k{round}"), "expiry_days": 30})),
        )
        .await;
        assert_eq!(key.status, 201, "{}", key.body);
        for addr in [a, b, a, b] {
            let path = match since {
                Some(v) => format!("/internal/v1/auth-snapshot?since={v}"),
                None => "/internal/v1/auth-snapshot".into(),
            };
            let res = http(addr, "GET", &path, &[("authorization", &bearer)], None).await;
            assert_eq!(res.status, 200, "{}", res.body);
            let signed = verifier.snapshot(&res.body).unwrap();
            let version = version_of(&res.body);
            assert!(version >= seen, "version {version} after {seen} ({addr})");
            if version > seen {
                // A new version comes whole, never as "unchanged".
                let snapshot = signed.snapshot.expect("a whole snapshot");
                assert_eq!(snapshot.version, version);
            } else {
                assert!(signed.snapshot.is_none(), "still {seen}: unchanged");
            }
            seen = version;
            since = Some(version);
        }
        assert!(seen > 0);
    }
}

async fn probes_answer_and_readyz_says_when_the_database_is_gone(backend: Backend) {
    let db = database(backend).await;
    let cell = FakeCell::start().await;
    let (a, b) = two_replicas(&db, &cell, |_| {}).await;
    for addr in [a, b] {
        for path in ["/livez", "/readyz"] {
            let res = http(addr, "GET", path, &[], None).await;
            assert_eq!(res.status, 200, "{path}: {}", res.body);
            assert_eq!(res.body, "ok\n");
        }
    }
    // Outside the API document: nothing to authenticate, nothing to list.
    let doc = http(a, "GET", "/api/v1/openapi.json", &[], None)
        .await
        .json();
    assert!(doc["paths"].get("/readyz").is_none());

    // What the probe reads goes away under the replicas (a schema dropped,
    // a table lost): alive, not ready.
    execute(&db, "DROP TABLE control_meta").await;
    for addr in [a, b] {
        let res = http(addr, "GET", "/readyz", &[], None).await;
        assert_eq!(res.status, 503, "{}", res.body);
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        assert_eq!(res.json()["type"], "urn:orrery:problem:not-ready");
        // Still alive: restarting it would not bring the database back.
        let live = http(addr, "GET", "/livez", &[], None).await;
        assert_eq!(live.status, 200, "{}", live.body);
    }
}

/// Runs `sql` on the shared database, behind the replicas' backs.
async fn execute(db: &Database, sql: &str) {
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

/// The totals stored for `cell_id`.
async fn stored_totals(db: &Database, cell_id: &str) -> Vec<i64> {
    let sql = "SELECT total FROM usage_totals WHERE cell_id = $1 ORDER BY hour_ms";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(cell_id)
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(cell_id)
            .fetch_all(&pool)
            .await
            .unwrap()
    }
}

async fn usage_pulled_by_two_replicas_out_of_order_keeps_the_newest_totals(backend: Backend) {
    // Two stores on one database, as two replicas' pullers hold them (no
    // puller of their own runs: the test plays both, in a chosen order).
    let db = database(backend).await;
    let (store_a, store_b) = (open(&db).await, open(&db).await);
    let cell = orrery_control_plane::store::Cell {
        id: "cell-1".into(),
        name: "cell-1".into(),
        grpc_endpoint: "http://cell-1.test:7233".into(),
        admin_endpoint: "http://cell-1.test:7233".into(),
        http_endpoint: String::new(),
        capacity: 10,
        reported_capacity: None,
        created_ms: 0,
    };
    let cell_id = (store_a
        .upsert_cell(&cell, None, &Audit::default())
        .await
        .unwrap())
    .id;
    let hour = 3_600_000;
    let total = |n| {
        vec![UsageTotal {
            cell_namespace_id: "ns-1".into(),
            hour_ms: 10 * hour,
            kind: "signal".into(),
            total: n,
        }]
    };
    // Replica A pulls after the hour settled (10, cursor past it); replica
    // B's pull read it earlier (8, cursor at it) and commits afterwards.
    store_a.replace_usage(&cell_id, &total(10)).await.unwrap();
    store_a
        .finish_usage_pull(&cell_id, 11 * hour, 2_000)
        .await
        .unwrap();
    store_b.replace_usage(&cell_id, &total(8)).await.unwrap();
    store_b
        .finish_usage_pull(&cell_id, 10 * hour, 1_000)
        .await
        .unwrap();
    let cursor = store_a.usage_cursor(&cell_id).await.unwrap().unwrap();
    assert_eq!(
        cursor.from_hour_ms,
        11 * hour,
        "the cursor never moves back"
    );
    assert_eq!(cursor.last_pull_started_ms, 2_000);
    // The hour keeps A's total, which no later pull reads again; a larger
    // one still replaces it.
    assert_eq!(stored_totals(&db, &cell_id).await, vec![10]);
    store_b.replace_usage(&cell_id, &total(12)).await.unwrap();
    assert_eq!(stored_totals(&db, &cell_id).await, vec![12]);
}

async fn a_pending_namespace_is_finished_only_once_past_its_grace(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_owner, account) = app.signup("erin@example.com").await;
    let account_id = account["account"]["id"].as_str().unwrap().to_owned();
    let cell_id = (app.store.cell_loads().await.unwrap())[0].cell.id.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let pending = |name: &str, created_ms: i64| Namespace {
        id: format!("{name}.erin"),
        account_id: account_id.clone(),
        name: name.to_owned(),
        cell_id: cell_id.clone(),
        retention_days: 30,
        state: NamespaceState::Pending,
        created_by: "test".into(),
        created_ms,
        updated_ms: created_ms,
    };
    // One a crash left three minutes ago; one a request (on some replica)
    // is creating right now.
    for ns in [pending("crashed", now - 180_000), pending("inflight", now)] {
        app.store
            .insert_pending_namespace(&ns, None, 1000)
            .await
            .unwrap();
    }
    orrery_control_plane::api::namespaces::reconcile_pending(
        app.state.clone(),
        orrery_control_plane::api::namespaces::PENDING_GRACE,
    )
    .await;
    let states: Vec<(String, NamespaceState)> = (app.store.namespaces(&account_id).await.unwrap())
        .into_iter()
        .map(|ns| (ns.name, ns.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("crashed".into(), NamespaceState::Active),
            ("inflight".into(), NamespaceState::Pending),
        ]
    );
    assert!(app.cell.namespaces().contains_key("crashed.erin"));
    assert!(!app.cell.namespaces().contains_key("inflight.erin"));

    // Activating again (the creating request after a reconciler finished
    // it) changes nothing and audits nothing.
    let audit = Audit {
        account_id: Some(account_id.clone()),
        actor: "test".into(),
        action: "namespace.create".into(),
        target: "namespace:crashed.erin".into(),
        source_ip: "test".into(),
        detail: String::new(),
    };
    let log = |store: std::sync::Arc<dyn ControlStore>, account_id: String| async move {
        store.audit_log(&account_id, None, 100).await.unwrap().len()
    };
    let before = log(app.store.clone(), account_id.clone()).await;
    let version = app.store.snapshot_version().await.unwrap();
    app.store
        .activate_namespace("crashed.erin", &audit)
        .await
        .unwrap();
    assert_eq!(log(app.store.clone(), account_id.clone()).await, before);
    assert_eq!(app.store.snapshot_version().await.unwrap(), version);
}
