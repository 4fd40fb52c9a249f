//! Transfer tasks: work one run asks of another (start a child, signal or
//! cancel an external workflow, tell a parent its child closed, apply parent
//! close policies). Each runs in the other run's transaction first, then
//! records the outcome in the asking run; both steps are idempotent.
use orrery_core::time::duration_millis;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::{WorkflowExecution, WorkflowType};
use orrery_proto::api::enums::v1::*;
use orrery_proto::api::history::v1::history_event::Attributes;
use orrery_proto::api::history::v1::*;

use crate::engine::HistoryEngine;
use crate::start::{RunSpec, StartSignal};
use crate::targets::{TargetRequest, parent_info};
use crate::tasks::{TransferKind, TransferTask};

/// Task ids a shard issued since its oldest pending transfer task `oldest`,
/// `next` being the shard's next id. Ids carry their owner's range above
/// bit 32: a task left by an earlier owner is older than everything this
/// owner issued, which is what is counted then.
fn issued_since(oldest: i64, next: i64) -> u64 {
    if oldest >> 32 == next >> 32 {
        (next - oldest).max(0) as u64
    } else {
        (next & 0xFFFF_FFFF) as u64
    }
}

impl HistoryEngine {
    /// Samples each shard's transfer lag into the operator metrics (Temporal's
    /// `shardinfo_immediate_queue_lag`: ids issued since the oldest pending
    /// task; 0 when none is pending). One indexed read per shard.
    pub(crate) async fn sample_transfer_lag(&self) -> CellResult<()> {
        for shard in self.shards.owned() {
            let pending = self.store.transfer_tasks(&[shard.id], 1).await?;
            let next = shard.task_ids.load(std::sync::atomic::Ordering::Relaxed);
            let lag = pending
                .first()
                .map_or(0, |row| issued_since(row.task_id, next));
            orrery_core::metrics::immediate_queue_lag(lag);
        }
        Ok(())
    }

