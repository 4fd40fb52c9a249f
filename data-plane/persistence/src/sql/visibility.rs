//! The SQL of visibility and schedules, shared by both databases as in
//! `sql/mod.rs`: the list-filter queries (translated by `orrery-visibility`),
//! the visibility rows commits write, and the schedule rows written with
//! their visibility rows. Expanded inside `sql_store!`, whose imports it uses.

macro_rules! sql_visibility_store {
    ($store:ident, $db:ty, dialect = $dialect:expr) => {
        /// Upserts a run's visibility row and replaces its search-attribute
        /// values, inside the caller's transaction.
        async fn write_visibility(
            conn: &mut <$db as sqlx::Database>::Connection,
            v: &VisibilityRow,
        ) -> CellResult<()> {
            sqlx::query(
                "INSERT INTO visibility (namespace_id, run_id, workflow_id, workflow_type, status, start_ms,
                   execution_ms, close_ms, sort_close_ms, execution_duration_ns, task_queue, parent_workflow_id,
                   parent_run_id, root_workflow_id, root_run_id, history_length, history_size_bytes,
                   state_transition_count, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
                 ON CONFLICT (namespace_id, run_id) DO UPDATE SET
                   workflow_type = excluded.workflow_type, status = excluded.status,
                   start_ms = excluded.start_ms, execution_ms = excluded.execution_ms,
                   close_ms = excluded.close_ms, sort_close_ms = excluded.sort_close_ms,
                   execution_duration_ns = excluded.execution_duration_ns, task_queue = excluded.task_queue,
                   parent_workflow_id = excluded.parent_workflow_id, parent_run_id = excluded.parent_run_id,
                   root_workflow_id = excluded.root_workflow_id, root_run_id = excluded.root_run_id,
                   history_length = excluded.history_length, history_size_bytes = excluded.history_size_bytes,
                   state_transition_count = excluded.state_transition_count, data = excluded.data",
            )
            .bind(&v.namespace_id)
            .bind(&v.run_id)
            .bind(&v.workflow_id)
            .bind(&v.workflow_type)
            .bind(v.status)
            .bind(v.start_ms)
            .bind(v.execution_ms)
            .bind(v.close_ms)
            .bind(v.sort_close_ms())
            .bind(v.close_ms.map(|c| (c - v.execution_ms).max(0).saturating_mul(1_000_000)))
            .bind(&v.task_queue)
            .bind(&v.parent_workflow_id)
            .bind(&v.parent_run_id)
            .bind(&v.root_workflow_id)
            .bind(&v.root_run_id)
            .bind(v.close_ms.map(|_| v.history_length))
            .bind(v.close_ms.map(|_| v.history_size_bytes))
            .bind(v.close_ms.map(|_| v.state_transition_count))
            .bind(&v.data)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            sqlx::query("DELETE FROM visibility_search_attributes WHERE namespace_id = $1 AND run_id = $2")
                .bind(&v.namespace_id)
                .bind(&v.run_id)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            if !v.search_attributes.is_empty() {
                QueryBuilder::<$db>::new(
                    "INSERT INTO visibility_search_attributes
                     (namespace_id, run_id, name, ordinal, int_value, double_value, text_value) ",
                )
                .push_values(&v.search_attributes, |mut b, a| {
                    b.push_bind(&v.namespace_id)
                        .push_bind(&v.run_id)
                        .push_bind(&a.name)
                        .push_bind(a.ordinal)
                        .push_bind(a.int_value)
                        .push_bind(a.double_value)
                        .push_bind(&a.text_value);
                })
                .build()
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            }
            Ok(())
        }

        /// Binds a translated filter's parameters, in order.
        fn bind_filter<'q>(
            mut q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            params: &'q [orrery_visibility::SqlParam],
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            for p in params {
                q = match p {
                    orrery_visibility::SqlParam::Int(i) => q.bind(*i),
                    orrery_visibility::SqlParam::Double(d) => q.bind(*d),
                    orrery_visibility::SqlParam::Text(t) => q.bind(t.as_str()),
                };
            }
            q
        }

        #[async_trait]
        impl VisibilityStore for $store {
            async fn list_executions(
                &self,
                namespace_id: &str,
                query: &orrery_visibility::Query,
                page: &VisibilityPage,
                limit: usize,
            ) -> CellResult<Vec<VisibilityRow>> {
                let f = orrery_visibility::to_sql(query, namespace_id, $dialect);
                let mut sql = format!(
                    "SELECT v.run_id, v.workflow_id, v.workflow_type, v.status, v.start_ms, v.execution_ms,
                       v.close_ms, v.data FROM visibility v {} WHERE {}",
                    f.joins, f.where_sql
                );
                // Our own parameters follow the filter's, numbered after them.
                let n = f.params.len();
                let mut keyset: Option<(i64, i64, &str)> = None;
                let mut offset = 0;
                match page {
                    VisibilityPage::First => {}
                    VisibilityPage::Offset(o) => offset = (*o).max(0),
                    VisibilityPage::After { sort_close_ms, start_ms, run_id } => {
                        let p = |i| orrery_visibility::placeholder($dialect, n + i);
                        sql.push_str(&format!(
                            " AND (v.sort_close_ms < {a} OR (v.sort_close_ms = {a} AND
                               (v.start_ms < {b} OR (v.start_ms = {b} AND v.run_id > {c}))))",
                            a = p(1),
                            b = p(2),
                            c = p(3)
                        ));
                        keyset = Some((*sort_close_ms, *start_ms, run_id));
                    }
                }
                match &f.order_sql {
                    Some(order) => sql.push_str(&format!(" ORDER BY {order}")),
                    None => sql.push_str(" ORDER BY v.sort_close_ms DESC, v.start_ms DESC, v.run_id"),
                }
                sql.push_str(&format!(" LIMIT {} OFFSET {offset}", limit.max(1)));
                let mut q = bind_filter(sqlx::query(&sql), &f.params);
                if let Some((c, s, r)) = keyset {
                    q = q.bind(c).bind(s).bind(r);
                }
                q.fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(VisibilityRow {
                            namespace_id: namespace_id.to_string(),
                            run_id: r.try_get("run_id").map_err(db_err)?,
                            workflow_id: r.try_get("workflow_id").map_err(db_err)?,
                            workflow_type: r.try_get("workflow_type").map_err(db_err)?,
                            status: r.try_get("status").map_err(db_err)?,
                            start_ms: r.try_get("start_ms").map_err(db_err)?,
                            execution_ms: r.try_get("execution_ms").map_err(db_err)?,
                            close_ms: r.try_get("close_ms").map_err(db_err)?,
                            data: r.try_get("data").map_err(db_err)?,
                            ..Default::default()
                        })
                    })
                    .collect()
            }

            async fn count_executions(
                &self,
                namespace_id: &str,
                query: &orrery_visibility::Query,
            ) -> CellResult<VisibilityCount> {
                let f = orrery_visibility::to_sql(query, namespace_id, $dialect);
                if f.group_by.is_some() {
                    let sql = format!(
                        "SELECT v.status AS status, COUNT(*) AS n FROM visibility v {} WHERE {}
                         GROUP BY v.status ORDER BY n DESC, v.status",
                        f.joins, f.where_sql
                    );
                    let rows = bind_filter(sqlx::query(&sql), &f.params)
                        .fetch_all(&self.read)
                        .metered_read()
                        .await?;
                    let mut groups = Vec::with_capacity(rows.len());
                    for r in &rows {
                        groups.push((
                            r.try_get::<i32, _>("status").map_err(db_err)?,
                            r.try_get::<i64, _>("n").map_err(db_err)?,
                        ));
                    }
                    return Ok(VisibilityCount {
                        total: groups.iter().map(|g| g.1).sum(),
                        by_status: Some(groups),
                    });
                }
                let sql = format!("SELECT COUNT(*) FROM visibility v {} WHERE {}", f.joins, f.where_sql);
                let total: i64 = bind_filter(sqlx::query(&sql), &f.params)
                    .fetch_one(&self.read)
                    .metered_read()
                    .await?
                    .try_get(0)
                    .map_err(db_err)?;
                Ok(VisibilityCount { total, by_status: None })
            }

            async fn remove_search_attribute(&self, namespace_id: &str, name: &str) -> CellResult<()> {
                self.execute_alone(
                    sqlx::query("DELETE FROM visibility_search_attributes WHERE namespace_id = $1 AND name = $2")
                        .bind(namespace_id.to_string())
                        .bind(name.to_string()),
                )
                .await
            }
        }

        #[async_trait]
        impl ScheduleStore for $store {
            async fn create_schedule(&self, s: &ScheduleRecord, row: &VisibilityRow) -> CellResult<()> {
                let (s, row) = (s.clone(), row.clone());
                self.transaction(s.data.len() + row.data.len(), move |conn| Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO schedules (namespace_id, schedule_id, version, next_wake_ms, data)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&s.namespace_id)
                    .bind(&s.schedule_id)
                    .bind(s.version)
                    .bind(s.next_wake_ms)
                    .bind(&s.data)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    write_visibility(&mut *conn, &row).await?;
                    Ok(())
                }))
                .await
            }

            async fn schedule(
                &self,
                namespace_id: &str,
                schedule_id: &str,
            ) -> CellResult<Option<ScheduleRecord>> {
                let row = sqlx::query(
                    "SELECT version, next_wake_ms, data FROM schedules WHERE namespace_id = $1 AND schedule_id = $2",
                )
                .bind(namespace_id)
                .bind(schedule_id)
                .fetch_optional(&self.read)
                .metered_read()
                .await?;
                row.map(|r| {
                    Ok(ScheduleRecord {
                        namespace_id: namespace_id.to_string(),
                        schedule_id: schedule_id.to_string(),
                        version: r.try_get("version").map_err(db_err)?,
                        next_wake_ms: r.try_get("next_wake_ms").map_err(db_err)?,
                        data: r.try_get("data").map_err(db_err)?,
                    })
                })
                .transpose()
            }

            async fn update_schedule(&self, s: &ScheduleRecord, row: &VisibilityRow) -> CellResult<()> {
                let (s, row) = (s.clone(), row.clone());
                self.transaction(s.data.len() + row.data.len(), move |conn| Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE schedules SET version = $1, next_wake_ms = $2, data = $3
                         WHERE namespace_id = $4 AND schedule_id = $5 AND version = $6",
                    )
                    .bind(s.version)
                    .bind(s.next_wake_ms)
                    .bind(&s.data)
                    .bind(&s.namespace_id)
                    .bind(&s.schedule_id)
                    .bind(s.version - 1)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() != 1 {
                        return Err(CellError::ConditionFailed);
                    }
                    write_visibility(&mut *conn, &row).await?;
                    Ok(())
                }))
                .await
            }

            async fn delete_schedule(&self, namespace_id: &str, schedule_id: &str) -> CellResult<bool> {
                let (namespace_id, schedule_id) = (namespace_id.to_string(), schedule_id.to_string());
                self.transaction(0, move |conn| Box::pin(async move {
                    let done = sqlx::query("DELETE FROM schedules WHERE namespace_id = $1 AND schedule_id = $2")
                        .bind(&namespace_id)
                        .bind(&schedule_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    let run_id = schedule_run_id(&schedule_id);
                    for sql in [
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
                    Ok(done.rows_affected() == 1)
                }))
                .await
            }

            async fn due_schedules(&self, until_ms: i64, limit: usize) -> CellResult<Vec<(String, String)>> {
                sqlx::query(
                    "SELECT namespace_id, schedule_id FROM schedules
                     WHERE next_wake_ms IS NOT NULL AND next_wake_ms <= $1
                     ORDER BY next_wake_ms LIMIT $2",
                )
                .bind(until_ms)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .metered_read()
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("namespace_id").map_err(db_err)?,
                        r.try_get("schedule_id").map_err(db_err)?,
                    ))
                })
                .collect()
            }

            async fn next_schedule_wake_ms(&self) -> CellResult<Option<i64>> {
                sqlx::query_scalar("SELECT MIN(next_wake_ms) FROM schedules")
                    .fetch_one(&self.read)
                    .metered_read()
                    .await
            }
        }

    };
}

pub(crate) use sql_visibility_store;
