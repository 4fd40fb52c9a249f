//! A cell's history shard count is fixed when its database is created: a
//! workflow's shard is a hash modulo the count, so a different count would
//! look for every existing workflow in the wrong shard. The first start
//! records it; a later start asking for another count is refused.
use orrery_core::{CellError, CellResult};
use orrery_persistence::MetadataStore;

const KEY: &str = "history_shard_count";

pub(crate) async fn settle(store: &dyn MetadataStore, requested: i32) -> CellResult<()> {
    let stored = store
        .get_or_insert(KEY, requested.to_be_bytes().to_vec())
        .await?;
    let stored = <[u8; 4]>::try_from(stored.as_slice())
        .map(i32::from_be_bytes)
        .map_err(|_| CellError::internal("the stored shard count is unreadable"))?;
    if stored == requested {
        Ok(())
    } else {
        Err(CellError::invalid(format!(
            "this cell's database was created with {stored} history shards and cannot change; \
             start with --shards {stored}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_count_stays() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.db", dir.path().display());
        let store = orrery_persistence::SqliteStore::open(&url).await.unwrap();
        settle(&store, 8).await.unwrap();
        settle(&store, 8).await.unwrap();
        let refused = settle(&store, 16).await.unwrap_err();
        assert!(refused.to_string().contains("created with 8"), "{refused}");
    }
}
