//! `ShardStore`: shard ownership by `range_id` (acquired, released, listed
//! for routing), and the `fence` every write of a shard's data runs first.

use orrery_core::CellResult;
use sqlx::Row;

use super::db_err;
use crate::records::ShardOwner;

/// A `shards` row, as either database returns it.
pub(crate) fn shard_owner_row<R: Row>(row: &R) -> CellResult<ShardOwner>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(ShardOwner {
        shard_id: row.try_get("shard_id").map_err(db_err)?,
        range_id: row.try_get("range_id").map_err(db_err)?,
        owner: row.try_get("owner").map_err(db_err)?,
        updated_ms: row.try_get("updated_ms").map_err(db_err)?,
    })
}

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

            async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> CellResult<bool> {
                // '' is what a released shard holds: nobody can release it.
                if owner.is_empty() {
                    return Ok(false);
                }
                let owner = owner.to_string();
                self.autocommit(0, move |conn| Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE shards SET owner = '', updated_ms = $1 WHERE shard_id = $2 AND owner = $3 AND range_id = $4",
                    )
                    .bind(orrery_core::time::now_millis())
                    .bind(shard_id)
                    .bind(owner)
                    .bind(range_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }))
                .await
            }

            async fn shard_owners(&self) -> CellResult<Vec<ShardOwner>> {
                sqlx::query("SELECT shard_id, range_id, owner, updated_ms FROM shards ORDER BY shard_id")
                    .fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(crate::sql::shard_owner_row)
                    .collect()
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
