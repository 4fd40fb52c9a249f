//! The poll loop both task kinds share: wait for a task, have history start
//! it, drop it if history says it is stale, put it back on any other error.
use std::future::Future;
use std::time::Duration;

use orrery_core::matching::QueueTask;
use orrery_core::{CellError, CellResult};
use orrery_matching::{Polled, QueryTask};

use crate::Frontend;

pub(crate) enum Started<T> {
    Task(T),
    Query(QueryTask),
    /// The poll expired (or the server is stopping).
    Empty,
}

impl Frontend {
    pub(crate) async fn poll_and_start<T, Fut>(
        &self,
        namespace_id: &str,
        queue: &str,
        kind: i32,
        identity: &str,
        wait: Duration,
        start: impl Fn(QueueTask) -> Fut,
    ) -> CellResult<Started<T>>
    where
        Fut: Future<Output = CellResult<T>>,
    {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self
                .matching
                .poll(namespace_id, queue, kind, identity, remaining)
                .await?
            {
                None => return Ok(Started::Empty),
                Some(Polled::Query(q)) => return Ok(Started::Query(q)),
                Some(Polled::Task(lease)) => match start(lease.task().clone()).await {
                    Ok(started) => {
                        lease.done();
                        return Ok(Started::Task(started));
                    }
                    // No longer pending (completed, timed out, retried): drop it.
                    Err(CellError::NotFound(_)) => lease.done(),
                    // The lease puts the task back when dropped.
                    Err(err) => return Err(err),
                },
            }
        }
    }
}
