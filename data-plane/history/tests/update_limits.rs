//! Per-run update limits, as the real server keeps them
//! (`history.maxInFlightUpdates`, `history.maxTotalUpdates`,
//! `history.maxInFlightUpdatePayloads`), on SQLite and
//! PostgreSQL: the completed count lives in mutable state and survives a
//! restart. Also: a workflow task completion may answer only its own run's
//! buffered queries.
mod common;
use common::{on_both, spec, sqlite};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orrery_core::CellError;
use orrery_core::dynamic_config::DynamicConfig;
use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::TokenSigner;
use orrery_history::{HistoryConfig, HistoryEngine, HistoryLimits, QueryRoute};
use orrery_persistence::CellStore;
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{
    EventType, ResourceExhaustedCause, UpdateWorkflowExecutionLifecycleStage as Stage,
    WorkflowTaskFailedCause,
};
use orrery_proto::api::history::v1::history_event::Attributes;
use orrery_proto::api::protocol::v1::Message;
use orrery_proto::api::query::v1::WorkflowQuery;
use orrery_proto::api::update::v1::{
    Acceptance, Input, Meta, Outcome, Rejection, Request, Response,
};
use orrery_proto::api::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

/// Collects what history hands to matching after each commit.
#[derive(Default)]
struct Collect(Mutex<Vec<QueueTask>>);

impl TaskSink for Collect {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        self.0.lock().unwrap().extend(tasks);
    }
}

impl Collect {
    fn last(&self) -> QueueTask {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a queued task")
    }
}

async fn engine(
    store: Arc<dyn CellStore>,
    sink: Arc<Collect>,
    config: &[&str],
) -> Arc<HistoryEngine> {
    let dc = DynamicConfig::parse(config.iter().copied()).unwrap();
    HistoryEngine::start(
        store,
        sink,
        TokenSigner::new(b"k".to_vec()),
        HistoryConfig {
            shard_count: 2,
            owner: uuid::Uuid::new_v4().to_string(),
            limits: HistoryLimits::from_dynamic_config(&dc),
            policies: Arc::new(orrery_history::ClosePolicy::default()),
            archives: Arc::new(orrery_archival::Archives::new(Default::default())),
        },
    )
    .await
    .unwrap()
}

