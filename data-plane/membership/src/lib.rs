//! A cell served by several processes ("members") on one database. No
//! consensus of our own: the database is the one source of truth.
//!
//! - **Membership**: each member upserts its row every heartbeat; the live
//!   members are those whose heartbeat, by the database's clock, is within
//!   the TTL (`MembershipStore::heartbeat`).
//! - **Shards** are spread over the live members by rendezvous hashing
//!   (`rendezvous`). A member acquires a shard it should own once its
//!   previous owner released it or is gone (or, past `handover_patience`,
//!   anyway); acquiring bumps the shard's `range_id`, so a former owner that
//!   was paused or cut off can never commit again (every commit is fenced by
//!   the range it holds). A member releases what it should no longer own.
//! - **The view** (`View`) is what routing reads: who is alive, where they
//!   are reached, and who holds each shard.
//!
//! One process alone (SQLite, `orrery dev`) never runs this: its engine
//! takes every shard at start.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orrery_core::CellResult;
use orrery_persistence::CellStore;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

pub mod rendezvous;

/// How a member takes part.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// Unique among the cell's members and stable across restarts of the
    /// same member (a pod's name): a restarted member reclaims its shards.
    pub member_id: String,
    /// Where the other members reach this one (its peer listener).
    pub peer_addr: String,
    /// How often a member heartbeats and reconsiders its shards.
    pub heartbeat_interval: Duration,
    /// A member silent this long is gone and its shards move.
    pub member_ttl: Duration,
    /// How long a member waits for a live owner to release a shard it
    /// should own before taking it anyway (two members whose views
    /// disagree for longer must not stall the shard).
    pub handover_patience: Duration,
}

impl MembershipConfig {
    pub fn new(member_id: impl Into<String>, peer_addr: impl Into<String>) -> Self {
        Self {
            member_id: member_id.into(),
            peer_addr: peer_addr.into(),
            heartbeat_interval: Duration::from_millis(500),
            member_ttl: Duration::from_secs(5),
            handover_patience: Duration::from_secs(5),
        }
    }
}

/// What owns shards in a member: the history engine.
#[async_trait]
pub trait ShardHost: Send + Sync + 'static {
    fn shard_count(&self) -> i32;
    /// The shards held now, with the range each is held at.
    fn owned_shards(&self) -> Vec<(i32, i64)>;
    async fn acquire_shard(&self, shard_id: i32) -> CellResult<()>;
    async fn release_shard(&self, shard_id: i32) -> CellResult<()>;
    /// Resolves when a commit found a held shard taken by another member.
    async fn ownership_lost(&self);
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub peer_addr: String,
}

/// Who is alive and who holds what, as of the last heartbeat.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub self_id: String,
    /// Live members, by id.
    pub members: Vec<Member>,
    /// Shard `i + 1`'s holder as the database records it (`""`: free).
    pub shard_owners: Vec<String>,
}

impl View {
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The live member holding `shard_id`, if any does.
    pub fn shard_owner(&self, shard_id: i32) -> Option<&Member> {
        let owner = self.shard_owners.get((shard_id - 1) as usize)?;
        self.member(owner)
    }

    /// The member that owns a key spread by rendezvous hashing (a task
    /// queue): every member computes the same answer from the same view.
    pub fn rendezvous_owner(&self, key: &str) -> Option<&Member> {
        let id = rendezvous::owner(self.members.iter().map(|m| m.id.as_str()), key)?;
        self.member(id)
    }

    pub fn is_self(&self, member: &Member) -> bool {
        member.id == self.self_id
    }
}

/// The key a shard is spread by.
fn shard_key(shard_id: i32) -> String {
    format!("shard/{shard_id}")
}

pub struct Membership {
    store: Arc<dyn CellStore>,
    config: MembershipConfig,
    view: watch::Sender<Arc<View>>,
    leaving: watch::Sender<bool>,
    /// Wakes the loop before its next heartbeat.
    nudge: Notify,
}

impl Membership {
    pub fn new(store: Arc<dyn CellStore>, config: MembershipConfig) -> Arc<Self> {
        let view = View {
            self_id: config.member_id.clone(),
            ..Default::default()
        };
        Arc::new(Self {
            store,
            config,
            view: watch::channel(Arc::new(view)).0,
            leaving: watch::channel(false).0,
            nudge: Notify::new(),
        })
    }

    pub fn member_id(&self) -> &str {
        &self.config.member_id
    }

