//! The harness: a control plane router on SQLite or PostgreSQL (a schema of
//! its own per test), a fake cell it really talks gRPC to, and a small
//! client that keeps cookies and the CSRF token like a browser would.
#![allow(dead_code)]
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use orrery_control_plane::store::{ControlStore, PostgresStore, SqliteStore};
use orrery_control_plane::{AppState, CellSpec, Config, GrpcCellAdmin, router};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The HTTP API endpoint the test cell is registered with.
pub const CELL_HTTP_API: &str = "http://cell-a.test:7243";

pub mod fake_cell;
pub use fake_cell::FakeCell;

pub const ADMIN_TOKEN: &str = "bootstrap-admin-token-0123456789abcdef0123";
pub const PASSWORD: &str = "correct horse battery";

/// The key-encryption key test control planes run with.
pub fn test_kek() -> Arc<dyn orrery_control_plane::sealing::KeyEncryption> {
    Arc::new(orrery_control_plane::sealing::LocalKek::from_bytes(&[42; 32]).unwrap())
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub async fn open_store(backend: Backend) -> (Arc<dyn ControlStore>, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/control-plane.db", dir.path().display());
            (Arc::new(SqliteStore::open(&url).await.unwrap()), Some(dir))
        }
        Backend::Postgres => (
            Arc::new(
                PostgresStore::open_with(fresh_postgres_schema().await)
                    .await
                    .unwrap(),
            ),
            None,
        ),
    }
}

/// The database behind a store, for a test to write what no API writes
/// (turning a clock back, say).
pub enum RawDb {
    Sqlite(String),
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

impl RawDb {
    pub async fn execute(&self, sql: &str) {
        match self {
            RawDb::Sqlite(url) => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            RawDb::Postgres(options) => {
                let pool = sqlx::PgPool::connect_with((**options).clone())
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
        }
    }
}

/// [`open_store`], with the database it opened.
pub async fn open_store_raw(
    backend: Backend,
) -> (Arc<dyn ControlStore>, Option<tempfile::TempDir>, RawDb) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/control-plane.db", dir.path().display());
            let store = Arc::new(SqliteStore::open(&url).await.unwrap());
            (store, Some(dir), RawDb::Sqlite(url))
        }
        Backend::Postgres => {
            let options = fresh_postgres_schema().await;
            let store = Arc::new(PostgresStore::open_with(options.clone()).await.unwrap());
            (store, None, RawDb::Postgres(Box::new(options)))
        }
    }
}

/// Connect options for a schema of its own on the test PostgreSQL
/// (`ORRERY_TEST_POSTGRES_URL`), so cases never see each other's rows.
pub async fn fresh_postgres_schema() -> sqlx::postgres::PgConnectOptions {
    use std::str::FromStr;
    let url = std::env::var("ORRERY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("cp_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required for these tests at {url} (set ORRERY_TEST_POSTGRES_URL): {e}"
        )
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())])
}