fn request(update_id: &str) -> Request {
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

/// Sends update `id` and returns once it is admitted (or refused).
async fn admit(e: &HistoryEngine, exec: &WorkflowExecution, id: &str) -> Result<i32, CellError> {
    e.update_workflow(
        "ns-id",
        exec,
        "",
        request(id),
        Stage::Admitted,
        Duration::ZERO,
    )
    .await
    .map(|r| r.stage)
}

fn message<M: prost::Message>(update_id: &str, kind: &str, body: &M) -> Message {
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

fn accept(update_id: &str) -> Message {
    message(
        update_id,
        "Acceptance",
        &Acceptance {
            accepted_request_message_id: format!("{update_id}/request"),
            accepted_request_sequencing_event_id: 2,
            accepted_request: Some(request(update_id)),
        },
    )
}

fn complete(update_id: &str) -> Message {
    message(
        update_id,
        "Response",
        &Response {
            meta: request(update_id).meta,
            outcome: Some(Outcome::default()),
        },
    )
}

fn reject(update_id: &str) -> Message {
    message(
        update_id,
        "Rejection",
        &Rejection {
            rejected_request_message_id: format!("{update_id}/request"),
            rejected_request: Some(request(update_id)),
            ..Default::default()
        },
    )
}

/// Starts the last queued workflow task as a worker would and completes it
/// with `messages`; returns the update ids the task carried.
async fn work(e: &HistoryEngine, sink: &Collect, messages: Vec<Message>) -> Vec<String> {
    let polled = e
        .record_workflow_task_started(&sink.last(), "ns", "worker", "poll-1", None)
        .await
        .unwrap();
    let carried = polled
        .messages
        .iter()
        .map(|m| m.protocol_instance_id.clone())
        .collect();
    let token = e.signer().verify(&polled.task_token).unwrap();
    let req = RespondWorkflowTaskCompletedRequest {
        task_token: polled.task_token.clone(),
        messages,
        identity: "worker".into(),
        ..Default::default()
    };
    e.respond_workflow_task_completed(&token, req, &Default::default())
        .await
        .unwrap();
    carried
}

on_both!(
    the_eleventh_in_flight_update_is_refused_and_duplicates_do_not_count,
    the_total_counts_completed_and_in_flight_updates_across_a_restart,
    a_worker_cannot_grow_a_run_past_its_total_with_unknown_updates,
    the_payloads_of_in_flight_updates_are_capped_per_run,
);

async fn the_eleventh_in_flight_update_is_refused_and_duplicates_do_not_count(
    store: Arc<dyn CellStore>,
) {
    let e = engine(store, Arc::default(), &[]).await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    for i in 0..10 {
        assert_eq!(
            admit(&e, &exec, &format!("u{i}")).await.unwrap(),
            Stage::Admitted as i32
        );
    }
    match admit(&e, &exec, "u10").await {
        Err(CellError::ResourceExhausted { message, cause }) => {
            assert_eq!(
                message,
                "limit on number of concurrent in-flight updates has been reached (10)"
            );
            assert_eq!(cause, ResourceExhaustedCause::ConcurrentLimit);
        }
        other => panic!("the 11th update: {other:?}"),
    }
    // The same update again is the one already admitted, not an 11th.
    assert_eq!(
        admit(&e, &exec, "u3").await.unwrap(),
        Stage::Admitted as i32
    );
    // Another run has its own budget.
    let other = e.start_workflow(spec("wf-2"), 0, 0, None).await.unwrap();
    let other = WorkflowExecution {
        workflow_id: "wf-2".into(),
        run_id: other.run_id,
    };
    assert!(admit(&e, &other, "u10").await.is_ok());
    // The run closes: its updates leave, and no new one is admitted.
    e.terminate_workflow("ns-id", &exec, "", "done", None, "test")
        .await
        .unwrap();
    assert!(matches!(
        admit(&e, &exec, "u11").await,
        Err(CellError::NotFound(_))
    ));
}

async fn the_total_counts_completed_and_in_flight_updates_across_a_restart(
    store: Arc<dyn CellStore>,
) {
    let config = ["history.maxTotalUpdates=3"];
    let sink = Arc::new(Collect::default());
    let e = engine(store.clone(), sink.clone(), &config).await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    for id in ["a", "b", "c"] {
        admit(&e, &exec, id).await.unwrap();
    }
    let refused = admit(&e, &exec, "d").await;
    match &refused {
        Err(CellError::FailedPrecondition(message)) => assert!(
            message.starts_with(
                "The limit on the total number of distinct updates in this workflow has been reached (3)."
            ),
            "{message}"
        ),
        other => panic!("the 4th update: {other:?}"),
    }
    // The worker completes a, rejects b (not counted) and accepts c.
    let carried = work(
        &e,
        &sink,
        vec![accept("a"), complete("a"), reject("b"), accept("c")],
    )
    .await;
    assert_eq!(carried, ["a", "b", "c"]);
    // a (completed) + c (in flight) = 2: one more fits, then no more.
    admit(&e, &exec, "d").await.unwrap();
    assert!(matches!(
        admit(&e, &exec, "e").await,
        Err(CellError::FailedPrecondition(_))
    ));
    // A completed update asked again answers its outcome, not a refusal.
    let again = e
        .update_workflow(
            "ns-id",
            &exec,
            "",
            request("a"),
            Stage::Completed,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(again.stage, Stage::Completed as i32);

    // A restart forgets admitted d (as the real server does) but not what
    // mutable state holds: a completed and c accepted.
    let e = engine(store, sink, &config).await;
    admit(&e, &exec, "e").await.unwrap();
    assert!(matches!(
        admit(&e, &exec, "f").await,
        Err(CellError::FailedPrecondition(_))
    ));
}

async fn a_worker_cannot_grow_a_run_past_its_total_with_unknown_updates(store: Arc<dyn CellStore>) {
    let sink = Arc::new(Collect::default());
    let e = engine(store, sink.clone(), &["history.maxTotalUpdates=2"]).await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    admit(&e, &exec, "a").await.unwrap();
    // Besides a, the worker accepts two updates the server never admitted:
    // the first fits the total of 2, the second does not, and the task
    // fails as on the real server. Nothing of it is written.
    work(
        &e,
        &sink,
        vec![accept("a"), accept("ghost-1"), accept("ghost-2")],
    )
    .await;
    let history = e
        .read_history(
            "ns-id",
            &exec,
            orrery_history::HistoryQuery {
                page_size: 0,
                token: &[],
                wait_new_event: false,
                close_only: false,
                max_wait: Duration::ZERO,
            },
        )
        .await
        .unwrap()
        .history
        .events;
    let failed = history
        .iter()
        .find_map(|ev| match &ev.attributes {
            Some(Attributes::WorkflowTaskFailedEventAttributes(f)) => Some(f.clone()),
            _ => None,
        })
        .expect("the workflow task failed");
    assert_eq!(
        failed.cause,
        WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage as i32
    );
    assert!(
        failed
            .failure
            .unwrap()
            .message
            .contains("total number of distinct updates in this workflow has been reached (2)")
    );
    assert!(
        !history
            .iter()
            .any(|ev| ev.event_type == EventType::WorkflowExecutionUpdateAccepted as i32)
    );
}

/// An update carrying `bytes` bytes of arguments.
fn large_request(update_id: &str, bytes: usize) -> Request {
    use orrery_proto::api::common::v1::{Payload, Payloads};
    let mut r = request(update_id);
    r.input.as_mut().unwrap().args = Some(Payloads {
        payloads: vec![Payload {
            data: vec![b'x'; bytes],
            ..Default::default()
        }],
    });
    r
}

async fn admit_large(
    e: &HistoryEngine,
    exec: &WorkflowExecution,
    id: &str,
) -> Result<i32, CellError> {
    e.update_workflow(
        "ns-id",
        exec,
        "",
        large_request(id, 4000),
        Stage::Admitted,
        Duration::ZERO,
    )
    .await
    .map(|r| r.stage)
}

fn is_payload_refusal(result: &Result<i32, CellError>, limit: &str) -> bool {
    matches!(result, Err(CellError::ResourceExhausted { message, cause })
        if *message == format!("limit on total payload size of in-flight updates has been reached ({limit} bytes)")
            && *cause == ResourceExhaustedCause::ConcurrentLimit)
}

async fn the_payloads_of_in_flight_updates_are_capped_per_run(store: Arc<dyn CellStore>) {
    let sink = Arc::new(Collect::default());
    let e = engine(
        store,
        sink.clone(),
        &["history.maxInFlightUpdatePayloads=10000"],
    )
    .await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    // Two requests of about 4 KB fit in 10,000 bytes; a third does not,
    // though the in-flight count (10) is far.
    admit_large(&e, &exec, "a").await.unwrap();
    admit_large(&e, &exec, "b").await.unwrap();
    let third = admit_large(&e, &exec, "c").await;
    assert!(is_payload_refusal(&third, "10000"), "{third:?}");
    // A small one still fits, and a repeat of a held one is not new.
    admit(&e, &exec, "small").await.unwrap();
    admit_large(&e, &exec, "a").await.unwrap();
    // Once accepted (or rejected) an update holds its request no more.
    let carried = work(&e, &sink, vec![accept("a"), reject("b"), accept("small")]).await;
    assert_eq!(carried, ["a", "b", "small"]);
    admit_large(&e, &exec, "c").await.unwrap();
    admit_large(&e, &exec, "d").await.unwrap();
    assert!(is_payload_refusal(
        &admit_large(&e, &exec, "e").await,
        "10000"
    ));
    // Another run has its own bytes.
    let other = e.start_workflow(spec("wf-2"), 0, 0, None).await.unwrap();
    let other = WorkflowExecution {
        workflow_id: "wf-2".into(),
        run_id: other.run_id,
    };
    admit_large(&e, &other, "e").await.unwrap();
}

#[tokio::test]
async fn the_default_payload_limit_is_20_mib_and_zero_turns_it_off() {
    let (store, _dir) = sqlite().await;
    let e = engine(store.clone(), Arc::default(), &[]).await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id.clone(),
    };
    let big = |id: &str| large_request(id, 3 * 1024 * 1024);
    for i in 0..6 {
        e.update_workflow(
            "ns-id",
            &exec,
            "",
            big(&format!("u{i}")),
            Stage::Admitted,
            Duration::ZERO,
        )
        .await
        .unwrap();
    }
    let seventh = e
        .update_workflow(
            "ns-id",
            &exec,
            "",
            big("u6"),
            Stage::Admitted,
            Duration::ZERO,
        )
        .await
        .map(|r| r.stage);
    assert!(is_payload_refusal(&seventh, "20971520"), "{seventh:?}");

    let (store, _dir) = sqlite().await;
    let e = engine(
        store,
        Arc::default(),
        &["history.maxInFlightUpdatePayloads=0"],
    )
    .await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id,
    };
    for i in 0..8 {
        e.update_workflow(
            "ns-id",
            &exec,
            "",
            big(&format!("u{i}")),
            Stage::Admitted,
            Duration::ZERO,
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_payload_limit_follows_namespace_constraints() {
    let (store, _dir) = sqlite().await;
    let e = engine(
        store,
        Arc::default(),
        &[r#"history.maxInFlightUpdatePayloads=[{"value": 5000, "constraints": {"namespace": "ns"}}, {"value": 1000000}]"#],
    )
    .await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id,
    };
    admit_large(&e, &exec, "a").await.unwrap();
    assert!(is_payload_refusal(
        &admit_large(&e, &exec, "b").await,
        "5000"
    ));
}

#[tokio::test]
async fn the_limits_follow_namespace_constraints() {
    let (store, _dir) = sqlite().await;
    let e = engine(
        store,
        Arc::default(),
        &[r#"history.maxInFlightUpdates=[{"value": 2, "constraints": {"namespace": "ns"}}, {"value": 10}]"#],
    )
    .await;
    let started = e.start_workflow(spec("wf"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf".into(),
        run_id: started.run_id,
    };
    admit(&e, &exec, "a").await.unwrap();
    admit(&e, &exec, "b").await.unwrap();
    match admit(&e, &exec, "c").await {
        Err(CellError::ResourceExhausted { message, .. }) => assert!(message.ends_with("(2)")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_task_may_answer_only_its_own_runs_queries() {
    let (store, _dir) = sqlite().await;
    let e = engine(store, Arc::default(), &[]).await;
    let a = e.start_workflow(spec("wf-a"), 0, 0, None).await.unwrap();
    let b = e.start_workflow(spec("wf-b"), 0, 0, None).await.unwrap();
    let exec = WorkflowExecution {
        workflow_id: "wf-a".into(),
        run_id: a.run_id.clone(),
    };
    // A's first task is pending, so the query waits for it.
    let (route, _) = e
        .route_query("ns-id", &exec, "q-a", &WorkflowQuery::default())
        .await
        .unwrap();
    assert!(matches!(route, QueryRoute::Buffered(_)));
    assert!(e.queries_of_run(&b.run_id, ["q-a"]).is_empty());
    assert_eq!(e.queries_of_run(&a.run_id, ["q-a", "q-other"]), ["q-a"]);
}
