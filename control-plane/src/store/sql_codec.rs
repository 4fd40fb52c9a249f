//! Codec servers, for both databases.

macro_rules! sql_codec {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl crate::store::codec::CodecStore for $store {
            async fn codec_server(&self, namespace_id: &str) -> StoreResult<Option<crate::store::codec::CodecServer>> {
                sqlx::query_as(
                    "SELECT namespace_id, endpoint, pass_access_token, include_credentials, updated_ms
                     FROM namespace_codec_servers WHERE namespace_id = $1",
                )
                .bind(namespace_id)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)
            }

            async fn put_codec_server(&self, codec: &crate::store::codec::CodecServer, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO namespace_codec_servers
                       (namespace_id, endpoint, pass_access_token, include_credentials, updated_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (namespace_id) DO UPDATE SET endpoint = excluded.endpoint,
                       pass_access_token = excluded.pass_access_token,
                       include_credentials = excluded.include_credentials,
                       updated_ms = excluded.updated_ms",
                )
                .bind(&codec.namespace_id)
                .bind(&codec.endpoint)
                .bind(codec.pass_access_token)
                .bind(codec.include_credentials)
                .bind(codec.updated_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                // Cells never see it: no new snapshot.
                finish(tx, audit, false).await
            }

            async fn delete_codec_server(&self, namespace_id: &str, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let deleted = sqlx::query("DELETE FROM namespace_codec_servers WHERE namespace_id = $1")
                    .bind(namespace_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                finish(tx, audit, false).await?;
                Ok(deleted == 1)
            }
        }
    };
}

pub(crate) use sql_codec;
