//! `MetadataStore`: cluster metadata, a key's first value kept for good.

macro_rules! sql_metadata_store {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl MetadataStore for $store {
            async fn get_or_insert(&self, key: &str, value: Vec<u8>) -> CellResult<Vec<u8>> {
                let key = key.to_string();
                self.autocommit(value.len(), move |conn| Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO cluster_metadata (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(&key)
                    .bind(value)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    let row = sqlx::query("SELECT value FROM cluster_metadata WHERE key = $1")
                        .bind(&key)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    row.try_get("value").map_err(db_err)
                }))
                .await
            }
        }
    };
}

pub(crate) use sql_metadata_store;
