//! Billable Actions, on SQLite and PostgreSQL: a known workload driven
//! through the engine leaves exactly the usage the definition gives
//! (orrery_core::actions), per kind; a start retried with its request id
//! is not counted twice; a fenced commit counts nothing.
mod common;
use common::{on_both, spec};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orrery_core::CellError;
use orrery_core::actions::Action;
use orrery_core::matching::{QueueTask, TASK_KIND_ACTIVITY, TASK_KIND_WORKFLOW, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{
    ActivityOutcome, ActivityRef, ClosePolicy, HistoryConfig, HistoryEngine, ResetRequest,
    StartSignal,
};
use orrery_persistence::CellStore;
use orrery_proto::api::command::v1::{Command, command::Attributes as Cmd};
use orrery_proto::api::command::v1::{
    ContinueAsNewWorkflowExecutionCommandAttributes, ModifyWorkflowPropertiesCommandAttributes,
    RecordMarkerCommandAttributes, ScheduleActivityTaskCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
    StartTimerCommandAttributes, UpsertWorkflowSearchAttributesCommandAttributes,
};
use orrery_proto::api::common::v1::{
    ActivityType, Memo, Payload, RetryPolicy, SearchAttributes, WorkflowExecution, WorkflowType,
};
use orrery_proto::api::enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage;
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::protocol::v1::Message;
use orrery_proto::api::taskqueue::v1::TaskQueue;
use orrery_proto::api::update::v1::{Acceptance, Input, Meta, Rejection, Request};
use orrery_proto::api::workflowservice::v1::RespondWorkflowTaskCompletedRequest;
use orrery_visibility::{Catalog, SaType};

/// Collects what history hands to matching after each commit.
#[derive(Default)]
struct Collect(Mutex<Vec<QueueTask>>);

impl TaskSink for Collect {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        self.0.lock().unwrap().extend(tasks);
    }
}

