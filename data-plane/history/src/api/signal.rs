//! Client requests on a running workflow: signal, cancel request, terminate.
use orrery_core::actions::Action;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::{Payloads, WorkflowExecution};
use orrery_proto::api::history::v1::WorkflowExecutionCancelRequestedEventAttributes;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::start::StartSignal;

fn already_completed() -> CellError {
    CellError::NotFound("workflow execution already completed".into())
}

impl Mutation {
    /// Refuses a request aimed at another chain of runs than this one's.
    pub(crate) fn check_chain(&self, first_execution_run_id: &str) -> CellResult<()> {
        if !first_execution_run_id.is_empty()
            && self.info().first_execution_run_id != first_execution_run_id
        {
            return Err(CellError::workflow_not_found());
        }
        Ok(())
    }

    /// Adds a signal unless its request id was seen already (a retried RPC).
    pub(crate) fn signal(&mut self, signal: &StartSignal) -> CellResult<()> {
        if !self.is_running() {
            return Err(already_completed());
        }
        if !signal.request_id.is_empty()
            && self.state.signal_request_ids.contains(&signal.request_id)
        {
            return Ok(());
        }
        if self.state.signal_count >= orrery_core::limits::PENDING_SIGNALS_LIMIT as i64 * 5 {
            return Err(CellError::ResourceExhausted {
                message: "signal count limit exceeded".into(),
                cause: orrery_proto::api::enums::v1::ResourceExhaustedCause::SystemOverloaded,
            });
        }
        self.add_signal(signal);
        // A SignalExternalWorkflowExecution command was billed to its
        // sender when the command was applied.
        if signal.external.is_none() {
            self.count(Action::Signal);
        }
        Ok(())
    }

    pub(crate) fn request_cancel(
        &mut self,
        reason: &str,
        identity: &str,
        external: Option<(i64, WorkflowExecution)>,
    ) -> CellResult<()> {
        // As on the real server, asking a closed run to cancel is a no-op.
        if !self.is_running() || self.info().cancel_requested {
            return Ok(());
        }
        self.info_mut().cancel_requested = true;
        let (external_initiated_event_id, external_workflow_execution) = match external {
            Some((id, exec)) => (id, Some(exec)),
            None => (0, None),
        };
        self.add_or_buffer(WorkflowExecutionCancelRequestedEventAttributes {
            cause: reason.to_string(),
            external_initiated_event_id,
            external_workflow_execution,
            identity: identity.to_string(),
        });
        self.schedule_workflow_task();
        Ok(())
    }
}

impl HistoryEngine {
    pub async fn signal_workflow(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        signal: StartSignal,
    ) -> CellResult<()> {
        let over_limit = self
            .update(
                namespace_id,
                &execution.workflow_id,
                &execution.run_id,
                |m| {
                    if m.is_running()
                        && let Some(reason) = m.history_over_limit(&self.limits, false)
                    {
                        // The signal is refused and the run, too long to
                        // go on, is terminated, as on the real server.
                        m.terminate_over_limit(reason);
                        return Ok(Some(reason));
                    }
                    m.signal(&signal).map(|()| None)
                },
            )
            .await?;
        match over_limit {
            Some(reason) => Err(CellError::invalid(reason)),
            None => Ok(()),
        }
    }

    /// `first_execution_run_id`, when set, must name the first run of the
    /// chain the request reaches, or the request finds nothing.
    pub async fn request_cancel_workflow(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        first_execution_run_id: &str,
        reason: &str,
        identity: &str,
    ) -> CellResult<()> {
        self.update(
            namespace_id,
            &execution.workflow_id,
            &execution.run_id,
            |m| {
                m.check_chain(first_execution_run_id)?;
                m.request_cancel(reason, identity, None)
            },
        )
        .await
    }

    pub async fn terminate_workflow(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        first_execution_run_id: &str,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
    ) -> CellResult<()> {
        self.update(
            namespace_id,
            &execution.workflow_id,
            &execution.run_id,
            |m| {
                m.check_chain(first_execution_run_id)?;
                if !m.is_running() {
                    return Err(already_completed());
                }
                m.terminate(reason, details.clone(), identity, None);
                Ok(())
            },
        )
        .await
    }
}
