//! The embedded default. WAL mode with a single writer connection: SQLite
//! serialises writers anyway, and one connection avoids busy retries while
//! readers run beside it. `synchronous = FULL` makes every commit durable.
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub struct SqliteStore {
    pub(crate) write: SqlitePool,
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
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        sqlx::migrate!("../../migrations/cell/sqlite")
            .run(&write)
            .await
            .map_err(|e| orrery_core::CellError::Internal(format!("migrations: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_err)?;
        Ok(Self { write, read })
    }
}

crate::sql::sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    fence = "SELECT range_id FROM shards WHERE shard_id = $1",
    dialect = orrery_visibility::Dialect::Sqlite
);
