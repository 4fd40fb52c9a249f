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
        migrate(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_err)?;
        Ok(Self { write, read })
    }
}

/// Tries to migrate this many times (see [`migrate`]).
const MIGRATION_ATTEMPTS: u32 = 5;

/// Migrates the database. SQLite has no advisory lock for sqlx to take (as
/// it does on PostgreSQL), so two replicas starting together on one file
/// may both try a migration: each runs in a transaction, so the loser's
/// fails on what the winner created, and run again it finds the migration
/// applied. Retried a few times, a moment apart; a migration that fails
/// for any other reason fails every time and is reported.
async fn migrate(write: &SqlitePool) -> StoreResult<()> {
    let mut attempt = 1;
    loop {
        match sqlx::migrate!("../migrations/control-plane/sqlite")
            .run(write)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) if attempt < MIGRATION_ATTEMPTS => {
                tracing::info!(error = %e, attempt, "migrating the control-plane database; another process may be migrating it, trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(StoreError::Database(format!("migrations: {e}"))),
        }
    }
}

crate::store::sql_common::sql_helpers!(sqlx::Sqlite);
crate::store::sql_accounts::sql_accounts!(SqliteStore, sqlx::Sqlite);
crate::store::sql_namespaces::sql_namespaces!(SqliteStore, sqlx::Sqlite);
crate::store::sql_usage::sql_usage!(SqliteStore, sqlx::Sqlite);
crate::store::sql_codec::sql_codec!(SqliteStore, sqlx::Sqlite);
crate::store::sql_keys::sql_keys!(SqliteStore, sqlx::Sqlite, snapshot_isolation = "SELECT 1");
crate::store::sql_limits::sql_limits!(SqliteStore, sqlx::Sqlite);
