//! `QueueStore`: the durable backlog of matching's task queues.

macro_rules! sql_queue_store {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl QueueStore for $store {
            async fn queue_tasks(
                &self,
                namespace_id: &str,
                task_queue: &str,
                kind: i32,
                limit: usize,
            ) -> CellResult<Vec<QueueRow>> {
                sqlx::query(
                    "SELECT task_id, data FROM queue_tasks
                     WHERE namespace_id = $1 AND task_queue = $2 AND kind = $3
                     ORDER BY task_id LIMIT $4",
                )
                .bind(namespace_id)
                .bind(task_queue)
                .bind(kind)
                .bind(limit as i64)
                .fetch_all(&self.read)
                .metered_read()
                .await?
                .iter()
                .map(|r| {
                    Ok(QueueRow {
                        namespace_id: namespace_id.to_string(),
                        task_queue: task_queue.to_string(),
                        kind,
                        task_id: r.try_get("task_id").map_err(db_err)?,
                        data: r.try_get("data").map_err(db_err)?,
                    })
                })
                .collect()
            }

            async fn delete_queue_task(
                &self,
                namespace_id: &str,
                task_queue: &str,
                kind: i32,
                task_id: i64,
            ) -> CellResult<()> {
                self.execute_alone(
                    sqlx::query(
                        "DELETE FROM queue_tasks WHERE namespace_id = $1 AND task_queue = $2 AND kind = $3 AND task_id = $4",
                    )
                    .bind(namespace_id.to_string())
                    .bind(task_queue.to_string())
                    .bind(kind)
                    .bind(task_id),
                )
                .await
            }
        }
    };
}

pub(crate) use sql_queue_store;
