//! `ExecutionStore`: runs, their current pointers and histories; `commit`
//! writes a whole state transition in one fenced transaction.

macro_rules! sql_execution_store {
    ($store:ident, $db:ty, blob_len = $blob_len:literal) => {
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
                        let history = crate::sql::history_bytes(&t, &w.row.run_id);
                        let closed_ms = crate::sql::closed_ms(&t, &w.row.run_id);
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
                    for (run_id, bytes) in crate::sql::history_bytes_without_state(&t) {
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
    };
}

pub(crate) use sql_execution_store;
