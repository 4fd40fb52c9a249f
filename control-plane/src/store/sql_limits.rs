//! Rate-limit budgets and the readiness ping, for both databases.

macro_rules! sql_limits {
    ($store:ident, $db:ty) => {
        /// A key's budget is full again at the later of its stored instant
        /// and now, plus one request's share: the GCRA step, in SQL so the
        /// read and the write are one statement ($3 now, $4 the interval).
        const NEXT_FULL_AT: &str =
            "(CASE WHEN rate_limits.full_at_ms > $3 THEN rate_limits.full_at_ms ELSE $3 END) + $4";

        #[async_trait]
        impl RateLimitStore for $store {
            async fn charge_rate_limit(
                &self,
                bucket: &str,
                key: &str,
                now_ms: i64,
                interval_ms: i64,
                tolerance_ms: i64,
                may_add: bool,
            ) -> StoreResult<Charged> {
                // The row lock (PostgreSQL) or the write lock (SQLite) the
                // upsert takes orders concurrent charges of one key, from
                // any replica: each sees the instant the previous one left.
                let sql = if may_add {
                    format!(
                        "INSERT INTO rate_limits (bucket, key, full_at_ms) VALUES ($1, $2, $3 + $4)
                         ON CONFLICT (bucket, key) DO UPDATE SET full_at_ms = {NEXT_FULL_AT}
                         WHERE {NEXT_FULL_AT} - $3 <= $5
                         RETURNING full_at_ms"
                    )
                } else {
                    format!(
                        "UPDATE rate_limits SET full_at_ms = {NEXT_FULL_AT}
                         WHERE bucket = $1 AND key = $2 AND {NEXT_FULL_AT} - $3 <= $5
                         RETURNING full_at_ms"
                    )
                };
                let charged: Option<i64> = sqlx::query_scalar(&sql)
                    .bind(bucket)
                    .bind(key)
                    .bind(now_ms)
                    .bind(interval_ms)
                    .bind(tolerance_ms)
                    .fetch_optional(&self.write)
                    .await
                    .map_err(db_err)?;
                if charged.is_some() {
                    return Ok(Charged::Allowed);
                }
                // Refused; only when to come back is left to say.
                let full_at_ms: Option<i64> = sqlx::query_scalar(
                    "SELECT full_at_ms FROM rate_limits WHERE bucket = $1 AND key = $2",
                )
                .bind(bucket)
                .bind(key)
                .fetch_optional(&self.write)
                .await
                .map_err(db_err)?;
                Ok(match full_at_ms {
                    Some(full_at_ms) => Charged::Limited { full_at_ms },
                    None => Charged::Untracked,
                })
            }

            async fn prune_rate_limits(&self, now_ms: i64) -> StoreResult<Vec<(String, i64)>> {
                sqlx::query("DELETE FROM rate_limits WHERE full_at_ms <= $1")
                    .bind(now_ms)
                    .execute(&self.write)
                    .await
                    .map_err(db_err)?;
                sqlx::query_as("SELECT bucket, COUNT(*) FROM rate_limits GROUP BY bucket ORDER BY bucket")
                    .fetch_all(&self.write)
                    .await
                    .map_err(db_err)
            }

            async fn ping(&self) -> StoreResult<()> {
                // One indexed row of the control plane's own schema, not
                // `SELECT 1`: a connection to a database (or schema) this
                // replica cannot use is not ready either.
                sqlx::query("SELECT value FROM control_meta WHERE key = 'snapshot_version'")
                    .execute(&self.read)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use sql_limits;
