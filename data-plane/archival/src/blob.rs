//! The one interface archives are written through.
use async_trait::async_trait;

use crate::ArchiveResult;

/// A flat key → bytes store. Keys are `/`-separated and made only of safe
/// characters (see `archives::key_part`), so every backend can map them
/// to its own names without escaping.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes the whole object; when this returns, it is durable.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> ArchiveResult<()>;
    async fn get(&self, key: &str) -> ArchiveResult<Option<Vec<u8>>>;
    /// Every key that starts with `prefix`.
    async fn list(&self, prefix: &str) -> ArchiveResult<Vec<String>>;
}
