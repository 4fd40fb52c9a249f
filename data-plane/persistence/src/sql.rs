//! The SQL both databases share. SQLite and PostgreSQL each get their own
//! store type (see `sqlite.rs`, `postgres.rs`) whose methods this macro writes
//! from the same statements: `$N` placeholders and `ON CONFLICT` read the same
//! in both dialects, and the few statements that differ are macro arguments.

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
/// queues it for its writer task, PostgreSQL runs it on its pool.
macro_rules! sql_store {
    ($store:ident, $db:ty, fence = $fence:literal, blob_len = $blob_len:literal, dialect = $dialect:expr) => {
        crate::sql_visibility::sql_visibility_store!($store, $db, dialect = $dialect);
        crate::sql_usage::sql_usage_store!($store, $db);

        use async_trait::async_trait;
        use orrery_core::{CellError, CellResult};
        use sqlx::{QueryBuilder, Row};

        use crate::records::*;
        use crate::sql::{db_err, payload_bytes, MeteredRead};
        use crate::stores::*;

        impl $store {
            /// One statement that stands alone and whose result is not
            /// needed (a delete): its binds must be owned.
            async fn execute_alone(
                &self,
                query: sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments<'static>>,
            ) -> CellResult<()> {
                self.autocommit(0, move |conn| Box::pin(async move {
                    query.execute(&mut *conn).await.map_err(db_err)?;
                    Ok(())
                }))
                .await
            }
        }

        #[async_trait]
        impl MetadataStore for $store {
            async fn get_or_insert(&self, key: &str, value: Vec<u8>) -> CellResult<Vec<u8>> {
                let key = key.to_string();
                self.autocommit(value.len(), move |conn| Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO cluster_metadata (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(&key)
                    .bind(value)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    let row = sqlx::query("SELECT value FROM cluster_metadata WHERE key = $1")
                        .bind(&key)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    row.try_get("value").map_err(db_err)
                }))
                .await
            }
        }

        #[async_trait]
        impl ShardStore for $store {
            async fn acquire_shard(&self, shard_id: i32, owner: &str) -> CellResult<i64> {
                let owner = owner.to_string();
                self.autocommit(0, move |conn| Box::pin(async move {
                    let row = sqlx::query(
                        "INSERT INTO shards (shard_id, range_id, owner, updated_ms) VALUES ($1, 1, $2, $3)
                         ON CONFLICT (shard_id) DO UPDATE
                           SET range_id = shards.range_id + 1, owner = excluded.owner, updated_ms = excluded.updated_ms
                         RETURNING range_id",
                    )
                    .bind(shard_id)
                    .bind(owner)
                    .bind(orrery_core::time::now_millis())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    row.try_get("range_id").map_err(db_err)
                }))
                .await
            }
        }

        /// Fails unless the shard's range is still the writer's: every write
        /// of a shard's data runs this first, inside its transaction.
        async fn fence(
            conn: &mut <$db as sqlx::Database>::Connection,
            shard_id: i32,
            range_id: i64,
        ) -> CellResult<()> {
            let range: Option<i64> = sqlx::query_scalar($fence)
                .bind(shard_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            if range == Some(range_id) {
                Ok(())
            } else {
                Err(CellError::ShardOwnershipLost(shard_id))
            }
        }

        fn namespace_row(row: &<$db as sqlx::Database>::Row) -> CellResult<NamespaceRecord> {
            Ok(NamespaceRecord {
                id: row.try_get("id").map_err(db_err)?,
                name: row.try_get("name").map_err(db_err)?,
                version: row.try_get("version").map_err(db_err)?,
                data: row.try_get("data").map_err(db_err)?,
            })
        }

        #[async_trait]
        impl NamespaceStore for $store {
            async fn create_namespace(&self, ns: &NamespaceRecord) -> CellResult<()> {
                let ns = ns.clone();
                self.autocommit(ns.data.len(), move |conn| Box::pin(async move {
                    sqlx::query("INSERT INTO namespaces (id, name, version, data) VALUES ($1, $2, $3, $4)")
                        .bind(&ns.id)
                        .bind(&ns.name)
                        .bind(ns.version)
                        .bind(&ns.data)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| match db_err(e) {
                            CellError::ConditionFailed => CellError::NamespaceAlreadyExists,
                            other => other,
                        })?;
                    Ok(())
                }))
                .await
            }

            async fn namespace_by_name(&self, name: &str) -> CellResult<Option<NamespaceRecord>> {
                sqlx::query("SELECT id, name, version, data FROM namespaces WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.read)
                    .metered_read()
                    .await?
                    .map(|r| namespace_row(&r))
                    .transpose()
            }

            async fn namespace_by_id(&self, id: &str) -> CellResult<Option<NamespaceRecord>> {
                sqlx::query("SELECT id, name, version, data FROM namespaces WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .metered_read()
                    .await?
                    .map(|r| namespace_row(&r))
                    .transpose()
            }

            async fn list_namespaces(&self, after: &str, limit: u32) -> CellResult<Vec<NamespaceRecord>> {
                // Keyset paging on the unique name (its index serves both).
                sqlx::query("SELECT id, name, version, data FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2")
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(namespace_row)
                    .collect()
            }

            async fn update_namespace(&self, ns: &NamespaceRecord) -> CellResult<()> {
                let ns = ns.clone();
                self.autocommit(ns.data.len(), move |conn| Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE namespaces SET name = $1, version = $2, data = $3 WHERE id = $4 AND version = $5",
                    )
                    .bind(&ns.name)
                    .bind(ns.version)
                    .bind(&ns.data)
                    .bind(&ns.id)
                    .bind(ns.version - 1)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 1 { Ok(()) } else { Err(CellError::ConditionFailed) }
                }))
                .await
            }

            async fn delete_namespace(&self, id: &str) -> CellResult<()> {
                self.execute_alone(sqlx::query("DELETE FROM namespaces WHERE id = $1").bind(id.to_string()))
                    .await
            }
        }

        #[async_trait]
        impl ExecutionStore for $store {
            async fn current_execution(
                &self,
                shard_id: i32,
                namespace_id: &str,
                workflow_id: &str,
            ) -> CellResult<Option<CurrentExecution>> {
                let row = sqlx::query(
                    "SELECT run_id, create_request_id, status FROM current_executions
                     WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3",
                )
                .bind(shard_id)
                .bind(namespace_id)
                .bind(workflow_id)
                .fetch_optional(&self.read)
                .metered_read()
                .await?;
                row.map(|r| {
                    Ok(CurrentExecution {
                        run_id: r.try_get("run_id").map_err(db_err)?,
                        create_request_id: r.try_get("create_request_id").map_err(db_err)?,
                        status: r.try_get("status").map_err(db_err)?,
                    })
                })
                .transpose()
            }

            async fn execution(
                &self,
                shard_id: i32,
                namespace_id: &str,
                workflow_id: &str,
                run_id: &str,
            ) -> CellResult<Option<ExecutionRow>> {
                let row = sqlx::query(
                    "SELECT run_id, db_version, next_event_id, state FROM executions
                     WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4",
                )
                .bind(shard_id)
                .bind(namespace_id)
                .bind(workflow_id)
                .bind(run_id)
                .fetch_optional(&self.read)
                .metered_read()
                .await?;
                row.map(|r| {
                    Ok(ExecutionRow {
                        run_id: r.try_get("run_id").map_err(db_err)?,
                        db_version: r.try_get("db_version").map_err(db_err)?,
                        next_event_id: r.try_get("next_event_id").map_err(db_err)?,
                        state: r.try_get("state").map_err(db_err)?,
                    })
                })
                .transpose()
            }

            async fn events(
                &self,
                namespace_id: &str,
                run_id: &str,
                from: i64,
                to: i64,
                limit: usize,
            ) -> CellResult<Vec<EventRow>> {
                sqlx::query(
                    "SELECT event_id, data FROM history_events
                     WHERE namespace_id = $1 AND run_id = $2 AND event_id >= $3 AND event_id < $4
                     ORDER BY event_id LIMIT $5",
                )
                .bind(namespace_id)
                .bind(run_id)
                .bind(from)
                .bind(to)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .metered_read()
                .await?
                .iter()
                .map(|r| {
                    Ok(EventRow {
                        run_id: run_id.to_string(),
                        event_id: r.try_get("event_id").map_err(db_err)?,
                        data: r.try_get("data").map_err(db_err)?,
                    })
                })
                .collect()
            }

            async fn delete_execution(
                &self,
                shard_id: i32,
                range_id: i64,
                namespace_id: &str,
                workflow_id: &str,
                run_id: &str,
            ) -> CellResult<()> {
                let (namespace_id, workflow_id, run_id) = (namespace_id.to_string(), workflow_id.to_string(), run_id.to_string());
                self.transaction(0, move |conn| Box::pin(async move {
                    fence(&mut *conn, shard_id, range_id).await?;
                    for sql in [
                        "DELETE FROM current_executions WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4",
                        "DELETE FROM executions WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4",
                    ] {
                        sqlx::query(sql)
                            .bind(shard_id)
                            .bind(&namespace_id)
                            .bind(&workflow_id)
                            .bind(&run_id)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    for sql in [
                        "DELETE FROM history_events WHERE namespace_id = $1 AND run_id = $2",
                        "DELETE FROM visibility WHERE namespace_id = $1 AND run_id = $2",
                        "DELETE FROM visibility_search_attributes WHERE namespace_id = $1 AND run_id = $2",
                    ] {
                        sqlx::query(sql)
                            .bind(&namespace_id)
                            .bind(&run_id)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    Ok(())
                }))
                .await
            }

            async fn commit(&self, t: &Transaction) -> CellResult<()> {
                let t = t.clone();
                self.transaction_as("commit", payload_bytes(&t), move |conn| Box::pin(async move {
                    fence(&mut *conn, t.shard_id, t.range_id).await?;
                    match &t.current {
                        None => {}
                        Some(CurrentWrite::Set { run_id, create_request_id, status, previous_run_id: None }) => {
                            sqlx::query(
                                "INSERT INTO current_executions (shard_id, namespace_id, workflow_id, run_id, create_request_id, status)
                                 VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(t.shard_id)
                            .bind(&t.namespace_id)
                            .bind(&t.workflow_id)
                            .bind(run_id)
                            .bind(create_request_id)
                            .bind(*status)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                        }
                        Some(CurrentWrite::Set { run_id, create_request_id, status, previous_run_id: Some(prev) }) => {
                            let done = sqlx::query(
                                "UPDATE current_executions SET run_id = $1, create_request_id = $2, status = $3
                                 WHERE shard_id = $4 AND namespace_id = $5 AND workflow_id = $6 AND run_id = $7",
                            )
                            .bind(run_id)
                            .bind(create_request_id)
                            .bind(*status)
                            .bind(t.shard_id)
                            .bind(&t.namespace_id)
                            .bind(&t.workflow_id)
                            .bind(prev)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                            if done.rows_affected() != 1 {
                                return Err(CellError::ConditionFailed);
                            }
                        }
                        Some(CurrentWrite::Status { run_id, status }) => {
                            let done = sqlx::query(
                                "UPDATE current_executions SET status = $1
                                 WHERE shard_id = $2 AND namespace_id = $3 AND workflow_id = $4 AND run_id = $5",
                            )
                            .bind(*status)
                            .bind(t.shard_id)
                            .bind(&t.namespace_id)
                            .bind(&t.workflow_id)
                            .bind(run_id)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                            if done.rows_affected() != 1 {
                                return Err(CellError::ConditionFailed);
                            }
                        }
                    }
                    // Each run's stored_bytes moves with what this commit
                    // writes of it (see migration 0005): its new state
                    // replaces the old one, its new events add up.
                    for w in &t.executions {
                        let history = crate::sql_usage::history_bytes(&t, &w.row.run_id);
                        let closed_ms = crate::sql_usage::closed_ms(&t, &w.row.run_id);
                        let done = match w.expected_db_version {
                            None => sqlx::query(
                                "INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, db_version, next_event_id, state, stored_bytes, closed_ms)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            )
                            .bind(t.shard_id)
                            .bind(&t.namespace_id)
                            .bind(&t.workflow_id)
                            .bind(&w.row.run_id)
                            .bind(w.row.db_version)
                            .bind(w.row.next_event_id)
                            .bind(&w.row.state)
                            .bind(w.row.state.len() as i64 + history)
                            .bind(closed_ms)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?,
                            Some(expected) => sqlx::query(concat!(
                                "UPDATE executions SET db_version = $1, next_event_id = $2, state = $3,
                                   stored_bytes = stored_bytes - ", $blob_len, "(state) + $9, closed_ms = COALESCE($10, closed_ms)
                                 WHERE shard_id = $4 AND namespace_id = $5 AND workflow_id = $6 AND run_id = $7 AND db_version = $8",
                            ))
                            .bind(w.row.db_version)
                            .bind(w.row.next_event_id)
                            .bind(&w.row.state)
                            .bind(t.shard_id)
                            .bind(&t.namespace_id)
                            .bind(&t.workflow_id)
                            .bind(&w.row.run_id)
                            .bind(expected)
                            .bind(w.row.state.len() as i64 + history)
                            .bind(closed_ms)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?,
                        };
                        if done.rows_affected() != 1 {
                            return Err(CellError::ConditionFailed);
                        }
                    }
                    for (run_id, bytes) in crate::sql_usage::history_bytes_without_state(&t) {
                        sqlx::query(
                            "UPDATE executions SET stored_bytes = stored_bytes + $1
                             WHERE shard_id = $2 AND namespace_id = $3 AND workflow_id = $4 AND run_id = $5",
                        )
                        .bind(bytes)
                        .bind(t.shard_id)
                        .bind(&t.namespace_id)
                        .bind(&t.workflow_id)
                        .bind(run_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    }
                    if !t.events.is_empty() {
                        QueryBuilder::<$db>::new("INSERT INTO history_events (namespace_id, run_id, event_id, data) ")
                            .push_values(&t.events, |mut b, e| {
                                b.push_bind(&t.namespace_id).push_bind(&e.run_id).push_bind(e.event_id).push_bind(&e.data);
                            })
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    for (queue, rows) in [(TimerQueue::Timers, &t.timers), (TimerQueue::Retention, &t.retention_tasks)] {
                        if rows.is_empty() {
                            continue;
                        }
                        QueryBuilder::<$db>::new(format!("INSERT INTO {} (shard_id, fire_ms, task_id, data) ", queue.table()))
                            .push_values(rows, |mut b, r| {
                                b.push_bind(r.shard_id).push_bind(r.fire_ms).push_bind(r.task_id).push_bind(&r.data);
                            })
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    if !t.transfers.is_empty() {
                        QueryBuilder::<$db>::new("INSERT INTO transfer_tasks (shard_id, task_id, data) ")
                            .push_values(&t.transfers, |mut b, r| {
                                b.push_bind(r.shard_id).push_bind(r.task_id).push_bind(&r.data);
                            })
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    if !t.queue_tasks.is_empty() {
                        QueryBuilder::<$db>::new("INSERT INTO queue_tasks (namespace_id, task_queue, kind, task_id, data) ")
                            .push_values(&t.queue_tasks, |mut b, r| {
                                b.push_bind(&r.namespace_id)
                                    .push_bind(&r.task_queue)
                                    .push_bind(r.kind)
                                    .push_bind(r.task_id)
                                    .push_bind(&r.data);
                            })
                            .build()
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    for v in &t.visibility {
                        write_visibility(&mut *conn, v).await?;
                    }
                    write_usage(&mut *conn, &t.usage).await
                }))
                .await
            }
        }

        fn in_shards(qb: &mut QueryBuilder<'_, $db>, shards: &[i32]) {
            qb.push("shard_id IN (");
            let mut sep = qb.separated(", ");
            for s in shards {
                sep.push_bind(*s);
            }
            qb.push(")");
        }

        #[async_trait]
        impl TaskStore for $store {
            async fn due_timers(&self, queue: TimerQueue, shards: &[i32], until_ms: i64, limit: usize) -> CellResult<Vec<TimerRow>> {
                if shards.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new(format!("SELECT shard_id, fire_ms, task_id, data FROM {} WHERE ", queue.table()));
                in_shards(&mut qb, shards);
                qb.push(" AND fire_ms <= ").push_bind(until_ms);
                qb.push(" ORDER BY fire_ms, task_id LIMIT ").push_bind(limit as i64);
                qb.build()
                    .fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(TimerRow {
                            shard_id: r.try_get("shard_id").map_err(db_err)?,
                            fire_ms: r.try_get("fire_ms").map_err(db_err)?,
                            task_id: r.try_get("task_id").map_err(db_err)?,
                            data: r.try_get("data").map_err(db_err)?,
                        })
                    })
                    .collect()
            }

            async fn next_timer_ms(&self, queue: TimerQueue, shards: &[i32]) -> CellResult<Option<i64>> {
                if shards.is_empty() {
                    return Ok(None);
                }
                let mut qb = QueryBuilder::<$db>::new(format!("SELECT MIN(fire_ms) FROM {} WHERE ", queue.table()));
                in_shards(&mut qb, shards);
                qb.build_query_scalar::<Option<i64>>()
                    .fetch_one(&self.read)
                    .metered_read()
                    .await
            }

            async fn delete_timers(&self, queue: TimerQueue, timers: &[TimerRow]) -> CellResult<()> {
                if timers.is_empty() {
                    return Ok(());
                }
                let sql = format!("DELETE FROM {} WHERE shard_id = $1 AND fire_ms = $2 AND task_id = $3", queue.table());
                let timers = timers.to_vec();
                self.transaction(0, move |conn| Box::pin(async move {
                    for t in &timers {
                        sqlx::query(&sql)
                            .bind(t.shard_id)
                            .bind(t.fire_ms)
                            .bind(t.task_id)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    }
                    Ok(())
                }))
                .await
            }

            async fn reschedule_timer(&self, queue: TimerQueue, t: &TimerRow, fire_ms: i64, data: Vec<u8>, usage: &[UsageDelta]) -> CellResult<()> {
                // The fire time is part of the key: move the row in one
                // transaction so a crash leaves it at one time or the other.
                let t = t.clone();
                let usage = usage.to_vec();
                self.transaction(data.len(), move |conn| Box::pin(async move {
                    let deleted = sqlx::query(&format!("DELETE FROM {} WHERE shard_id = $1 AND fire_ms = $2 AND task_id = $3", queue.table()))
                        .bind(t.shard_id)
                        .bind(t.fire_ms)
                        .bind(t.task_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    if deleted.rows_affected() == 0 {
                        return Err(CellError::ConditionFailed);
                    }
                    sqlx::query(&format!("INSERT INTO {} (shard_id, fire_ms, task_id, data) VALUES ($1, $2, $3, $4)", queue.table()))
                        .bind(t.shard_id)
                        .bind(fire_ms)
                        .bind(t.task_id)
                        .bind(data)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    write_usage(&mut *conn, &usage).await
                }))
                .await
            }

            async fn transfer_tasks(&self, shards: &[i32], limit: usize) -> CellResult<Vec<TransferRow>> {
                if shards.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new("SELECT shard_id, task_id, data FROM transfer_tasks WHERE ");
                in_shards(&mut qb, shards);
                qb.push(" ORDER BY task_id LIMIT ").push_bind(limit as i64);
                qb.build()
                    .fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(TransferRow {
                            shard_id: r.try_get("shard_id").map_err(db_err)?,
                            task_id: r.try_get("task_id").map_err(db_err)?,
                            data: r.try_get("data").map_err(db_err)?,
                        })
                    })
                    .collect()
            }

            async fn delete_transfer(&self, t: &TransferRow) -> CellResult<()> {
                self.execute_alone(
                    sqlx::query("DELETE FROM transfer_tasks WHERE shard_id = $1 AND task_id = $2")
                        .bind(t.shard_id)
                        .bind(t.task_id),
                )
                .await
            }
        }

        #[async_trait]
        impl QueueStore for $store {
            async fn queue_tasks(
                &self,
                namespace_id: &str,
                task_queue: &str,
                kind: i32,
                limit: usize,
            ) -> CellResult<Vec<QueueRow>> {
                sqlx::query(
                    "SELECT task_id, data FROM queue_tasks
                     WHERE namespace_id = $1 AND task_queue = $2 AND kind = $3
                     ORDER BY task_id LIMIT $4",
                )
                .bind(namespace_id)
                .bind(task_queue)
                .bind(kind)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .metered_read()
                .await?
                .iter()
                .map(|r| {
                    Ok(QueueRow {
                        namespace_id: namespace_id.to_string(),
                        task_queue: task_queue.to_string(),
                        kind,
                        task_id: r.try_get("task_id").map_err(db_err)?,
                        data: r.try_get("data").map_err(db_err)?,
                    })
                })
                .collect()
            }

            async fn delete_queue_task(
                &self,
                namespace_id: &str,
                task_queue: &str,
                kind: i32,
                task_id: i64,
            ) -> CellResult<()> {
                self.execute_alone(
                    sqlx::query(
                        "DELETE FROM queue_tasks WHERE namespace_id = $1 AND task_queue = $2 AND kind = $3 AND task_id = $4",
                    )
                    .bind(namespace_id.to_string())
                    .bind(task_queue.to_string())
                    .bind(kind)
                    .bind(task_id),
                )
                .await
            }
        }
    };
}

pub(crate) use sql_store;
