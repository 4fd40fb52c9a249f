//! Starting runs: StartWorkflowExecution and SignalWithStart from clients,
//! and the shared run initialiser that continue-as-new, retries, cron and
//! child workflows use too.
use orrery_core::actions::Action;
use orrery_core::time::{duration, duration_millis, timestamp};
use orrery_core::{CellError, CellResult};
use orrery_persistence::{CurrentExecution, CurrentWrite};
use orrery_proto::api::common::v1::*;
use orrery_proto::api::enums::v1::*;
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::history::v1::*;
use orrery_proto::api::workflowservice::v1::{
    PollWorkflowTaskQueueResponse, StartWorkflowExecutionRequest,
};

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;
use crate::state::{ExecutionInfo, ParentInfo};
use crate::tasks::TimerKind;
use crate::workflow_task::task_queue;

/// Everything a new run is made of.
#[derive(Clone, Default)]
pub struct RunSpec {
    pub namespace_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub input: Option<Payloads>,
    pub execution_timeout_ms: i64,
    pub run_timeout_ms: i64,
    pub task_timeout_ms: i64,
    pub identity: String,
    pub request_id: String,
    pub retry_policy: Option<RetryPolicy>,
    pub attempt: i32,
    pub cron_schedule: String,
    pub memo: Option<Memo>,
    pub search_attributes: Option<SearchAttributes>,
    pub header: Option<Header>,
    pub parent: Option<ParentInfo>,
    pub continued_execution_run_id: String,
    pub first_execution_run_id: String,
    pub initiator: i32,
    pub continued_failure: Option<Failure>,
    pub last_completion_result: Option<Payloads>,
    pub backoff_ms: i64,
    /// Absolute deadline of the chain of runs (0: none); set from the
    /// execution timeout by the first run.
    pub execution_expiration_ms: i64,
    /// The top of the run's tree of parents (children only).
    pub root: Option<WorkflowExecution>,
    /// Start the first workflow task at once and hand it to the starter
    /// (eager workflow start) instead of queueing it.
    pub eager: bool,
    /// Summary and details for the started event and describe.
    pub user_metadata: Option<orrery_proto::api::sdk::v1::UserMetadata>,
    pub priority: Option<Priority>,
    /// A schedule's action starts this run: it is billed as one more
    /// Action kind (2, plus the run's start) in the start's transaction,
    /// so a start repeated with the same request id is not billed again.
    pub schedule_action: bool,
}

/// A signal delivered together with the start.
#[derive(Clone, Default)]
pub struct StartSignal {
    pub name: String,
    pub input: Option<Payloads>,
    pub header: Option<Header>,
    pub identity: String,
    pub request_id: String,
    /// The workflow that sent the signal, when one did.
    pub external: Option<WorkflowExecution>,
}

pub struct StartOutcome {
    pub run_id: String,
    pub started: bool,
    /// The first workflow task, already started, for an eager start.
    pub eager_task: Option<PollWorkflowTaskQueueResponse>,
}

impl RunSpec {
    pub fn from_request(
        namespace_id: &str,
        namespace: &str,
        req: &StartWorkflowExecutionRequest,
    ) -> Self {
        Self {
            namespace_id: namespace_id.to_string(),
            namespace: namespace.to_string(),
            workflow_id: req.workflow_id.clone(),
            run_id: crate::new_run_id(),
            workflow_type: req
                .workflow_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            task_queue: req
                .task_queue
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            input: req.input.clone(),
            execution_timeout_ms: duration_millis(req.workflow_execution_timeout.as_ref()),
            run_timeout_ms: duration_millis(req.workflow_run_timeout.as_ref()),
            task_timeout_ms: duration_millis(req.workflow_task_timeout.as_ref()),
            identity: req.identity.clone(),
            request_id: req.request_id.clone(),
            retry_policy: req.retry_policy.clone(),
            attempt: 1,
            cron_schedule: req.cron_schedule.clone(),
            memo: req.memo.clone(),
            search_attributes: req.search_attributes.clone(),
            header: req.header.clone(),
            backoff_ms: duration_millis(req.workflow_start_delay.as_ref()),
            eager: req.request_eager_execution,
            user_metadata: req.user_metadata.clone(),
            priority: req.priority.clone(),
            continued_failure: req.continued_failure.clone(),
            last_completion_result: req.last_completion_result.clone(),
            ..Default::default()
        }
    }
}

