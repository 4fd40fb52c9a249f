//! Private keys at rest: nothing in the database can sign; a sealed value
//! opens only with its key-encryption key and in its own row; an older
//! version's plaintext rows are sealed at start; API-key signing keys
//! rotate without breaking the API keys they signed.
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{ADMIN_TOKEN, Backend, TestApp, test_kek};
use orrery_control_plane::keys::ControlKey;
use orrery_control_plane::sealing::{KeyEncryption, LocalKek, SealError, Sealer};
use orrery_control_plane::store::{
    ControlStore, GeneratedCa, PostgresStore, SigningKeyRow, SqliteStore,
};
use orrery_tenant_auth::{API_KEY_AUDIENCE, API_KEY_ISSUER, ApiKeyClaims, AuthError, Authorizer};
use serde_json::{Value, json};

on_both!(
    the_database_holds_no_usable_private_key,
    sealed_values_open_only_with_their_kek_and_in_their_row,
    plaintext_rows_of_an_older_version_are_sealed_at_start,
    rotation_keeps_old_api_keys_verifying_until_they_expire,
);

/// Direct access to the database, beside the store.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

enum Target {
    Sqlite(String),
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

struct Db {
    raw: Raw,
    target: Target,
    /// Keeps the SQLite file.
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// An empty database; with `only_first_migration`, in the schema of the
    /// version before keys were sealed.
    async fn new(backend: Backend, only_first_migration: bool) -> Self {
        let (raw, target, dir) = match backend {
            Backend::Sqlite => {
                use sqlx::sqlite::SqliteConnectOptions;
                use std::str::FromStr;
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/control-plane.db", dir.path().display());
                let options = SqliteConnectOptions::from_str(&url)
                    .unwrap()
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .unwrap();
                (Raw::Sqlite(pool), Target::Sqlite(url), Some(dir))
            }
            Backend::Postgres => {
                let options = common::fresh_postgres_schema().await;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect_with(options.clone())
                    .await
                    .unwrap();
                (
                    Raw::Postgres(pool),
                    Target::Postgres(Box::new(options)),
                    None,
                )
            }
        };
        if only_first_migration {
            let from = match raw {
                Raw::Sqlite(_) => "sqlite",
                Raw::Postgres(_) => "postgres",
            };
            let dir = tempfile::tempdir().unwrap();
            let name = "0001_control_plane.sql";
            let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../migrations/control-plane")
                .join(from)
                .join(name);
            std::fs::copy(source, dir.path().join(name)).unwrap();
            let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
            match &raw {
                Raw::Sqlite(pool) => migrator.run(pool).await.unwrap(),
                Raw::Postgres(pool) => migrator.run(pool).await.unwrap(),
            }
        }
        Self {
            raw,
            target,
            _dir: dir,
        }
    }

    /// Opens (and migrates) the store over this database.
    async fn store(&self) -> Arc<dyn ControlStore> {
        match &self.target {
            Target::Sqlite(url) => Arc::new(SqliteStore::open(url).await.unwrap()),
            Target::Postgres(options) => {
                Arc::new(PostgresStore::open_with((**options).clone()).await.unwrap())
            }
        }
    }

