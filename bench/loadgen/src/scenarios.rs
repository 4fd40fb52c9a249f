//! The scenarios. Each is bounded by `--count` workflows and `--timeout-secs`; `--concurrency`
//! of them are in flight at once, a new one starting as soon as one finishes (closed loop).
//! The first failure ends the scenario with an error: no partial figures.

use std::{
    future::Future,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value, json};
use temporalio_client::{
    Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowHandle,
    WorkflowSignalOptions, WorkflowStartOptions,
};
use temporalio_common::HasWorkflowDefinition;
use temporalio_common::protos::temporal::api::{
    enums::v1::EventType,
    history::v1::{HistoryEvent, history_event::Attributes},
};
use temporalio_sdk::{Worker, WorkerOptions, runtime::PollerBehavior};

use crate::{
    Bench, BenchResult, Scenario,
    stats::{per_sec, secs, summary},
    workflows::{
        ManyActivitiesWorkflow, NoopActivities, NoopActivityWorkflow, ParkedWorkflow,
        TimerSignalWorkflow,
    },
};

type Report = Map<String, Value>;

/// Runs `scenario` under the time limit and returns its JSON report.
pub async fn run(bench: &Bench, scenario: Scenario) -> BenchResult<Value> {
    let count = bench.count(scenario);
    let concurrency = bench.concurrency(scenario);
    let done = AtomicUsize::new(0);
    let ctx = Ctx {
        bench,
        scenario,
        count,
        concurrency,
        done: &done,
    };
    let body = async {
        match scenario {
            Scenario::Start => start(&ctx).await,
            Scenario::NoopActivity => noop_activity(&ctx).await,
            Scenario::TimersSignals => timers_signals(&ctx).await,
            Scenario::HistoryHeavy => history_heavy(&ctx).await,
            Scenario::Idle => idle(&ctx).await,
            Scenario::Flood => crate::flood::flood(bench, count, concurrency).await,
        }
    };
    let mut report = match tokio::time::timeout(bench.timeout(), body).await {
        Ok(report) => report.map_err(|err| format!("{}: {err}", scenario.name()))?,
        Err(_) => {
            return Err(format!(
                "{}: did not finish within {}s ({} of {count} workflows done)",
                scenario.name(),
                bench.args.timeout_secs,
                done.load(Ordering::Relaxed),
            ));
        }
    };
    report.insert("scenario".into(), json!(scenario.name()));
    report.insert("address".into(), json!(bench.args.address));
    report.insert("namespace".into(), json!(bench.args.namespace));
    report.insert("count".into(), json!(count));
    report.insert("concurrency".into(), json!(concurrency));
    Ok(Value::Object(report))
}

/// What every scenario function gets.
struct Ctx<'a> {
    bench: &'a Bench,
    scenario: Scenario,
    count: usize,
    concurrency: usize,
    /// Finished workflows, for the timeout message.
    done: &'a AtomicUsize,
}

impl Ctx<'_> {
    fn client(&self) -> &Client {
        &self.bench.client
    }

    /// A task queue no earlier run used, so no stale worker or backlog interferes.
    fn task_queue(&self) -> String {
        format!("loadgen-{}-{}", self.scenario.name(), self.bench.run_id)
    }

    fn workflow_id(&self, i: usize) -> String {
        format!("loadgen-{}-{}-{i}", self.scenario.name(), self.bench.run_id)
    }

    fn finished_one(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `one(i)` for every `i < count`, `concurrency` at once; stops at the first error.
    async fn each<T, F, Fut>(&self, one: F) -> BenchResult<Vec<T>>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = BenchResult<T>>,
    {
        stream::iter(0..self.count)
            .map(one)
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------------

fn worker_options(bench: &Bench, task_queue: &str) -> BenchResult<WorkerOptions> {
    let register = |err| format!("register a workflow: {err}");
    // Pollers fixed explicitly: left unset the SDK may switch to poller autoscaling if the
    // namespace advertises it, and the two servers would then be driven differently.
    Ok(WorkerOptions::new(task_queue.to_owned())
        .register_workflow::<NoopActivityWorkflow>()
        .map_err(register)?
        .register_workflow::<ManyActivitiesWorkflow>()
        .map_err(register)?
        .register_workflow::<TimerSignalWorkflow>()
        .map_err(register)?
        .register_workflow::<ParkedWorkflow>()
        .map_err(register)?
        .register_activities(NoopActivities)
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(bench.args.pollers.max(2)))
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(bench.args.pollers.max(1)))
        .max_eager_activity_reservations_per_workflow_task(if bench.args.eager_activities {
            3
        } else {
            0
        })
        .build())
}

