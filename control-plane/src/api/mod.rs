//! The REST resources, one module each. Every handler scopes its reads to
//! the caller's account, so another account's ids answer 404 exactly like
//! ids that do not exist.
use chrono::{DateTime, Utc};

use crate::app::AppState;
use crate::problem::ApiError;
use crate::store::Audit;

pub mod accounts;
pub mod api_keys;
pub mod archival;
pub mod audit;
pub mod cells;
pub mod codec;
pub mod console_tokens;
pub mod internal;
pub mod invoices;
pub mod metrics;
pub mod mtls;
pub mod namespaces;
pub mod permissions;
pub mod search_attributes;
pub mod service_accounts;
pub mod sessions;
pub mod signing_keys;
pub mod usage;
pub mod users;

pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Successful mutations write their audit row in their own transaction;
/// this records the ones that failed, after the fact.
pub(crate) async fn audited<T>(
    state: &AppState,
    audit: &Audit,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Err(err) = &result {
        let mut audit = audit.clone();
        audit.detail = err.to_string();
        if let Err(e) = state.store.record_audit(&audit, &err.outcome()).await {
            tracing::warn!(error = %e, action = %audit.action, "could not record a failed mutation");
        }
    }
    result
}

/// Runs Argon2 off the async workers (a hash takes tens of milliseconds),
/// at most `--password-hash-concurrency` at once for the whole process.
pub(crate) async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    state
        .bounds
        .hashing
        .run(move || password_auth::generate_hash(password))
        .await
}

/// Checks `password` against `hash`; with no hash (unknown or inactive
/// user) against a fixed one, so the answer takes as long either way.
pub(crate) async fn verify_password(
    state: &AppState,
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    state
        .bounds
        .hashing
        .run(move || match hash {
            Some(hash) => password_auth::verify_password(password, &hash).is_ok(),
            None => {
                let _ = password_auth::verify_password(password, dummy_hash());
                false
            }
        })
        .await
}

fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password_auth::generate_hash("not a password of anyone"))
}
