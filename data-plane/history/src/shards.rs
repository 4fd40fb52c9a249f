//! The shards this process owns. A cell's database holds a fixed number of
//! history shards; a workflow's shard is a hash of its namespace and id. With
//! one process per cell it owns them all; with several, each owns those its
//! membership assigns it (`orrery-membership`), and ownership changes while
//! the engine runs: acquiring bumps the shard's `range_id` in the database
//! (fencing off every write of the previous owner), releasing stops using it.
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};

use orrery_core::{CellError, CellResult};

pub struct Shard {
    pub id: i32,
    pub range_id: i64,
    /// Task and event task ids: `range_id << 40 | shard_id << 32` upward, so
    /// ids are unique across shards (queue tasks of many shards share a task
    /// queue) and keep rising across owners without coordination.
    pub task_ids: Arc<AtomicI64>,
}

impl Shard {
    pub(crate) fn new(id: i32, range_id: i64) -> Self {
        Self {
            id,
            range_id,
            task_ids: Arc::new(AtomicI64::new((range_id << 40) | (i64::from(id) << 32))),
        }
    }
}

/// Slot `id - 1` holds shard `id` while this process owns it.
pub(crate) struct ShardTable {
    slots: RwLock<Vec<Option<Arc<Shard>>>>,
}

/// The most shards a cell's database may be created with: task ids keep 8
/// bits for the shard (`shard_id << 32` below `range_id << 40`).
pub const MAX_SHARDS: i32 = 255;

impl ShardTable {
    pub(crate) fn new(count: i32) -> CellResult<Self> {
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(CellError::invalid(format!(
                "shard count must be between 1 and {MAX_SHARDS}"
            )));
        }
        Ok(Self {
            slots: RwLock::new(vec![None; count as usize]),
        })
    }

    pub(crate) fn count(&self) -> i32 {
        self.read().len() as i32
    }

    /// The shard a workflow (or standalone activity) lives in.
    pub(crate) fn shard_id_of(&self, namespace_id: &str, workflow_id: &str) -> i32 {
        shard_id_of(self.count(), namespace_id, workflow_id)
    }

    /// The shard, if this process owns it; `ShardOwnershipLost` otherwise,
    /// which callers see as UNAVAILABLE and retry (another member answers).
    pub(crate) fn get(&self, id: i32) -> CellResult<Arc<Shard>> {
        self.read()
            .get((id - 1) as usize)
            .and_then(|s| s.clone())
            .ok_or(CellError::ShardOwnershipLost(id))
    }

    pub(crate) fn install(&self, shard: Shard) {
        let index = (shard.id - 1) as usize;
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(Arc::new(shard));
        }
    }

    /// Forgets the shard if it is still held at `range_id` (a newer
    /// acquisition stays); returns what was removed.
    pub(crate) fn remove(&self, id: i32, range_id: Option<i64>) -> Option<Arc<Shard>> {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let slot = slots.get_mut((id - 1) as usize)?;
        match (slot.as_ref(), range_id) {
            (Some(held), Some(range)) if held.range_id != range => None,
            _ => slot.take(),
        }
    }

    pub(crate) fn owned(&self) -> Vec<Arc<Shard>> {
        self.read().iter().flatten().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<Arc<Shard>>>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The shard of `(namespace_id, workflow_id)` among `count`: FNV-1a of
/// both, so every member of a cell computes the same answer.
pub fn shard_id_of(count: i32, namespace_id: &str, workflow_id: &str) -> i32 {
    (crate::engine::fnv1a(&[namespace_id, workflow_id]) % count.max(1) as u64) as i32 + 1
}

/// Membership moves shards in and out of the engine through this.
#[async_trait::async_trait]
impl orrery_membership::ShardHost for crate::HistoryEngine {
    fn shard_count(&self) -> i32 {
        crate::HistoryEngine::shard_count(self)
    }

    fn owned_shards(&self) -> Vec<(i32, i64)> {
        crate::HistoryEngine::owned_shards(self)
    }

    async fn acquire_shard(&self, shard_id: i32) -> CellResult<()> {
        crate::HistoryEngine::acquire_shard(self, shard_id)
            .await
            .map(|_| ())
    }

    async fn release_shard(&self, shard_id: i32) -> CellResult<()> {
        crate::HistoryEngine::release_shard(self, shard_id).await
    }

    async fn ownership_lost(&self) {
        crate::HistoryEngine::ownership_lost(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unowned_shards_answer_ownership_lost() {
        let table = ShardTable::new(4).unwrap();
        assert!(matches!(
            table.get(2),
            Err(CellError::ShardOwnershipLost(2))
        ));
        table.install(Shard::new(2, 7));
        assert_eq!(table.get(2).unwrap().range_id, 7);
        assert_eq!(table.owned().len(), 1);
    }

    #[test]
    fn a_stale_removal_keeps_the_newer_acquisition() {
        let table = ShardTable::new(2).unwrap();
        table.install(Shard::new(1, 8));
        assert!(table.remove(1, Some(7)).is_none());
        assert!(table.get(1).is_ok());
        assert!(table.remove(1, Some(8)).is_some());
        assert!(table.get(1).is_err());
    }

    #[test]
    fn shard_counts_are_bounded() {
        assert!(ShardTable::new(0).is_err());
        assert!(ShardTable::new(MAX_SHARDS + 1).is_err());
    }

    #[test]
    fn workflows_spread_over_every_shard() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let id = shard_id_of(8, "ns", &format!("wf-{i}"));
            assert!((1..=8).contains(&id));
            seen.insert(id);
        }
        assert_eq!(seen.len(), 8);
    }
}
