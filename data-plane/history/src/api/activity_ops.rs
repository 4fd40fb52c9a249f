//! Operator commands on a workflow's activities: pause, unpause, reset.
//! None writes history; they change how the activity's attempts run. A
//! running attempt learns of a pause or reset through its heartbeats.
use orrery_core::{CellError, CellResult};
use orrery_proto::api::activity::v1::ActivityOptions;
use orrery_proto::api::common::v1::WorkflowExecution;

use crate::engine::HistoryEngine;
use crate::mutation::Mutation;

/// Which of a workflow's activities a command applies to.
pub enum ActivitySelector {
    Id(String),
    Type(String),
    All,
}

impl ActivitySelector {
    fn matches(&self, ai: &crate::state::ActivityInfo) -> bool {
        let scheduled = ai.scheduled.as_ref();
        match self {
            Self::Id(id) => scheduled.is_some_and(|s| &s.activity_id == id),
            Self::Type(name) => scheduled
                .and_then(|s| s.activity_type.as_ref())
                .is_some_and(|t| &t.name == name),
            Self::All => true,
        }
    }
}

pub enum ActivityOp {
    Pause {
        identity: String,
        reason: String,
    },
    Unpause {
        reset_attempts: bool,
        reset_heartbeat: bool,
    },
    Reset {
        reset_heartbeat: bool,
        keep_paused: bool,
    },
    /// Replaces the options named by `paths` (field-mask paths, snake or
    /// camel case); they apply from the next attempt on.
    UpdateOptions {
        options: Box<ActivityOptions>,
        paths: Vec<String>,
    },
}

/// The options shown for a pending activity in DescribeWorkflowExecution:
/// the current ones, the queue named as the real server names it there.
pub(crate) fn pending_options(ai: &crate::state::ActivityInfo) -> ActivityOptions {
    let mut options = current_options(ai);
    if let Some(queue) = options.task_queue.as_mut() {
        queue.kind = 0;
        queue.normal_name = queue.name.clone();
    }
    options
}

/// The options an activity runs with now.
fn current_options(ai: &crate::state::ActivityInfo) -> ActivityOptions {
    let s = ai.scheduled.clone().unwrap_or_default();
    ActivityOptions {
        task_queue: s.task_queue,
        schedule_to_close_timeout: s.schedule_to_close_timeout,
        schedule_to_start_timeout: s.schedule_to_start_timeout,
        start_to_close_timeout: s.start_to_close_timeout,
        heartbeat_timeout: s.heartbeat_timeout,
        retry_policy: s.retry_policy,
        priority: s.priority,
        ..Default::default()
    }
}

fn snake_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Applies the masked options to a scheduled activity's attributes.
fn apply_options(
    scheduled: &mut orrery_proto::api::history::v1::ActivityTaskScheduledEventAttributes,
    options: &ActivityOptions,
    paths: &[String],
) -> CellResult<()> {
    let given_retry = options.retry_policy.clone().unwrap_or_default();
    for path in paths.iter().map(|p| snake_case(p)) {
        match path.as_str() {
            "task_queue" | "task_queue.name" => {
                let name = options
                    .task_queue
                    .as_ref()
                    .map(|q| q.name.as_str())
                    .unwrap_or("");
                if name.is_empty() {
                    return Err(CellError::invalid(
                        "TaskQueue is not set on activity options.",
                    ));
                }
                scheduled.task_queue = Some(crate::workflow_task::task_queue(name, false, ""));
            }
            "schedule_to_close_timeout" => {
                scheduled.schedule_to_close_timeout = options.schedule_to_close_timeout
            }
            "schedule_to_start_timeout" => {
                scheduled.schedule_to_start_timeout = options.schedule_to_start_timeout
            }
            "start_to_close_timeout" => {
                scheduled.start_to_close_timeout = options.start_to_close_timeout
            }
            "heartbeat_timeout" => scheduled.heartbeat_timeout = options.heartbeat_timeout,
            "priority" => scheduled.priority = options.priority.clone(),
            "retry_policy" => {
                scheduled.retry_policy =
                    Some(crate::retry::with_defaults(Some(given_retry.clone())))
            }
            p if p.starts_with("retry_policy.") => {
                let policy = scheduled.retry_policy.get_or_insert_with(Default::default);
                match &p["retry_policy.".len()..] {
                    "initial_interval" => policy.initial_interval = given_retry.initial_interval,
                    "backoff_coefficient" => {
                        policy.backoff_coefficient = given_retry.backoff_coefficient
                    }
                    "maximum_interval" => policy.maximum_interval = given_retry.maximum_interval,
                    "maximum_attempts" => policy.maximum_attempts = given_retry.maximum_attempts,
                    "non_retryable_error_types" => {
                        policy.non_retryable_error_types =
                            given_retry.non_retryable_error_types.clone()
                    }
                    other => {
                        return Err(CellError::invalid(format!(
                            "Unknown field in update mask: retry_policy.{other}"
                        )));
                    }
                }
            }
            other => {
                return Err(CellError::invalid(format!(
                    "Unknown field in update mask: {other}"
                )));
            }
        }
    }
    Ok(())
}

