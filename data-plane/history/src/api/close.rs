//! Closing a run, whatever closes it: completion, failure, cancellation,
//! termination, timeout or continue-as-new.
use orrery_persistence::CurrentWrite;
use orrery_proto::api::common::v1::Payloads;
use orrery_proto::api::enums::v1::{WorkflowExecutionStatus, WorkflowTaskFailedCause};
use orrery_proto::api::history::v1::*;

use crate::mutation::Mutation;
use crate::tasks::TransferKind;

impl Mutation {
    /// Marks the run closed with `status` after `close_event` was added:
    /// current pointer, visibility, parent notification and children.
    pub(crate) fn close_run(&mut self, status: WorkflowExecutionStatus, close_event_id: i64) {
        let now = self.now;
        let info = self.info_mut();
        info.status = status as i32;
        info.close_time_ms = now;
        info.completion_event_id = close_event_id;
        info.sticky_task_queue.clear();
        let run_id = info.run_id.clone();
        let has_parent = info.parent.is_some();
        self.state.workflow_task = None;
        self.closed_now = true;
        if self.current.is_none() {
            self.current = Some(CurrentWrite::Status {
                run_id,
                status: status as i32,
            });
        }
        self.update_visibility();
        if has_parent {
            let task = self.transfer_task(TransferKind::NotifyParent, close_event_id);
            self.transfer(task);
        }
        if !self.state.children.is_empty() {
            let task = self.transfer_task(TransferKind::ParentClosePolicy, close_event_id);
            self.transfer(task);
        }
    }

    /// Fails a running workflow task because the run is being closed from
    /// outside (terminate), as the real server records it.
    fn force_close_workflow_task(&mut self) {
        if let Some(wt) = self.state.workflow_task.clone()
            && wt.started_event_id > 0
        {
            if wt.has_virtual_events() {
                crate::workflow_task::persist_transient(self, &wt);
            }
            self.state.workflow_task = None;
            self.add_event(WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                started_event_id: wt.started_event_id,
                cause: WorkflowTaskFailedCause::ForceCloseCommand as i32,
                ..Default::default()
            });
        }
        self.state.workflow_task = None;
    }

    pub(crate) fn terminate(
        &mut self,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
        _new_run_id: Option<&str>,
    ) {
        self.force_close_workflow_task();
        self.flush_buffered();
        let id = self.add_event(WorkflowExecutionTerminatedEventAttributes {
            reason: reason.to_string(),
            details,
            identity: identity.to_string(),
        });
        self.close_run(WorkflowExecutionStatus::Terminated, id);
    }
}

impl crate::engine::HistoryEngine {
    /// DeleteWorkflowExecution: terminates the run if it still runs, then
    /// removes its state, history and visibility record. Its pending tasks
    /// find nothing and are dropped.
    pub async fn delete_workflow(
        &self,
        namespace_id: &str,
        execution: &orrery_proto::api::common::v1::WorkflowExecution,
        identity: &str,
    ) -> orrery_core::CellResult<()> {
        let _guard = self.lock(namespace_id, &execution.workflow_id).await;
        let run_id = self
            .resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
            .await?;
        let (state, version) = self
            .load(namespace_id, &execution.workflow_id, &run_id)
            .await?;
        let shard = self.shard(namespace_id, &execution.workflow_id)?;
        let mut m = Mutation::new(state, Some(version), shard.task_ids.clone());
        if m.is_running() {
            m.terminate("Delete workflow execution", None, identity, None);
            self.commit(m).await?;
        }
        self.store
            .delete_execution(
                shard.id,
                shard.range_id,
                namespace_id,
                &execution.workflow_id,
                &run_id,
            )
            .await
    }
}
