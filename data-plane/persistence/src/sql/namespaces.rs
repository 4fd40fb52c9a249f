//! `NamespaceStore`: the cell's namespace records, versioned.

use orrery_core::CellResult;
use sqlx::Row;

use super::db_err;
use crate::records::NamespaceRecord;

/// A `namespaces` row, as either database returns it.
pub(crate) fn namespace_row<R: Row>(row: &R) -> CellResult<NamespaceRecord>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(NamespaceRecord {
        id: row.try_get("id").map_err(db_err)?,
        name: row.try_get("name").map_err(db_err)?,
        version: row.try_get("version").map_err(db_err)?,
        data: row.try_get("data").map_err(db_err)?,
    })
}

macro_rules! sql_namespace_store {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl NamespaceStore for $store {
            async fn create_namespace(&self, ns: &NamespaceRecord) -> CellResult<()> {
                let ns = ns.clone();
                self.autocommit(ns.data.len(), move |conn| Box::pin(async move {
                    sqlx::query("INSERT INTO namespaces (id, name, version, data) VALUES ($1, $2, $3, $4)")
                        .bind(&ns.id)
                        .bind(&ns.name)
                        .bind(ns.version)
                        .bind(&ns.data)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| match db_err(e) {
                            CellError::ConditionFailed => CellError::NamespaceAlreadyExists,
                            other => other,
                        })?;
                    Ok(())
                }))
                .await
            }

            async fn namespace_by_name(&self, name: &str) -> CellResult<Option<NamespaceRecord>> {
                sqlx::query("SELECT id, name, version, data FROM namespaces WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.read)
                    .metered_read()
                    .await?
                    .map(|r| crate::sql::namespace_row(&r))
                    .transpose()
            }

            async fn namespace_by_id(&self, id: &str) -> CellResult<Option<NamespaceRecord>> {
                sqlx::query("SELECT id, name, version, data FROM namespaces WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .metered_read()
                    .await?
                    .map(|r| crate::sql::namespace_row(&r))
                    .transpose()
            }

            async fn list_namespaces(&self, after: &str, limit: u32) -> CellResult<Vec<NamespaceRecord>> {
                // Keyset paging on the unique name (its index serves both).
                sqlx::query("SELECT id, name, version, data FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2")
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .metered_read()
                    .await?
                    .iter()
                    .map(crate::sql::namespace_row)
                    .collect()
            }

            async fn update_namespace(&self, ns: &NamespaceRecord) -> CellResult<()> {
                let ns = ns.clone();
                self.autocommit(ns.data.len(), move |conn| Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE namespaces SET name = $1, version = $2, data = $3 WHERE id = $4 AND version = $5",
                    )
                    .bind(&ns.name)
                    .bind(ns.version)
                    .bind(&ns.data)
                    .bind(&ns.id)
                    .bind(ns.version - 1)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 1 { Ok(()) } else { Err(CellError::ConditionFailed) }
                }))
                .await
            }

            async fn delete_namespace(&self, id: &str) -> CellResult<()> {
                self.execute_alone(sqlx::query("DELETE FROM namespaces WHERE id = $1").bind(id.to_string()))
                    .await
            }
        }
    };
}

pub(crate) use sql_namespace_store;
