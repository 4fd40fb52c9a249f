//! The control plane's storage: one narrow trait per concern, implemented for
//! SQLite and PostgreSQL from the same SQL (`sql_*.rs` write both impls).
//! Every mutation writes its audit row in its own transaction, and the
//! mutations that can change an authorisation decision raise the snapshot
//! version there too, so a cell never sees a change without its version.
use async_trait::async_trait;
use orrery_tenant_auth::Permission;

use crate::roles::AccountRole;

pub mod codec;
pub mod postgres;
pub mod records;
mod sql_accounts;
mod sql_codec;
mod sql_common;
mod sql_keys;
mod sql_limits;
mod sql_namespaces;
mod sql_usage;
pub mod sqlite;
pub mod usage;

pub use codec::*;
pub use postgres::PostgresStore;
pub use records::*;
pub use sqlite::SqliteStore;
pub use usage::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("already exists")]
    Conflict,
    #[error("database: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Seals one stored private key (see [`KeyStore::seal_plaintext_keys`]).
pub type SealFn<'a> = dyn Fn(&KeyLocation, &str) -> StoreResult<String> + Send + Sync + 'a;

/// Who did what to which target, from where. The store adds the outcome
/// and the time.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    pub account_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source_ip: String,
    pub detail: String,
}

/// The outcome of a change that must leave the account an active owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerGuarded {
    Done,
    /// No such user in the account.
    NotFound,
    /// The user is the account's last active owner: nothing was changed.
    LastOwner,
    /// The user is an owner and the caller is not: nothing was changed.
    OwnerOnly,
}

/// The outcome of reserving a namespace against the account's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    Done,
    /// The account holds its quota of namespaces already: nothing was written.
    QuotaReached,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The account and its owner, atomically: an account never lacks an owner.
    async fn create_account(
        &self,
        account: &Account,
        owner: &User,
        audit: &Audit,
    ) -> StoreResult<()>;
    async fn account(&self, id: &str) -> StoreResult<Option<Account>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn user(&self, account_id: &str, id: &str) -> StoreResult<Option<User>>;
    /// Only for resolving a session, which names its user but not the account.
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn users(&self, account_id: &str) -> StoreResult<Vec<User>>;
    async fn invite_user(
        &self,
        user: &User,
        token_hash: &str,
        expires_ms: i64,
        audit: &Audit,
    ) -> StoreResult<()>;
    /// The invited user holding this unexpired token, if any: looked up
    /// before any password is hashed for it.
    async fn invitation(&self, token_hash: &str, now_ms: i64) -> StoreResult<Option<User>>;
    /// Removes invited users whose invitation expired before `now_ms`, with
    /// any grants they were given (one audit row each); how many.
    async fn purge_expired_invitations(&self, now_ms: i64) -> StoreResult<u64>;
    /// Activates the invited user holding this unexpired token; the token is
    /// spent either way it is used.
    async fn accept_invite(
        &self,
        token_hash: &str,
        password_hash: &str,
        now_ms: i64,
        source_ip: &str,
    ) -> StoreResult<Option<User>>;
    /// Changes the role unless that leaves the account without an active
    /// owner, or the user is an owner and the caller (`by_owner`) is not;
    /// both checked in the same transaction as the change (concurrent
    /// demotions of the last two owners cannot both pass, and a user made
    /// owner meanwhile is not demoted by an admin).
    async fn update_user_role(
        &self,
        account_id: &str,
        id: &str,
        role: AccountRole,
        by_owner: bool,
        audit: &Audit,
    ) -> StoreResult<OwnerGuarded>;
    /// Removes the user with its sessions, API keys and namespace grants,
    /// unless it is the last active owner or an owner and the caller is not
    /// (checked as `update_user_role`).
    async fn delete_user(
        &self,
        account_id: &str,
        id: &str,
        by_owner: bool,
        audit: &Audit,
    ) -> StoreResult<OwnerGuarded>;
    /// Sets the password and ends every session of the user but `keep_session`.
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(
        &self,
        id_hash: &str,
        session: &Session,
        audit: &Audit,
    ) -> StoreResult<()>;
    /// The unexpired session with this id hash.
    async fn session(&self, id_hash: &str, now_ms: i64) -> StoreResult<Option<Session>>;
    async fn delete_session(&self, id_hash: &str, audit: &Audit) -> StoreResult<()>;
}