    /// Samples both queues' lag every `every` until the engine shuts down.
    pub fn spawn_queue_lag_sampler(self: &std::sync::Arc<Self>, every: std::time::Duration) {
        use tracing::Instrument;
        let weak = std::sync::Arc::downgrade(self);
        tokio::spawn(
            async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(engine) = weak.upgrade() else { break };
                    if *engine.closing.borrow() {
                        break;
                    }
                    let sampled = match engine.sample_timer_lag().await {
                        Ok(()) => engine.sample_transfer_lag().await,
                        Err(err) => Err(err),
                    };
                    if let Err(err) = &sampled {
                        tracing::warn!(error = %err, "sampling the queues' lag failed");
                    }
                    orrery_core::metrics::background_run("queue_lag_sampler", sampled.is_ok());
                }
            }
            .instrument(tracing::info_span!("queue_lag_sampler")),
        );
    }

    pub(crate) async fn handle_transfer(&self, task: &TransferTask) -> CellResult<()> {
        match task.kind {
            k if k == TransferKind::StartChild as i32 => self.start_child(task).await,
            k if k == TransferKind::SignalExternal as i32 => {
                self.signal_external(task, false).await
            }
            k if k == TransferKind::CancelExternal as i32 => self.signal_external(task, true).await,
            k if k == TransferKind::NotifyParent as i32 => self.notify_parent(task).await,
            k if k == TransferKind::ParentClosePolicy as i32 => {
                self.apply_parent_close_policy(task).await
            }
            other => {
                tracing::error!(kind = other, "unknown transfer kind");
                Ok(())
            }
        }
    }

    pub(crate) async fn event(
        &self,
        namespace_id: &str,
        run_id: &str,
        event_id: i64,
    ) -> CellResult<Attributes> {
        let (events, _) = self
            .history_page(namespace_id, run_id, event_id, event_id + 1, 1)
            .await?;
        events
            .into_iter()
            .next()
            .and_then(|e| e.attributes)
            .ok_or_else(|| {
                CellError::internal(format!("event {event_id} of run {run_id} is missing"))
            })
    }

    async fn start_child(&self, task: &TransferTask) -> CellResult<()> {
        let parent = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        let Some(child) = parent
            .children
            .iter()
            .find(|c| c.initiated_event_id == task.initiated_event_id)
        else {
            return Ok(());
        };
        if child.started_event_id != 0
            || parent
                .info
                .as_ref()
                .is_none_or(|i| i.status != WorkflowExecutionStatus::Running as i32)
        {
            return Ok(());
        }
        let Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a) = self
            .event(&task.namespace_id, &task.run_id, task.initiated_event_id)
            .await?
        else {
            return Err(CellError::internal("initiated event has the wrong type"));
        };
        let started = self
            .on_target(&a.namespace_id, &a.workflow_id, TargetRequest::new(task))
            .await;
        let namespace = a.namespace.clone();
        let namespace_id = a.namespace_id.clone();
        let workflow_type = a.workflow_type.clone();
        self.update(&task.namespace_id, &task.workflow_id, &task.run_id, |m| {
            if !m.is_running() {
                return Ok(());
            }
            let Some(pos) = m.state.children.iter().position(|c| {
                c.initiated_event_id == task.initiated_event_id && c.started_event_id == 0
            }) else {
                return Ok(());
            };
            match &started {
                Ok(outcome) if !outcome.already_started => {
                    let buffered = m.workflow_task_started();
                    let id = m.state.next_event_id;
                    m.add_or_buffer(ChildWorkflowExecutionStartedEventAttributes {
                        namespace: namespace.clone(),
                        namespace_id: namespace_id.clone(),
                        initiated_event_id: task.initiated_event_id,
                        workflow_execution: Some(WorkflowExecution {
                            workflow_id: a.workflow_id.clone(),
                            run_id: outcome.run_id.clone(),
                        }),
                        workflow_type: workflow_type.clone(),
                        header: a.header.clone(),
                    });
                    let child = &mut m.state.children[pos];
                    child.run_id = outcome.run_id.clone();
                    // A buffered started event gets its id at flush.
                    child.started_event_id = if buffered { -1 } else { id };
                }
                Ok(_) => {
                    m.state.children.remove(pos);
                    m.add_or_buffer(StartChildWorkflowExecutionFailedEventAttributes {
                        namespace: namespace.clone(),
                        namespace_id: namespace_id.clone(),
                        workflow_id: a.workflow_id.clone(),
                        workflow_type: workflow_type.clone(),
                        cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32,
                        control: a.control.clone(),
                        initiated_event_id: task.initiated_event_id,
                        workflow_task_completed_event_id: 0,
                    });
                }
                Err(err) => {
                    return Err(CellError::Unavailable(format!(
                        "starting child failed: {err}"
                    )));
                }
            }
            m.dirty = true;
            m.schedule_workflow_task();
            Ok(())
        })
        .await
    }

    /// Starts the child a parent's StartChild transfer task names: the part
    /// that runs where the child's shard is owned.
    pub(crate) async fn start_child_run(
        &self,
        task: &TransferTask,
        parent: &crate::state::MutableState,
        a: &StartChildWorkflowExecutionInitiatedEventAttributes,
    ) -> CellResult<crate::start::StartOutcome> {
        let spec = RunSpec {
            namespace_id: a.namespace_id.clone(),
            namespace: a.namespace.clone(),
            workflow_id: a.workflow_id.clone(),
            run_id: crate::new_run_id(),
            workflow_type: a
                .workflow_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            task_queue: a
                .task_queue
                .as_ref()
                .map(|q| q.name.clone())
                .unwrap_or_default(),
            input: a.input.clone(),
            execution_timeout_ms: duration_millis(a.workflow_execution_timeout.as_ref()),
            run_timeout_ms: duration_millis(a.workflow_run_timeout.as_ref()),
            task_timeout_ms: duration_millis(a.workflow_task_timeout.as_ref()),
            request_id: format!("{}:{}", task.run_id, task.initiated_event_id),
            retry_policy: a.retry_policy.clone(),
            attempt: 1,
            cron_schedule: a.cron_schedule.clone(),
            memo: a.memo.clone(),
            search_attributes: a.search_attributes.clone(),
            header: a.header.clone(),
            priority: a.priority.clone(),
            parent: Some(parent_info(parent, task.initiated_event_id)),
            root: parent
                .info
                .as_ref()
                .and_then(|i| i.root.clone())
                .or_else(|| {
                    Some(WorkflowExecution {
                        workflow_id: task.workflow_id.clone(),
                        run_id: task.run_id.clone(),
                    })
                }),
            ..Default::default()
        };
        self.start_workflow(
            spec,
            a.workflow_id_reuse_policy,
            WorkflowIdConflictPolicy::Fail as i32,
            None,
        )
        .await
    }

    async fn notify_parent(&self, task: &TransferTask) -> CellResult<()> {
        let child = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        let info = child.info.clone().unwrap_or_default();
        let Some(parent) = info.parent.clone() else {
            return Ok(());
        };
        let Some(parent_exec) = parent.execution.clone() else {
            return Ok(());
        };
        self.on_target(
            &parent.namespace_id,
            &parent_exec.workflow_id,
            TargetRequest::new(task),
        )
        .await
        .map(|_| ())
    }

    /// Records a child's close in its parent: runs where the parent's
    /// shard is owned.
    pub(crate) async fn notify_parent_target(&self, task: &TransferTask) -> CellResult<()> {
        let child = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        let info = child.info.clone().unwrap_or_default();
        let Some(parent) = info.parent.clone() else {
            return Ok(());
        };
        let Some(parent_exec) = parent.execution.clone() else {
            return Ok(());
        };
        let close = self
            .event(&task.namespace_id, &task.run_id, info.completion_event_id)
            .await?;
        let execution = Some(WorkflowExecution {
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
        });
        let workflow_type = Some(WorkflowType {
            name: info.workflow_type.clone(),
        });
        self.update(
            &parent.namespace_id,
            &parent_exec.workflow_id,
            &parent_exec.run_id,
            |m| {
                if !m.is_running() {
                    return Ok(());
                }
                let Some(pos) = m.state.children.iter().position(|c| {
                    c.initiated_event_id == parent.initiated_event_id
                        && c.workflow_id == info.workflow_id
                }) else {
                    return Ok(());
                };
                let started_event_id = m.state.children[pos].started_event_id;
                if started_event_id == 0 {
                    // The start is not recorded yet; its transfer task will be.
                    return Err(CellError::Unavailable(
                        "child start not recorded yet".into(),
                    ));
                }
                let (namespace, namespace_id, initiated_event_id) = (
                    info.namespace.clone(),
                    info.namespace_id.clone(),
                    parent.initiated_event_id,
                );
                let started_event_id = started_event_id.max(0);
                let attributes: Attributes = match &close {
                    Attributes::WorkflowExecutionCompletedEventAttributes(c) => {
                        ChildWorkflowExecutionCompletedEventAttributes {
                            result: c.result.clone(),
                            namespace,
                            namespace_id,
                            workflow_execution: execution.clone(),
                            workflow_type: workflow_type.clone(),
                            initiated_event_id,
                            started_event_id,
                        }
                        .into()
                    }
                    Attributes::WorkflowExecutionFailedEventAttributes(c) => {
                        ChildWorkflowExecutionFailedEventAttributes {
                            failure: c.failure.clone(),
                            namespace,
                            namespace_id,
                            workflow_execution: execution.clone(),
                            workflow_type: workflow_type.clone(),
                            initiated_event_id,
                            started_event_id,
                            retry_state: c.retry_state,
                        }
                        .into()
                    }
                    Attributes::WorkflowExecutionCanceledEventAttributes(c) => {
                        ChildWorkflowExecutionCanceledEventAttributes {
                            details: c.details.clone(),
                            namespace,
                            namespace_id,
                            workflow_execution: execution.clone(),
                            workflow_type: workflow_type.clone(),
                            initiated_event_id,
                            started_event_id,
                        }
                        .into()
                    }
                    Attributes::WorkflowExecutionTimedOutEventAttributes(c) => {
                        ChildWorkflowExecutionTimedOutEventAttributes {
                            namespace,
                            namespace_id,
                            workflow_execution: execution.clone(),
                            workflow_type: workflow_type.clone(),
                            initiated_event_id,
                            started_event_id,
                            retry_state: c.retry_state,
                        }
                        .into()
                    }
                    Attributes::WorkflowExecutionTerminatedEventAttributes(_) => {
                        ChildWorkflowExecutionTerminatedEventAttributes {
                            namespace,
                            namespace_id,
                            workflow_execution: execution.clone(),
                            workflow_type: workflow_type.clone(),
                            initiated_event_id,
                            started_event_id,
                        }
                        .into()
                    }
                    _ => return Ok(()),
                };
                m.state.children.remove(pos);
                m.add_or_buffer(attributes);
                m.schedule_workflow_task();
                Ok(())
            },
        )
        .await
    }

    async fn apply_parent_close_policy(&self, task: &TransferTask) -> CellResult<()> {
        let parent = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        for child in &parent.children {
            if child.parent_close_policy == ParentClosePolicy::Abandon as i32 {
                continue;
            }
            let mut request = TargetRequest::new(task);
            request.child_namespace_id = child.namespace_id.clone();
            request.child_workflow_id = child.workflow_id.clone();
            request.parent_close_policy = child.parent_close_policy;
            let result = self
                .on_target(&child.namespace_id, &child.workflow_id, request)
                .await
                .map(|_| ());
            match result {
                Ok(()) | Err(CellError::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Applies a parent close policy to one child: runs where the child's
    /// shard is owned.
    pub(crate) async fn close_child_target(
        &self,
        task: &TransferTask,
        child_namespace_id: &str,
        child_workflow_id: &str,
        parent_close_policy: i32,
    ) -> CellResult<()> {
        let execution = WorkflowExecution {
            workflow_id: child_workflow_id.to_string(),
            run_id: String::new(),
        };
        let policy = ParentClosePolicy::try_from(parent_close_policy)
            .unwrap_or(ParentClosePolicy::Unspecified);
        match policy {
            ParentClosePolicy::Abandon => Ok(()),
            ParentClosePolicy::RequestCancel => {
                // As the real server records it: no cause, the parent as
                // the external requester.
                let parent_exec = WorkflowExecution {
                    workflow_id: task.workflow_id.clone(),
                    run_id: task.run_id.clone(),
                };
                self.update(child_namespace_id, &execution.workflow_id, "", |m| {
                    m.request_cancel("", "", Some((0, parent_exec.clone())))
                })
                .await
            }
            _ => {
                self.terminate_workflow(
                    child_namespace_id,
                    &execution,
                    "",
                    "by parent close policy",
                    None,
                    "history-service",
                )
                .await
            }
        }
    }

    async fn signal_external(&self, task: &TransferTask, cancel: bool) -> CellResult<()> {
        let source = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        if !source
            .external_requests
            .iter()
            .any(|r| r.initiated_event_id == task.initiated_event_id)
        {
            return Ok(());
        }
        let event = self
            .event(&task.namespace_id, &task.run_id, task.initiated_event_id)
            .await?;
        let (target, namespace, namespace_id, control) = match event {
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => (
                a.workflow_execution.unwrap_or_default(),
                a.namespace,
                a.namespace_id,
                a.control,
            ),
            Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => (
                a.workflow_execution.unwrap_or_default(),
                a.namespace,
                a.namespace_id,
                a.control,
            ),
            _ => return Err(CellError::internal("initiated event has the wrong type")),
        };
        let failed = self
            .on_target(&namespace_id, &target.workflow_id, TargetRequest::new(task))
            .await?
            .not_found;
        self.update(&task.namespace_id, &task.workflow_id, &task.run_id, |m| {
            if !m.is_running() {
                return Ok(());
            }
            let Some(pos) = m.state.external_requests.iter().position(|r| r.initiated_event_id == task.initiated_event_id) else {
                return Ok(());
            };
            m.state.external_requests.remove(pos);
            let (namespace, namespace_id, workflow_execution, initiated_event_id) =
                (namespace.clone(), namespace_id.clone(), Some(target.clone()), task.initiated_event_id);
            let attributes: Attributes = match (cancel, failed) {
                (false, false) => ExternalWorkflowExecutionSignaledEventAttributes {
                    initiated_event_id, namespace, namespace_id, workflow_execution, control: control.clone(),
                }.into(),
                (false, true) => SignalExternalWorkflowExecutionFailedEventAttributes {
                    cause: SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound as i32,
                    workflow_task_completed_event_id: 0,
                    namespace, namespace_id, workflow_execution, initiated_event_id, control: control.clone(),
                }.into(),
                (true, false) => ExternalWorkflowExecutionCancelRequestedEventAttributes {
                    initiated_event_id, namespace, namespace_id, workflow_execution,
                }.into(),
                (true, true) => RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                    cause: CancelExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound as i32,
                    workflow_task_completed_event_id: 0,
                    namespace, namespace_id, workflow_execution, initiated_event_id, control: control.clone(),
                }.into(),
            };
            m.add_or_buffer(attributes);
            m.schedule_workflow_task();
            Ok(())
        })
        .await
    }
    /// Signals or cancels the workflow a source run's request names: runs
    /// where that workflow's shard is owned; `not_found` when it does not
    /// exist (the source records the failure).
    pub(crate) async fn external_target(
        &self,
        task: &TransferTask,
    ) -> CellResult<crate::targets::TargetOutcome> {
        let source = self
            .snapshot(&task.namespace_id, &task.workflow_id, &task.run_id)
            .await?;
        let Some(request) = source
            .external_requests
            .iter()
            .find(|r| r.initiated_event_id == task.initiated_event_id)
            .cloned()
        else {
            return Ok(Default::default());
        };
        let event = self
            .event(&task.namespace_id, &task.run_id, task.initiated_event_id)
            .await?;
        let source_exec = WorkflowExecution {
            workflow_id: task.workflow_id.clone(),
            run_id: task.run_id.clone(),
        };
        let outcome = match event {
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
                let target = a.workflow_execution.clone().unwrap_or_default();
                let signal = StartSignal {
                    name: a.signal_name.clone(),
                    input: a.input.clone(),
                    header: a.header.clone(),
                    identity: String::new(),
                    request_id: request.request_id.clone(),
                    external: Some(source_exec.clone()),
                };
                self.signal_workflow(&a.namespace_id, &target, signal).await
            }
            Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
                let target = a.workflow_execution.clone().unwrap_or_default();
                self.update(&a.namespace_id, &target.workflow_id, &target.run_id, |m| {
                    m.request_cancel(
                        &a.reason,
                        "",
                        Some((task.initiated_event_id, source_exec.clone())),
                    )
                })
                .await
            }
            _ => return Err(CellError::internal("initiated event has the wrong type")),
        };
        match outcome {
            Ok(()) => Ok(Default::default()),
            Err(CellError::NotFound(_)) => Ok(crate::targets::TargetOutcome {
                not_found: true,
                ..Default::default()
            }),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod lag_tests {
    use super::issued_since;

    #[test]
    fn transfer_lag_counts_ids_issued_since_the_oldest_pending_task() {
        let base = (7_i64 << 40) | (3 << 32);
        assert_eq!(issued_since(base + 10, base + 25), 15);
        assert_eq!(issued_since(base + 25, base + 25), 0);
        // Left by the previous owner (range 6): older than all of this one's.
        let old = (6_i64 << 40) | (3 << 32) | 999;
        assert_eq!(issued_since(old, base + 25), 25);
    }
}
