//! The run that follows a closing one, created in the same transaction:
//! a retry (after a failure or a run timeout, per the retry policy), the
//! next run of a cron chain, or a continue-as-new.
use orrery_core::time::{duration, duration_millis};
use orrery_proto::api::command::v1::*;
use orrery_proto::api::common::v1::*;
use orrery_proto::api::enums::v1::*;
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::history::v1::*;

use crate::commands::CommandContext;
use crate::mutation::Mutation;
use crate::retry::{RetryDecision, next_retry};
use crate::start::RunSpec;
use crate::tasks::TransferKind;
use crate::workflow_task::task_queue;

impl Mutation {
    pub(crate) fn fail_workflow(
        &mut self,
        a: FailWorkflowExecutionCommandAttributes,
        ctx: &CommandContext<'_>,
    ) {
        let info = self.info().clone();
        let decision = next_retry(
            info.retry_policy.as_ref(),
            info.attempt,
            a.failure.as_ref(),
            self.now,
            info.execution_expiration_ms,
        );
        match decision {
            RetryDecision::Retry { backoff_ms } => {
                let spec = self.retry_run_spec(backoff_ms, a.failure.clone());
                let id = self.add_event(WorkflowExecutionFailedEventAttributes {
                    failure: a.failure,
                    retry_state: RetryState::InProgress as i32,
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    new_execution_run_id: spec.run_id.clone(),
                });
                self.close_run(WorkflowExecutionStatus::Failed, id);
                self.start_next_run(spec);
            }
            RetryDecision::Stop(state) => {
                let cron = self.cron_run_spec(
                    self.info().last_completion_result.clone(),
                    a.failure.clone(),
                );
                let id = self.add_event(WorkflowExecutionFailedEventAttributes {
                    failure: a.failure,
                    retry_state: state as i32,
                    workflow_task_completed_event_id: ctx.completed_event_id,
                    new_execution_run_id: cron
                        .as_ref()
                        .map(|c| c.run_id.clone())
                        .unwrap_or_default(),
                });
                self.close_run(WorkflowExecutionStatus::Failed, id);
                if let Some(spec) = cron {
                    self.start_next_run(spec);
                }
            }
        }
    }

    /// The run that retries this one (after a failure or a run timeout).
    pub(crate) fn retry_run_spec(&self, backoff_ms: i64, failure: Option<Failure>) -> RunSpec {
        let mut spec = self.next_run_spec();
        spec.attempt = self.info().attempt + 1;
        spec.backoff_ms = backoff_ms;
        spec.initiator = ContinueAsNewInitiator::Retry as i32;
        spec.continued_failure = failure;
        spec
    }

    /// The next run of a cron chain, when this run has a schedule and the
    /// chain's execution deadline leaves room for it. Retries come first:
    /// callers ask only once the retry policy gave up.
    pub(crate) fn cron_run_spec(
        &self,
        last_completion_result: Option<Payloads>,
        failure: Option<Failure>,
    ) -> Option<RunSpec> {
        let info = self.info();
        let schedule = crate::cron::CronSchedule::parse(&info.cron_schedule).ok()?;
        let backoff_ms = schedule.backoff_ms(info.execution_time_ms, self.now);
        if info.execution_expiration_ms > 0 && self.now + backoff_ms > info.execution_expiration_ms
        {
            return None;
        }
        let mut spec = self.next_run_spec();
        spec.backoff_ms = backoff_ms;
        spec.initiator = ContinueAsNewInitiator::CronSchedule as i32;
        spec.last_completion_result = last_completion_result;
        spec.continued_failure = failure;
        Some(spec)
    }

