//! Conformance cases for membership (cell processes heartbeating one
//! database) and for giving a shard up and reading who owns each shard.
use std::sync::Arc;
use std::time::Duration;

use orrery_core::CellError;
use orrery_persistence::*;

use super::*;

fn ids(members: &[MemberRecord]) -> Vec<&str> {
    members.iter().map(|m| m.member_id.as_str()).collect()
}

pub(super) async fn heartbeats_list_live_members_in_order(s: Arc<dyn CellStore>) {
    let first = s
        .heartbeat("cell-b", "10.0.0.2:7300", 60_000)
        .await
        .unwrap();
    assert_eq!(ids(&first), ["cell-b"]);
    assert_eq!(first[0].peer_addr, "10.0.0.2:7300");
    assert_eq!(first[0].started_ms, first[0].heartbeat_ms);
    let both = s
        .heartbeat("cell-a", "10.0.0.1:7300", 60_000)
        .await
        .unwrap();
    assert_eq!(ids(&both), ["cell-a", "cell-b"]);
    assert_eq!(both[1], first[0]);
    // A later heartbeat moves heartbeat_ms (and a new address) but keeps
    // when the member started.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = s
        .heartbeat("cell-b", "10.0.0.2:7301", 60_000)
        .await
        .unwrap();
    assert_eq!(ids(&again), ["cell-a", "cell-b"]);
    assert_eq!(again[1].started_ms, first[0].started_ms);
    assert!(again[1].heartbeat_ms > first[0].heartbeat_ms, "{again:?}");
    assert_eq!(again[1].peer_addr, "10.0.0.2:7301");
    // A graceful leave is seen at once, by any ttl.
    s.leave("cell-a").await.unwrap();
    assert_eq!(
        ids(&s
            .heartbeat("cell-b", "10.0.0.2:7301", 60_000)
            .await
            .unwrap()),
        ["cell-b"]
    );
    // Leaving twice (or unknown) is no error.
    s.leave("cell-a").await.unwrap();
}

pub(super) async fn a_silent_member_drops_out_after_its_ttl(s: Arc<dyn CellStore>) {
    s.heartbeat("cell-a", "a:1", 200).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // cell-a last beat ~400 ms ago: outside a 200 ms ttl, inside a minute's.
    assert_eq!(
        ids(&s.heartbeat("cell-b", "b:1", 200).await.unwrap()),
        ["cell-b"]
    );
    assert_eq!(
        ids(&s.heartbeat("cell-b", "b:1", 60_000).await.unwrap()),
        ["cell-a", "cell-b"]
    );
    // Its next heartbeat brings it back.
    assert_eq!(
        ids(&s.heartbeat("cell-a", "a:1", 200).await.unwrap()),
        ["cell-a", "cell-b"]
    );
}

pub(super) async fn a_released_shard_has_no_owner_until_acquired(s: Arc<dyn CellStore>) {
    let range = s.acquire_shard(1, "cell-a").await.unwrap();
    let other = s.acquire_shard(2, "cell-b").await.unwrap();
    s.commit(&start_tx(range, "r1", 1)).await.unwrap();
    let before = s.shard_owners().await.unwrap();
    assert_eq!(
        before
            .iter()
            .map(|o| (o.shard_id, o.range_id, o.owner.as_str()))
            .collect::<Vec<_>>(),
        [(1, range, "cell-a"), (2, other, "cell-b")]
    );
    // Another owner, a stale range, or a shard nobody holds: refused, and
    // nothing changes.
    assert!(!s.release_shard(1, "cell-b", range).await.unwrap());
    assert!(!s.release_shard(1, "cell-a", range - 1).await.unwrap());
    assert!(!s.release_shard(1, "cell-a", range + 1).await.unwrap());
    assert!(!s.release_shard(3, "cell-a", range).await.unwrap());
    assert_eq!(s.shard_owners().await.unwrap(), before);
    // The owner at its range gives it up; its range stays.
    assert!(s.release_shard(1, "cell-a", range).await.unwrap());
    let after = s.shard_owners().await.unwrap();
    assert_eq!((after[0].shard_id, after[0].range_id), (1, range));
    assert_eq!(after[0].owner, "");
    assert!(after[0].updated_ms >= before[0].updated_ms);
    assert_eq!(after[1], before[1]);
    // Released already: a second release, or one naming the empty owner, is refused.
    assert!(!s.release_shard(1, "cell-a", range).await.unwrap());
    assert!(!s.release_shard(1, "", range).await.unwrap());
    // The next owner bumps the range, which fences the old one.
    let next = s.acquire_shard(1, "cell-b").await.unwrap();
    assert_eq!(next, range + 1);
    let mut stale = start_tx(range, "r2", 1);
    stale.workflow_id = "wf2".into();
    assert!(matches!(
        s.commit(&stale).await,
        Err(CellError::ShardOwnershipLost(1))
    ));
    assert_eq!(s.current_execution(1, "ns", "wf2").await.unwrap(), None);
    let owners = s.shard_owners().await.unwrap();
    assert_eq!(
        (owners[0].range_id, owners[0].owner.as_str()),
        (next, "cell-b")
    );
    stale.range_id = next;
    s.commit(&stale).await.unwrap();
}

/// Ages `member_id`'s last heartbeat by two hours, behind the store's back.
const AGE_BY_TWO_HOURS: &str =
    "UPDATE cluster_members SET heartbeat_ms = heartbeat_ms - 7200000 WHERE member_id = $1";

/// A row silent for over an hour is deleted by any member's heartbeat, even
/// one whose ttl would still list it.
async fn a_member_silent_for_an_hour_is_forgotten(
    s: Arc<dyn CellStore>,
    age: impl AsyncFnOnce(&str),
    rows: impl AsyncFnOnce() -> i64,
) {
    s.heartbeat("gone", "g:1", 60_000).await.unwrap();
    s.heartbeat("recent", "r:1", 60_000).await.unwrap();
    age("gone").await;
    let three_hours = 3 * 3_600_000;
    assert_eq!(
        ids(&s.heartbeat("cell-a", "a:1", three_hours).await.unwrap()),
        ["cell-a", "recent"]
    );
    assert_eq!(rows().await, 2);
}

#[tokio::test]
async fn on_sqlite_a_member_silent_for_an_hour_is_forgotten() {
    let (s, dir) = sqlite().await;
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    a_member_silent_for_an_hour_is_forgotten(
        s,
        async |id| {
            sqlx::query(AGE_BY_TWO_HOURS)
                .bind(id)
                .execute(&raw)
                .await
                .unwrap();
        },
        async || {
            sqlx::query_scalar("SELECT COUNT(*) FROM cluster_members")
                .fetch_one(&raw)
                .await
                .unwrap()
        },
    )
    .await;
}

#[tokio::test]
async fn on_postgres_a_member_silent_for_an_hour_is_forgotten() {
    let options = postgres_schema().await;
    let s = Arc::new(PostgresStore::open_with(options.clone()).await.unwrap());
    let raw = sqlx::PgPool::connect_with(options).await.unwrap();
    a_member_silent_for_an_hour_is_forgotten(
        s,
        async |id| {
            sqlx::query(AGE_BY_TWO_HOURS)
                .bind(id)
                .execute(&raw)
                .await
                .unwrap();
        },
        async || {
            sqlx::query_scalar("SELECT COUNT(*) FROM cluster_members")
                .fetch_one(&raw)
                .await
                .unwrap()
        },
    )
    .await;
}
