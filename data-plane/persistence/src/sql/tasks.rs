//! `TaskStore`: the timer queues (timers, retention) and transfer tasks of
//! the history shards.

use sqlx::{Database, QueryBuilder};

/// Appends `shard_id IN (...)` with one bound parameter per shard.
pub(crate) fn in_shards<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, shards: &[i32])
where
    i32: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("shard_id IN (");
    let mut sep = qb.separated(", ");
    for s in shards {
        sep.push_bind(*s);
    }
    qb.push(")");
}

macro_rules! sql_task_store {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl TaskStore for $store {
            async fn due_timers(&self, queue: TimerQueue, shards: &[i32], until_ms: i64, limit: usize) -> CellResult<Vec<TimerRow>> {
                if shards.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new(format!("SELECT shard_id, fire_ms, task_id, data FROM {} WHERE ", queue.table()));
                crate::sql::in_shards(&mut qb, shards);
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
                crate::sql::in_shards(&mut qb, shards);
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
                crate::sql::in_shards(&mut qb, shards);
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
    };
}

pub(crate) use sql_task_store;