impl Mutation {
    /// Writes a new run's started event and its timers; the caller adds any
    /// signal and then calls [`Mutation::schedule_first_workflow_task`].
    pub(crate) fn init_run(&mut self, mut spec: RunSpec) {
        if spec.run_timeout_ms == 0
            || (spec.execution_timeout_ms > 0 && spec.run_timeout_ms > spec.execution_timeout_ms)
        {
            spec.run_timeout_ms = spec.execution_timeout_ms;
        }
        if spec.task_timeout_ms <= 0 {
            spec.task_timeout_ms = orrery_core::limits::DEFAULT_WORKFLOW_TASK_TIMEOUT_SECS * 1000;
        }
        spec.task_timeout_ms = spec
            .task_timeout_ms
            .min(orrery_core::limits::MAX_WORKFLOW_TASK_TIMEOUT_SECS * 1000);
        if spec.run_timeout_ms > 0 {
            spec.task_timeout_ms = spec.task_timeout_ms.min(spec.run_timeout_ms);
        }
        if spec.execution_expiration_ms == 0 && spec.execution_timeout_ms > 0 {
            spec.execution_expiration_ms = self.now + spec.execution_timeout_ms;
        }
        if !spec.cron_schedule.is_empty() && spec.initiator == 0 {
            // The first run of a cron chain waits for the schedule too; the
            // schedule was validated when the request came in.
            spec.initiator = ContinueAsNewInitiator::CronSchedule as i32;
            if let Ok(schedule) = crate::cron::CronSchedule::parse(&spec.cron_schedule) {
                spec.backoff_ms = schedule.backoff_ms(self.now, self.now);
            }
        }
        if spec.first_execution_run_id.is_empty() {
            spec.first_execution_run_id = spec.run_id.clone();
        }
        let retry_policy = spec
            .retry_policy
            .clone()
            .map(|p| crate::retry::with_defaults(Some(p)));
        self.state.next_event_id = 1;
        self.state.info = Some(ExecutionInfo {
            namespace_id: spec.namespace_id.clone(),
            namespace: spec.namespace.clone(),
            workflow_id: spec.workflow_id.clone(),
            run_id: spec.run_id.clone(),
            workflow_type: spec.workflow_type.clone(),
            task_queue: spec.task_queue.clone(),
            execution_timeout_ms: spec.execution_timeout_ms,
            run_timeout_ms: spec.run_timeout_ms,
            task_timeout_ms: spec.task_timeout_ms,
            start_time_ms: self.now,
            execution_time_ms: self.now + spec.backoff_ms,
            status: WorkflowExecutionStatus::Running as i32,
            memo: spec.memo.clone(),
            search_attributes: spec.search_attributes.clone(),
            retry_policy: retry_policy.clone(),
            attempt: spec.attempt.max(1),
            first_execution_run_id: spec.first_execution_run_id.clone(),
            parent: spec.parent.clone(),
            create_request_id: spec.request_id.clone(),
            execution_expiration_ms: spec.execution_expiration_ms,
            header: spec.header.clone(),
            cron_schedule: spec.cron_schedule.clone(),
            root: spec.root.clone(),
            input: (retry_policy.is_some() || !spec.cron_schedule.is_empty())
                .then(|| spec.input.clone())
                .flatten(),
            last_completion_result: spec.last_completion_result.clone(),
            user_metadata: spec.user_metadata.clone(),
            priority: spec.priority.clone(),
            ..Default::default()
        });
        let parent = spec.parent.as_ref();
        self.user_metadata = spec.user_metadata.clone();
        self.add_event(WorkflowExecutionStartedEventAttributes {
            workflow_type: Some(WorkflowType {
                name: spec.workflow_type.clone(),
            }),
            parent_workflow_namespace: parent.map(|p| p.namespace.clone()).unwrap_or_default(),
            parent_workflow_namespace_id: parent
                .map(|p| p.namespace_id.clone())
                .unwrap_or_default(),
            parent_workflow_execution: parent.and_then(|p| p.execution.clone()),
            parent_initiated_event_id: parent.map(|p| p.initiated_event_id).unwrap_or_default(),
            task_queue: Some(task_queue(&spec.task_queue, false, "")),
            input: spec.input.clone(),
            workflow_execution_timeout: (spec.execution_timeout_ms > 0)
                .then(|| duration(spec.execution_timeout_ms)),
            // A child's run timeout is shown even when unlimited, as on the real server.
            workflow_run_timeout: (spec.run_timeout_ms > 0 || parent.is_some())
                .then(|| duration(spec.run_timeout_ms)),
            workflow_task_timeout: Some(duration(spec.task_timeout_ms)),
            continued_execution_run_id: spec.continued_execution_run_id.clone(),
            initiator: spec.initiator,
            continued_failure: spec.continued_failure.clone(),
            last_completion_result: spec.last_completion_result.clone(),
            original_execution_run_id: spec.run_id.clone(),
            identity: spec.identity.clone(),
            first_execution_run_id: spec.first_execution_run_id.clone(),
            retry_policy,
            attempt: spec.attempt.max(1),
            workflow_execution_expiration_time: (spec.execution_expiration_ms > 0)
                .then(|| timestamp(spec.execution_expiration_ms)),
            cron_schedule: spec.cron_schedule.clone(),
            first_workflow_task_backoff: Some(duration(spec.backoff_ms)),
            root_workflow_execution: spec.root.clone(),
            priority: Some(spec.priority.unwrap_or_default()),
            memo: spec.memo.clone(),
            search_attributes: spec.search_attributes.clone(),
            header: spec.header.clone(),
            workflow_id: spec.workflow_id.clone(),
            ..Default::default()
        });
        self.update_visibility();
        self.count(Action::WorkflowStarted);
        self.arm_run_timeout(
            self.now + spec.backoff_ms,
            spec.run_timeout_ms,
            spec.execution_expiration_ms,
        );
        self.current = Some(CurrentWrite::Set {
            run_id: spec.run_id.clone(),
            create_request_id: spec.request_id.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            previous_run_id: None,
        });
    }

