//! Billable Actions, as Temporal Cloud defines them. Each is counted per
//! namespace in the same transaction as the change that causes it (so a
//! crash neither loses nor doubles one), except queries, which change
//! nothing durable and are counted in memory (see docs/operations.md).
//!
//! The name is what the `usage.action` column stores: it is part of the
//! usage API and must never change for an existing kind.

/// One kind of billable Action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A run started: client start, signal-with-start's start, a
    /// continue-as-new, cron or retry run, a child's run. A deduplicated
    /// start (same request id, or an existing run used) is free.
    WorkflowStarted,
    WorkflowReset,
    TimerStarted,
    /// Each UpsertWorkflowSearchAttributes command. Search attributes
    /// given at start, and an upsert of `TemporalChangeVersion` alone
    /// (patching), are free.
    SearchAttributesUpserted,
    /// Each ModifyWorkflowProperties command.
    WorkflowPropertiesModified,
    /// A signal from a client or a SignalExternalWorkflowExecution command
    /// (counted once, at the sender). Signal-with-start that starts a run
    /// is one Action in all: its WorkflowStarted.
    Signal,
    Query,
    UpdateAccepted,
    UpdateRejected,
    /// The StartChildWorkflowExecution command; with the child's own
    /// WorkflowStarted a child costs 2.
    ChildWorkflowStarted,
    /// The first attempt of an activity started (standalone ones too).
    ActivityStarted,
    /// A later attempt of an activity started.
    ActivityRetried,
    /// All local activity markers recorded by one workflow task.
    LocalActivities,
    /// A heartbeat that reached history.
    Heartbeat,
    /// A schedule action: 2 here, plus the WorkflowStarted of its run.
    ScheduleAction,
    WorkflowArchived,
    ExecutionOptionsUpdated,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::WorkflowStarted,
        Action::WorkflowReset,
        Action::TimerStarted,
        Action::SearchAttributesUpserted,
        Action::WorkflowPropertiesModified,
        Action::Signal,
        Action::Query,
        Action::UpdateAccepted,
        Action::UpdateRejected,
        Action::ChildWorkflowStarted,
        Action::ActivityStarted,
        Action::ActivityRetried,
        Action::LocalActivities,
        Action::Heartbeat,
        Action::ScheduleAction,
        Action::WorkflowArchived,
        Action::ExecutionOptionsUpdated,
    ];

    /// The stable name stored in `usage.action`.
    pub const fn name(self) -> &'static str {
        match self {
            Action::WorkflowStarted => "workflow_started",
            Action::WorkflowReset => "workflow_reset",
            Action::TimerStarted => "timer_started",
            Action::SearchAttributesUpserted => "search_attributes_upserted",
            Action::WorkflowPropertiesModified => "workflow_properties_modified",
            Action::Signal => "signal",
            Action::Query => "query",
            Action::UpdateAccepted => "update_accepted",
            Action::UpdateRejected => "update_rejected",
            Action::ChildWorkflowStarted => "child_workflow_started",
            Action::ActivityStarted => "activity_started",
            Action::ActivityRetried => "activity_retried",
            Action::LocalActivities => "local_activities",
            Action::Heartbeat => "heartbeat",
            Action::ScheduleAction => "schedule_action",
            Action::WorkflowArchived => "workflow_archived",
            Action::ExecutionOptionsUpdated => "execution_options_updated",
        }
    }

    /// How many Actions one occurrence is billed as.
    pub const fn weight(self) -> i64 {
        match self {
            // The third Action of a schedule action is its run's start.
            Action::ScheduleAction => 2,
            _ => 1,
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_round_trip() {
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(Action::from_name("workflow_task_completed"), None);
    }

    #[test]
    fn a_schedule_action_with_its_start_is_three() {
        assert_eq!(
            Action::ScheduleAction.weight() + Action::WorkflowStarted.weight(),
            3
        );
    }
}
