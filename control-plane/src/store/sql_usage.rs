//! Usage totals, the cell-namespace map and pull cursors, for both databases.

/// The next item of a stream (sqlx's `fetch`), read as it arrives. The
/// crate depends on `futures` only for tests; tonic re-exports tokio-stream.
pub(crate) async fn next<S: tonic::codegen::tokio_stream::Stream + Unpin>(
    stream: &mut S,
) -> Option<S::Item> {
    tonic::codegen::tokio_stream::StreamExt::next(stream).await
}

macro_rules! sql_usage {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl crate::store::usage::UsageStore for $store {
            async fn usage_cursor(&self, cell_id: &str) -> StoreResult<Option<UsageCursor>> {
                sqlx::query_as(
                    "SELECT cell_id, from_hour_ms, last_pull_started_ms FROM usage_cursors WHERE cell_id = $1",
                )
                .bind(cell_id)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)
            }

            async fn replace_usage(&self, cell_id: &str, rows: &[UsageTotal]) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                for row in rows {
                    sqlx::query(
                        "INSERT INTO usage_totals (cell_id, cell_namespace_id, hour_ms, kind, total)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (cell_id, cell_namespace_id, hour_ms, kind)
                         DO UPDATE SET total = excluded.total
                         WHERE excluded.total > usage_totals.total",
                    )
                    .bind(cell_id)
                    .bind(&row.cell_namespace_id)
                    .bind(row.hour_ms)
                    .bind(&row.kind)
                    .bind(row.total)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            }

            async fn finish_usage_pull(&self, cell_id: &str, from_hour_ms: i64, started_ms: i64) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO usage_cursors (cell_id, from_hour_ms, last_pull_started_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (cell_id) DO UPDATE SET
                       from_hour_ms = CASE WHEN excluded.from_hour_ms > usage_cursors.from_hour_ms
                         THEN excluded.from_hour_ms ELSE usage_cursors.from_hour_ms END,
                       last_pull_started_ms = CASE WHEN excluded.last_pull_started_ms > usage_cursors.last_pull_started_ms
                         THEN excluded.last_pull_started_ms ELSE usage_cursors.last_pull_started_ms END",
                )
                .bind(cell_id)
                .bind(from_hour_ms)
                .bind(started_ms)
                .execute(&self.write)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn mapped_usage_namespaces(&self, cell_id: &str) -> StoreResult<Vec<String>> {
                sqlx::query_scalar("SELECT cell_namespace_id FROM usage_namespaces WHERE cell_id = $1")
                    .bind(cell_id)
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn map_usage_namespace(&self, cell_id: &str, cell_namespace_id: &str, namespace_id: &str) -> StoreResult<bool> {
                sqlx::query(
                    "INSERT INTO usage_namespaces (cell_id, cell_namespace_id, namespace_id, account_id)
                     SELECT $1, $2, id, account_id FROM namespaces WHERE id = $3 AND cell_id = $1
                     ON CONFLICT (cell_id, cell_namespace_id) DO NOTHING",
                )
                .bind(cell_id)
                .bind(cell_namespace_id)
                .bind(namespace_id)
                .execute(&self.write)
                .await
                .map_err(db_err)?;
                let found: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM usage_namespaces WHERE cell_id = $1 AND cell_namespace_id = $2",
                )
                .bind(cell_id)
                .bind(cell_namespace_id)
                .fetch_one(&self.write)
                .await
                .map_err(db_err)?;
                Ok(found == 1)
            }

            async fn account_usage(
                &self,
                account_id: &str,
                namespace_id: Option<&str>,
                range: crate::store::UsageRange,
                each: &mut (dyn FnMut(NamespaceUsage) -> std::ops::ControlFlow<()> + Send),
            ) -> StoreResult<()> {
                // Summed in SQL per bucket (buckets are aligned to the
                // epoch, as `from` is) and streamed: nothing here holds the
                // range's hourly rows. PostgreSQL's SUM of BIGINT is
                // NUMERIC: cast it back.
                let mut rows = sqlx::query_as::<_, NamespaceUsage>(
                    "SELECT namespace_id, bucket AS hour_ms, kind, CAST(SUM(total) AS BIGINT) AS total FROM (
                       SELECT m.namespace_id, u.hour_ms - u.hour_ms % $5 AS bucket, u.kind, u.total
                       FROM usage_totals u
                       JOIN usage_namespaces m ON m.cell_id = u.cell_id AND m.cell_namespace_id = u.cell_namespace_id
                       WHERE m.account_id = $1 AND (CAST($2 AS TEXT) IS NULL OR m.namespace_id = $2)
                         AND u.hour_ms >= $3 AND u.hour_ms < $4
                     ) t
                     GROUP BY namespace_id, bucket, kind
                     ORDER BY bucket",
                )
                .bind(account_id)
                .bind(namespace_id)
                .bind(range.from_ms)
                .bind(range.to_ms)
                .bind(range.bucket_ms)
                .fetch(&self.read);
                while let Some(row) = crate::store::sql_usage::next(&mut rows).await.transpose().map_err(db_err)? {
                    if each(row).is_break() {
                        break;
                    }
                }
                Ok(())
            }

            async fn account_action_hours(
                &self,
                account_id: &str,
                from_ms: i64,
                to_ms: i64,
                each: &mut (dyn FnMut(crate::store::ActionHour) + Send),
            ) -> StoreResult<()> {
                // Every kind outside `usage::STORAGE_PREFIX` ("storage.")
                // is Actions; substr, unlike LIKE, compares case-sensitively
                // on both databases.
                let mut rows = sqlx::query_as::<_, crate::store::ActionHour>(
                    "SELECT m.namespace_id, u.hour_ms, CAST(SUM(u.total) AS BIGINT) AS actions
                     FROM usage_totals u
                     JOIN usage_namespaces m ON m.cell_id = u.cell_id AND m.cell_namespace_id = u.cell_namespace_id
                     WHERE m.account_id = $1 AND u.hour_ms >= $2 AND u.hour_ms < $3
                       AND substr(u.kind, 1, 8) <> 'storage.'
                     GROUP BY m.namespace_id, u.hour_ms
                     ORDER BY u.hour_ms",
                )
                .bind(account_id)
                .bind(from_ms)
                .bind(to_ms)
                .fetch(&self.read);
                while let Some(row) = crate::store::sql_usage::next(&mut rows).await.transpose().map_err(db_err)? {
                    each(row);
                }
                Ok(())
            }

            async fn account_storage(
                &self,
                account_id: &str,
                from_ms: i64,
                to_ms: i64,
            ) -> StoreResult<Vec<crate::store::NamespaceStorage>> {
                sqlx::query_as(
                    "SELECT m.namespace_id,
                       CAST(COALESCE(SUM(CASE WHEN u.kind = $4 THEN u.total END), 0) AS BIGINT) AS active_byte_seconds,
                       CAST(COALESCE(SUM(CASE WHEN u.kind = $5 THEN u.total END), 0) AS BIGINT) AS retained_byte_seconds
                     FROM usage_totals u
                     JOIN usage_namespaces m ON m.cell_id = u.cell_id AND m.cell_namespace_id = u.cell_namespace_id
                     WHERE m.account_id = $1 AND u.hour_ms >= $2 AND u.hour_ms < $3
                       AND u.kind IN ($4, $5)
                     GROUP BY m.namespace_id",
                )
                .bind(account_id)
                .bind(from_ms)
                .bind(to_ms)
                .bind(crate::usage::ACTIVE_STORAGE_BYTE_SECONDS)
                .bind(crate::usage::RETAINED_STORAGE_BYTE_SECONDS)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)
            }

            async fn usage_cells(&self, account_id: &str, namespace_id: Option<&str>) -> StoreResult<Vec<UsageCell>> {
                sqlx::query_as(
                    "SELECT c.cell_id, k.last_pull_started_ms FROM (
                       SELECT cell_id FROM namespaces
                        WHERE account_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id = $2)
                       UNION
                       SELECT cell_id FROM usage_namespaces
                        WHERE account_id = $1 AND (CAST($2 AS TEXT) IS NULL OR namespace_id = $2)
                     ) c LEFT JOIN usage_cursors k ON k.cell_id = c.cell_id
                     ORDER BY c.cell_id",
                )
                .bind(account_id)
                .bind(namespace_id)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)
            }
        }
    };
}
pub(crate) use sql_usage;