pub struct TestApp {
    pub router: Router,
    /// The state behind `router`, for driving background work (the usage
    /// puller) from a test.
    pub state: AppState,
    pub store: Arc<dyn ControlStore>,
    pub cell: FakeCell,
    /// cell-a's credential, as registering it through the admin API issues.
    pub cell_credential: String,
    /// The control key's public half, which cells verify snapshots with.
    pub control_public_key: String,
    _dir: Option<tempfile::TempDir>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts an RFC 9457 problem with this status and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:orrery:problem:")
        );
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        &self.body
    }

    /// The field names of a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.problem(422)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let (pair, _) = v.split_once(';').unwrap_or((v, ""));
                let (k, val) = pair.split_once('=')?;
                (k == name).then(|| val.to_owned())
            })
    }

    pub fn set_cookie_header(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        let (store, dir) = open_store(backend).await;
        Self::on_store(store, dir, |_| {}).await.unwrap()
    }

    /// A control plane over `store` (a restart when one ran over it
    /// before), its config adjusted by `configure`; `Err` if it refuses to
    /// start.
    pub async fn on_store(
        store: Arc<dyn ControlStore>,
        dir: Option<tempfile::TempDir>,
        configure: impl FnOnce(&mut Config),
    ) -> Result<Self, orrery_control_plane::RunError> {
        let cell = FakeCell::start().await;
        let mut config = Config::new("unused://", "127.0.0.1:0".parse().unwrap());
        config.cells = vec![CellSpec {
            name: "cell-a".into(),
            grpc_url: cell.url.clone(),
            http_url: Some(CELL_HTTP_API.into()),
        }];
        config.cell_capacity = 100;
        // The fake cell speaks plaintext on loopback.
        config.cell_channel.insecure_plaintext = true;
        config.bootstrap_admin_token = Some(ADMIN_TOKEN.into());
        // No refill during a test, however slowly it runs.
        config.login_window = std::time::Duration::from_secs(24 * 3600);
        config.key_encryption = Some(test_kek());
        configure(&mut config);
        let channel = config.cell_channel.clone();
        let state = AppState::new(
            store.clone(),
            |key| Arc::new(GrpcCellAdmin::new(key, channel)),
            &config,
        )
        .await?;
        let control_public_key = state.control_key.public_key_pem().to_owned();
        let cell_credential = issue_credential(store.as_ref(), "cell-a").await;
        Ok(Self {
            router: router(state.clone()),
            state,
            store,
            cell,
            cell_credential,
            control_public_key,
            _dir: dir,
        })
    }

    pub async fn raw(&self, mut req: Request<Body>, ip: SocketAddr) -> Resp {
        req.extensions_mut().insert(ConnectInfo(ip));
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else if headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t == "application/jwt" || t.as_bytes().starts_with(b"text/csv"))
        {
            Value::String(String::from_utf8(bytes.to_vec()).unwrap())
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn anon(&self) -> Client<'_> {
        Client {
            app: self,
            session: None,
            csrf: None,
            bearer: None,
            send_csrf: true,
            ip: "127.0.0.1:40000".parse().unwrap(),
        }
    }

    pub fn bearer(&self, token: &str) -> Client<'_> {
        let mut c = self.anon();
        c.bearer = Some(token.to_owned());
        c
    }

    /// Signs up `email` with a new account and logs in.
    pub async fn signup(&self, email: &str) -> (Client<'_>, Value) {
        let res = self
            .anon()
            .post(
                "/api/v1/signup",
                json!({"account_name": "Acme", "email": email, "password": PASSWORD}),
            )
            .await;
        let body = res.ok(201).clone();
        (self.login(email, PASSWORD).await, body)
    }

    pub async fn login(&self, email: &str, password: &str) -> Client<'_> {
        let mut client = self.anon();
        let res = client
            .post(
                "/api/v1/login",
                json!({"email": email, "password": password}),
            )
            .await;
        res.ok(200);
        client.session = res.cookie("orrery_session");
        client.csrf = Some(res.body["csrf_token"].as_str().unwrap().to_owned());
        assert_eq!(res.cookie("orrery_csrf").as_deref(), client.csrf.as_deref());
        client
    }

    /// Invites `email` with `role` (as `by`), accepts, logs in.
    pub async fn invite(&self, by: &Client<'_>, email: &str, role: &str) -> (Client<'_>, String) {
        let res = by
            .post("/api/v1/users", json!({"email": email, "role": role}))
            .await;
        let token = res.ok(201)["invite_token"].as_str().unwrap().to_owned();
        let id = res.body["user"]["id"].as_str().unwrap().to_owned();
        self.anon()
            .post(
                "/api/v1/invitations/accept",
                json!({"token": token, "password": PASSWORD}),
            )
            .await
            .ok(200);
        (self.login(email, PASSWORD).await, id)
    }

    pub async fn snapshot(&self, since: Option<u64>) -> Resp {
        let uri = match since {
            Some(v) => format!("/internal/v1/auth-snapshot?since={v}"),
            None => "/internal/v1/auth-snapshot".into(),
        };
        self.bearer(&self.cell_credential).get(&uri).await
    }

    /// The whole snapshot in a 200 answer of the snapshot route, checked as
    /// a cell checks it: signed by the control key, for cell-a.
    pub fn verify_snapshot(&self, body: &Value) -> orrery_tenant_auth::Snapshot {
        (self.verify_signed(body).snapshot).expect("a whole snapshot, not \"unchanged\"")
    }

    /// Any answer of the snapshot route, checked as a cell checks it.
    pub fn verify_signed(&self, body: &Value) -> orrery_tenant_auth::control::SignedSnapshot {
        let cell_id =
            orrery_tenant_auth::control::cell_id_of_credential(&self.cell_credential).unwrap();
        let verifier = orrery_tenant_auth::control::ControlVerifier::new(
            [self.control_public_key.as_str()],
            cell_id,
        )
        .unwrap();
        verifier
            .snapshot(body.as_str().expect("a signed snapshot"))
            .unwrap()
    }
}

pub struct Client<'a> {
    app: &'a TestApp,
    pub session: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    /// Off to play a cross-site request that cannot read the CSRF cookie.
    pub send_csrf: bool,
    pub ip: SocketAddr,
}

impl Client<'_> {
    pub fn without_csrf(mut self) -> Self {
        self.send_csrf = false;
        self
    }

    pub fn with_ip(mut self, ip: &str) -> Self {
        self.ip = format!("{ip}:40000").parse().unwrap();
        self
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(session) = &self.session {
            req = req.header(
                header::COOKIE,
                format!("orrery_session={session}; orrery_csrf=x"),
            );
        }
        if let (Some(csrf), true) = (&self.csrf, self.send_csrf) {
            req = req.header("x-csrf-token", csrf);
        }
        if let Some(token) = &self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.app.raw(req.body(body).unwrap(), self.ip).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None).await
    }
}

/// Runs each case on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $case() { super::$case(super::common::Backend::Sqlite).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $case() { super::$case(super::common::Backend::Postgres).await; })*
        }
    };
}

/// Issues `cell`'s credential as `POST /api/v1/admin/cells` does.
pub async fn issue_credential(store: &dyn ControlStore, cell: &str) -> String {
    let mut stored = (store.cell_loads().await.unwrap())
        .into_iter()
        .map(|l| l.cell)
        .find(|c| c.name == cell)
        .expect("the cell is registered");
    let credential = orrery_tenant_auth::control::new_cell_credential(
        &stored.id,
        &orrery_control_plane::secret::random_token(),
    );
    stored.reported_capacity = None;
    let hash = orrery_control_plane::secret::sha256_hex(&credential);
    store
        .upsert_cell(&stored, Some(&hash), &Default::default())
        .await
        .unwrap();
    credential
}
