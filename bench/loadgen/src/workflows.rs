//! The workflows and the activity the scenarios run. They do as little as possible so that the
//! figures are the server's (and the SDK's) cost, not the workload's.

use std::time::Duration;

use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, SyncWorkflowContext, TimerResult, WorkflowContext,
    WorkflowResult, WorkflowTermination,
    activities::{ActivityContext, ActivityError, activities},
    workflows::{workflow, workflow_methods},
};

/// Generous: a no-op activity only hits it if the server loses the task.
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct NoopActivities;

#[activities]
impl NoopActivities {
    #[activity]
    pub async fn noop(_ctx: ActivityContext, value: u64) -> Result<u64, ActivityError> {
        Ok(value)
    }
}

/// One no-op activity, as omes' `workflow_with_single_noop_activity`; returns its input so the
/// client can check it got its own workflow's result. `start` starts it with no worker.
#[workflow]
#[derive(Default)]
pub struct NoopActivityWorkflow;

#[workflow_methods]
impl NoopActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, value: u64) -> WorkflowResult<u64> {
        let echoed = ctx
            .execute_activity(
                NoopActivities::noop,
                value,
                ActivityOptions::start_to_close_timeout(ACTIVITY_TIMEOUT),
            )
            .await?;
        Ok(echoed)
    }
}

/// `activities` no-op activities one after the other: a long history from a small workflow.
/// Returns how many ran.
#[workflow]
#[derive(Default)]
pub struct ManyActivitiesWorkflow;

#[workflow_methods]
impl ManyActivitiesWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, activities: u32) -> WorkflowResult<u32> {
        for i in 0..activities {
            let echoed = ctx
                .execute_activity(
                    NoopActivities::noop,
                    u64::from(i),
                    ActivityOptions::start_to_close_timeout(ACTIVITY_TIMEOUT),
                )
                .await?;
            if echoed != u64::from(i) {
                return Err(fail(format!("activity {i} returned {echoed}")));
            }
        }
        Ok(activities)
    }
}

/// Sleeps on a durable timer of `timer_ms`, then waits for the `wake` signal and returns its
/// value. The client reads the timer's lateness from the TimerStarted/TimerFired events.
#[workflow]
#[derive(Default)]
pub struct TimerSignalWorkflow {
    woken: Option<String>,
}

#[workflow_methods]
impl TimerSignalWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, timer_ms: u64) -> WorkflowResult<String> {
        if ctx.timer(Duration::from_millis(timer_ms)).await != TimerResult::Fired {
            return Err(fail("the timer was cancelled".to_owned()));
        }
        ctx.wait_condition(|state| state.woken.is_some()).await?;
        Ok(ctx.state(|state| state.woken.clone()).unwrap_or_default())
    }

    #[signal]
    pub fn wake(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: String) {
        self.woken = Some(value);
    }
}

/// One long timer and nothing else: what an idle server holds for a parked workflow.
#[workflow]
#[derive(Default)]
pub struct ParkedWorkflow;

#[workflow_methods]
impl ParkedWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, park_secs: u64) -> WorkflowResult<u64> {
        ctx.timer(Duration::from_secs(park_secs)).await;
        Ok(park_secs)
    }
}

/// Fails the workflow for good: a retry would only hide a broken server from the client.
fn fail(message: String) -> WorkflowTermination {
    ApplicationFailure::non_retryable(message).into()
}
