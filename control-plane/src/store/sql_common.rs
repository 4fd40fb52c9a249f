//! What every SQL store module shares: error mapping and the two writes that
//! end a mutation's transaction (its audit row, the snapshot version).
use super::StoreError;

pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return StoreError::Conflict;
    }
    tracing::error!(error = %err, "database error");
    StoreError::Database(err.to_string())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn json_err(err: serde_json::Error) -> StoreError {
    StoreError::Database(format!("stored JSON: {err}"))
}

macro_rules! sql_helpers {
    ($db:ty) => {
        use crate::store::sql_common::{db_err, json_err, now_ms};
        use async_trait::async_trait;
        use orrery_tenant_auth::Permission;
        use crate::roles::AccountRole;
        use crate::store::*;

        async fn audit_row(
            tx: &mut sqlx::Transaction<'_, $db>,
            audit: &crate::store::Audit,
            outcome: &str,
        ) -> crate::store::StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_log (account_id, actor, action, target, source_ip, outcome, detail, at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&audit.account_id)
            .bind(&audit.actor)
            .bind(&audit.action)
            .bind(&audit.target)
            .bind(&audit.source_ip)
            .bind(outcome)
            .bind(&audit.detail)
            .bind(now_ms())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            Ok(())
        }

        /// Called by every mutation that can change what a cell allows.
        async fn bump_version(
            tx: &mut sqlx::Transaction<'_, $db>,
        ) -> crate::store::StoreResult<()> {
            sqlx::query("UPDATE control_meta SET value = value + 1 WHERE key = 'snapshot_version'")
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            Ok(())
        }

        /// Serialises the transactions that check an account-wide invariant
        /// (its namespace count, its owners) before changing it: a no-op
        /// write that locks the account's row on PostgreSQL until commit
        /// (READ COMMITTED would let two counts pass together) and takes
        /// the database's write lock at once on SQLite.
        async fn lock_account(
            tx: &mut sqlx::Transaction<'_, $db>,
            account_id: &str,
        ) -> crate::store::StoreResult<bool> {
            let found = sqlx::query("UPDATE accounts SET slug = slug WHERE id = $1")
                .bind(account_id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            Ok(found == 1)
        }

        /// Runs a statement aimed at one row of the caller's account; whether
        /// it found that row (a miss is the caller's 404).
        async fn changes_one<'q>(
            tx: &mut sqlx::Transaction<'_, $db>,
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
        ) -> crate::store::StoreResult<bool> {
            Ok(query.execute(&mut **tx).await.map_err(db_err)?.rows_affected() == 1)
        }

        /// Audit row, optional version bump, commit.
        async fn finish(
            mut tx: sqlx::Transaction<'_, $db>,
            audit: &crate::store::Audit,
            bump: bool,
        ) -> crate::store::StoreResult<()> {
            audit_row(&mut tx, audit, "success").await?;
            if bump {
                bump_version(&mut tx).await?;
            }
            tx.commit().await.map_err(db_err)
        }
    };
}
pub(crate) use sql_helpers;
