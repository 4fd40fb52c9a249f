//! Signing keys, API keys, the audit log and the snapshot read, for both databases.

macro_rules! sql_keys {
    ($store:ident, $db:ty, snapshot_isolation = $isolation:literal) => {
        const KEY_COLUMNS: &str =
            "id, account_id, owner, name, description, enabled, expires_ms, created_by, created_ms";
        const SIGNING_COLUMNS: &str =
            "kid, alg, purpose, private_key_sealed, public_key_pem, created_ms, retired_ms";
        const SEALED_PREFIX: &str = "orrery-sealed:%";

        #[async_trait]
        impl KeyStore for $store {
            // Signing keys are read from the writer: a key just created or
            // rotated must be the one used next.
            async fn signing_keys(&self, purpose: KeyPurpose) -> StoreResult<Vec<SigningKeyRow>> {
                sqlx::query_as(&format!(
                    "SELECT {SIGNING_COLUMNS} FROM signing_keys WHERE purpose = $1 ORDER BY created_ms, kid"
                ))
                .bind(purpose.as_str())
                .fetch_all(&self.write)
                .await
                .map_err(db_err)
            }

            async fn newest_signing_key(&self, purpose: KeyPurpose) -> StoreResult<Option<SigningKeyRow>> {
                sqlx::query_as(&format!(
                    "SELECT {SIGNING_COLUMNS} FROM signing_keys WHERE purpose = $1
                     ORDER BY created_ms DESC, kid DESC LIMIT 1"
                ))
                .bind(purpose.as_str())
                .fetch_optional(&self.write)
                .await
                .map_err(db_err)
            }

            async fn insert_first_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                // First, a no-op write of the version row: replicas starting
                // together queue here (the row lock on PostgreSQL, the write
                // lock on SQLite), so under READ COMMITTED the NOT EXISTS
                // below sees a key another one committed meanwhile, and the
                // loser reads the winner's key instead of adding a second.
                sqlx::query("UPDATE control_meta SET value = value WHERE key = 'snapshot_version'")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let inserted = sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, purpose, private_key_sealed, public_key_pem, created_ms)
                     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE purpose = $3)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(key.purpose.as_str())
                .bind(&key.private_key_sealed)
                .bind(&key.public_key_pem)
                .bind(key.created_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected() == 1;
                if inserted {
                    bump_version(&mut tx).await?;
                }
                tx.commit().await.map_err(db_err)?;
                self.newest_signing_key(key.purpose)
                    .await?
                    .ok_or_else(|| StoreError::Database("no signing key after inserting one".into()))
            }

            async fn rotate_signing_key(&self, key: &SigningKeyRow, audit: &Audit) -> StoreResult<SigningKeyRow> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                // First: on PostgreSQL this row lock serialises rotations, so
                // each one sees (and retires) the key the previous one made.
                bump_version(&mut tx).await?;
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(created_ms) FROM signing_keys WHERE purpose = $1")
                        .bind(key.purpose.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                // Strictly newer than every other, whatever the clocks did.
                let created_ms = newest.map_or(key.created_ms, |n| key.created_ms.max(n + 1));
                sqlx::query(
                    "UPDATE signing_keys SET retired_ms = $1 WHERE purpose = $2 AND retired_ms IS NULL",
                )
                .bind(created_ms)
                .bind(key.purpose.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let stored: SigningKeyRow = sqlx::query_as(&format!(
                    "INSERT INTO signing_keys (kid, alg, purpose, private_key_sealed, public_key_pem, created_ms)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SIGNING_COLUMNS}"
                ))
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(key.purpose.as_str())
                .bind(&key.private_key_sealed)
                .bind(&key.public_key_pem)
                .bind(created_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                finish(tx, audit, false).await?;
                Ok(stored)
            }

            async fn seal_plaintext_keys(&self, seal: &SealFn<'_>) -> StoreResult<usize> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let signing: Vec<(String, String)> = sqlx::query_as(
                    "SELECT kid, private_key_sealed FROM signing_keys WHERE private_key_sealed NOT LIKE $1",
                )
                .bind(SEALED_PREFIX)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                for (kid, plain) in &signing {
                    let sealed = seal(&KeyLocation::SigningKey { kid: kid.clone() }, plain)?;
                    sqlx::query("UPDATE signing_keys SET private_key_sealed = $1 WHERE kid = $2 AND private_key_sealed = $3")
                        .bind(sealed)
                        .bind(kid)
                        .bind(plain)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                let cas: Vec<(String, String)> = sqlx::query_as(
                    "SELECT namespace_id, generated_ca_key_sealed FROM namespace_mtls
                     WHERE generated_ca_key_sealed IS NOT NULL AND generated_ca_key_sealed NOT LIKE $1",
                )
                .bind(SEALED_PREFIX)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                for (namespace_id, plain) in &cas {
                    let location = KeyLocation::GeneratedCa { namespace_id: namespace_id.clone() };
                    sqlx::query(
                        "UPDATE namespace_mtls SET generated_ca_key_sealed = $1
                         WHERE namespace_id = $2 AND generated_ca_key_sealed = $3",
                    )
                    .bind(seal(&location, plain)?)
                    .bind(namespace_id)
                    .bind(plain)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(signing.len() + cas.len())
            }

            async fn create_api_key(&self, key: &ApiKey, token_hash: &str, signing_kid: &str, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO api_keys (id, account_id, owner, name, description, token_hash, enabled, expires_ms, created_by, created_ms, signing_kid)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&key.id)
                .bind(&key.account_id)
                .bind(&key.owner)
                .bind(&key.name)
                .bind(&key.description)
                .bind(token_hash)
                .bind(key.enabled)
                .bind(key.expires_ms)
                .bind(&key.created_by)
                .bind(key.created_ms)
                .bind(signing_kid)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                finish(tx, audit, true).await
            }

            async fn api_keys(&self, account_id: &str, owner: Option<&str>) -> StoreResult<Vec<ApiKey>> {
                match owner {
                    Some(owner) => sqlx::query_as(&format!(
                        "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 AND owner = $2 ORDER BY created_ms, id"
                    ))
                    .bind(account_id)
                    .bind(owner)
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_err),
                    None => sqlx::query_as(&format!(
                        "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY created_ms, id"
                    ))
                    .bind(account_id)
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_err),
                }
            }

            async fn api_key(&self, account_id: &str, id: &str) -> StoreResult<Option<ApiKey>> {
                sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 AND id = $2"))
                    .bind(account_id)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn api_key_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>> {
                sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = $1"))
                    .bind(token_hash)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn set_api_key_enabled(&self, account_id: &str, id: &str, enabled: bool, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("UPDATE api_keys SET enabled = $1 WHERE account_id = $2 AND id = $3")
                        .bind(enabled)
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if done {
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }

            async fn delete_api_key(&self, account_id: &str, id: &str, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("DELETE FROM api_keys WHERE account_id = $1 AND id = $2")
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if done {
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn record_audit(&self, audit: &Audit, outcome: &str) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                audit_row(&mut tx, audit, outcome).await?;
                tx.commit().await.map_err(db_err)
            }

            async fn audit_log(&self, account_id: &str, before: Option<i64>, limit: i64) -> StoreResult<Vec<AuditEntry>> {
                sqlx::query_as(
                    "SELECT id, account_id, actor, action, target, source_ip, outcome, detail, at_ms FROM audit_log
                     WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(account_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)
            }
        }

        #[async_trait]
        impl SnapshotStore for $store {
            async fn snapshot_version(&self) -> StoreResult<i64> {
                sqlx::query_scalar("SELECT value FROM control_meta WHERE key = 'snapshot_version'")
                    .fetch_one(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn snapshot_data(&self, cell_id: &str, now_ms: i64) -> StoreResult<SnapshotData> {
                let mut tx = self.read.begin().await.map_err(db_err)?;
                sqlx::query($isolation).execute(&mut *tx).await.map_err(db_err)?;
                let version = sqlx::query_scalar("SELECT value FROM control_meta WHERE key = 'snapshot_version'")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                // The API-key signing keys cells still need: the one signing
                // now, and retired ones while an API key they signed is
                // unexpired. Never private material, never the control key.
                let signing_keys = sqlx::query_as(
                    "SELECT kid, alg, purpose, '' AS private_key_sealed, public_key_pem, created_ms, retired_ms
                     FROM signing_keys s WHERE purpose = $1 AND (retired_ms IS NULL
                       OR EXISTS (SELECT 1 FROM api_keys a WHERE a.signing_kid = s.kid AND a.expires_ms > $2))
                     ORDER BY created_ms, kid",
                )
                .bind(KeyPurpose::ApiKey.as_str())
                .bind(now_ms)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                let namespaces = sqlx::query_as(&format!(
                    "SELECT {NS_COLUMNS} FROM namespaces WHERE cell_id = $1 AND state = 'active' ORDER BY id"
                ))
                .bind(cell_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                let grants: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT g.namespace_id, g.principal, g.permission FROM namespace_grants g
                     JOIN namespaces n ON n.id = g.namespace_id
                     WHERE n.cell_id = $1 AND n.state = 'active' ORDER BY g.namespace_id, g.principal",
                )
                .bind(cell_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                let mtls: Vec<MtlsRow> = sqlx::query_as(
                    "SELECT m.namespace_id, m.ca_pems, m.filters, NULL, NULL, m.updated_ms FROM namespace_mtls m
                     JOIN namespaces n ON n.id = m.namespace_id
                     WHERE n.cell_id = $1 AND n.state = 'active'",
                )
                .bind(cell_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                // Only account-wide roles matter here: the others act through
                // their explicit grants, read above (metrics_read is listed
                // because it voids its grants; see roles::effective_permission).
                let holders: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT 'user:' || id, account_id, role FROM users
                       WHERE state = 'active' AND role IN ('owner', 'admin', 'metrics_read')
                       AND account_id IN (SELECT account_id FROM namespaces WHERE cell_id = $1)
                     UNION ALL
                     SELECT 'service-account:' || id, account_id, role FROM service_accounts
                       WHERE role IN ('owner', 'admin', 'metrics_read')
                       AND account_id IN (SELECT account_id FROM namespaces WHERE cell_id = $1)",
                )
                .bind(cell_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                // With its owner: a cell checks that a key's `sub` is the
                // principal the key was issued to.
                let active_api_keys: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, owner FROM api_keys WHERE enabled = $1 AND expires_ms > $2
                     AND account_id IN (SELECT account_id FROM namespaces WHERE cell_id = $3) ORDER BY id",
                )
                .bind(true)
                .bind(now_ms)
                .bind(cell_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(SnapshotData {
                    version,
                    signing_keys,
                    namespaces,
                    grants: grants.into_iter().map(grant_row).collect::<StoreResult<_>>()?,
                    mtls: mtls.into_iter().map(mtls_row).collect::<StoreResult<_>>()?,
                    role_holders: holders
                        .into_iter()
                        .map(|(principal, account_id, role)| {
                            let role = role.parse().map_err(StoreError::Database)?;
                            Ok(RoleHolder { principal, account_id, role })
                        })
                        .collect::<StoreResult<_>>()?,
                    active_api_keys,
                })
            }
        }
    };
}
pub(crate) use sql_keys;
