//! The embedded default. WAL mode with a single writer connection: SQLite
//! serialises writers anyway, and one connection avoids busy retries while
//! readers run beside it. `synchronous = FULL` makes every commit durable;
//! the writer task (`sqlite_writer`) commits concurrent writes together so
//! they share one fsync.
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, SqlitePool};

use crate::sql::{TxFuture, metered};
use crate::sqlite_writer::Writer;

pub struct SqliteStore {
    writer: Writer,
    pub(crate) read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn open(url: &str) -> orrery_core::CellResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| orrery_core::CellError::invalid(format!("database url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .statement_cache_capacity(256);
        let mut write = options.connect().await.map_err(db_err)?;
        sqlx::migrate!("../../migrations/cell/sqlite")
            .run(&mut write)
            .await
            .map_err(|e| orrery_core::CellError::Internal(format!("migrations: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(db_err)?;
        Ok(Self {
            writer: Writer::spawn(write, options),
            read,
        })
    }

    /// Runs `body` atomically, as one job of the writer's next group.
    pub(crate) async fn transaction<T, F>(&self, bytes: usize, body: F) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        self.transaction_as("transaction", bytes, body).await
    }

    /// [`Self::transaction`], reported to the metrics as `operation`; the
    /// time includes waiting for the writer, as the caller sees it.
    pub(crate) async fn transaction_as<T, F>(
        &self,
        operation: &'static str,
        bytes: usize,
        body: F,
    ) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        let started = Instant::now();
        let result = self.writer.submit(bytes, body).await;
        metered(operation, started, &result);
        result
    }

    /// The same as `transaction`: with one writer, statements that need not
    /// be atomic still join a group rather than pay an fsync of their own.
    pub(crate) async fn autocommit<T, F>(&self, bytes: usize, body: F) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        self.transaction_as("write", bytes, body).await
    }
}

crate::sql::sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    fence = "SELECT range_id FROM shards WHERE shard_id = $1",
    blob_len = "length",
    dialect = orrery_visibility::Dialect::Sqlite,
    // One host, the database in this process: its clock is the process's.
    clock = None
);