/// Runs `scenario` while an SDK worker polls `task_queue`, then shuts the worker down. A worker
/// that stops on its own fails the scenario at once instead of letting it run into the timeout.
async fn with_worker<T>(
    bench: &Bench,
    task_queue: &str,
    scenario: impl Future<Output = BenchResult<T>>,
) -> BenchResult<T> {
    let mut worker = Worker::new(
        &bench.runtime,
        bench.client.clone(),
        worker_options(bench, task_queue)?,
    )
    .map_err(|err| format!("create the worker: {err}"))?;
    let shutdown = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run, scenario);
    let output = tokio::select! {
        output = &mut scenario => output,
        stopped = &mut run => {
            return Err(format!("the worker stopped while the scenario ran: {stopped:?}"));
        }
    };
    shutdown();
    run.await
        .map_err(|err| format!("the worker failed: {err:?}"))?;
    output
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

/// An event's time in milliseconds since the epoch.
fn event_ms(event: &HistoryEvent) -> BenchResult<f64> {
    let time = event
        .event_time
        .as_ref()
        .ok_or_else(|| format!("event {} has no event_time", event.event_id))?;
    Ok(time.seconds as f64 * 1000.0 + f64::from(time.nanos) / 1_000_000.0)
}

fn is_close(event_type: EventType) -> bool {
    matches!(
        event_type,
        EventType::WorkflowExecutionCompleted
            | EventType::WorkflowExecutionFailed
            | EventType::WorkflowExecutionTimedOut
            | EventType::WorkflowExecutionCanceled
            | EventType::WorkflowExecutionTerminated
            | EventType::WorkflowExecutionContinuedAsNew
    )
}

async fn full_history<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> BenchResult<Vec<HistoryEvent>> {
    handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await
        .map_err(|err| format!("fetch the history of {}: {err}", handle.info().workflow_id))
}

/// The first event at or after `from` of type `wanted`.
fn find(events: &[HistoryEvent], from: usize, wanted: EventType) -> Option<(usize, &HistoryEvent)> {
    events
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, event)| event.event_type() == wanted)
}

// ---------------------------------------------------------------------------------------------
// start
// ---------------------------------------------------------------------------------------------