impl Mutation {
    fn apply_activity_op(
        &mut self,
        selector: &ActivitySelector,
        op: &ActivityOp,
    ) -> CellResult<ActivityOptions> {
        if !self.is_running() {
            return Err(CellError::NotFound(
                "workflow execution already completed".into(),
            ));
        }
        let targets: Vec<usize> = (0..self.state.activities.len())
            .filter(|&i| selector.matches(&self.state.activities[i]))
            .collect();
        if targets.is_empty() {
            return Err(CellError::NotFound("activity not found".into()));
        }
        let now = self.now;
        let first = targets[0];
        for pos in targets.iter().copied() {
            let ai = &mut self.state.activities[pos];
            let waiting = ai.started_time_ms == 0;
            let redispatch = match op {
                ActivityOp::Pause { identity, reason } => {
                    if !ai.paused {
                        ai.paused = true;
                        ai.pause_time_ms = now;
                        ai.pause_identity = identity.clone();
                        ai.pause_reason = reason.clone();
                    }
                    false
                }
                ActivityOp::Unpause {
                    reset_attempts,
                    reset_heartbeat,
                } => {
                    let was_paused = ai.paused;
                    ai.paused = false;
                    if *reset_attempts {
                        ai.attempt = 1;
                    }
                    if *reset_heartbeat {
                        ai.heartbeat_details = None;
                    }
                    was_paused && waiting
                }
                ActivityOp::UpdateOptions { options, paths } => {
                    let scheduled = ai.scheduled.get_or_insert_with(Default::default);
                    apply_options(scheduled, options, paths)?;
                    false
                }
                ActivityOp::Reset {
                    reset_heartbeat,
                    keep_paused,
                } => {
                    if *reset_heartbeat {
                        ai.heartbeat_details = None;
                    }
                    if !keep_paused {
                        ai.paused = false;
                    }
                    if waiting {
                        ai.attempt = 1;
                        !ai.paused
                    } else {
                        // The running attempt keeps its token; the count
                        // starts again when it ends.
                        ai.reset_requested = true;
                        false
                    }
                }
            };
            if redispatch {
                // Whatever backoff it was waiting for, it runs now.
                ai.scheduled_time_ms = now;
                let scheduled_event_id = ai.scheduled_event_id;
                self.dispatch_activity(scheduled_event_id);
            }
            self.dirty = true;
        }
        Ok(current_options(&self.state.activities[first]))
    }
}

impl HistoryEngine {
    pub async fn activity_op(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        selector: ActivitySelector,
        op: ActivityOp,
    ) -> CellResult<ActivityOptions> {
        self.update(
            namespace_id,
            &execution.workflow_id,
            &execution.run_id,
            |m| m.apply_activity_op(&selector, &op),
        )
        .await
    }
}
