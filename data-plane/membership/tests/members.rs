//! Membership on a real database: several members in one test process,
//! each with its own id, heartbeating into one PostgreSQL schema (and one
//! SQLite file): shards spread, move when a member leaves or goes silent,
//! and a member that was paused gives up what was taken from it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orrery_core::CellResult;
use orrery_membership::{Membership, MembershipConfig, ShardHost};
use orrery_persistence::*;

const SHARDS: i32 = 12;

/// Holds shards the way the history engine does: acquiring bumps the
/// range in the database, releasing frees the row.
struct Host {
    store: Arc<dyn CellStore>,
    owner: String,
    held: Mutex<HashMap<i32, i64>>,
}

#[async_trait]
impl ShardHost for Host {
    fn shard_count(&self) -> i32 {
        SHARDS
    }
    fn owned_shards(&self) -> Vec<(i32, i64)> {
        self.held
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }
    async fn acquire_shard(&self, shard_id: i32) -> CellResult<()> {
        let range = self.store.acquire_shard(shard_id, &self.owner).await?;
        self.held.lock().unwrap().insert(shard_id, range);
        Ok(())
    }
    async fn release_shard(&self, shard_id: i32) -> CellResult<()> {
        let range = self.held.lock().unwrap().remove(&shard_id);
        if let Some(range) = range {
            self.store
                .release_shard(shard_id, &self.owner, range)
                .await?;
        }
        Ok(())
    }
    async fn ownership_lost(&self) {
        std::future::pending::<()>().await
    }
}

fn config(id: &str) -> MembershipConfig {
    let mut c = MembershipConfig::new(id, format!("{id}.peers:7235"));
    c.heartbeat_interval = Duration::from_millis(100);
    c.member_ttl = Duration::from_secs(3);
    c.handover_patience = Duration::from_secs(3);
    c
}

struct Running {
    membership: Arc<Membership>,
    host: Arc<Host>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(store: &Arc<dyn CellStore>, id: &str) -> Running {
    let host = Arc::new(Host {
        store: store.clone(),
        owner: id.into(),
        held: Default::default(),
    });
    let membership = Membership::new(store.clone(), config(id));
    membership.join(host.as_ref()).await.unwrap();
    let task = membership.spawn(host.clone());
    Running {
        membership,
        host,
        task,
    }
}

/// Waits (bounded) until every shard is held by exactly one of `members`
/// and the database agrees with each holder's range.
async fn settled(store: &Arc<dyn CellStore>, members: &[&Running]) -> HashMap<String, usize> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows = store.shard_owners().await.unwrap();
        let mut counts = HashMap::new();
        let mut ok = rows.len() == SHARDS as usize;
        for row in &rows {
            let holders: Vec<_> = members
                .iter()
                .filter(|m| {
                    m.host.held.lock().unwrap().get(&row.shard_id) == Some(&row.range_id)
                        && row.owner == m.host.owner
                })
                .collect();
            ok &= holders.len() == 1;
            *counts.entry(row.owner.clone()).or_insert(0) += 1;
        }
        for m in members {
            ok &= m.host.held.lock().unwrap().len()
                == counts.get(&m.host.owner).copied().unwrap_or(0);
        }
        if ok {
            return counts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "shards never settled: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn spread_then_move(store: Arc<dyn CellStore>) {
    let a = start(&store, "member-a").await;
    let counts = settled(&store, &[&a]).await;
    assert_eq!(counts.get("member-a"), Some(&(SHARDS as usize)));
    let b = start(&store, "member-b").await;
    let c = start(&store, "member-c").await;
    let counts = settled(&store, &[&a, &b, &c]).await;
    for id in ["member-a", "member-b", "member-c"] {
        assert!(
            counts.get(id).copied().unwrap_or(0) >= 1,
            "{id} holds nothing: {counts:?}"
        );
    }
    // Every member's view routes each shard to its holder.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = store.shard_owners().await.unwrap();
    for m in [&a, &b, &c] {
        let view = m.membership.view();
        assert_eq!(view.members.len(), 3);
        for row in &rows {
            assert_eq!(
                view.shard_owner(row.shard_id).map(|o| o.id.as_str()),
                Some(row.owner.as_str())
            );
        }
        assert_eq!(
            view.member("member-b").map(|m| m.peer_addr.as_str()),
            Some("member-b.peers:7235")
        );
    }

    // A graceful leave hands b's shards over well before its TTL.
    let before: HashMap<i32, i64> = b.host.owned_shards().into_iter().collect();
    let left = tokio::time::Instant::now();
    b.membership.leave(b.host.as_ref()).await.unwrap();
    b.task.await.unwrap();
    settled(&store, &[&a, &c]).await;
    assert!(
        left.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        left.elapsed()
    );
    for row in store.shard_owners().await.unwrap() {
        if let Some(old) = before.get(&row.shard_id) {
            assert!(row.range_id > *old, "shard {} was not fenced", row.shard_id);
        }
    }

    // A member killed (no leave) loses its shards once its TTL passes.
    let held_by_c: HashMap<i32, i64> = c.host.owned_shards().into_iter().collect();
    c.task.abort();
    let counts = settled(&store, &[&a]).await;
    assert_eq!(counts.get("member-a"), Some(&(SHARDS as usize)));
    for row in store.shard_owners().await.unwrap() {
        if let Some(old) = held_by_c.get(&row.shard_id) {
            assert!(row.range_id > *old);
        }
    }
    a.task.abort();
}

async fn a_paused_member_gives_up_what_was_taken(store: Arc<dyn CellStore>) {
    let a = start(&store, "member-a").await;
    let b = start(&store, "member-b").await;
    settled(&store, &[&a, &b]).await;
    // Pause b: its rounds stop, its heartbeat lapses, a takes everything.
    b.task.abort();
    let stale: HashMap<i32, i64> = b.host.owned_shards().into_iter().collect();
    assert!(!stale.is_empty());
    settled(&store, &[&a]).await;
    // b wakes believing it still holds its shards; its first round finds
    // them fenced, drops them, and the two settle again with fresh ranges.
    let task = b.membership.spawn(b.host.clone());
    let b = Running { task, ..b };
    settled(&store, &[&a, &b]).await;
    for (shard, range) in b.host.owned_shards() {
        if let Some(old) = stale.get(&shard) {
            assert!(range > *old, "shard {shard} kept its stale range");
        }
    }
    a.task.abort();
    b.task.abort();
}

async fn postgres() -> Arc<dyn CellStore> {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let url = std::env::var("ORRERY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("m_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required at {url}: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Arc::new(PostgresStore::open_with(options).await.unwrap())
}

async fn sqlite() -> (Arc<dyn CellStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
}

#[tokio::test]
async fn shards_spread_and_move_on_postgres() {
    spread_then_move(postgres().await).await;
}

#[tokio::test]
async fn shards_spread_and_move_on_sqlite() {
    let (store, _dir) = sqlite().await;
    spread_then_move(store).await;
}

#[tokio::test]
async fn a_paused_member_gives_up_what_was_taken_on_postgres() {
    a_paused_member_gives_up_what_was_taken(postgres().await).await;
}

#[tokio::test]
async fn a_paused_member_gives_up_what_was_taken_on_sqlite() {
    let (store, _dir) = sqlite().await;
    a_paused_member_gives_up_what_was_taken(store).await;
}
