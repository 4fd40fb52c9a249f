//! Usage: Actions counted with the changes that cause them, storage sampled
//! into byte-seconds, and the ordered totals the control plane pulls
//! (`UsageStore`); expanded inside `sql_store!`, whose imports it uses.

/// The hour (its start, ms since the epoch) an instant falls in.
pub(crate) fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(3_600_000) * 3_600_000
}

/// `bytes` kept stored over [from_ms, to_ms), as byte-seconds per hour: a
/// span crossing an hour boundary bills each hour its own part. Computed
/// in ms and rounded down, so a span never bills more than it lasted.
pub(crate) fn byte_seconds_by_hour(from_ms: i64, to_ms: i64, bytes: i64) -> Vec<(i64, i64)> {
    let mut parts = Vec::new();
    let mut at = from_ms;
    while at < to_ms {
        let hour_ms = hour_of(at);
        let until = to_ms.min(hour_ms.saturating_add(3_600_000));
        let byte_ms = i128::from(bytes) * i128::from(until - at);
        parts.push((hour_ms, i64::try_from(byte_ms / 1000).unwrap_or(i64::MAX)));
        at = until;
    }
    parts
}

macro_rules! sql_usage_store {
    ($store:ident, $db:ty) => {
        /// Adds Actions to their namespace's current hour, inside the
        /// caller's transaction: they stand or fall with the change that
        /// caused them.
        async fn write_usage(
            conn: &mut <$db as sqlx::Database>::Connection,
            usage: &[UsageDelta],
        ) -> CellResult<()> {
            let hour_ms = crate::sql::hour_of(orrery_core::time::now_millis());
            // Inside SQLite's group commit the group adds them once, before
            // its COMMIT (still the same transaction).
            if crate::sqlite_writer::defer_usage(hour_ms, usage) {
                return Ok(());
            }
            for u in usage {
                add_usage_at(&mut *conn, &u.namespace_id, hour_ms, u.action, u.count).await?;
            }
            Ok(())
        }

        async fn add_usage_at(
            conn: &mut <$db as sqlx::Database>::Connection,
            namespace_id: &str,
            hour_ms: i64,
            kind: &str,
            count: i64,
        ) -> CellResult<()> {
            sqlx::query(
                "INSERT INTO usage (namespace_id, hour_ms, action, count) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (namespace_id, hour_ms, action) DO UPDATE SET count = usage.count + excluded.count",
            )
            .bind(namespace_id)
            .bind(hour_ms)
            .bind(kind)
            .bind(count)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            Ok(())
        }

        #[async_trait]
        impl UsageStore for $store {
            async fn add_usage(&self, usage: &[UsageDelta]) -> CellResult<()> {
                if usage.is_empty() {
                    return Ok(());
                }
                let usage = usage.to_vec();
                self.transaction(0, move |conn| Box::pin(async move { write_usage(&mut *conn, &usage).await }))
                    .await
            }

            async fn usage(&self, namespace_id: &str, since_ms: i64) -> CellResult<Vec<(String, i64)>> {
                sqlx::query(
                    "SELECT action, CAST(SUM(count) AS BIGINT) AS total FROM usage
                     WHERE namespace_id = $1 AND hour_ms >= $2 AND action NOT IN ($3, $4)
                     GROUP BY action ORDER BY action",
                )
                .bind(namespace_id)
                .bind(since_ms)
                .bind(orrery_cell_api::ACTIVE_STORAGE_BYTE_SECONDS)
                .bind(orrery_cell_api::RETAINED_STORAGE_BYTE_SECONDS)
                .fetch_all(&self.read)
                .metered_read()
                .await?
                .iter()
                .map(|r| Ok((r.try_get("action").map_err(db_err)?, r.try_get("total").map_err(db_err)?)))
                .collect()
            }

            async fn storage_by_keyspace(&self) -> CellResult<Vec<KeyspaceStorage>> {
                // Reads only the (namespace_id, closed_ms, stored_bytes)
                // index: one row per keyspace however large the histories.
                sqlx::query(
                    "SELECT namespace_id,
                            CAST(COALESCE(SUM(CASE WHEN closed_ms IS NULL THEN stored_bytes END), 0) AS BIGINT) AS active,
                            CAST(COALESCE(SUM(CASE WHEN closed_ms IS NOT NULL THEN stored_bytes END), 0) AS BIGINT) AS retained
                     FROM executions GROUP BY namespace_id ORDER BY namespace_id",
                )
                .fetch_all(&self.read)
                .metered_read()
                .await?
                .iter()
                .map(|r| {
                    Ok(KeyspaceStorage {
                        namespace_id: r.try_get("namespace_id").map_err(db_err)?,
                        active_bytes: r.try_get("active").map_err(db_err)?,
                        retained_bytes: r.try_get("retained").map_err(db_err)?,
                    })
                })
                .collect()
            }

            async fn record_storage_samples(
                &self,
                samples: &[StorageSample],
                forget_before_ms: i64,
            ) -> CellResult<usize> {
                let samples = samples.to_vec();
                self.transaction(64 * samples.len(), move |conn| Box::pin(async move {
                    let mut billed = 0;
                    for s in &samples {
                        let end_ms = s.slot_ms.saturating_add(s.seconds.saturating_mul(1000));
                        // Creates the namespace's row (nothing billed before
                        // this slot) or locks the existing one, and reads how
                        // far it is billed: on PostgreSQL a concurrent sampler
                        // waits here for this transaction and then reads what
                        // it committed; on SQLite writers are serialized
                        // anyway. Either way no two transactions bill from the
                        // same `billed_until_ms`.
                        let row = sqlx::query(
                            "INSERT INTO storage_billed (namespace_id, billed_until_ms) VALUES ($1, $2)
                             ON CONFLICT (namespace_id) DO UPDATE SET billed_until_ms = storage_billed.billed_until_ms
                             RETURNING billed_until_ms",
                        )
                        .bind(&s.namespace_id)
                        .bind(s.slot_ms)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?;
                        let billed_until_ms: i64 = row.try_get("billed_until_ms").map_err(db_err)?;
                        // Seconds already billed (a restart within the slot,
                        // another process, a longer slot sampled before) are
                        // skipped; a gap before the slot stays unbilled.
                        let from_ms = s.slot_ms.max(billed_until_ms);
                        if from_ms >= end_ms {
                            continue;
                        }
                        sqlx::query("UPDATE storage_billed SET billed_until_ms = $2 WHERE namespace_id = $1")
                            .bind(&s.namespace_id)
                            .bind(end_ms)
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                        billed += 1;
                        for (kind, bytes) in [
                            (orrery_cell_api::ACTIVE_STORAGE_BYTE_SECONDS, s.active_bytes),
                            (orrery_cell_api::RETAINED_STORAGE_BYTE_SECONDS, s.retained_bytes),
                        ] {
                            for (hour_ms, byte_seconds) in crate::sql::byte_seconds_by_hour(from_ms, end_ms, bytes) {
                                if byte_seconds > 0 {
                                    add_usage_at(&mut *conn, &s.namespace_id, hour_ms, kind, byte_seconds).await?;
                                }
                            }
                        }
                    }
                    // Only the current slot is ever sampled, so a row not
                    // moved for `forget_before_ms` cannot hold back a
                    // sample; forgetting it bounds the table by the
                    // namespaces storing something lately.
                    sqlx::query("DELETE FROM storage_billed WHERE billed_until_ms < $1")
                        .bind(forget_before_ms)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    Ok(billed)
                }))
                .await
            }

            async fn usage_totals(
                &self,
                from_hour_ms: i64,
                after: Option<&UsageKey>,
                limit: u32,
            ) -> CellResult<Vec<UsageTotal>> {
                // Keyset paging on the usage_by_hour index; the row-value
                // comparison reads the same in both dialects.
                let query = match after {
                    None => sqlx::query(
                        "SELECT namespace_id, hour_ms, action, count FROM usage WHERE hour_ms >= $1
                         ORDER BY hour_ms, namespace_id, action LIMIT $2",
                    )
                    .bind(from_hour_ms)
                    .bind(i64::from(limit)),
                    Some(k) => sqlx::query(
                        "SELECT namespace_id, hour_ms, action, count FROM usage
                         WHERE hour_ms >= $1 AND (hour_ms, namespace_id, action) > ($2, $3, $4)
                         ORDER BY hour_ms, namespace_id, action LIMIT $5",
                    )
                    .bind(from_hour_ms)
                    .bind(k.hour_ms)
                    .bind(k.namespace_id.as_str())
                    .bind(k.kind.as_str())
                    .bind(i64::from(limit)),
                };
                query
                    .fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(UsageTotal {
                            key: UsageKey {
                                hour_ms: r.try_get("hour_ms").map_err(db_err)?,
                                namespace_id: r.try_get("namespace_id").map_err(db_err)?,
                                kind: r.try_get("action").map_err(db_err)?,
                            },
                            total: r.try_get("count").map_err(db_err)?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use sql_usage_store;

/// The history bytes a transaction appends to `run_id`.
pub(crate) fn history_bytes(t: &crate::records::Transaction, run_id: &str) -> i64 {
    t.events
        .iter()
        .filter(|e| e.run_id == run_id)
        .map(|e| e.data.len() as i64)
        .sum()
}

/// When `run_id` closed, if this transaction writes its closed visibility
/// record: every close writes one, so this is where a run stops being
/// active storage and becomes retained storage.
pub(crate) fn closed_ms(t: &crate::records::Transaction, run_id: &str) -> Option<i64> {
    t.visibility
        .iter()
        .find(|v| v.run_id == run_id && v.namespace_id == t.namespace_id)
        .and_then(|v| v.close_ms)
}

/// History bytes appended to runs whose state this transaction does not
/// rewrite (none today; kept exact should one ever do so).
pub(crate) fn history_bytes_without_state(t: &crate::records::Transaction) -> Vec<(String, i64)> {
    let mut runs: Vec<(String, i64)> = Vec::new();
    for e in &t.events {
        if t.executions.iter().any(|w| w.row.run_id == e.run_id) {
            continue;
        }
        match runs.iter_mut().find(|(r, _)| *r == e.run_id) {
            Some((_, bytes)) => *bytes += e.data.len() as i64,
            None => runs.push((e.run_id.clone(), e.data.len() as i64)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::byte_seconds_by_hour;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_span_is_split_at_hour_boundaries() {
        assert_eq!(
            byte_seconds_by_hour(HOUR, HOUR + 60_000, 10),
            vec![(HOUR, 600)]
        );
        assert_eq!(
            byte_seconds_by_hour(2 * HOUR - 60_000, 2 * HOUR + 240_000, 10),
            vec![(HOUR, 600), (2 * HOUR, 2400)]
        );
        assert_eq!(
            byte_seconds_by_hour(HOUR - 1000, 3 * HOUR + 1000, 1),
            vec![(0, 1), (HOUR, 3600), (2 * HOUR, 3600), (3 * HOUR, 1)]
        );
        assert!(byte_seconds_by_hour(HOUR, HOUR, 10).is_empty());
        assert_eq!(byte_seconds_by_hour(0, 1500, 3), vec![(0, 4)]);
        assert_eq!(byte_seconds_by_hour(0, 1000, i64::MAX), vec![(0, i64::MAX)]);
        assert_eq!(byte_seconds_by_hour(0, 2000, i64::MAX), vec![(0, i64::MAX)]);
    }
}
