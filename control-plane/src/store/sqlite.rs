//! The embedded default. As in the cell: WAL, one writer connection (SQLite
//! serialises writers anyway), readers beside it, durable commits.
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{StoreError, StoreResult};

pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    pub(crate) read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("database url: {e}")))?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        sqlx::migrate!("../migrations/control-plane/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Database(format!("migrations: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_err)?;
        Ok(Self { write, read })
    }
}

crate::store::sql_common::sql_helpers!(sqlx::Sqlite);
crate::store::sql_accounts::sql_accounts!(SqliteStore, sqlx::Sqlite);
crate::store::sql_namespaces::sql_namespaces!(SqliteStore, sqlx::Sqlite);
crate::store::sql_usage::sql_usage!(SqliteStore, sqlx::Sqlite);
crate::store::sql_codec::sql_codec!(SqliteStore, sqlx::Sqlite);
crate::store::sql_keys::sql_keys!(SqliteStore, sqlx::Sqlite, snapshot_isolation = "SELECT 1");
