//! Limits with the real server's figures (Temporal 1.32 defaults).
pub const MAX_ID_LENGTH: usize = 1000;
pub const BLOB_SIZE_LIMIT_ERROR: usize = 2 * 1024 * 1024;
pub const BLOB_SIZE_LIMIT_WARN: usize = 512 * 1024;
pub const MAX_GRPC_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
pub const MEMO_SIZE_LIMIT_ERROR: usize = 2 * 1024 * 1024;
pub const HISTORY_COUNT_LIMIT_ERROR: i64 = 51_200;
pub const HISTORY_SIZE_LIMIT_ERROR: i64 = 50 * 1024 * 1024;
pub const PENDING_ACTIVITIES_LIMIT: usize = 2000;
pub const PENDING_CHILDREN_LIMIT: usize = 2000;
pub const PENDING_SIGNALS_LIMIT: usize = 2000;
pub const PENDING_CANCELS_LIMIT: usize = 2000;
/// Updates admitted or accepted but not completed, per run
/// (`history.maxInFlightUpdates`).
pub const MAX_IN_FLIGHT_UPDATES: i64 = 10;
/// Updates a run may ever have (`history.maxTotalUpdates`).
pub const MAX_TOTAL_UPDATES: i64 = 2000;
/// Bytes the requests of a run's in-flight updates may hold, the next one's
/// included (`history.maxInFlightUpdatePayloads`, 20 MiB).
pub const MAX_IN_FLIGHT_UPDATE_PAYLOADS: i64 = 20 * 1024 * 1024;
/// A long poll returns empty after this long (the real server: 60 s, minus a
/// margin so the answer beats the client's deadline).
pub const LONG_POLL_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_WORKFLOW_TASK_TIMEOUT_SECS: i64 = 10;
pub const MAX_WORKFLOW_TASK_TIMEOUT_SECS: i64 = 120;
pub const HISTORY_PAGE_SIZE: usize = 256;
pub const DEFAULT_RETENTION_SECS: i64 = 24 * 3600;