    async fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn text(&self, sql: &str) -> String {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every value of every column of every table, as text.
    async fn dump(&self) -> Vec<(String, String)> {
        let columns: Vec<(String, String)> = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            Raw::Postgres(pool) => sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema()",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        };
        assert!(columns.iter().any(|(t, _)| t == "signing_keys"));
        let mut out = Vec::new();
        for (table, column) in columns {
            // As bytes on SQLite: a BLOB (sqlx's checksums) need not be UTF-8.
            let values: Vec<String> = match &self.raw {
                Raw::Sqlite(pool) => {
                    let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                    let rows: Vec<Option<Vec<u8>>> =
                        sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap();
                    rows.into_iter()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .collect()
                }
                Raw::Postgres(pool) => {
                    let sql = format!("SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\"");
                    let rows: Vec<Option<String>> =
                        sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap();
                    rows.into_iter().flatten().collect()
                }
            };
            out.extend(values.into_iter().map(|v| (format!("{table}.{column}"), v)));
        }
        out
    }
}

/// Whether `value` is, or holds, something a signer could use: a PEM
/// private key, or (in any base64 run of it) a PKCS#8 private key.
fn holds_private_key(value: &str) -> bool {
    if value.contains("PRIVATE KEY") || rcgen::KeyPair::from_pem(value).is_ok() {
        return true;
    }
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|run| run.len() >= 40)
        .filter_map(|run| STANDARD.decode(run).ok())
        .any(|der| rcgen::KeyPair::try_from(der.as_slice()).is_ok())
}

async fn assert_no_private_key(db: &Db) {
    let dump = db.dump().await;
    assert!(dump.len() > 20, "{dump:?}");
    for (column, value) in &dump {
        assert!(!holds_private_key(value), "{column} holds a private key");
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn cell_id(store: &dyn ControlStore) -> String {
    store.cell_loads().await.unwrap()[0].cell.id.clone()
}

async fn authorizer(store: &dyn ControlStore, at_ms: i64) -> (Authorizer, Vec<String>) {
    let data = store
        .snapshot_data(&cell_id(store).await, at_ms)
        .await
        .unwrap();
    let kids = data.signing_keys.iter().map(|k| k.kid.clone()).collect();
    assert!(
        data.signing_keys
            .iter()
            .all(|k| k.private_key_sealed.is_empty())
    );
    (
        Authorizer::new(orrery_control_plane::snapshot::build(data)),
        kids,
    )
}

async fn create_api_key<'a>(owner: &common::Client<'a>, days: u32) -> (String, String) {
    let res = owner
        .post(
            "/api/v1/api-keys",
            json!({"name": format!("k{days}"), "expiry_days": days}),
        )
        .await;
    let body = res.ok(201);
    (
        body["api_key"]["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn namespace_with_ca<'a>(owner: &common::Client<'a>, name: &str) -> String {
    let ns = owner
        .post("/api/v1/namespaces", json!({"name": name}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .post(
            &format!("/api/v1/namespaces/{ns}/mtls/generated-ca"),
            json!({}),
        )
        .await
        .ok(201);
    ns
}

fn issue_path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/mtls/client-certificates")
}

async fn the_database_holds_no_usable_private_key(backend: Backend) {
    let db = Db::new(backend, false).await;
    let app = TestApp::on_store(db.store().await, None, |_| {})
        .await
        .unwrap();
    let (owner, _) = app.signup("o@example.com").await;
    let (_, token) = create_api_key(&owner, 30).await;
    let ns = namespace_with_ca(&owner, "orders").await;
    let issued = owner
        .post(&issue_path(&ns), json!({"common_name": "worker"}))
        .await;
    let issued_key = issued.ok(201)["private_key_pem"].as_str().unwrap();
    // The check finds a key where there is one.
    assert!(holds_private_key(issued_key));
    assert!(holds_private_key(
        &STANDARD.encode(rcgen::KeyPair::generate().unwrap().serialize_der())
    ));
    assert!(!holds_private_key(&token));

    assert_no_private_key(&db).await;
    let kek = test_kek().key_id().to_owned();
    let prefix = format!("orrery-sealed:v1:{kek}:");
    for column in [
        "SELECT MIN(private_key_sealed) FROM signing_keys",
        "SELECT MAX(private_key_sealed) FROM signing_keys",
        "SELECT MAX(generated_ca_key_sealed) FROM namespace_mtls",
    ] {
        let value = db.text(column).await;
        assert!(value.starts_with(&prefix), "{column}: {value}");
    }
    // The API-key signing key and the control key.
    let purposes = db
        .text("SELECT MIN(purpose) || ',' || MAX(purpose) FROM signing_keys")
        .await;
    assert_eq!(purposes, "api_key,control");
}

async fn sealed_values_open_only_with_their_kek_and_in_their_row(backend: Backend) {
    let db = Db::new(backend, false).await;
    let store = db.store().await;
    let app = TestApp::on_store(store.clone(), None, |_| {})
        .await
        .unwrap();
    let (owner, _) = app.signup("o@example.com").await;
    let orders = namespace_with_ca(&owner, "orders").await;
    let billing = namespace_with_ca(&owner, "billing").await;
    let body = json!({"common_name": "worker"});
    owner
        .post(&issue_path(&billing), body.clone())
        .await
        .ok(201);

    // Out of the store: opens with its KEK in its row only.
    let row = store
        .signing_keys(orrery_control_plane::store::KeyPurpose::ApiKey)
        .await
        .unwrap()
        .remove(0);
    let context = SigningKeyRow::seal_context(&row.kid);
    let sealer = Sealer::new(test_kek());
    let pem = sealer.open(&row.private_key_sealed, &context, "k").unwrap();
    assert!(pem.contains("PRIVATE KEY"));
    let other: Arc<dyn KeyEncryption> = Arc::new(LocalKek::from_bytes(&[7; 32]).unwrap());
    let err = Sealer::new(other.clone())
        .open(&row.private_key_sealed, &context, "k")
        .unwrap_err();
    assert!(matches!(err, SealError::WrongKek { .. }), "{err}");
    let err = sealer
        .open(
            &row.private_key_sealed,
            &GeneratedCa::seal_context(&orders),
            "k",
        )
        .unwrap_err();
    assert!(matches!(err, SealError::DoesNotOpen { .. }), "{err}");

    // A CA key copied into another namespace's row does not sign there.
    db.exec(&format!(
        "UPDATE namespace_mtls SET generated_ca_key_sealed =
           (SELECT generated_ca_key_sealed FROM namespace_mtls WHERE namespace_id = '{orders}')
         WHERE namespace_id = '{billing}'"
    ))
    .await;
    owner
        .post(&issue_path(&billing), body.clone())
        .await
        .problem(500);
    owner.post(&issue_path(&orders), body.clone()).await.ok(201);

    // Restarting with another KEK, or none, fails and says why.
    let err = TestApp::on_store(store.clone(), None, |c| {
        c.key_encryption = Some(other.clone())
    })
    .await
    .err()
    .unwrap()
    .to_string();
    let (mine, theirs) = (test_kek().key_id().to_owned(), other.key_id().to_owned());
    assert!(
        err.contains(&format!("sealed with key-encryption key {mine}"))
            && err.contains(&format!("configured key-encryption key is {theirs}")),
        "{err}"
    );
    assert!(!err.contains("PRIVATE"), "{err}");
    let err = TestApp::on_store(store.clone(), None, |c| {
        c.key_encryption = None;
        c.insecure_no_key_encryption = true;
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("runs without key encryption"), "{err}");
    let err = TestApp::on_store(store.clone(), None, |c| c.key_encryption = None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--key-encryption-key-file"), "{err}");

    // The signing key's row holding the control key's sealed value: the
    // control plane does not start on it.
    db.exec(
        "UPDATE signing_keys SET private_key_sealed =
           (SELECT private_key_sealed FROM signing_keys WHERE purpose = 'control')
         WHERE purpose = 'api_key'",
    )
    .await;
    let err = TestApp::on_store(store.clone(), None, |_| {})
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("the signing key {} does not open", row.kid)),
        "{err}"
    );
}

async fn plaintext_rows_of_an_older_version_are_sealed_at_start(backend: Backend) {
    let db = Db::new(backend, true).await;
    let now = chrono::Utc::now().timestamp_millis();
    let signing = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let signing_pem = signing.serialize_pem();
    let ca = orrery_control_plane::certs::generate_ca("orders.acme", 30).unwrap();
    let claims = ApiKeyClaims {
        iss: API_KEY_ISSUER.into(),
        aud: API_KEY_AUDIENCE.into(),
        sub: "user:u1".into(),
        jti: "6f1b3c1e-0000-4000-8000-000000000001".into(),
        account: "acc".into(),
        iat: u64::try_from(now / 1000).unwrap(),
        exp: u64::try_from(now / 1000 + 10 * 86_400).unwrap(),
        namespace: None,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("oldkid".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(signing_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let token_hash = orrery_control_plane::secret::sha256_hex(&token);
    let ca_pems = serde_json::to_string(&vec![&ca.cert_pem]).unwrap();
    // What the previous version wrote, plaintext keys included.
    db.exec(&format!(
        "INSERT INTO signing_keys (kid, alg, private_key_pem, public_key_pem, created_ms)
           VALUES ('oldkid', 'EdDSA', '{signing_pem}', '{public}', {now});
         INSERT INTO accounts (id, name, slug, created_ms) VALUES ('acc', 'Acme', 'acme', {now});
         INSERT INTO users (id, account_id, email, role, state, created_ms)
           VALUES ('u1', 'acc', 'o@example.com', 'owner', 'active', {now});
         INSERT INTO cells (id, name, grpc_endpoint, admin_endpoint, admin_token, admin_token_hash, capacity, created_ms)
           VALUES ('c1', 'cell-a', 'http://127.0.0.1:1', 'http://127.0.0.1:1', 't', 'h', 10, {now});
         INSERT INTO namespaces (id, account_id, name, cell_id, retention_days, state, created_by, created_ms, updated_ms)
           VALUES ('orders.acme', 'acc', 'orders', 'c1', 30, 'active', 'user:u1', {now}, {now});
         INSERT INTO namespace_mtls (namespace_id, ca_pems, filters, generated_ca_cert_pem, generated_ca_key_pem, updated_ms)
           VALUES ('orders.acme', '{ca_pems}', '[]', '{cert}', '{key}', {now});
         INSERT INTO api_keys (id, account_id, owner, name, description, token_hash, enabled, expires_ms, created_by, created_ms)
           VALUES ('{jti}', 'acc', 'user:u1', 'old', '', '{token_hash}', TRUE, {exp}, 'user:u1', {now});",
        public = signing.public_key_pem(),
        cert = ca.cert_pem,
        key = ca.key_pem,
        jti = claims.jti,
        exp = now + 10 * 86_400_000,
    ))
    .await;
    assert!(holds_private_key(
        &db.text("SELECT MAX(private_key_pem) FROM signing_keys")
            .await
    ));

    let store = db.store().await;
    let app = TestApp::on_store(store.clone(), None, |_| {})
        .await
        .unwrap();
    assert_no_private_key(&db).await;
    let sealer = Sealer::new(test_kek());
    let sealed = db
        .text("SELECT private_key_sealed FROM signing_keys WHERE kid = 'oldkid'")
        .await;
    assert_eq!(
        sealer
            .open(&sealed, &SigningKeyRow::seal_context("oldkid"), "k")
            .unwrap(),
        signing_pem
    );
    let sealed = db
        .text("SELECT generated_ca_key_sealed FROM namespace_mtls")
        .await;
    assert_eq!(
        sealer
            .open(&sealed, &GeneratedCa::seal_context("orders.acme"), "k")
            .unwrap(),
        ca.key_pem
    );
    assert_eq!(db.text("SELECT signing_kid FROM api_keys").await, "oldkid");

    // The old API key still works, here and on cells, the old CA still
    // issues certificates, and new API keys are signed with the old (now
    // sealed) key.
    // (Within the API key's life: a certificate made with it cannot outlive it.)
    let issued = app
        .bearer(&token)
        .post(
            &issue_path("orders.acme"),
            json!({"common_name": "worker", "validity_days": 5}),
        )
        .await;
    assert_eq!(issued.ok(201)["ca_pem"], ca.cert_pem);
    let (_, new_token) = create_api_key(&app.bearer(&token), 5).await;
    assert_eq!(kid_of(&new_token), "oldkid");
    let (cell, kids) = authorizer(store.as_ref(), now).await;
    assert_eq!(kids, ["oldkid"]);
    cell.verify_api_key(&token, SystemTime::now()).unwrap();
    cell.verify_api_key(&new_token, SystemTime::now()).unwrap();
}

async fn rotation_keeps_old_api_keys_verifying_until_they_expire(backend: Backend) {
    let db = Db::new(backend, false).await;
    let store = db.store().await;
    let app = TestApp::on_store(store.clone(), None, |_| {})
        .await
        .unwrap();
    // A second replica over the same database.
    let replica = TestApp::on_store(store.clone(), None, |_| {})
        .await
        .unwrap();
    let admin = app.bearer(ADMIN_TOKEN);
    let (owner, _) = app.signup("o@example.com").await;
    // Cells are sent the API keys of accounts with a namespace on them.
    owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201);
    let (_, old) = create_api_key(&owner, 1).await;
    let kid1 = kid_of(&old);

    app.anon()
        .post("/api/v1/admin/signing-keys/rotate", json!({}))
        .await
        .problem(401);
    let res = replica
        .bearer(ADMIN_TOKEN)
        .post("/api/v1/admin/signing-keys/rotate", json!({}))
        .await;
    let rotated = res.ok(201).clone();
    let kid2 = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid1, kid2);
    assert_eq!(rotated["purpose"], "api_key");
    assert_eq!(rotated["retired_at"], Value::Null);

    // Minted through the replica that did not rotate: the new key.
    let (_, new) = create_api_key(&owner, 30).await;
    assert_eq!(kid_of(&new), kid2);

    let listed = admin.get("/api/v1/admin/signing-keys").await;
    let text = listed.ok(200).to_string();
    assert!(
        !text.contains("PRIVATE") && !text.contains("orrery-sealed"),
        "{text}"
    );
    let keys = listed.body.as_array().unwrap();
    let find = |kid: &str| keys.iter().find(|k| k["kid"] == kid).unwrap().clone();
    assert!(find(&kid1)["retired_at"].is_string());
    assert_eq!(find(&kid2)["retired_at"], Value::Null);
    assert_eq!(
        keys.iter().filter(|k| k["purpose"] == "control").count(),
        1,
        "{text}"
    );

    let now = chrono::Utc::now().timestamp_millis();
    let (cell, kids) = authorizer(store.as_ref(), now).await;
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&kid1) && kids.contains(&kid2));
    cell.verify_api_key(&old, SystemTime::now()).unwrap();
    cell.verify_api_key(&new, SystemTime::now()).unwrap();

    // Something the control key signs never passes for an API key.
    let control = ControlKey::load_or_create(store.as_ref(), &Sealer::new(test_kek()))
        .await
        .unwrap();
    let mut claims: ApiKeyClaims = jsonwebtoken::dangerous::insecure_decode(&new)
        .unwrap()
        .claims;
    claims.iat += 1;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(control.kid().to_owned());
    let forged = jsonwebtoken::encode(&header, &claims, control.encoding_key()).unwrap();
    assert!(matches!(
        cell.verify_api_key(&forged, SystemTime::now()),
        Err(AuthError::UnknownSigningKey)
    ));

    // Two days on, the only key the first one signed has expired: it is
    // no longer sent to cells. The newest always is.
    let later = now + 2 * 86_400_000;
    let (_, kids) = authorizer(store.as_ref(), later).await;
    assert_eq!(kids, std::slice::from_ref(&kid2));
    let kid3 = admin
        .post("/api/v1/admin/signing-keys/rotate", json!({}))
        .await
        .ok(201)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, kids) = authorizer(store.as_ref(), later).await;
    assert_eq!(kids, [kid2, kid3]);
}