impl Collect {
    /// The latest task of `kind` for `workflow_id`, waiting up to 10 s for
    /// one newer than the `seen`-th of them.
    async fn next(&self, workflow_id: &str, kind: i32, seen: usize) -> QueueTask {
        for _ in 0..1000 {
            let found: Vec<QueueTask> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|t| t.workflow_id == workflow_id && t.kind == kind)
                .cloned()
                .collect();
            if found.len() > seen {
                return found.last().cloned().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no task #{} of kind {kind} for {workflow_id}", seen + 1)
    }
}

/// An engine with its timer and transfer queues running.
async fn engine(store: Arc<dyn CellStore>, sink: Arc<Collect>, owner: &str) -> Arc<HistoryEngine> {
    engine_with(store, sink, owner, ClosePolicy::default()).await
}

async fn engine_with(
    store: Arc<dyn CellStore>,
    sink: Arc<Collect>,
    owner: &str,
    policy: ClosePolicy,
) -> Arc<HistoryEngine> {
    let engine = HistoryEngine::start(
        store,
        sink,
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 2,
            owner: owner.into(),
            limits: Default::default(),
            policies: Arc::new(policy),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap();
    orrery_history::processors::spawn(engine.clone());
    engine
}

/// The stored usage of namespace `ns-id`, by kind (kinds with none left out).
async fn usage(store: &Arc<dyn CellStore>) -> BTreeMap<String, i64> {
    store
        .usage("ns-id", 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect()
}

fn table(rows: &[(Action, i64)]) -> BTreeMap<String, i64> {
    rows.iter()
        .map(|(a, n)| (a.name().to_string(), *n))
        .collect()
}

fn exec(workflow_id: &str, run_id: &str) -> WorkflowExecution {
    WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: run_id.into(),
    }
}

fn signal(name: &str) -> StartSignal {
    StartSignal {
        name: name.into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

fn keyword(value: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: format!("\"{value}\"").into_bytes(),
        ..Default::default()
    }
}

fn search_attributes(name: &str, value: Payload) -> Option<SearchAttributes> {
    Some(SearchAttributes {
        indexed_fields: [(name.to_string(), value)].into(),
    })
}

fn command(attributes: Cmd) -> Command {
    Command {
        attributes: Some(attributes),
        ..Default::default()
    }
}

fn marker() -> Command {
    command(Cmd::RecordMarkerCommandAttributes(
        RecordMarkerCommandAttributes {
            marker_name: "core_local_activity".into(),
            ..Default::default()
        },
    ))
}

fn update_request(update_id: &str) -> Request {
    Request {
        meta: Some(Meta {
            update_id: update_id.into(),
            identity: "test".into(),
        }),
        input: Some(Input {
            name: "u".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn update_message<M: prost::Message>(update_id: &str, kind: &str, body: &M) -> Message {
    Message {
        id: format!("{update_id}/{kind}"),
        protocol_instance_id: update_id.into(),
        sequencing_id: None,
        body: Some(prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.update.v1.{kind}"),
            value: body.encode_to_vec(),
        }),
    }
}

/// Starts `task` as a worker would and completes it with `commands` and
/// `messages`; returns the completed event's id.
async fn work(
    e: &HistoryEngine,
    task: &QueueTask,
    commands: Vec<Command>,
    messages: Vec<Message>,
) -> i64 {
    let polled = e
        .record_workflow_task_started(
            task,
            "ns",
            "worker",
            &uuid::Uuid::new_v4().to_string(),
            None,
        )
        .await
        .unwrap();
    let token = e.signer().verify(&polled.task_token).unwrap();
    let req = RespondWorkflowTaskCompletedRequest {
        task_token: polled.task_token.clone(),
        commands,
        messages,
        identity: "worker".into(),
        ..Default::default()
    };
    let catalog = Catalog::new([("CustomKeywordField".to_string(), SaType::Keyword)].into());
    e.respond_workflow_task_completed(&token, req, &catalog)
        .await
        .unwrap();
    polled.started_event_id + 1
}

on_both!(
    a_known_workload_counts_exactly_its_actions,
    a_retried_start_and_a_fenced_commit_count_nothing,
    an_archived_run_counts_once,
    a_schedule_action_is_three_with_its_start,
    queries_are_counted_in_memory_and_flushed_every_second,
    metering_off_counts_nothing,
);

async fn a_known_workload_counts_exactly_its_actions(store: Arc<dyn CellStore>) {
    let sink = Arc::new(Collect::default());
    let e = engine(store.clone(), sink.clone(), "a").await;

    // Starts: one, then the same request again (deduplicated: free).
    let a_spec = spec("a");
    let a = e.start_workflow(a_spec.clone(), 0, 0, None).await.unwrap();
    let again = e.start_workflow(a_spec, 0, 0, None).await.unwrap();
    assert_eq!(again.run_id, a.run_id);
    // Signal-with-start that starts a run: one Action in all.
    let b = e
        .start_workflow(spec("b"), 0, 0, Some(signal("s")))
        .await
        .unwrap();
    assert!(b.started);
    // Signal-with-start to the running b: a signal.
    let b_again = e
        .start_workflow(spec("b"), 0, 0, Some(signal("s")))
        .await
        .unwrap();
    assert!(!b_again.started);
    // Two client signals; the first one retried with its request id is free.
    let first = signal("s1");
    for s in [first.clone(), first, signal("s2")] {
        e.signal_workflow("ns-id", &exec("a", &a.run_id), s)
            .await
            .unwrap();
    }

    // a's first task: 2 timers, an activity (scheduling is free), an upsert
    // and a patch marker upsert (free), a memo change, two local activity
    // markers (one Action), a child (2 with its start), a signal to b.
    let task = sink.next("a", TASK_KIND_WORKFLOW, 0).await;
    let commands = vec![
        command(Cmd::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: "t1".into(),
                start_to_fire_timeout: Some(prost_wkt_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
            },
        )),
        command(Cmd::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: "t2".into(),
                start_to_fire_timeout: Some(prost_wkt_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
            },
        )),
        command(Cmd::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: "act".into(),
                activity_type: Some(ActivityType { name: "A".into() }),
                task_queue: Some(TaskQueue {
                    name: "q".into(),
                    ..Default::default()
                }),
                start_to_close_timeout: Some(prost_wkt_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
                retry_policy: Some(RetryPolicy {
                    initial_interval: Some(prost_wkt_types::Duration {
                        seconds: 0,
                        nanos: 1_000_000,
                    }),
                    maximum_attempts: 2,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
        command(Cmd::UpsertWorkflowSearchAttributesCommandAttributes(
            UpsertWorkflowSearchAttributesCommandAttributes {
                search_attributes: search_attributes("CustomKeywordField", keyword("v")),
            },
        )),
        command(Cmd::UpsertWorkflowSearchAttributesCommandAttributes(
            UpsertWorkflowSearchAttributesCommandAttributes {
                search_attributes: search_attributes(
                    "TemporalChangeVersion",
                    Payload {
                        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
                        data: b"[\"p-1\"]".to_vec(),
                        ..Default::default()
                    },
                ),
            },
        )),
        command(Cmd::ModifyWorkflowPropertiesCommandAttributes(
            ModifyWorkflowPropertiesCommandAttributes {
                upserted_memo: Some(Memo {
                    fields: [("m".to_string(), keyword("x"))].into(),
                }),
            },
        )),
        marker(),
        marker(),
        command(Cmd::StartChildWorkflowExecutionCommandAttributes(
            StartChildWorkflowExecutionCommandAttributes {
                workflow_id: "child".into(),
                workflow_type: Some(WorkflowType { name: "T".into() }),
                task_queue: Some(TaskQueue {
                    name: "q".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
        command(Cmd::SignalExternalWorkflowExecutionCommandAttributes(
            SignalExternalWorkflowExecutionCommandAttributes {
                execution: Some(exec("b", "")),
                signal_name: "from-a".into(),
                ..Default::default()
            },
        )),
    ];
    let reset_point = work(&e, &task, commands, vec![]).await;

    // The activity: first attempt started, one heartbeat, fails, is retried
    // and its second attempt starts.
    let act = sink.next("a", TASK_KIND_ACTIVITY, 0).await;
    let polled = e
        .record_activity_task_started(&act, "ns", "worker", "poll-1")
        .await
        .unwrap();
    let token = e.signer().verify(&polled.task_token).unwrap();
    e.heartbeat_activity("ns-id", "a", &a.run_id, ActivityRef::Token(&token), None)
        .await
        .unwrap();
    e.finish_activity(
        "ns-id",
        "a",
        &a.run_id,
        ActivityRef::Token(&token),
        ActivityOutcome::Failed {
            failure: Box::new(Some(Failure {
                message: "boom".into(),
                ..Default::default()
            })),
            last_heartbeat_details: None,
        },
        "worker",
    )
    .await
    .unwrap();
    let retry = sink.next("a", TASK_KIND_ACTIVITY, 1).await;
    e.record_activity_task_started(&retry, "ns", "worker", "poll-2")
        .await
        .unwrap();

    // Updates: u1 accepted, u2 rejected.
    for id in ["u1", "u2"] {
        e.update_workflow(
            "ns-id",
            &exec("a", &a.run_id),
            "",
            update_request(id),
            Stage::Admitted,
            Duration::ZERO,
        )
        .await
        .unwrap();
    }
    let task = sink.next("a", TASK_KIND_WORKFLOW, 1).await;
    let accept = Acceptance {
        accepted_request_message_id: "u1/request".into(),
        accepted_request_sequencing_event_id: 2,
        accepted_request: Some(update_request("u1")),
    };
    let reject = Rejection {
        rejected_request_message_id: "u2/request".into(),
        rejected_request: Some(update_request("u2")),
        ..Default::default()
    };
    work(
        &e,
        &task,
        vec![],
        vec![
            update_message("u1", "Acceptance", &accept),
            update_message("u2", "Rejection", &reject),
        ],
    )
    .await;

    // b continues as new: its new run is a start.
    let task = sink.next("b", TASK_KIND_WORKFLOW, 0).await;
    work(
        &e,
        &task,
        vec![command(
            Cmd::ContinueAsNewWorkflowExecutionCommandAttributes(
                ContinueAsNewWorkflowExecutionCommandAttributes {
                    workflow_type: Some(WorkflowType { name: "T".into() }),
                    task_queue: Some(TaskQueue {
                        name: "q".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
        )],
        vec![],
    )
    .await;

    // a is reset to its first task.
    e.reset_workflow(ResetRequest {
        namespace_id: "ns-id".into(),
        execution: exec("a", &a.run_id),
        reason: "test".into(),
        workflow_task_finish_event_id: reset_point,
        request_id: uuid::Uuid::new_v4().to_string(),
        identity: "test".into(),
        exclude: vec![],
    })
    .await
    .unwrap();

    // The child's run starts from the transfer queue: wait for it.
    sink.next("child", TASK_KIND_WORKFLOW, 0).await;

    let expected = table(&[
        // a, b (signal-with-start), b's continue-as-new run, the child.
        (Action::WorkflowStarted, 4),
        // b's second signal-with-start, a's two signals, a's signal to b.
        (Action::Signal, 4),
        (Action::TimerStarted, 2),
        (Action::SearchAttributesUpserted, 1),
        (Action::WorkflowPropertiesModified, 1),
        (Action::LocalActivities, 1),
        (Action::ChildWorkflowStarted, 1),
        (Action::ActivityStarted, 1),
        (Action::Heartbeat, 1),
        (Action::ActivityRetried, 1),
        (Action::UpdateAccepted, 1),
        (Action::UpdateRejected, 1),
        (Action::WorkflowReset, 1),
    ]);
    assert_eq!(usage(&store).await, expected);
}

async fn a_retried_start_and_a_fenced_commit_count_nothing(store: Arc<dyn CellStore>) {
    let e = engine(store.clone(), Arc::default(), "a").await;
    let s = spec("wf");
    let started = e.start_workflow(s.clone(), 0, 0, None).await.unwrap();
    // The client retries its start (same request id): the same run, free.
    let retried = e.start_workflow(s, 0, 0, None).await.unwrap();
    assert_eq!(retried.run_id, started.run_id);
    assert_eq!(usage(&store).await, table(&[(Action::WorkflowStarted, 1)]));
    // A signal-with-start to the running run, retried by its client (the
    // same request ids): one signal delivered, one Action.
    let (sws, with) = (spec("wf"), signal("sws"));
    e.start_workflow(sws.clone(), 0, 0, Some(with.clone()))
        .await
        .unwrap();
    e.start_workflow(sws, 0, 0, Some(with)).await.unwrap();
    assert_eq!(
        usage(&store).await,
        table(&[(Action::WorkflowStarted, 1), (Action::Signal, 1)])
    );
    let query = orrery_history::HistoryQuery {
        page_size: 0,
        token: &[],
        wait_new_event: false,
        close_only: false,
        max_wait: Duration::ZERO,
    };
    let history = e
        .read_history("ns-id", &exec("wf", &started.run_id), query)
        .await
        .unwrap()
        .history
        .events;
    let signaled = orrery_proto::api::enums::v1::EventType::WorkflowExecutionSignaled as i32;
    let signals = history
        .iter()
        .filter(|ev| ev.event_type == signaled)
        .count();
    assert_eq!(signals, 1, "a retried signal-with-start signals once");

    // Another engine takes the shards: a's next commit is fenced off and
    // its Actions with it; b's counts.
    let b = engine(store.clone(), Arc::default(), "b").await;
    let wf = exec("wf", &started.run_id);
    let fenced = e.signal_workflow("ns-id", &wf, signal("from-a")).await;
    assert!(
        matches!(fenced, Err(CellError::ShardOwnershipLost(_))),
        "{fenced:?}"
    );
    let fenced = e.start_workflow(spec("other"), 0, 0, None).await;
    assert!(
        matches!(fenced, Err(CellError::ShardOwnershipLost(_))),
        "{:?}",
        fenced.map(|o| o.run_id)
    );
    assert_eq!(
        usage(&store).await,
        table(&[(Action::WorkflowStarted, 1), (Action::Signal, 1)])
    );
    b.signal_workflow("ns-id", &wf, signal("from-b"))
        .await
        .unwrap();
    assert_eq!(
        usage(&store).await,
        table(&[(Action::WorkflowStarted, 1), (Action::Signal, 2)])
    );
}

async fn an_archived_run_counts_once(store: Arc<dyn CellStore>) {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file://{}/archive", dir.path().display());
    let policy = ClosePolicy {
        retention_ms: 300,
        history_archival_uri: Some(uri.clone()),
        visibility_archival_uri: Some(uri),
    };
    let e = engine_with(store.clone(), Arc::default(), "a", policy).await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let wf = exec("wf", &started.run_id);
    e.terminate_workflow("ns-id", &wf, "", "done", None, "test")
        .await
        .unwrap();
    // Archived, then deleted when retention ends: counted once, when the
    // archive task became the delete task.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while e.snapshot("ns-id", "wf", &wf.run_id).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        usage(&store).await,
        table(&[(Action::WorkflowStarted, 1), (Action::WorkflowArchived, 1)])
    );
}

async fn a_schedule_action_is_three_with_its_start(store: Arc<dyn CellStore>) {
    let e = engine(store.clone(), Arc::default(), "a").await;
    let s = orrery_history::RunSpec {
        schedule_action: true,
        ..spec("scheduled")
    };
    e.start_workflow(s.clone(), 0, 0, None).await.unwrap();
    // The scheduler starts again after a lost write (same request id):
    // the same run, billed once.
    e.start_workflow(s, 0, 0, None).await.unwrap();
    let counted = usage(&store).await;
    assert_eq!(
        counted,
        table(&[(Action::WorkflowStarted, 1), (Action::ScheduleAction, 2)])
    );
    assert_eq!(counted.values().sum::<i64>(), 3);
}

async fn queries_are_counted_in_memory_and_flushed_every_second(store: Arc<dyn CellStore>) {
    let e = engine(store.clone(), Arc::default(), "a").await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let wf = exec("wf", &started.run_id);
    let query = orrery_proto::api::query::v1::WorkflowQuery {
        query_type: "q".into(),
        ..Default::default()
    };
    // A query of a run that does not exist is no Action.
    assert!(
        e.route_query("ns-id", &exec("nope", ""), "q-0", &query)
            .await
            .is_err()
    );
    e.route_query("ns-id", &wf, "q-1", &query).await.unwrap();
    // The background flush writes it within its interval (and some slack).
    let deadline = std::time::Instant::now() + 3 * orrery_history::QUERY_FLUSH_INTERVAL;
    let with_query = table(&[(Action::WorkflowStarted, 1), (Action::Query, 1)]);
    while usage(&store).await != with_query {
        assert!(
            std::time::Instant::now() < deadline,
            "query not flushed: {:?}",
            usage(&store).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each query counts once: flushing again adds only the new ones.
    e.route_query("ns-id", &wf, "q-2", &query).await.unwrap();
    e.route_query("ns-id", &wf, "q-3", &query).await.unwrap();
    e.flush_query_usage().await.unwrap();
    e.flush_query_usage().await.unwrap();
    assert_eq!(
        usage(&store).await,
        table(&[(Action::WorkflowStarted, 1), (Action::Query, 3)])
    );
}

/// `usage.meteringEnabled=false` (the metering benchmark's baseline) counts
/// neither committed Actions nor queries.
async fn metering_off_counts_nothing(store: Arc<dyn CellStore>) {
    let dc =
        orrery_core::dynamic_config::DynamicConfig::parse(["usage.meteringEnabled=false"]).unwrap();
    let limits = orrery_history::HistoryLimits::from_dynamic_config(&dc);
    assert!(!limits.metering);
    let e = HistoryEngine::start(
        store.clone(),
        Arc::new(Collect::default()),
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 2,
            owner: "a".into(),
            limits,
            policies: Arc::new(ClosePolicy::default()),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap();
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let query = orrery_proto::api::query::v1::WorkflowQuery {
        query_type: "q".into(),
        ..Default::default()
    };
    e.route_query("ns-id", &exec("wf", &started.run_id), "q-1", &query)
        .await
        .unwrap();
    e.flush_query_usage().await.unwrap();
    assert_eq!(usage(&store).await, BTreeMap::new());
}
