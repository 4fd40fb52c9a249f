//! A cell's persistence: narrow store traits (`stores`), the rows they move
//! (`records`), and one implementation per database.
mod postgres;
pub mod records;
mod sql;
mod sqlite;
mod sqlite_writer;
pub mod stores;

use std::sync::Arc;

pub use postgres::PostgresStore;
pub use records::*;
pub use sqlite::SqliteStore;
pub use stores::*;

/// Opens the store a database URL names: `sqlite://…` or `postgres://…`.
pub async fn open(url: &str) -> orrery_core::CellResult<Arc<dyn CellStore>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(orrery_core::CellError::invalid(format!(
            "database url must start with sqlite: or postgres:, got {url:?}"
        )))
    }
}