    /// Arms the run's timeout: `run_timeout_ms` (0: none) counted from
    /// `from_ms`, or the chain's execution deadline if that comes first.
    pub(crate) fn arm_run_timeout(
        &mut self,
        from_ms: i64,
        run_timeout_ms: i64,
        expiration_ms: i64,
    ) {
        let mut deadline = if run_timeout_ms > 0 {
            from_ms + run_timeout_ms
        } else {
            0
        };
        if expiration_ms > 0 && (deadline == 0 || expiration_ms < deadline) {
            deadline = expiration_ms;
        }
        if deadline > 0 {
            let task = self.timer_task(TimerKind::WorkflowRunTimeout);
            self.timer(deadline, task);
        }
    }

    /// The first workflow task now, or after the run's start backoff.
    pub(crate) fn schedule_first_workflow_task(&mut self) {
        let backoff = self.info().execution_time_ms - self.info().start_time_ms;
        if backoff > 0 {
            let task = self.timer_task(TimerKind::WorkflowBackoff);
            self.timer(self.now + backoff, task);
        } else {
            self.schedule_workflow_task();
        }
    }

    pub(crate) fn add_signal(&mut self, signal: &StartSignal) {
        self.add_or_buffer(WorkflowExecutionSignaledEventAttributes {
            signal_name: signal.name.clone(),
            input: signal.input.clone(),
            identity: signal.identity.clone(),
            header: signal.header.clone(),
            request_id: signal.request_id.clone(),
            external_workflow_execution: signal.external.clone(),
            ..Default::default()
        });
        self.state.signal_count += 1;
        if !signal.request_id.is_empty() {
            self.state
                .signal_request_ids
                .push(signal.request_id.clone());
        }
        // As on the real server, a signal does not cut a start delay or a
        // cron backoff short: the first task still waits for its time.
        let waiting_for_first_task =
            !self.state.had_workflow_task && self.info().execution_time_ms > self.now;
        if !waiting_for_first_task {
            self.schedule_workflow_task();
        }
    }
}

fn already_started(workflow_id: &str, current: &CurrentExecution) -> CellError {
    CellError::WorkflowAlreadyStarted {
        workflow_id: workflow_id.to_string(),
        run_id: current.run_id.clone(),
        start_request_id: current.create_request_id.clone(),
    }
}

fn closed_unsuccessfully(status: i32) -> bool {
    [
        WorkflowExecutionStatus::Failed,
        WorkflowExecutionStatus::Canceled,
        WorkflowExecutionStatus::Terminated,
        WorkflowExecutionStatus::TimedOut,
    ]
    .iter()
    .any(|s| *s as i32 == status)
}

