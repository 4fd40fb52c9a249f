//! PostgreSQL, for cells that share one database. Each commit takes a shared
//! lock on its shard row: transitions of one shard proceed side by side, and
//! a new owner's `range_id` bump waits for them and fences all later ones.
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

pub struct PostgresStore {
    pub(crate) write: PgPool,
    pub(crate) read: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> orrery_core::CellResult<Self> {
        Self::open_with(
            PgConnectOptions::from_str(url)
                .map_err(|e| orrery_core::CellError::invalid(format!("database url: {e}")))?,
        )
        .await
    }

    /// Opens with explicit options (tests use a schema of their own).
    pub async fn open_with(options: PgConnectOptions) -> orrery_core::CellResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("../../migrations/cell/postgres")
            .run(&pool)
            .await
            .map_err(|e| orrery_core::CellError::Internal(format!("migrations: {e}")))?;
        Ok(Self {
            write: pool.clone(),
            read: pool,
        })
    }
}

crate::sql::sql_store!(
    PostgresStore,
    sqlx::Postgres,
    fence = "SELECT range_id FROM shards WHERE shard_id = $1 FOR SHARE",
    dialect = orrery_visibility::Dialect::Postgres
);
