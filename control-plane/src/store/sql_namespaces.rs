//! Cells, namespaces, their grants and mTLS settings, for both databases.

macro_rules! sql_namespaces {
    ($store:ident, $db:ty) => {
        const CELL_COLUMNS: &str =
            "id, name, grpc_endpoint, admin_endpoint, http_endpoint, capacity, reported_capacity, created_ms";
        const NS_COLUMNS: &str =
            "id, account_id, name, cell_id, retention_days, state, created_by, created_ms, updated_ms";

        fn grant_row(row: (String, String, String)) -> StoreResult<GrantRow> {
            let permission = row
                .2
                .parse()
                .map_err(|()| StoreError::Database(format!("stored permission {:?}", row.2)))?;
            Ok(GrantRow { namespace_id: row.0, principal: row.1, permission })
        }

        type MtlsRow = (String, String, String, Option<String>, Option<String>, i64);

        fn mtls_row(row: MtlsRow) -> StoreResult<NamespaceMtls> {
            let generated_ca = match (row.3, row.4) {
                (Some(cert_pem), Some(key_sealed)) => Some(GeneratedCa { cert_pem, key_sealed }),
                _ => None,
            };
            Ok(NamespaceMtls {
                namespace_id: row.0,
                ca_pems: serde_json::from_str(&row.1).map_err(json_err)?,
                filters: serde_json::from_str(&row.2).map_err(json_err)?,
                generated_ca,
                updated_ms: row.5,
            })
        }

        const MTLS_COLUMNS: &str =
            "namespace_id, ca_pems, filters, generated_ca_cert_pem, generated_ca_key_sealed, updated_ms";

        #[async_trait]
        impl CellStore for $store {
            async fn upsert_cell(&self, cell: &Cell, credential_hash: Option<&str>, audit: &Audit) -> StoreResult<Cell> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                // No new credential: the cell keeps the one it has.
                let stored: Cell = sqlx::query_as(&format!(
                    "INSERT INTO cells (id, name, grpc_endpoint, admin_endpoint, credential_hash, capacity, created_ms, http_endpoint)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (name) DO UPDATE SET grpc_endpoint = excluded.grpc_endpoint,
                       admin_endpoint = excluded.admin_endpoint,
                       http_endpoint = excluded.http_endpoint,
                       credential_hash = COALESCE(excluded.credential_hash, cells.credential_hash),
                       capacity = excluded.capacity
                     RETURNING {CELL_COLUMNS}"
                ))
                .bind(&cell.id)
                .bind(&cell.name)
                .bind(&cell.grpc_endpoint)
                .bind(&cell.admin_endpoint)
                .bind(credential_hash)
                .bind(cell.capacity)
                .bind(cell.created_ms)
                .bind(&cell.http_endpoint)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                let mut audit = audit.clone();
                audit.target = format!("cell:{}", stored.id);
                finish(tx, &audit, true).await?;
                Ok(stored)
            }

            async fn set_cell_credential(&self, id: &str, credential_hash: &str) -> StoreResult<bool> {
                let found = sqlx::query("UPDATE cells SET credential_hash = $1 WHERE id = $2")
                    .bind(credential_hash)
                    .bind(id)
                    .execute(&self.write)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                Ok(found == 1)
            }

            async fn cell_loads(&self) -> StoreResult<Vec<CellLoad>> {
                let cells: Vec<Cell> = sqlx::query_as(&format!("SELECT {CELL_COLUMNS} FROM cells ORDER BY name"))
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_err)?;
                let counts: Vec<(String, i64)> =
                    sqlx::query_as("SELECT cell_id, COUNT(*) FROM namespaces GROUP BY cell_id")
                        .fetch_all(&self.read)
                        .await
                        .map_err(db_err)?;
                let counts: std::collections::HashMap<String, i64> = counts.into_iter().collect();
                Ok(cells
                    .into_iter()
                    .map(|cell| CellLoad { namespaces: counts.get(&cell.id).copied().unwrap_or(0), cell })
                    .collect())
            }

            async fn cell(&self, id: &str) -> StoreResult<Option<Cell>> {
                sqlx::query_as(&format!("SELECT {CELL_COLUMNS} FROM cells WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn cell_by_credential_hash(&self, credential_hash: &str) -> StoreResult<Option<Cell>> {
                sqlx::query_as(&format!("SELECT {CELL_COLUMNS} FROM cells WHERE credential_hash = $1"))
                    .bind(credential_hash)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn report_cell_capacity(&self, cell_id: &str, capacity: i64) -> StoreResult<()> {
                // Written only when it changed: polls come every second.
                sqlx::query(
                    "UPDATE cells SET reported_capacity = $1 WHERE id = $2
                     AND (reported_capacity IS NULL OR reported_capacity <> $1)",
                )
                .bind(capacity)
                .bind(cell_id)
                .execute(&self.write)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl NamespaceStore for $store {
            async fn insert_pending_namespace(&self, ns: &Namespace, creator_grant: Option<(&str, Permission)>, quota: u32) -> StoreResult<Reserved> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                lock_account(&mut tx, &ns.account_id).await?;
                // A name the account already holds is a conflict whatever its
                // count: retrying a create that succeeded must say so (409),
                // not that the quota is reached.
                let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM namespaces WHERE account_id = $1 AND name = $2")
                    .bind(&ns.account_id)
                    .bind(&ns.name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if taken > 0 {
                    return Err(StoreError::Conflict);
                }
                let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM namespaces WHERE account_id = $1")
                    .bind(&ns.account_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if held >= i64::from(quota) {
                    return Ok(Reserved::QuotaReached);
                }
                sqlx::query(
                    "INSERT INTO namespaces (id, account_id, name, cell_id, retention_days, state, created_by, created_ms, updated_ms)
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
                )
                .bind(&ns.id)
                .bind(&ns.account_id)
                .bind(&ns.name)
                .bind(&ns.cell_id)
                .bind(ns.retention_days)
                .bind(&ns.created_by)
                .bind(ns.created_ms)
                .bind(ns.updated_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if let Some((principal, permission)) = creator_grant {
                    sqlx::query("INSERT INTO namespace_grants (namespace_id, principal, permission) VALUES ($1, $2, $3)")
                        .bind(&ns.id)
                        .bind(principal)
                        .bind(permission.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(Reserved::Done)
            }

            async fn activate_namespace(&self, id: &str, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                // Only a pending row: the request creating it and a
                // reconciler (on any replica) may both get here, and the
                // second must neither audit nor bump again, nor bring back
                // a row discarded meanwhile.
                let moved = sqlx::query("UPDATE namespaces SET state = 'active' WHERE id = $1 AND state = 'pending'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                if moved == 0 {
                    return tx.rollback().await.map_err(db_err);
                }
                finish(tx, audit, true).await
            }

            async fn discard_pending_namespace(&self, id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM namespaces WHERE id = $1 AND state = 'pending'")
                    .bind(id)
                    .execute(&self.write)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn pending_namespaces(&self) -> StoreResult<Vec<Namespace>> {
                sqlx::query_as(&format!("SELECT {NS_COLUMNS} FROM namespaces WHERE state = 'pending' ORDER BY created_ms"))
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn namespaces(&self, account_id: &str) -> StoreResult<Vec<Namespace>> {
                sqlx::query_as(&format!("SELECT {NS_COLUMNS} FROM namespaces WHERE account_id = $1 ORDER BY name"))
                    .bind(account_id)
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn namespace(&self, account_id: &str, id: &str) -> StoreResult<Option<Namespace>> {
                sqlx::query_as(&format!("SELECT {NS_COLUMNS} FROM namespaces WHERE account_id = $1 AND id = $2"))
                    .bind(account_id)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn update_retention(&self, account_id: &str, id: &str, retention_days: i64, now_ms: i64, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("UPDATE namespaces SET retention_days = $1, updated_ms = $2 WHERE account_id = $3 AND id = $4")
                        .bind(retention_days)
                        .bind(now_ms)
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if done {
                    finish(tx, audit, false).await?;
                }
                Ok(done)
            }

            async fn delete_namespace(&self, account_id: &str, id: &str, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("DELETE FROM namespaces WHERE account_id = $1 AND id = $2")
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if done {
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }

            async fn grants(&self, namespace_id: &str) -> StoreResult<Vec<GrantRow>> {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT namespace_id, principal, permission FROM namespace_grants WHERE namespace_id = $1 ORDER BY principal",
                )
                .bind(namespace_id)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
                rows.into_iter().map(grant_row).collect()
            }

            async fn grant(&self, namespace_id: &str, principal: &str) -> StoreResult<Option<Permission>> {
                let row: Option<(String, String, String)> = sqlx::query_as(
                    "SELECT namespace_id, principal, permission FROM namespace_grants WHERE namespace_id = $1 AND principal = $2",
                )
                .bind(namespace_id)
                .bind(principal)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)?;
                Ok(row.map(grant_row).transpose()?.map(|g| g.permission))
            }

            async fn set_grant(&self, grant: &GrantRow, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO namespace_grants (namespace_id, principal, permission) VALUES ($1, $2, $3)
                     ON CONFLICT (namespace_id, principal) DO UPDATE SET permission = excluded.permission",
                )
                .bind(&grant.namespace_id)
                .bind(&grant.principal)
                .bind(grant.permission.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                finish(tx, audit, true).await
            }

            async fn delete_grant(&self, namespace_id: &str, principal: &str, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("DELETE FROM namespace_grants WHERE namespace_id = $1 AND principal = $2")
                        .bind(namespace_id)
                        .bind(principal),
                )
                .await?;
                if done {
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }

            async fn mtls(&self, namespace_id: &str) -> StoreResult<Option<NamespaceMtls>> {
                let row: Option<MtlsRow> = sqlx::query_as(&format!(
                    "SELECT {MTLS_COLUMNS} FROM namespace_mtls WHERE namespace_id = $1"
                ))
                .bind(namespace_id)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)?;
                row.map(mtls_row).transpose()
            }

            async fn put_mtls(&self, mtls: &NamespaceMtls, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let ca_pems = serde_json::to_string(&mtls.ca_pems).map_err(json_err)?;
                let filters = serde_json::to_string(&mtls.filters).map_err(json_err)?;
                let (cert, key) = match &mtls.generated_ca {
                    Some(ca) => (Some(ca.cert_pem.as_str()), Some(ca.key_sealed.as_str())),
                    None => (None, None),
                };
                sqlx::query(
                    "INSERT INTO namespace_mtls (namespace_id, ca_pems, filters, generated_ca_cert_pem, generated_ca_key_sealed, updated_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (namespace_id) DO UPDATE SET ca_pems = excluded.ca_pems, filters = excluded.filters,
                       generated_ca_cert_pem = excluded.generated_ca_cert_pem,
                       generated_ca_key_sealed = excluded.generated_ca_key_sealed, updated_ms = excluded.updated_ms",
                )
                .bind(&mtls.namespace_id)
                .bind(ca_pems)
                .bind(filters)
                .bind(cert)
                .bind(key)
                .bind(mtls.updated_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                finish(tx, audit, true).await
            }

            async fn delete_mtls(&self, namespace_id: &str, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("DELETE FROM namespace_mtls WHERE namespace_id = $1")
                        .bind(namespace_id),
                )
                .await?;
                if done {
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }
        }
    };
}
pub(crate) use sql_namespaces;
