//! Namespaces' payload codec servers: where the console's browser sends
//! payloads to be decoded (docs/control-plane.md, "Codec server").
use async_trait::async_trait;

use super::{Audit, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodecServer {
    pub namespace_id: String,
    /// `https://…` (or `http://` on loopback, for development).
    pub endpoint: String,
    /// The browser sends the user's console token to the codec server.
    pub pass_access_token: bool,
    /// The browser's fetch includes cookies (`credentials: "include"`).
    pub include_credentials: bool,
    pub updated_ms: i64,
}

#[async_trait]
pub trait CodecStore: Send + Sync {
    async fn codec_server(&self, namespace_id: &str) -> StoreResult<Option<CodecServer>>;
    /// Sets (or replaces) the namespace's codec server, audited.
    async fn put_codec_server(&self, codec: &CodecServer, audit: &Audit) -> StoreResult<()>;
    /// Removes it; false when there was none.
    async fn delete_codec_server(&self, namespace_id: &str, audit: &Audit) -> StoreResult<bool>;
}
