//! End to end with Temporal's official Rust SDK (`temporalio-sdk` / `temporalio-client` from
//! crates.io): each test starts the `orrery` binary on free loopback ports, runs an SDK worker
//! against it and drives workflows through the SDK's client, then checks their results and the
//! event types in their histories.
//!
//! - `activity_timer_and_signal_workflow`: an activity, a durable one-second timer and a signal.
//! - `child_workflow_and_query`: a child workflow, a query answered by the worker, a signal.

use std::{
    future::Future,
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowFetchHistoryOptions,
    WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions, WorkflowSignalOptions,
    WorkflowStartOptions,
};
use temporalio_common::HasWorkflowDefinition;
use temporalio_sdk::{
    ActivityOptions, ChildWorkflowOptions, Runtime, SyncWorkflowContext, Worker, WorkerOptions,
    WorkflowContext, WorkflowContextView, WorkflowResult,
    activities::{ActivityContext, ActivityError, activities},
    runtime::RuntimeOptions,
    workflows::{workflow, workflow_methods},
};

/// How long the server gets to start accepting the SDK's connection.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// Upper bound for a test's workflows, so a server bug fails the test instead of hanging it.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// The namespace `orrery dev` creates.
const NAMESPACE: &str = "default";

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// An `orrery dev` process on free loopback ports; killed when dropped.
struct DevServer {
    child: Child,
    grpc_addr: SocketAddr,
    _data_dir: tempfile::TempDir,
}

impl DevServer {
    fn start() -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        let grpc_addr = free_loopback_addr();
        let http_addr = free_loopback_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_orrery"))
            .arg("dev")
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--grpc-addr")
            .arg(grpc_addr.to_string())
            .arg("--http-addr")
            .arg(http_addr.to_string())
            .arg("--http-api-addr")
            .arg(free_loopback_addr().to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the orrery binary");
        DevServer {
            child,
            grpc_addr,
            _data_dir: data_dir,
        }
    }

    /// Connects an SDK client, retrying while the server starts up.
    async fn connect(&mut self, namespace: &str) -> Client {
        let target = Url::parse(&format!("http://{}", self.grpc_addr)).expect("server url");
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the orrery process") {
                panic!("orrery exited before accepting connections: {status}");
            }
            let options = ConnectionOptions::new(target.clone())
                .identity("orrery-rust-sdk-test".to_owned())
                .connect_timeout(Duration::from_secs(2))
                .build();
            match Connection::connect(options).await {
                Ok(connection) => {
                    return Client::new(connection, ClientOptions::new(namespace).build())
                        .expect("create the client");
                }
                Err(err) if Instant::now() < deadline => {
                    eprintln!("orrery not ready yet ({err}); retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(err) => panic!(
                    "could not connect to orrery at {} within {STARTUP_DEADLINE:?}: {err}",
                    self.grpc_addr
                ),
            }
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address whose port was free a moment ago.
fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("reserve a loopback port")
}

// ---------------------------------------------------------------------------------------------
// Workflow and activity
// ---------------------------------------------------------------------------------------------

pub struct GreetingActivities;

#[activities]
impl GreetingActivities {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }
}

/// Runs the activity, then a one-second timer, then waits for the `finish` signal.
#[workflow]
#[derive(Default)]
pub struct ActivityTimerSignalWorkflow {
    signal: Option<String>,
}

#[workflow_methods]
impl ActivityTimerSignalWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                GreetingActivities::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        ctx.timer(Duration::from_secs(1)).await;
        ctx.wait_condition(|state| state.signal.is_some()).await?;
        let signal = ctx.state(|state| state.signal.clone()).unwrap_or_default();
        Ok(format!("{greeting} timer fired; signal: {signal}"))
    }

    #[signal]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: String) {
        self.signal = Some(value);
    }
}

/// Starts a child workflow, records its progress for the `stage` query, then waits for `finish`.
#[workflow]
#[derive(Default)]
pub struct ParentWorkflow {
    stage: String,
    signal: Option<String>,
}

#[workflow_methods]
impl ParentWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        ctx.state_mut(|state| state.stage = "running child".to_owned());
        let child_id = format!("{}-child", ctx.workflow_id());
        let child = ctx
            .start_child_workflow(
                ShoutChildWorkflow::run,
                name,
                ChildWorkflowOptions::builder()
                    .workflow_id(child_id)
                    .build(),
            )
            .await?;
        let shouted = child.result().await?;
        ctx.state_mut(|state| state.stage = format!("child said {shouted}"));
        ctx.wait_condition(|state| state.signal.is_some()).await?;
        let signal = ctx.state(|state| state.signal.clone()).unwrap_or_default();
        Ok(format!("{shouted} then {signal}"))
    }

    #[signal]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: String) {
        self.signal = Some(value);
    }

    #[query]
    pub fn stage(&self, _ctx: &WorkflowContextView) -> String {
        self.stage.clone()
    }
}

#[workflow]
#[derive(Default)]
pub struct ShoutChildWorkflow;

