//! Operator commands on a workflow's activities: pause, unpause, reset.
//! None writes history; they change how the activity's attempts run. A
//! running attempt learns of a pause or reset through its heartbeats.
use orrery_core::{CellError, CellResult};
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
}

impl Mutation {
    fn apply_activity_op(
        &mut self,
        selector: &ActivitySelector,
        op: &ActivityOp,
    ) -> CellResult<()> {
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
        for pos in targets {
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
        Ok(())
    }
}

impl HistoryEngine {
    pub async fn activity_op(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        selector: ActivitySelector,
        op: ActivityOp,
    ) -> CellResult<()> {
        self.update(
            namespace_id,
            &execution.workflow_id,
            &execution.run_id,
            |m| m.apply_activity_op(&selector, &op),
        )
        .await
    }
}
