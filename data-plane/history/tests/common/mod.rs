//! What the history integration tests share.
use std::sync::Arc;

use orrery_history::RunSpec;
use orrery_persistence::{CellStore, PostgresStore, SqliteStore};

/// A start of workflow type `T` on task queue `q` in namespace `ns`.
pub fn spec(workflow_id: &str) -> RunSpec {
    RunSpec {
        namespace_id: "ns-id".into(),
        namespace: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: uuid::Uuid::new_v4().to_string(),
        workflow_type: "T".into(),
        task_queue: "q".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        attempt: 1,
        ..Default::default()
    }
}

/// A store on a SQLite file of its own (kept while the directory lives).
#[allow(dead_code)] // not every test binary runs on both databases
pub async fn sqlite() -> (Arc<dyn CellStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
}

/// A store in a schema of its own inside the test database
/// (127.0.0.1:5432, or ORRERY_TEST_POSTGRES_URL).
#[allow(dead_code)]
pub async fn postgres() -> Arc<dyn CellStore> {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let url = std::env::var("ORRERY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required at {url} (set ORRERY_TEST_POSTGRES_URL): {e}")
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Arc::new(PostgresStore::open_with(options).await.unwrap())
}

/// Each case `async fn case(store: Arc<dyn CellStore>)` as a test on
/// SQLite and one on PostgreSQL.
#[allow(unused_macros)]
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $case() { let (s, _dir) = crate::common::sqlite().await; super::$case(s).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $case() { super::$case(crate::common::postgres().await).await; })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both;