    /// The latest view (cheap: a shared pointer).
    pub fn view(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    /// Changes whenever a round publishes a new view.
    pub fn subscribe(&self) -> watch::Receiver<Arc<View>> {
        self.view.subscribe()
    }

    /// Asks for a round now (a call found the view stale).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Joins the cell: heartbeats, then takes the shards this member should
    /// own now (waiting up to `handover_patience` for their holders to let
    /// go), so a member serves once it holds its share.
    pub async fn join(&self, host: &dyn ShardHost) -> CellResult<()> {
        let mut waiting = HashMap::new();
        let started = Instant::now();
        loop {
            let pending = self.round(host, &mut waiting).await?;
            if pending == 0 || started.elapsed() >= self.config.handover_patience {
                return Ok(());
            }
            tokio::time::sleep(self.config.heartbeat_interval).await;
        }
    }

    /// Runs rounds until [`Self::leave`].
    pub fn spawn(self: &Arc<Self>, host: Arc<dyn ShardHost>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(
            async move { this.run(host).await }
                .instrument(tracing::info_span!("membership", member = %self.config.member_id)),
        )
    }

    async fn run(&self, host: Arc<dyn ShardHost>) {
        let mut leaving = self.leaving.subscribe();
        let mut waiting = HashMap::new();
        loop {
            if *leaving.borrow_and_update() {
                return;
            }
            let ok = match self.round(host.as_ref(), &mut waiting).await {
                Ok(_) => true,
                Err(err) => {
                    tracing::warn!(error = %err, "membership round failed");
                    false
                }
            };
            orrery_core::metrics::background_run("membership", ok);
            tokio::select! {
                _ = tokio::time::sleep(self.config.heartbeat_interval) => {}
                _ = host.ownership_lost() => {}
                _ = self.nudge.notified() => {}
                _ = leaving.changed() => return,
            }
        }
    }

    /// Leaves the cell at once (a graceful shutdown): stops the rounds,
    /// releases every shard and removes this member's row, so the others
    /// take over at their next heartbeat instead of after the TTL.
    pub async fn leave(&self, host: &dyn ShardHost) -> CellResult<()> {
        self.leaving.send_replace(true);
        for (shard_id, _) in host.owned_shards() {
            if let Err(err) = host.release_shard(shard_id).await {
                tracing::warn!(shard_id, error = %err, "releasing a shard at shutdown failed");
            }
        }
        self.store.leave(&self.config.member_id).await
    }

    /// One heartbeat: who is alive, which shards to take and which to give
    /// up. Returns how many shards this member should own but does not yet.
    async fn round(
        &self,
        host: &dyn ShardHost,
        waiting: &mut HashMap<i32, Instant>,
    ) -> CellResult<usize> {
        let me = self.config.member_id.as_str();
        let ttl_ms = self.config.member_ttl.as_millis() as i64;
        let members = self
            .store
            .heartbeat(me, &self.config.peer_addr, ttl_ms)
            .await?;
        let live: HashSet<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
        let rows = self.store.shard_owners().await?;
        let row_of = |id: i32| rows.iter().find(|r| r.shard_id == id);
        // The view's holders: as read, then as this round changes them (no
        // second read; another member's change shows at the next round).
        let mut shard_owners = vec![String::new(); host.shard_count().max(0) as usize];
        for row in &rows {
            if let Some(slot) = shard_owners.get_mut((row.shard_id - 1) as usize) {
                slot.clone_from(&row.owner);
            }
        }
        let slot = |id: i32| (id - 1) as usize;
        let held: HashMap<i32, i64> = host.owned_shards().into_iter().collect();
        let mut pending = 0;
        for shard_id in 1..=host.shard_count() {
            let mine = rendezvous::owner(live.iter().copied(), &shard_key(shard_id)) == Some(me);
            let row = row_of(shard_id);
            // Held here, but the database says another member took it (this
            // one was paused past its lease): stop using it.
            let stale = held
                .get(&shard_id)
                .is_some_and(|range| row.is_none_or(|r| r.range_id != *range || r.owner != me));
            if held.contains_key(&shard_id) && (!mine || stale) {
                host.release_shard(shard_id).await?;
                if shard_owners[slot(shard_id)] == me {
                    shard_owners[slot(shard_id)].clear();
                }
            }
            if !mine {
                waiting.remove(&shard_id);
                continue;
            }
            if held.contains_key(&shard_id) && !stale {
                waiting.remove(&shard_id);
                continue;
            }
            let holder = row.map(|r| r.owner.as_str()).unwrap_or("");
            let free = holder.is_empty() || holder == me || !live.contains(holder);
            let since = *waiting.entry(shard_id).or_insert_with(Instant::now);
            if free || since.elapsed() >= self.config.handover_patience {
                match host.acquire_shard(shard_id).await {
                    Ok(()) => {
                        waiting.remove(&shard_id);
                        shard_owners[slot(shard_id)] = me.to_string();
                    }
                    Err(err) => {
                        tracing::warn!(shard_id, error = %err, "acquiring a shard failed");
                        pending += 1;
                    }
                }
            } else {
                pending += 1;
            }
        }
        self.view.send_replace(Arc::new(View {
            self_id: me.to_string(),
            members: members
                .into_iter()
                .map(|m| Member {
                    id: m.member_id,
                    peer_addr: m.peer_addr,
                })
                .collect(),
            shard_owners,
        }));
        Ok(pending)
    }
}