    /// What a following run (continue-as-new, retry, cron) inherits by default.
    pub(crate) fn next_run_spec(&self) -> RunSpec {
        let info = self.info();
        RunSpec {
            namespace_id: info.namespace_id.clone(),
            namespace: info.namespace.clone(),
            workflow_id: info.workflow_id.clone(),
            run_id: crate::new_run_id(),
            workflow_type: info.workflow_type.clone(),
            task_queue: info.task_queue.clone(),
            input: info.input.clone(),
            execution_timeout_ms: info.execution_timeout_ms,
            run_timeout_ms: info.run_timeout_ms,
            task_timeout_ms: info.task_timeout_ms,
            request_id: uuid::Uuid::new_v4().to_string(),
            retry_policy: info.retry_policy.clone(),
            attempt: 1,
            cron_schedule: info.cron_schedule.clone(),
            memo: info.memo.clone(),
            search_attributes: info.search_attributes.clone(),
            header: info.header.clone(),
            parent: info.parent.clone(),
            continued_execution_run_id: info.run_id.clone(),
            first_execution_run_id: info.first_execution_run_id.clone(),
            execution_expiration_ms: info.execution_expiration_ms,
            root: info.root.clone(),
            priority: info.priority.clone(),
            ..Default::default()
        }
    }

    /// Creates the following run in the same transaction; the current
    /// pointer moves from this run to it.
    pub(crate) fn start_next_run(&mut self, spec: RunSpec) {
        let mut next = Mutation::new(Default::default(), None, self.task_ids.clone());
        next.now = self.now;
        next.init_run(spec);
        next.schedule_first_workflow_task();
        let info = next.info().clone();
        // A run that continues keeps its parent waiting: only the last run
        // of the chain reports to it.
        self.transfers
            .retain(|t| t.kind != TransferKind::NotifyParent as i32);
        self.current = Some(orrery_persistence::CurrentWrite::Set {
            run_id: info.run_id.clone(),
            create_request_id: info.create_request_id.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            previous_run_id: Some(self.info().run_id.clone()),
        });
        next.current = None;
        self.new_run = Some(Box::new(next));
    }

    pub(crate) fn continue_as_new(
        &mut self,
        a: ContinueAsNewWorkflowExecutionCommandAttributes,
        ctx: &CommandContext<'_>,
    ) {
        let mut spec = self.next_run_spec();
        if let Some(t) = a.workflow_type.as_ref().filter(|t| !t.name.is_empty()) {
            spec.workflow_type = t.name.clone();
        }
        if let Some(q) = a.task_queue.as_ref().filter(|q| !q.name.is_empty()) {
            spec.task_queue = q.name.clone();
        }
        if duration_millis(a.workflow_run_timeout.as_ref()) > 0 {
            spec.run_timeout_ms = duration_millis(a.workflow_run_timeout.as_ref());
        }
        if duration_millis(a.workflow_task_timeout.as_ref()) > 0 {
            spec.task_timeout_ms = duration_millis(a.workflow_task_timeout.as_ref());
        }
        spec.input = a.input.clone();
        spec.backoff_ms = duration_millis(a.backoff_start_interval.as_ref());
        if a.retry_policy.is_some() {
            spec.retry_policy = a.retry_policy.clone();
        }
        if a.memo.is_some() {
            spec.memo = a.memo.clone();
        }
        if a.search_attributes.is_some() {
            spec.search_attributes = a.search_attributes.clone();
        }
        if a.header.is_some() {
            spec.header = a.header.clone();
        }
        if !a.cron_schedule.is_empty() {
            spec.cron_schedule = a.cron_schedule.clone();
        }
        spec.initiator = if a.initiator == 0 {
            ContinueAsNewInitiator::Workflow as i32
        } else {
            a.initiator
        };
        spec.continued_failure = a.failure.clone();
        spec.last_completion_result = a.last_completion_result.clone();
        let id = self.add_event(WorkflowExecutionContinuedAsNewEventAttributes {
            new_execution_run_id: spec.run_id.clone(),
            workflow_type: Some(WorkflowType {
                name: spec.workflow_type.clone(),
            }),
            task_queue: Some(task_queue(&spec.task_queue, false, "")),
            input: a.input,
            workflow_run_timeout: Some(duration(spec.run_timeout_ms)),
            workflow_task_timeout: Some(duration(spec.task_timeout_ms)),
            workflow_task_completed_event_id: ctx.completed_event_id,
            backoff_start_interval: a.backoff_start_interval,
            failure: a.failure,
            inherit_build_id: a.inherit_build_id,
            last_completion_result: a.last_completion_result,
            header: spec.header.clone(),
            memo: spec.memo.clone(),
            search_attributes: spec.search_attributes.clone(),
            ..Default::default()
        });
        self.close_run(WorkflowExecutionStatus::ContinuedAsNew, id);
        self.start_next_run(spec);
    }
}
