//! `ShardStore`: shard ownership by `range_id`, and the `fence` every write
//! of a shard's data runs first.

macro_rules! sql_shard_store {
    ($store:ident, $db:ty, fence = $fence:literal) => {
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
    };
}

pub(crate) use sql_shard_store;
