//! DescribeWorkflowExecution and the read side of a run's state.
use orrery_core::CellResult;
use orrery_core::time::{duration, timestamp};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{PendingActivityState, PendingWorkflowTaskState};
use orrery_proto::api::workflow::v1::*;
use orrery_proto::api::workflowservice::v1::DescribeWorkflowExecutionResponse;

use crate::engine::{HistoryEngine, execution_info};
use crate::workflow_task::task_queue;

impl HistoryEngine {
    pub async fn describe_workflow(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
    ) -> CellResult<DescribeWorkflowExecutionResponse> {
        let run_id = self
            .resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
            .await?;
        // The row's version counts its commits: the run's state transitions.
        let (state, transitions) = self
            .load(namespace_id, &execution.workflow_id, &run_id)
            .await?;
        let info = state.info.clone().unwrap_or_default();
        let pending_activities = state
            .activities
            .iter()
            .map(|a| {
                let s = a.scheduled.clone().unwrap_or_default();
                PendingActivityInfo {
                    activity_id: s.activity_id,
                    activity_type: s.activity_type,
                    state: if a.cancel_requested {
                        PendingActivityState::CancelRequested
                    } else if a.paused && a.started_time_ms > 0 {
                        PendingActivityState::PauseRequested
                    } else if a.paused {
                        PendingActivityState::Paused
                    } else if a.started_time_ms > 0 {
                        PendingActivityState::Started
                    } else {
                        PendingActivityState::Scheduled
                    } as i32,
                    heartbeat_details: a.heartbeat_details.clone(),
                    last_heartbeat_time: (a.started_time_ms > 0)
                        .then(|| timestamp(a.last_heartbeat_ms)),
                    last_started_time: (a.started_time_ms > 0)
                        .then(|| timestamp(a.started_time_ms)),
                    attempt: a.attempt,
                    maximum_attempts: s
                        .retry_policy
                        .as_ref()
                        .map(|p| p.maximum_attempts)
                        .unwrap_or(0),
                    scheduled_time: Some(timestamp(a.scheduled_time_ms)),
                    last_failure: a.last_failure.clone(),
                    last_worker_identity: a.last_worker_identity.clone(),
                    priority: s.priority,
                    paused: a.paused,
                    activity_options: Some(crate::api::activity_ops::pending_options(a)),
                    pause_info: a.paused.then(|| {
                        use orrery_proto::api::workflow::v1::pending_activity_info::pause_info;
                        pending_activity_info::PauseInfo {
                            pause_time: Some(timestamp(a.pause_time_ms)),
                            paused_by: Some(pause_info::PausedBy::Manual(pause_info::Manual {
                                identity: a.pause_identity.clone(),
                                reason: a.pause_reason.clone(),
                            })),
                        }
                    }),
                    ..Default::default()
                }
            })
            .collect();
        let pending_children = state
            .children
            .iter()
            .map(|c| PendingChildExecutionInfo {
                workflow_id: c.workflow_id.clone(),
                run_id: c.run_id.clone(),
                workflow_type_name: c.workflow_type.clone(),
                initiated_id: c.initiated_event_id,
                parent_close_policy: c.parent_close_policy,
            })
            .collect();
        let pending_workflow_task =
            state
                .workflow_task
                .as_ref()
                .map(|wt| PendingWorkflowTaskInfo {
                    state: if wt.started_event_id > 0 {
                        PendingWorkflowTaskState::Started
                    } else {
                        PendingWorkflowTaskState::Scheduled
                    } as i32,
                    scheduled_time: Some(timestamp(wt.scheduled_time_ms)),
                    original_scheduled_time: Some(timestamp(wt.scheduled_time_ms)),
                    started_time: (wt.started_time_ms > 0).then(|| timestamp(wt.started_time_ms)),
                    attempt: wt.attempt,
                });
        Ok(DescribeWorkflowExecutionResponse {
            execution_config: Some(WorkflowExecutionConfig {
                task_queue: Some(task_queue(&info.task_queue, false, "")),
                // Unset when there is none, as the real server leaves it.
                workflow_execution_timeout: (info.execution_timeout_ms > 0)
                    .then(|| duration(info.execution_timeout_ms)),
                workflow_run_timeout: (info.run_timeout_ms > 0)
                    .then(|| duration(info.run_timeout_ms)),
                default_workflow_task_timeout: Some(duration(info.task_timeout_ms)),
                user_metadata: info.user_metadata.clone(),
            }),
            workflow_execution_info: Some(WorkflowExecutionInfo {
                state_transition_count: transitions,
                ..execution_info(&state)
            }),
            pending_activities,
            pending_children,
            pending_workflow_task,
            workflow_extended_info: Some(WorkflowExecutionExtendedInfo {
                execution_expiration_time: (info.execution_expiration_ms > 0)
                    .then(|| timestamp(info.execution_expiration_ms)),
                cancel_requested: info.cancel_requested,
                original_start_time: Some(timestamp(info.start_time_ms)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

impl HistoryEngine {
    /// Visibility rows of a namespace that match `query` (see `VisibilityStore`).
    pub async fn list_visibility(
        &self,
        namespace_id: &str,
        query: &orrery_visibility::Query,
        page: &orrery_persistence::VisibilityPage,
        limit: usize,
    ) -> CellResult<Vec<orrery_persistence::VisibilityRow>> {
        self.store
            .list_executions(namespace_id, query, page, limit)
            .await
    }

    pub async fn count_visibility(
        &self,
        namespace_id: &str,
        query: &orrery_visibility::Query,
    ) -> CellResult<orrery_persistence::VisibilityCount> {
        self.store.count_executions(namespace_id, query).await
    }

    /// A run's status and, once closed, its close event.
    pub async fn run_outcome(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> CellResult<(i32, Option<orrery_proto::api::history::v1::HistoryEvent>)> {
        let state = self.snapshot(namespace_id, workflow_id, run_id).await?;
        let info = state.info.unwrap_or_default();
        if info.completion_event_id <= 0 {
            return Ok((info.status, None));
        }
        let (events, _) = self
            .history_page(
                namespace_id,
                &info.run_id,
                info.completion_event_id,
                info.completion_event_id + 1,
                1,
            )
            .await?;
        Ok((info.status, events.into_iter().next()))
    }

    pub async fn remove_search_attribute(&self, namespace_id: &str, name: &str) -> CellResult<()> {
        self.store.remove_search_attribute(namespace_id, name).await
    }
}

impl HistoryEngine {
    /// The run's state once `ready` holds for it, waiting up to `wait` for
    /// commits; after that, the state as it is.
    pub async fn wait_for_state(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        wait: std::time::Duration,
        ready: impl Fn(&crate::state::MutableState) -> bool,
    ) -> CellResult<crate::state::MutableState> {
        let run_id = self.resolve_run(namespace_id, workflow_id, run_id).await?;
        let mut changes = self.watch_run(&run_id);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (state, _) = self.load(namespace_id, workflow_id, &run_id).await?;
            if ready(&state) {
                return Ok(state);
            }
            if !self.wait_change(&mut changes, deadline).await {
                return Ok(state);
            }
        }
    }
}
