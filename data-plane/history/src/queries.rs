//! Consistent queries. A query that arrives while a workflow task is pending
//! must see what that task will process (a signal sent just before it, say),
//! so — as on the real server — it is buffered here and handed to the worker
//! with the next workflow task; the answer comes back with the completion.
//! If a task completes without answering it and no other task follows, the
//! query is released to be asked directly (a query task of its own).
//! Queries are not durable: a restart fails them, as in Temporal.
use std::collections::HashMap;

use orrery_core::CellResult;
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;
use orrery_proto::api::query::v1::WorkflowQuery;
use tokio::sync::oneshot;

use crate::engine::HistoryEngine;
use crate::state::MutableState;

pub(crate) struct BufferedQuery {
    id: String,
    query: WorkflowQuery,
    release: oneshot::Sender<()>,
}

#[derive(Default)]
pub(crate) struct QueryBuffer {
    by_run: std::sync::Mutex<HashMap<String, Vec<BufferedQuery>>>,
}

/// Where a query goes.
pub enum QueryRoute {
    /// Wait for the answer on the next workflow task; if the receiver
    /// fires first, ask directly instead.
    Buffered(oneshot::Receiver<()>),
    /// No workflow task pending: ask directly now.
    Direct,
}

impl QueryBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<BufferedQuery>>> {
        self.by_run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queries to attach to a workflow task of `run_id`.
    pub(crate) fn pending(&self, run_id: &str) -> HashMap<String, WorkflowQuery> {
        self.lock()
            .get(run_id)
            .map(|qs| qs.iter().map(|q| (q.id.clone(), q.query.clone())).collect())
            .unwrap_or_default()
    }

    /// After a workflow task of `run_id` closed: answered queries leave;
    /// the rest wait for the next task, or are released if none follows.
    pub(crate) fn settle(&self, run_id: &str, answered: &[String], next_task: bool) {
        let mut by_run = self.lock();
        let Some(queries) = by_run.remove(run_id) else {
            return;
        };
        let mut waiting = Vec::new();
        for q in queries {
            if answered.contains(&q.id) {
                continue;
            }
            if next_task {
                waiting.push(q);
            } else {
                let _ = q.release.send(());
            }
        }
        if !waiting.is_empty() {
            by_run.insert(run_id.to_string(), waiting);
        }
    }

    /// Of `ids`, those buffered for `run_id`: the only queries a worker
    /// completing a task of that run may answer.
    pub(crate) fn of_run<'a>(
        &self,
        run_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Vec<&'a str> {
        let by_run = self.lock();
        let Some(queries) = by_run.get(run_id) else {
            return Vec::new();
        };
        ids.into_iter()
            .filter(|id| queries.iter().any(|q| q.id == *id))
            .collect()
    }

    pub(crate) fn forget(&self, run_id: &str, id: &str) {
        let mut by_run = self.lock();
        if let Some(queries) = by_run.get_mut(run_id) {
            queries.retain(|q| q.id != id);
            if queries.is_empty() {
                by_run.remove(run_id);
            }
        }
    }
}

impl HistoryEngine {
    /// Decides how to ask a query, buffering it if a workflow task is
    /// pending. Returns the run's state as the decision saw it.
    pub async fn route_query(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        id: &str,
        query: &WorkflowQuery,
    ) -> CellResult<(QueryRoute, MutableState)> {
        let _guard = self.lock(namespace_id, &execution.workflow_id).await;
        let run_id = self
            .resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
            .await?;
        let (state, _) = self
            .load(namespace_id, &execution.workflow_id, &run_id)
            .await?;
        // A query of a run that exists is an Action, answered or not.
        if self.limits.metering {
            self.query_meter.count(namespace_id);
        }
        let running = state
            .info
            .as_ref()
            .is_some_and(|i| i.status == WorkflowExecutionStatus::Running as i32);
        if !running || state.workflow_task.is_none() {
            return Ok((QueryRoute::Direct, state));
        }
        let (release, released) = oneshot::channel();
        self.queries
            .lock()
            .entry(run_id)
            .or_default()
            .push(BufferedQuery {
                id: id.to_string(),
                query: query.clone(),
                release,
            });
        Ok((QueryRoute::Buffered(released), state))
    }

    /// The query ids, of those a workflow task completion of `run_id`
    /// answers, that were buffered for that run. Answers to any other id
    /// are to be ignored, as the real server finds them in no registry:
    /// a worker (of another run, or another tenant) must not answer a
    /// query asked of a run it does not hold.
    pub fn queries_of_run<'a>(
        &self,
        run_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Vec<&'a str> {
        self.queries.of_run(run_id, ids)
    }

    /// Drops a buffered query whose caller stopped waiting.
    pub fn forget_query(&self, run_id: &str, id: &str) {
        self.queries.forget(run_id, id);
    }
}