impl HistoryEngine {
    /// StartWorkflowExecution, and SignalWithStart when `signal` is set.
    pub async fn start_workflow(
        &self,
        spec: RunSpec,
        reuse_policy: i32,
        conflict_policy: i32,
        signal: Option<StartSignal>,
    ) -> CellResult<StartOutcome> {
        let (namespace_id, workflow_id) = (spec.namespace_id.clone(), spec.workflow_id.clone());
        let _guard = self.lock(&namespace_id, &workflow_id).await;
        let shard = self.shard(&namespace_id, &workflow_id)?;
        let current = self
            .store
            .current_execution(shard.id, &namespace_id, &workflow_id)
            .await?;
        let mut terminate: Option<Mutation> = None;
        if let Some(cur) = &current {
            let running = cur.status == WorkflowExecutionStatus::Running as i32;
            if signal.is_none()
                && !spec.request_id.is_empty()
                && cur.create_request_id == spec.request_id
            {
                return Ok(StartOutcome {
                    run_id: cur.run_id.clone(),
                    started: true,
                    eager_task: None,
                });
            }
            if running {
                let conflict = WorkflowIdConflictPolicy::try_from(conflict_policy)
                    .unwrap_or(WorkflowIdConflictPolicy::Unspecified);
                let terminate_if_running =
                    reuse_policy == WorkflowIdReusePolicy::TerminateIfRunning as i32;
                match conflict {
                    WorkflowIdConflictPolicy::UseExisting => {
                        return self
                            .use_existing(&namespace_id, &workflow_id, cur, signal)
                            .await;
                    }
                    WorkflowIdConflictPolicy::Unspecified
                        if signal.is_some() && !terminate_if_running =>
                    {
                        return self
                            .use_existing(&namespace_id, &workflow_id, cur, signal)
                            .await;
                    }
                    WorkflowIdConflictPolicy::TerminateExisting => {}
                    _ if terminate_if_running => {}
                    _ => return Err(already_started(&workflow_id, cur)),
                }
                let (state, version) = self.load(&namespace_id, &workflow_id, &cur.run_id).await?;
                let mut old = Mutation::new(state, Some(version), shard.task_ids.clone());
                // The real server's words, which SDKs show as the termination reason.
                let details = Payloads {
                    payloads: vec![Payload {
                        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
                        data: format!("\"terminated by new runID: {}\"", spec.run_id).into_bytes(),
                        ..Default::default()
                    }],
                };
                old.terminate(
                    "TerminateIfRunning WorkflowIdReusePolicy",
                    Some(details),
                    "history-service",
                    Some(&spec.run_id),
                );
                terminate = Some(old);
            } else {
                let allowed = match WorkflowIdReusePolicy::try_from(reuse_policy)
                    .unwrap_or(WorkflowIdReusePolicy::Unspecified)
                {
                    WorkflowIdReusePolicy::RejectDuplicate => false,
                    WorkflowIdReusePolicy::AllowDuplicateFailedOnly => {
                        closed_unsuccessfully(cur.status)
                    }
                    _ => true,
                };
                if !allowed {
                    return Err(already_started(&workflow_id, cur));
                }
            }
        }
        let run_id = spec.run_id.clone();
        let (eager, identity) = (spec.eager && signal.is_none(), spec.identity.clone());
        let mut m = self.new_mutation(&namespace_id, &workflow_id)?;
        if spec.schedule_action {
            m.count(Action::ScheduleAction);
        }
        m.init_run(spec);
        if let Some(signal) = &signal {
            m.add_signal(signal);
        }
        m.schedule_first_workflow_task();
        let eager = match m.state.workflow_task.as_ref() {
            // Started here, in the same transaction: never queued.
            Some(wt) if eager => {
                let queued = wt.queue_task_id;
                for event in m.events.iter_mut() {
                    if let Some(
                        history_event::Attributes::WorkflowExecutionStartedEventAttributes(a),
                    ) = event.attributes.as_mut()
                    {
                        a.eager_execution_accepted = true;
                    }
                }
                m.queue_tasks.retain(|t| t.task_id != queued);
                let request_id = uuid::Uuid::new_v4().to_string();
                let (token, wt) = m.start_workflow_task(&identity, &request_id, None, &self.limits);
                Some((token, wt))
            }
            _ => None,
        };
        if let Some(CurrentWrite::Set {
            previous_run_id, ..
        }) = m.current.as_mut()
        {
            *previous_run_id = current.map(|c| c.run_id);
        }
        let state = eager.as_ref().map(|_| m.state.clone());
        match terminate {
            Some(mut old) => {
                old.current = m.current.take();
                old.new_run = Some(Box::new(m));
                self.commit(old).await?;
            }
            None => self.commit(m).await?,
        }
        let eager_task = match (eager, state) {
            (Some((token, wt)), Some(state)) => Some(
                self.workflow_task_response(token, &wt, &state, &wt.task_queue)
                    .await?,
            ),
            _ => None,
        };
        Ok(StartOutcome {
            run_id,
            started: true,
            eager_task,
        })
    }

    async fn use_existing(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        cur: &CurrentExecution,
        signal: Option<StartSignal>,
    ) -> CellResult<StartOutcome> {
        if let Some(signal) = signal {
            self.update_locked(namespace_id, workflow_id, &cur.run_id, |m| {
                if !m.is_running() {
                    return Err(CellError::workflow_not_found());
                }
                // No run started: the signal is the one Action, and a
                // retried call (the same request id) neither signals nor
                // counts again.
                m.signal(&signal)
            })
            .await?;
        }
        Ok(StartOutcome {
            run_id: cur.run_id.clone(),
            started: false,
            eager_task: None,
        })
    }
}
