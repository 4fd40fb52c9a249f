//! A cell's persistence: narrow store traits (`stores`), the rows they move
//! (`records`), and one implementation per database.
mod postgres;
pub mod records;
mod sql;
mod sqlite;
mod sqlite_writer;
pub mod stores;

use std::sync::Arc;

pub use postgres::{DEFAULT_MAX_CONNECTIONS, PostgresStore};
pub use records::*;
pub use sqlite::SqliteStore;
pub use stores::*;

/// Opens the store a database URL names: `sqlite://…` or `postgres://…`.
pub async fn open(url: &str) -> orrery_core::CellResult<Arc<dyn CellStore>> {
    open_sized(url, postgres::DEFAULT_MAX_CONNECTIONS).await
}

/// [`open`], with PostgreSQL's pool at most `max_connections` (SQLite has
/// its one writer and a small read pool whatever this says).
pub async fn open_sized(
    url: &str,
    max_connections: u32,
) -> orrery_core::CellResult<Arc<dyn CellStore>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            PostgresStore::open_sized(url, max_connections).await?,
        ))
    } else {
        Err(orrery_core::CellError::invalid(format!(
            "database url must start with sqlite: or postgres:, got {url:?}"
        )))
    }
}
