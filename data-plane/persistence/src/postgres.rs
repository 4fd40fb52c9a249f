//! PostgreSQL, for cells that share one database. Each commit takes a shared
//! lock on its shard row: transitions of one shard proceed side by side, and
//! a new owner's `range_id` bump waits for them and fences all later ones.
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use std::str::FromStr;
use std::time::Instant;

use crate::sql::{TxFuture, metered};

/// Connections a cell process keeps to PostgreSQL unless told otherwise:
/// with N members, the database sees up to N times this.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

pub struct PostgresStore {
    write: PgPool,
    pub(crate) read: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> orrery_core::CellResult<Self> {
        Self::open_sized(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Opens with a pool of at most `max_connections` (`--database-max-connections`).
    pub async fn open_sized(url: &str, max_connections: u32) -> orrery_core::CellResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| orrery_core::CellError::invalid(format!("database url: {e}")))?;
        Self::open_pool(options, max_connections).await
    }

    /// Opens with explicit options (tests use a schema of their own).
    pub async fn open_with(options: PgConnectOptions) -> orrery_core::CellResult<Self> {
        Self::open_pool(options, DEFAULT_MAX_CONNECTIONS).await
    }

    async fn open_pool(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> orrery_core::CellResult<Self> {
        if max_connections < 2 {
            return Err(orrery_core::CellError::invalid(
                "the database pool needs at least 2 connections (a commit and a read at once)",
            ));
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
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

    /// Runs `body` in a transaction of its own on a pooled connection.
    /// (`bytes` sizes SQLite's groups; PostgreSQL has no groups.)
    pub(crate) async fn transaction<T, F>(&self, bytes: usize, body: F) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        self.transaction_as("transaction", bytes, body).await
    }

    /// [`Self::transaction`], reported to the metrics as `operation`.
    pub(crate) async fn transaction_as<T, F>(
        &self,
        operation: &'static str,
        _bytes: usize,
        body: F,
    ) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        let started = Instant::now();
        let result = async {
            let mut tx = self.write.begin().await.map_err(db_err)?;
            let value = body(&mut tx).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(value)
        }
        .await;
        metered(operation, started, &result);
        result
    }

    /// Runs `body` on a pooled connection, each statement committing alone.
    pub(crate) async fn autocommit<T, F>(&self, _bytes: usize, body: F) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        let started = Instant::now();
        let result = async {
            let mut conn = self.write.acquire().await.map_err(db_err)?;
            body(&mut conn).await
        }
        .await;
        metered("write", started, &result);
        result
    }
}

crate::sql::sql_store!(
    PostgresStore,
    sqlx::Postgres,
    fence = "SELECT range_id FROM shards WHERE shard_id = $1 FOR SHARE",
    blob_len = "octet_length",
    dialect = orrery_visibility::Dialect::Postgres,
    // The database's clock, not the statement's start: the one clock every
    // cell process sharing the database reads for membership.
    clock = Some("SELECT CAST(floor(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)")
);
