//! Usage totals, the cell-namespace map and pull cursors, for both databases.

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
                         DO UPDATE SET total = excluded.total",
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
                     ON CONFLICT (cell_id) DO UPDATE SET from_hour_ms = excluded.from_hour_ms,
                       last_pull_started_ms = excluded.last_pull_started_ms",
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
                from_ms: i64,
                to_ms: i64,
            ) -> StoreResult<Vec<NamespaceUsage>> {
                // PostgreSQL's SUM of BIGINT is NUMERIC: cast it back.
                sqlx::query_as(
                    "SELECT m.namespace_id, u.hour_ms, u.kind, CAST(SUM(u.total) AS BIGINT) AS total
                     FROM usage_totals u
                     JOIN usage_namespaces m ON m.cell_id = u.cell_id AND m.cell_namespace_id = u.cell_namespace_id
                     WHERE m.account_id = $1 AND (CAST($2 AS TEXT) IS NULL OR m.namespace_id = $2)
                       AND u.hour_ms >= $3 AND u.hour_ms < $4
                     GROUP BY m.namespace_id, u.hour_ms, u.kind
                     ORDER BY u.hour_ms, m.namespace_id, u.kind",
                )
                .bind(account_id)
                .bind(namespace_id)
                .bind(from_ms)
                .bind(to_ms)
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
