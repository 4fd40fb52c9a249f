//! The SQL both databases share. SQLite and PostgreSQL each get their own
//! store type (see `sqlite.rs`, `postgres.rs`) whose methods `sql_store!`
//! writes from the same statements: `$N` placeholders and `ON CONFLICT` read
//! the same in both dialects, and the few statements that differ are macro
//! arguments. One module per store, each a macro expanded (by `sql_store!`)
//! in the database's module, so they share its imports and helpers such as
//! `fence`; what does not depend on the database is ordinary code here and
//! beside each macro.

mod executions;
mod members;
mod metadata;
mod namespaces;
mod queues;
mod shards;
mod tasks;
mod usage;
mod visibility;

pub(crate) use executions::sql_execution_store;
pub(crate) use members::{FORGET_MEMBERS_AFTER_MS, member_row, sql_membership_store};
pub(crate) use metadata::sql_metadata_store;
pub(crate) use namespaces::{namespace_row, sql_namespace_store};
pub(crate) use queues::sql_queue_store;
pub(crate) use shards::{shard_owner_row, sql_shard_store};
pub(crate) use tasks::{in_shards, sql_task_store};
pub(crate) use usage::{
    byte_seconds_by_hour, closed_ms, history_bytes, history_bytes_without_state, hour_of,
    sql_usage_store,
};
pub(crate) use visibility::sql_visibility_store;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use orrery_core::{CellError, CellResult};

/// What a store's `transaction` and `autocommit` run: a body that owns its
/// inputs (SQLite runs it on its writer task) and borrows the connection.
pub(crate) type TxFuture<'c, T> = Pin<Box<dyn Future<Output = CellResult<T>> + Send + 'c>>;

/// Roughly what a commit writes, for SQLite to size its groups by.
pub(crate) fn payload_bytes(t: &crate::records::Transaction) -> usize {
    t.executions
        .iter()
        .map(|w| w.row.state.len())
        .sum::<usize>()
        + t.events.iter().map(|e| e.data.len()).sum::<usize>()
        + t.timers
            .iter()
            .chain(&t.retention_tasks)
            .map(|r| r.data.len())
            .sum::<usize>()
        + t.transfers.iter().map(|r| r.data.len()).sum::<usize>()
        + t.queue_tasks.iter().map(|r| r.data.len()).sum::<usize>()
        + t.visibility
            .iter()
            .map(|v| v.data.len() + 64 * v.search_attributes.len())
            .sum::<usize>()
}

/// Reports one persistence operation to the operator metrics. The names are
/// a fixed set: `commit` (a workflow transition), `transaction` (any other
/// atomic write), `write` (statements committing alone) and `read`. A
/// refused condition (a fenced shard, a lost race) is the database doing
/// its job: only a database error counts as not ok.
pub(crate) fn metered<T>(operation: &'static str, started: Instant, result: &CellResult<T>) {
    let ok = !matches!(result, Err(CellError::Internal(_)));
    orrery_core::metrics::persistence_finished(operation, started.elapsed(), ok);
}

/// Times a read on a store's read pool and maps its error once.
pub(crate) trait MeteredRead<T>: Future<Output = Result<T, sqlx::Error>> + Sized {
    async fn metered_read(self) -> CellResult<T> {
        let started = Instant::now();
        let result = self.await.map_err(db_err);
        metered("read", started, &result);
        result
    }
}

impl<T, F: Future<Output = Result<T, sqlx::Error>>> MeteredRead<T> for F {}

pub(crate) fn db_err(err: sqlx::Error) -> CellError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return CellError::ConditionFailed;
    }
    tracing::error!(error = %err, "database error");
    CellError::Internal(format!("database: {err}"))
}

/// Every write goes through the store's `transaction` (atomic) or
/// `autocommit` (statements that stand alone) with a `'static` body: SQLite
/// queues it for its writer task, PostgreSQL runs it on its pool. `clock`
/// reads the database's clock for membership (see `members.rs`).
macro_rules! sql_store {
    ($store:ident, $db:ty, fence = $fence:literal, blob_len = $blob_len:literal, dialect = $dialect:expr, clock = $clock:expr) => {
        use async_trait::async_trait;
        use orrery_core::{CellError, CellResult};
        use sqlx::{QueryBuilder, Row};

        use crate::records::*;
        use crate::sql::{MeteredRead, db_err, payload_bytes};
        use crate::stores::*;

        impl $store {
            /// One statement that stands alone and whose result is not
            /// needed (a delete): its binds must be owned.
            async fn execute_alone(
                &self,
                query: sqlx::query::Query<
                    'static,
                    $db,
                    <$db as sqlx::Database>::Arguments<'static>,
                >,
            ) -> CellResult<()> {
                self.autocommit(0, move |conn| {
                    Box::pin(async move {
                        query.execute(&mut *conn).await.map_err(db_err)?;
                        Ok(())
                    })
                })
                .await
            }
        }

        crate::sql::sql_metadata_store!($store, $db);
        crate::sql::sql_shard_store!($store, $db, fence = $fence);
        crate::sql::sql_membership_store!($store, $db, clock = $clock);
        crate::sql::sql_namespace_store!($store, $db);
        crate::sql::sql_execution_store!($store, $db, blob_len = $blob_len);
        crate::sql::sql_task_store!($store, $db);
        crate::sql::sql_queue_store!($store, $db);
        crate::sql::sql_visibility_store!($store, $db, dialect = $dialect);
        crate::sql::sql_usage_store!($store, $db);
    };
}

pub(crate) use sql_store;
