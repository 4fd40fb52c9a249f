//! What the control plane keeps of cells' usage: totals per (cell, the
//! cell's namespace id, hour, kind), which cell namespace is which
//! control-plane namespace, and one pull cursor per cell.
use std::ops::ControlFlow;

use async_trait::async_trait;

use super::StoreResult;

/// One total as a cell reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
    pub cell_namespace_id: String,
    pub hour_ms: i64,
    pub kind: String,
    pub total: i64,
}

/// Where the next pull from a cell starts, and when the last whole pull
/// (every page stored) started.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageCursor {
    pub cell_id: String,
    pub from_hour_ms: i64,
    pub last_pull_started_ms: i64,
}

/// An account's usage of one namespace, hour (or longer bucket, starting at
/// `hour_ms`) and kind, summed over cells (a namespace lives in one cell,
/// but nothing here needs to assume it).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NamespaceUsage {
    pub namespace_id: String,
    pub hour_ms: i64,
    pub kind: String,
    pub total: i64,
}

/// One namespace's Actions (every kind) in one hour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActionHour {
    pub namespace_id: String,
    pub hour_ms: i64,
    pub actions: i64,
}

/// One namespace's storage over a range, in byte-seconds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NamespaceStorage {
    pub namespace_id: String,
    pub active_byte_seconds: i64,
    pub retained_byte_seconds: i64,
}

/// Hours `[from_ms, to_ms)` summed into buckets of `bucket_ms` (an hour or
/// a day), aligned to the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRange {
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
}

/// A cell that holds or held one of the namespaces asked about, with its
/// last whole pull's start (None: never pulled whole).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageCell {
    pub cell_id: String,
    pub last_pull_started_ms: Option<i64>,
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn usage_cursor(&self, cell_id: &str) -> StoreResult<Option<UsageCursor>>;
    /// Replaces (not adds to) the totals held for these rows' (cell,
    /// namespace, hour, kind) with larger ones, in one transaction. A cell's
    /// totals only grow, so a smaller one is an older reading (a pull by
    /// another replica that started earlier and committed later) and is
    /// kept out.
    async fn replace_usage(&self, cell_id: &str, rows: &[UsageTotal]) -> StoreResult<()>;
    /// Ends a whole pull: the next starts at `from_hour_ms`. Neither the
    /// cursor nor the pull's start time ever moves back (replicas pull
    /// concurrently and may finish out of order).
    async fn finish_usage_pull(
        &self,
        cell_id: &str,
        from_hour_ms: i64,
        started_ms: i64,
    ) -> StoreResult<()>;
    /// The cell's namespace ids whose control-plane namespace is known.
    async fn mapped_usage_namespaces(&self, cell_id: &str) -> StoreResult<Vec<String>>;
    /// Records that the cell's `cell_namespace_id` is the control-plane
    /// namespace `namespace_id`, if that namespace exists and is placed in
    /// this cell (a cell cannot claim another cell's namespace); whether it
    /// is now recorded.
    async fn map_usage_namespace(
        &self,
        cell_id: &str,
        cell_namespace_id: &str,
        namespace_id: &str,
    ) -> StoreResult<bool>;
    /// The account's usage in `range`, of one namespace or all (deleted
    /// ones included), one row per (namespace, bucket, kind) summed by the
    /// database, in bucket order (namespaces in no set order), handed to
    /// `each` as it is read until `each` breaks: what the caller keeps is
    /// the caller's bound.
    async fn account_usage(
        &self,
        account_id: &str,
        namespace_id: Option<&str>,
        range: UsageRange,
        each: &mut (dyn FnMut(NamespaceUsage) -> ControlFlow<()> + Send),
    ) -> StoreResult<()>;
    /// The account's Actions per namespace and hour in `[from_ms, to_ms)`
    /// (deleted namespaces included), summed over kinds by the database and
    /// handed to `each` in hour order (namespaces within an hour in no set
    /// order), as they are read.
    async fn account_action_hours(
        &self,
        account_id: &str,
        from_ms: i64,
        to_ms: i64,
        each: &mut (dyn FnMut(ActionHour) + Send),
    ) -> StoreResult<()>;
    /// The account's storage per namespace over `[from_ms, to_ms)`: one row
    /// per namespace with any.
    async fn account_storage(
        &self,
        account_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<NamespaceStorage>>;
    /// The cells that hold, or held with usage, the account's namespaces
    /// (or the one named); empty when the account has no such namespace.
    async fn usage_cells(
        &self,
        account_id: &str,
        namespace_id: Option<&str>,
    ) -> StoreResult<Vec<UsageCell>>;
}