#[workflow_methods]
impl ShoutChildWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        Ok(name.to_uppercase())
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs `scenario` while an SDK worker with `options` polls the server; shuts the worker down
/// once the scenario is done and returns its output.
async fn with_worker<T>(
    client: &Client,
    options: WorkerOptions,
    scenario: impl Future<Output = T>,
) -> T {
    let runtime = Runtime::from_current_tokio(RuntimeOptions::default()).expect("SDK runtime");
    let mut worker = Worker::new(&runtime, client.clone(), options).expect("create the worker");
    let shutdown_worker = worker.shutdown_handle();
    let scenario = async {
        let output = scenario.await;
        shutdown_worker();
        output
    };
    let (run, output) =
        tokio::time::timeout(RUN_DEADLINE, async { tokio::join!(worker.run(), scenario) })
            .await
            .unwrap_or_else(|_| panic!("the workflows did not finish within {RUN_DEADLINE:?}"));
    run.expect("the worker failed");
    output
}

/// The event types of a workflow's history, as `EVENT_TYPE_…` names, in order.
async fn history_event_types<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> Vec<&'static str> {
    handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await
        .expect("fetch the workflow's history")
        .iter()
        .map(|event| event.event_type().as_str_name())
        .collect()
}

/// Asserts that `event_types` holds each of `expected` in that relative order and ends with
/// the workflow's completion.
fn assert_history(event_types: &[&str], expected: &[&str]) {
    let mut from = 0;
    for name in expected {
        match event_types[from..].iter().position(|t| t == name) {
            Some(offset) => from += offset + 1,
            None => panic!("history lacks {name} (in this order: {expected:?}): {event_types:?}"),
        }
    }
    assert_eq!(
        event_types.last(),
        Some(&"EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"),
        "history ends with the completion: {event_types:?}"
    );
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_timer_and_signal_workflow() {
    let mut server = DevServer::start();
    let client = server.connect(NAMESPACE).await;
    let task_queue = unique("rust-sdk");
    let options = WorkerOptions::new(task_queue.clone())
        .register_workflow::<ActivityTimerSignalWorkflow>()
        .expect("register the workflow")
        .register_activities(GreetingActivities)
        .build();

    let started = Instant::now();
    let (result, event_types) = with_worker(&client, options, async {
        let handle = client
            .start_workflow(
                ActivityTimerSignalWorkflow::run,
                "Orrery".to_owned(),
                WorkflowStartOptions::new(task_queue.clone(), unique("rust-sdk-wf")).build(),
            )
            .await
            .expect("start the workflow");
        handle
            .signal(
                ActivityTimerSignalWorkflow::finish,
                "go".to_owned(),
                WorkflowSignalOptions::default(),
            )
            .await
            .expect("signal the workflow");
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow's result");
        (result, history_event_types(&handle).await)
    })
    .await;
    let elapsed = started.elapsed();

    assert_eq!(result, "Hello, Orrery! timer fired; signal: go");
    assert!(
        elapsed >= Duration::from_secs(1),
        "the one-second timer fired after {elapsed:?}"
    );
    // The signal arrives while the activity runs; it is recorded before the timer fires.
    assert!(
        event_types.contains(&"EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"),
        "history lacks the signal: {event_types:?}"
    );
    assert_history(
        &event_types,
        &[
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
            "EVENT_TYPE_ACTIVITY_TASK_STARTED",
            "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
            "EVENT_TYPE_TIMER_STARTED",
            "EVENT_TYPE_TIMER_FIRED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_workflow_and_query() {
    let mut server = DevServer::start();
    let client = server.connect(NAMESPACE).await;
    let task_queue = unique("rust-sdk");
    let options = WorkerOptions::new(task_queue.clone())
        .register_workflow::<ParentWorkflow>()
        .expect("register the parent workflow")
        .register_workflow::<ShoutChildWorkflow>()
        .expect("register the child workflow")
        .build();
    let workflow_id = unique("rust-sdk-parent");

    let (result, stage, parent_events, child_result, child_events) =
        with_worker(&client, options, async {
            let handle = client
                .start_workflow(
                    ParentWorkflow::run,
                    "orrery".to_owned(),
                    WorkflowStartOptions::new(task_queue.clone(), workflow_id.clone()).build(),
                )
                .await
                .expect("start the parent workflow");

            // The worker answers the query from the workflow's state: poll until the child is done.
            let deadline = Instant::now() + RUN_DEADLINE;
            let stage = loop {
                let stage = handle
                    .query(ParentWorkflow::stage, (), WorkflowQueryOptions::default())
                    .await
                    .expect("query the parent workflow");
                if stage.starts_with("child said") || Instant::now() > deadline {
                    break stage;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };

            handle
                .signal(
                    ParentWorkflow::finish,
                    "done".to_owned(),
                    WorkflowSignalOptions::default(),
                )
                .await
                .expect("signal the parent workflow");
            let result = handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .expect("the parent's result");

            let child =
                client.get_workflow_handle::<ShoutChildWorkflow>(format!("{workflow_id}-child"));
            let child_result = child
                .get_result(WorkflowGetResultOptions::default())
                .await
                .expect("the child's result");
            (
                result,
                stage,
                history_event_types(&handle).await,
                child_result,
                history_event_types(&child).await,
            )
        })
        .await;

    assert_eq!(stage, "child said ORRERY");
    assert_eq!(result, "ORRERY then done");
    assert_eq!(child_result, "ORRERY");
    assert_history(
        &parent_events,
        &[
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
            "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED",
            "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
        ],
    );
    assert_history(
        &child_events,
        &[
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
        ],
    );
}
