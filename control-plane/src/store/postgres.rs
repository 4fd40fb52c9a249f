//! PostgreSQL, for control planes that run replicated.
use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{StoreError, StoreResult};

pub struct PostgresStore {
    pub(crate) write: PgPool,
    pub(crate) read: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(
            PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Database(format!("database url: {e}")))?,
        )
        .await
    }

    /// Opens with explicit options (tests use a schema of their own).
    pub async fn open_with(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("../migrations/control-plane/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrations: {e}")))?;
        Ok(Self {
            write: pool.clone(),
            read: pool,
        })
    }
}

crate::store::sql_common::sql_helpers!(sqlx::Postgres);
crate::store::sql_accounts::sql_accounts!(PostgresStore, sqlx::Postgres);
crate::store::sql_namespaces::sql_namespaces!(PostgresStore, sqlx::Postgres);
crate::store::sql_usage::sql_usage!(PostgresStore, sqlx::Postgres);
crate::store::sql_codec::sql_codec!(PostgresStore, sqlx::Postgres);
crate::store::sql_keys::sql_keys!(
    PostgresStore,
    sqlx::Postgres,
    snapshot_isolation = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
);
crate::store::sql_limits::sql_limits!(PostgresStore, sqlx::Postgres);