/// StartWorkflowExecution throughput. No worker polls the task queue, so the workflows stay
/// running with their first workflow task pending; they are left so (the runner throws the
/// server's database away afterwards), which keeps the scenario to starts alone.
async fn start(ctx: &Ctx<'_>) -> BenchResult<Report> {
    let task_queue = ctx.task_queue();
    let began = Instant::now();
    let latencies = ctx
        .each(|i| {
            let options = WorkflowStartOptions::new(task_queue.clone(), ctx.workflow_id(i)).build();
            async move {
                let t = Instant::now();
                ctx.client()
                    .start_workflow(NoopActivityWorkflow::run, i as u64, options)
                    .await
                    .map_err(|err| format!("start workflow {i}: {err}"))?;
                ctx.finished_one();
                Ok(ms_since(t))
            }
        })
        .await?;
    let wall = began.elapsed().as_secs_f64();
    let mut report = Report::new();
    report.insert("wall_secs".into(), secs(wall));
    report.insert("starts_per_sec".into(), per_sec(latencies.len(), wall));
    report.insert("start_latency_ms".into(), summary(latencies));
    report.insert("left_running".into(), json!(ctx.count));
    report.insert("task_queue".into(), json!(task_queue));
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// noop-activity
// ---------------------------------------------------------------------------------------------

async fn noop_activity(ctx: &Ctx<'_>) -> BenchResult<Report> {
    let task_queue = ctx.task_queue();
    let (samples, wall) = with_worker(ctx.bench, &task_queue, async {
        let began = Instant::now();
        let samples = ctx
            .each(|i| {
                let options =
                    WorkflowStartOptions::new(task_queue.clone(), ctx.workflow_id(i)).build();
                async move {
                    let t = Instant::now();
                    let handle = ctx
                        .client()
                        .start_workflow(NoopActivityWorkflow::run, i as u64, options)
                        .await
                        .map_err(|err| format!("start workflow {i}: {err}"))?;
                    let start_ms = ms_since(t);
                    let result = handle
                        .get_result(WorkflowGetResultOptions::default())
                        .await
                        .map_err(|err| format!("workflow {i} did not complete: {err}"))?;
                    if result != i as u64 {
                        return Err(format!("workflow {i} returned {result}"));
                    }
                    ctx.finished_one();
                    Ok((start_ms, ms_since(t)))
                }
            })
            .await?;
        Ok((samples, began.elapsed().as_secs_f64()))
    })
    .await?;
    let (start_ms, end_to_end_ms): (Vec<f64>, Vec<f64>) = samples.into_iter().unzip();
    let mut report = Report::new();
    report.insert("wall_secs".into(), secs(wall));
    report.insert("workflows_per_sec".into(), per_sec(start_ms.len(), wall));
    report.insert("start_latency_ms".into(), summary(start_ms));
    report.insert("end_to_end_ms".into(), summary(end_to_end_ms));
    report.insert(
        "eager_activities".into(),
        json!(ctx.bench.args.eager_activities),
    );
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// timers-signals
// ---------------------------------------------------------------------------------------------

/// What one timers-signals workflow measured, in milliseconds.
struct TimerSample {
    /// TimerFired − TimerStarted − the timer's duration, all from history.
    lateness: f64,
    /// TimerFired → the WorkflowTaskStarted that delivered it, from history.
    fired_to_task_started: f64,
    /// Client: signal sent → result returned.
    signal_to_result: f64,
    /// History: WorkflowExecutionSignaled → the next WorkflowTaskStarted.
    signaled_to_task_started: f64,
    /// History: WorkflowExecutionSignaled → WorkflowExecutionCompleted.
    signaled_to_completed: f64,
}

fn timer_ms(ctx: &Ctx<'_>, i: usize) -> u64 {
    let (min, max) = (ctx.bench.args.timer_min_ms, ctx.bench.args.timer_max_ms);
    // Spread over the range deterministically (7919 is prime) so the timers do not all fire
    // together and a rerun schedules the same set.
    min + (i as u64).wrapping_mul(7919) % (max - min + 1)
}

/// Long-polls the history until the workflow has handled its timer, that is until a workflow
/// task completed after TimerFired: from then on it waits for the signal and nothing else.
async fn wait_until_parked_on_signal<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> BenchResult<()> {
    let options = WorkflowFetchHistoryOptions::builder()
        .wait_new_event(true)
        .build();
    let mut events = handle.fetch_history(options);
    let mut fired = false;
    while let Some(event) = events.next().await {
        let event = event.map_err(|err| {
            format!(
                "long-poll the history of {}: {err}",
                handle.info().workflow_id
            )
        })?;
        match event.event_type() {
            EventType::TimerFired => fired = true,
            EventType::WorkflowTaskCompleted if fired => return Ok(()),
            other if is_close(other) => {
                return Err(format!(
                    "{} closed ({other:?}) before it was signalled",
                    handle.info().workflow_id
                ));
            }
            _ => {}
        }
    }
    Err(format!(
        "the history of {} ended before the timer was handled",
        handle.info().workflow_id
    ))
}

async fn timer_signal_one(ctx: &Ctx<'_>, task_queue: &str, i: usize) -> BenchResult<TimerSample> {
    let options = WorkflowStartOptions::new(task_queue.to_owned(), ctx.workflow_id(i)).build();
    let handle = ctx
        .client()
        .start_workflow(TimerSignalWorkflow::run, timer_ms(ctx, i), options)
        .await
        .map_err(|err| format!("start workflow {i}: {err}"))?;
    wait_until_parked_on_signal(&handle).await?;

    let value = format!("wake-{i}");
    let t0 = Instant::now();
    handle
        .signal(
            TimerSignalWorkflow::wake,
            value.clone(),
            WorkflowSignalOptions::default(),
        )
        .await
        .map_err(|err| format!("signal workflow {i}: {err}"))?;
    let result = handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .map_err(|err| format!("workflow {i} did not complete: {err}"))?;
    let signal_to_result = ms_since(t0);
    if result != value {
        return Err(format!("workflow {i} returned {result:?}, not {value:?}"));
    }

    let events = full_history(&handle).await?;
    let missing = |what: &str| format!("history of workflow {i} lacks {what}");
    let (started_at, started) =
        find(&events, 0, EventType::TimerStarted).ok_or_else(|| missing("TimerStarted"))?;
    let duration = match &started.attributes {
        Some(Attributes::TimerStartedEventAttributes(attrs)) => attrs
            .start_to_fire_timeout
            .as_ref()
            .map(|d| d.seconds as f64 * 1000.0 + f64::from(d.nanos) / 1_000_000.0),
        _ => None,
    }
    .ok_or_else(|| missing("the TimerStarted duration"))?;
    let (fired_at, fired) =
        find(&events, started_at, EventType::TimerFired).ok_or_else(|| missing("TimerFired"))?;
    let (_, fired_task) = find(&events, fired_at, EventType::WorkflowTaskStarted)
        .ok_or_else(|| missing("a WorkflowTaskStarted after TimerFired"))?;
    let (signaled_at, signaled) = find(&events, fired_at, EventType::WorkflowExecutionSignaled)
        .ok_or_else(|| missing("WorkflowExecutionSignaled after TimerFired"))?;
    let (_, signal_task) = find(&events, signaled_at, EventType::WorkflowTaskStarted)
        .ok_or_else(|| missing("a WorkflowTaskStarted after the signal"))?;
    let (_, completed) = find(&events, signaled_at, EventType::WorkflowExecutionCompleted)
        .ok_or_else(|| missing("WorkflowExecutionCompleted"))?;
    ctx.finished_one();
    Ok(TimerSample {
        lateness: event_ms(fired)? - event_ms(started)? - duration,
        fired_to_task_started: event_ms(fired_task)? - event_ms(fired)?,
        signal_to_result,
        signaled_to_task_started: event_ms(signal_task)? - event_ms(signaled)?,
        signaled_to_completed: event_ms(completed)? - event_ms(signaled)?,
    })
}

async fn timers_signals(ctx: &Ctx<'_>) -> BenchResult<Report> {
    let task_queue = ctx.task_queue();
    let (samples, wall) = with_worker(ctx.bench, &task_queue, async {
        let began = Instant::now();
        let samples = ctx.each(|i| timer_signal_one(ctx, &task_queue, i)).await?;
        Ok((samples, began.elapsed().as_secs_f64()))
    })
    .await?;
    let field = |f: fn(&TimerSample) -> f64| summary(samples.iter().map(f).collect());
    let mut report = Report::new();
    report.insert("wall_secs".into(), secs(wall));
    report.insert(
        "timer_ms_range".into(),
        json!([ctx.bench.args.timer_min_ms, ctx.bench.args.timer_max_ms]),
    );
    report.insert("timer_lateness_ms".into(), field(|s| s.lateness));
    report.insert(
        "timer_fired_to_task_started_ms".into(),
        field(|s| s.fired_to_task_started),
    );
    report.insert("signal_to_result_ms".into(), field(|s| s.signal_to_result));
    report.insert(
        "signaled_to_task_started_ms".into(),
        field(|s| s.signaled_to_task_started),
    );
    report.insert(
        "signaled_to_completed_ms".into(),
        field(|s| s.signaled_to_completed),
    );
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// history-heavy
// ---------------------------------------------------------------------------------------------

async fn history_heavy(ctx: &Ctx<'_>) -> BenchResult<Report> {
    let task_queue = ctx.task_queue();
    let activities = ctx.bench.args.activities;
    let (handles, wall) = with_worker(ctx.bench, &task_queue, async {
        let began = Instant::now();
        let handles = ctx
            .each(|i| {
                let options =
                    WorkflowStartOptions::new(task_queue.clone(), ctx.workflow_id(i)).build();
                async move {
                    let handle = ctx
                        .client()
                        .start_workflow(ManyActivitiesWorkflow::run, activities, options)
                        .await
                        .map_err(|err| format!("start workflow {i}: {err}"))?;
                    let ran = handle
                        .get_result(WorkflowGetResultOptions::default())
                        .await
                        .map_err(|err| format!("workflow {i} did not complete: {err}"))?;
                    if ran != activities {
                        return Err(format!("workflow {i} ran {ran} of {activities} activities"));
                    }
                    ctx.finished_one();
                    Ok(handle)
                }
            })
            .await?;
        Ok((handles, began.elapsed().as_secs_f64()))
    })
    .await?;

    // One fetch at a time, with no worker polling: the latency of the read alone.
    let mut total_events = 0;
    let mut lengths = Vec::new();
    let mut fetch_ms = Vec::new();
    for handle in &handles {
        let mut length = None;
        for _ in 0..ctx.bench.args.history_fetches.max(1) {
            let t = Instant::now();
            let events = full_history(handle).await?;
            fetch_ms.push(ms_since(t));
            if events.last().map(HistoryEvent::event_type)
                != Some(EventType::WorkflowExecutionCompleted)
            {
                return Err(format!(
                    "the history of {} does not end with its completion",
                    handle.info().workflow_id
                ));
            }
            if *length.get_or_insert(events.len()) != events.len() {
                return Err(format!(
                    "the closed history of {} changed length between fetches",
                    handle.info().workflow_id
                ));
            }
        }
        let length = length.unwrap_or_default();
        total_events += length;
        lengths.push(length);
    }
    let mut report = Report::new();
    report.insert("wall_secs".into(), secs(wall));
    report.insert("activities_per_workflow".into(), json!(activities));
    report.insert("events_total".into(), json!(total_events));
    report.insert("events_per_history".into(), json!(lengths));
    report.insert("events_per_sec".into(), per_sec(total_events, wall));
    report.insert(
        "activities_per_sec".into(),
        per_sec(activities as usize * handles.len(), wall),
    );
    report.insert("history_fetch_ms".into(), summary(fetch_ms));
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// idle
// ---------------------------------------------------------------------------------------------

/// How often a not-yet-parked workflow's history is read again.
const PARK_POLL: Duration = Duration::from_millis(200);

/// Waits until `handle`'s first workflow task has completed and its timer is recorded.
async fn wait_until_parked<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> BenchResult<()> {
    loop {
        let events = full_history(handle).await?;
        if find(&events, 0, EventType::TimerStarted).is_some() {
            return Ok(());
        }
        if let Some(close) = events.iter().find(|e| is_close(e.event_type())) {
            return Err(format!(
                "{} closed ({:?}) instead of parking",
                handle.info().workflow_id,
                close.event_type()
            ));
        }
        tokio::time::sleep(PARK_POLL).await;
    }
}

/// Parks `count` workflows on a long timer and leaves them there for the runner to measure an
/// idle server holding them. Reports how long the starts took and how long until every one was
/// seen parked (its history has TimerStarted).
async fn idle(ctx: &Ctx<'_>) -> BenchResult<Report> {
    let task_queue = ctx.task_queue();
    let park_secs = ctx.bench.args.park_secs;
    let (start_ms, started_secs, parked_secs) = with_worker(ctx.bench, &task_queue, async {
        let began = Instant::now();
        let started = ctx
            .each(|i| {
                let options =
                    WorkflowStartOptions::new(task_queue.clone(), ctx.workflow_id(i)).build();
                async move {
                    let t = Instant::now();
                    let handle = ctx
                        .client()
                        .start_workflow(ParkedWorkflow::run, park_secs, options)
                        .await
                        .map_err(|err| format!("start workflow {i}: {err}"))?;
                    Ok((handle, ms_since(t)))
                }
            })
            .await?;
        let started_secs = began.elapsed().as_secs_f64();
        let (handles, start_ms): (Vec<_>, Vec<f64>) = started.into_iter().unzip();
        stream::iter(&handles)
            .map(|handle| async move {
                wait_until_parked(handle).await?;
                ctx.finished_one();
                Ok::<(), String>(())
            })
            .buffer_unordered(ctx.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok((start_ms, started_secs, began.elapsed().as_secs_f64()))
    })
    .await?;
    let mut report = Report::new();
    report.insert("park_secs".into(), json!(park_secs));
    report.insert("started_secs".into(), secs(started_secs));
    report.insert(
        "starts_per_sec".into(),
        per_sec(start_ms.len(), started_secs),
    );
    report.insert("all_parked_secs".into(), secs(parked_secs));
    report.insert("start_latency_ms".into(), summary(start_ms));
    report.insert("left_parked".into(), json!(ctx.count));
    Ok(report)
}
