//! `MembershipStore`: the cell processes sharing one database, each alive
//! while its heartbeat is recent by the database's clock, so that processes
//! whose own clocks disagree still agree on who is alive.

use orrery_core::CellResult;
use sqlx::Row;

use super::db_err;
use crate::records::MemberRecord;

/// Rows silent for longer than this are deleted by the next heartbeat: a
/// crashed process's row is kept long enough to read in an incident, and
/// the table stays bounded by the processes of the last hour.
pub(crate) const FORGET_MEMBERS_AFTER_MS: i64 = 3_600_000;

/// A `cluster_members` row, as either database returns it.
pub(crate) fn member_row<R: Row>(row: &R) -> CellResult<MemberRecord>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(MemberRecord {
        member_id: row.try_get("member_id").map_err(db_err)?,
        peer_addr: row.try_get("peer_addr").map_err(db_err)?,
        started_ms: row.try_get("started_ms").map_err(db_err)?,
        heartbeat_ms: row.try_get("heartbeat_ms").map_err(db_err)?,
    })
}

/// `clock` is the statement that reads the database's clock in ms, or
/// `None` where the database runs in this process (SQLite): then the
/// process clock is the database's.
macro_rules! sql_membership_store {
    ($store:ident, $db:ty, clock = $clock:expr) => {
        #[async_trait]
        impl MembershipStore for $store {
            async fn heartbeat(&self, member_id: &str, peer_addr: &str, ttl_ms: i64) -> CellResult<Vec<MemberRecord>> {
                let member_id = member_id.to_string();
                let peer_addr = peer_addr.to_string();
                self.transaction(0, move |conn| Box::pin(async move {
                    let clock: Option<&'static str> = $clock;
                    let now_ms: i64 = match clock {
                        Some(sql) => sqlx::query_scalar(sql).fetch_one(&mut *conn).await.map_err(db_err)?,
                        None => orrery_core::time::now_millis(),
                    };
                    // started_ms is kept from the row's first heartbeat.
                    sqlx::query(
                        "INSERT INTO cluster_members (member_id, peer_addr, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $3)
                         ON CONFLICT (member_id) DO UPDATE SET peer_addr = excluded.peer_addr, heartbeat_ms = excluded.heartbeat_ms",
                    )
                    .bind(&member_id)
                    .bind(&peer_addr)
                    .bind(now_ms)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    sqlx::query("DELETE FROM cluster_members WHERE heartbeat_ms < $1")
                        .bind(now_ms.saturating_sub(crate::sql::FORGET_MEMBERS_AFTER_MS))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    let mut members = sqlx::query(
                        "SELECT member_id, peer_addr, started_ms, heartbeat_ms FROM cluster_members WHERE heartbeat_ms >= $1",
                    )
                    // A negative ttl still lists the caller, whose row is at now_ms.
                    .bind(now_ms.saturating_sub(ttl_ms.max(0)))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(crate::sql::member_row)
                    .collect::<CellResult<Vec<_>>>()?;
                    // Sorted here, by bytes: PostgreSQL's ORDER BY would
                    // follow the database's collation, and every member must
                    // see the same order.
                    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
                    Ok(members)
                }))
                .await
            }

            async fn leave(&self, member_id: &str) -> CellResult<()> {
                self.execute_alone(sqlx::query("DELETE FROM cluster_members WHERE member_id = $1").bind(member_id.to_string()))
                    .await
            }
        }
    };
}

pub(crate) use sql_membership_store;