#[async_trait]
pub trait ServiceAccountStore: Send + Sync {
    async fn create_service_account(&self, sa: &ServiceAccount, audit: &Audit) -> StoreResult<()>;
    async fn service_accounts(&self, account_id: &str) -> StoreResult<Vec<ServiceAccount>>;
    async fn service_account(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ServiceAccount>>;
    async fn update_service_account_role(
        &self,
        account_id: &str,
        id: &str,
        role: AccountRole,
        audit: &Audit,
    ) -> StoreResult<bool>;
    /// Removes it with its API keys and namespace grants.
    async fn delete_service_account(
        &self,
        account_id: &str,
        id: &str,
        audit: &Audit,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait CellStore: Send + Sync {
    /// Registers a cell or, if one of that name exists, updates its
    /// endpoints, capacity and (when one is given) the hash of its
    /// credential; returns the stored row.
    async fn upsert_cell(
        &self,
        cell: &Cell,
        credential_hash: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<Cell>;
    /// Replaces the hash of cell `id`'s credential; false if there is no
    /// such cell. Issued after [`Self::upsert_cell`] has said which id the
    /// cell has, since the credential names it.
    async fn set_cell_credential(&self, id: &str, credential_hash: &str) -> StoreResult<bool>;
    async fn cell_loads(&self) -> StoreResult<Vec<CellLoad>>;
    async fn cell(&self, id: &str) -> StoreResult<Option<Cell>>;
    /// The cell whose credential hashes to this (unique).
    async fn cell_by_credential_hash(&self, credential_hash: &str) -> StoreResult<Option<Cell>>;
    /// Records the capacity a cell reports for itself.
    async fn report_cell_capacity(&self, cell_id: &str, capacity: i64) -> StoreResult<()>;
}

#[async_trait]
pub trait NamespaceStore: Send + Sync {
    /// Reserves the namespace (state pending) before the cell is asked, so a
    /// conflicting create fails here and not at the cell. The account's
    /// namespaces (pending ones included) are counted against `quota` in the
    /// same transaction, under a lock on the account's row, so concurrent
    /// creates cannot overshoot it.
    async fn insert_pending_namespace(
        &self,
        ns: &Namespace,
        creator_grant: Option<(&str, Permission)>,
        quota: u32,
    ) -> StoreResult<Reserved>;
    /// Moves a pending namespace to active (audited, version raised); a
    /// no-op for one that is not pending (activated or discarded already).
    async fn activate_namespace(&self, id: &str, audit: &Audit) -> StoreResult<()>;
    /// Drops a pending namespace the cell refused.
    async fn discard_pending_namespace(&self, id: &str) -> StoreResult<()>;
    async fn pending_namespaces(&self) -> StoreResult<Vec<Namespace>>;
    async fn namespaces(&self, account_id: &str) -> StoreResult<Vec<Namespace>>;
    async fn namespace(&self, account_id: &str, id: &str) -> StoreResult<Option<Namespace>>;
    async fn update_retention(
        &self,
        account_id: &str,
        id: &str,
        retention_days: i64,
        now_ms: i64,
        audit: &Audit,
    ) -> StoreResult<bool>;
    /// Removes the namespace with its grants and mTLS settings.
    async fn delete_namespace(
        &self,
        account_id: &str,
        id: &str,
        audit: &Audit,
    ) -> StoreResult<bool>;
    async fn grants(&self, namespace_id: &str) -> StoreResult<Vec<GrantRow>>;
    async fn grant(&self, namespace_id: &str, principal: &str) -> StoreResult<Option<Permission>>;
    async fn set_grant(&self, grant: &GrantRow, audit: &Audit) -> StoreResult<()>;
    async fn delete_grant(
        &self,
        namespace_id: &str,
        principal: &str,
        audit: &Audit,
    ) -> StoreResult<bool>;
    async fn mtls(&self, namespace_id: &str) -> StoreResult<Option<NamespaceMtls>>;
    async fn put_mtls(&self, mtls: &NamespaceMtls, audit: &Audit) -> StoreResult<()>;
    async fn delete_mtls(&self, namespace_id: &str, audit: &Audit) -> StoreResult<bool>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The keys of `purpose`, oldest first.
    async fn signing_keys(&self, purpose: KeyPurpose) -> StoreResult<Vec<SigningKeyRow>>;
    /// The key of `purpose` that signs now: the newest.
    async fn newest_signing_key(&self, purpose: KeyPurpose) -> StoreResult<Option<SigningKeyRow>>;
    /// Stores `key` unless a key of its purpose exists already (two control
    /// planes starting together keep one), then returns the newest of it.
    async fn insert_first_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow>;
    /// Stores `key` as the newest of its purpose (created after every
    /// other) and retires the others; returns it as stored.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRow,
        audit: &Audit,
    ) -> StoreResult<SigningKeyRow>;
    /// Replaces, in one transaction, every stored private key that is not
    /// sealed yet (an older version's rows) by what `seal` makes of it;
    /// returns how many it sealed.
    async fn seal_plaintext_keys(&self, seal: &SealFn<'_>) -> StoreResult<usize>;
    /// `signing_kid`: the signing key that signed it, published to cells
    /// while the API key is unexpired.
    async fn create_api_key(
        &self,
        key: &ApiKey,
        token_hash: &str,
        signing_kid: &str,
        audit: &Audit,
    ) -> StoreResult<()>;
    /// The account's keys, or only `owner`'s.
    async fn api_keys(&self, account_id: &str, owner: Option<&str>) -> StoreResult<Vec<ApiKey>>;
    async fn api_key(&self, account_id: &str, id: &str) -> StoreResult<Option<ApiKey>>;
    async fn api_key_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn set_api_key_enabled(
        &self,
        account_id: &str,
        id: &str,
        enabled: bool,
        audit: &Audit,
    ) -> StoreResult<bool>;
    async fn delete_api_key(&self, account_id: &str, id: &str, audit: &Audit) -> StoreResult<bool>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// An audit row of its own, for mutations that failed (successful ones
    /// write theirs inside their transaction).
    async fn record_audit(&self, audit: &Audit, outcome: &str) -> StoreResult<()>;
    /// Newest first, ids below `before` when given.
    async fn audit_log(
        &self,
        account_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>>;
}

#[async_trait]
pub trait SnapshotStore: Send + Sync {
    async fn snapshot_version(&self) -> StoreResult<i64>;
    /// Everything the snapshot of one cell needs, read in one transaction.
    async fn snapshot_data(&self, cell_id: &str, now_ms: i64) -> StoreResult<SnapshotData>;
}

/// What one charge of a rate-limit budget found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    Allowed,
    /// Refused: the key's budget is spent until `full_at_ms` comes nearer.
    Limited {
        full_at_ms: i64,
    },
    /// Refused: the key has no budget yet and none may be added.
    Untracked,
}

/// Rate-limit budgets kept in the database, so every replica charges the
/// same ones (see `crate::limits`).
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Charges `interval_ms` to `key` in `bucket` (GCRA): allowed while the
    /// key's full-again instant stays at most `tolerance_ms` ahead of
    /// `now_ms`. A key without a row gets one only if `may_add`. One
    /// statement, so concurrent charges on any replica all count.
    async fn charge_rate_limit(
        &self,
        bucket: &str,
        key: &str,
        now_ms: i64,
        interval_ms: i64,
        tolerance_ms: i64,
        may_add: bool,
    ) -> StoreResult<Charged>;
    /// Forgets the keys whose budget is full again at `now_ms` (forgetting
    /// them changes no answer); how many keys each bucket still tracks.
    async fn prune_rate_limits(&self, now_ms: i64) -> StoreResult<Vec<(String, i64)>>;
    /// A cheap query: whether the database answers (`GET /readyz`).
    async fn ping(&self) -> StoreResult<()>;
}

pub trait ControlStore:
    AccountStore
    + SessionStore
    + ServiceAccountStore
    + CellStore
    + NamespaceStore
    + KeyStore
    + AuditStore
    + SnapshotStore
    + UsageStore
    + CodecStore
    + RateLimitStore
{
}

impl<T> ControlStore for T where
    T: AccountStore
        + SessionStore
        + ServiceAccountStore
        + CellStore
        + NamespaceStore
        + KeyStore
        + AuditStore
        + SnapshotStore
        + UsageStore
        + CodecStore
        + RateLimitStore
{
}

/// Opens the store a URL names (`sqlite://…` or `postgres://…`) and migrates it.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn ControlStore>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database url {url:?}: use sqlite://… or postgres://…"
        )))
    }
}
