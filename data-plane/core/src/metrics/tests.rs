use std::time::Duration;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sample(
    stats: &orrery_cell_api::PullNamespaceStatsResponse,
    ns: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let ns = stats.namespaces.iter().find(|n| n.namespace_id == ns)?;
    ns.samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|l| l.name == *k && l.value == *v))
        })
        .map(|s| s.value)
}

#[test]
fn calls_are_counted_by_namespace_id_and_labelled_by_name() {
    let state = State::new();
    state.set_namespace_names(vec![("id-orders".into(), "orders".into())]);
    state.rpc_finished("StartWorkflowExecution", "orders", ms(3), None);
    state.rpc_finished(
        "StartWorkflowExecution",
        "orders",
        ms(4),
        Some("AlreadyExists"),
    );
    // Made-up names (and calls naming none) never become label values.
    for i in 0..100 {
        state.rpc_finished(
            "DescribeNamespace",
            &format!("nope-{i}"),
            ms(1),
            Some("NotFound"),
        );
    }
    state.rpc_finished("GetSystemInfo", "", ms(1), None);

    let stats = state.namespace_stats();
    assert_eq!(
        stats.namespaces.len(),
        1,
        "unknown calls belong to no tenant"
    );
    let op = [("operation", "StartWorkflowExecution")];
    assert_eq!(
        sample(&stats, "id-orders", "service_requests", &op),
        Some(2.0)
    );
    assert_eq!(
        sample(&stats, "id-orders", "service_errors", &op),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &stats,
            "id-orders",
            "service_error_with_type",
            &[
                ("operation", "StartWorkflowExecution"),
                ("error_type", "AlreadyExists")
            ]
        ),
        Some(1.0)
    );
    let latency = &stats.namespaces[0].histograms[0];
    assert_eq!(latency.name, "service_latency");
    assert_eq!(latency.counts.iter().sum::<u64>(), 2);
    assert_eq!(latency.counts.len(), latency.bounds.len() + 1);
    assert!((latency.sum - 0.007).abs() < 1e-9);

    let text = state.prometheus_text();
    assert!(
        text.contains(
            "service_requests_total{namespace=\"orders\",operation=\"StartWorkflowExecution\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "service_requests_total{namespace=\"_unknown_\",operation=\"DescribeNamespace\"} 100"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE service_latency histogram"), "{text}");
    assert!(
        text.contains(
            "service_latency_bucket{namespace=\"orders\",operation=\"StartWorkflowExecution\",le=\"0.005\"} 2"
        ),
        "{text}"
    );
    assert!(!text.contains("nope-"), "no made-up name is a label value");
    // Buckets are cumulative once, ending at the count.
    let bucket = |le: &str| {
        let line = format!(
            "service_latency_bucket{{namespace=\"orders\",operation=\"StartWorkflowExecution\",le=\"{le}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .unwrap_or_else(|| panic!("no {le} bucket in {text}"))
            .to_string()
    };
    assert_eq!(bucket("0.0025"), "0");
    assert_eq!(bucket("0.005"), "2");
    assert_eq!(bucket("3600"), "2");
    assert_eq!(bucket("+Inf"), "2");
}

#[test]
fn an_unknown_name_that_answered_asks_for_a_refresh() {
    let state = State::new();
    let wanted = state.names_wanted.notified();
    tokio::pin!(wanted);
    assert!(!wanted.as_mut().enable());
    state.rpc_finished("StartWorkflowExecution", "fresh", ms(1), None);
    assert!(
        wanted.as_mut().enable(),
        "a successful call on an unknown name"
    );
}

#[test]
fn outcomes_actions_and_schedule_to_start_reach_both_views() {
    let state = State::new();
    state.namespace_known("id-a", "a");
    state.workflow_closed("id-a", WorkflowOutcome::Success);
    state.workflow_closed("id-a", WorkflowOutcome::ContinuedAsNew);
    state.actions("id-a", "workflow_started", 2);
    state.schedule_to_start("id-a", "orders", false, "Workflow", ms(20));
    state.schedule_to_start("id-a", "host-1-sticky", true, "Workflow", ms(5));

    let stats = state.namespace_stats();
    assert_eq!(sample(&stats, "id-a", "workflow_success", &[]), Some(1.0));
    assert_eq!(sample(&stats, "id-a", "workflow_failed", &[]), Some(0.0));
    assert_eq!(
        sample(&stats, "id-a", "workflow_continued_as_new", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &stats,
            "id-a",
            "action",
            &[("action_type", "workflow_started")]
        ),
        Some(2.0)
    );
    let queues: Vec<_> = stats.namespaces[0]
        .histograms
        .iter()
        .filter(|h| h.name == "task_schedule_to_start_latency")
        .map(|h| h.labels[0].value.clone())
        .collect();
    assert_eq!(queues, [STICKY_TASK_QUEUE, "orders"]);

    let text = state.prometheus_text();
    assert!(
        text.contains("workflow_success_total{namespace=\"a\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("action_total{namespace=\"a\",action_type=\"workflow_started\"} 2"),
        "{text}"
    );
}

#[test]
fn task_queue_label_values_are_capped_per_process() {
    let state = State::new();
    for i in 0..MAX_TASK_QUEUE_LABELS + 500 {
        state.schedule_to_start("id-a", &format!("queue-{i}"), false, "Activity", ms(1));
    }
    let stats = state.namespace_stats();
    let histograms = &stats.namespaces[0].histograms;
    assert_eq!(
        histograms.len(),
        MAX_TASK_QUEUE_LABELS + 1,
        "the cap, plus one overflow"
    );
    let overflow = histograms
        .iter()
        .find(|h| h.labels[0].value == OVERFLOW_TASK_QUEUE)
        .expect("an overflow series");
    assert_eq!(overflow.counts.iter().sum::<u64>(), 500);
}

#[test]
fn backlog_gauges_add_up_what_shares_a_label() {
    let state = State::new();
    state.namespace_known("id-a", "a");
    *state.backlog.write().unwrap() = Some(Arc::new(|| {
        let s = |queue: &str, sticky, count| BacklogSample {
            namespace_id: "id-a".into(),
            task_queue: queue.into(),
            task_type: "Workflow",
            sticky,
            count,
        };
        vec![
            s("orders", false, 3),
            s("w1-sticky", true, 1),
            s("w2-sticky", true, 2),
            // Seen only empty: no label spent on it.
            s("host-9:5e1d", false, 0),
        ]
    }));
    let stats = state.namespace_stats();
    let gauges: Vec<_> = stats.namespaces[0]
        .samples
        .iter()
        .filter(|s| s.name == "approximate_backlog_count")
        .map(|s| (s.labels[0].value.as_str(), s.value, s.gauge))
        .collect();
    assert_eq!(gauges, [("__sticky__", 3.0, true), ("orders", 3.0, true)]);
    assert_eq!(lock(&state.task_queues).admitted(), 1);
}

#[test]
fn a_deleted_namespace_is_dropped_after_two_refreshes_miss_it() {
    let state = State::new();
    state.set_namespace_names(vec![("id-a".into(), "a".into())]);
    state.actions("id-a", "signal", 1);
    state.set_namespace_names(vec![]);
    assert_eq!(
        state.namespace_stats().namespaces.len(),
        1,
        "one miss keeps it"
    );
    state.set_namespace_names(vec![]);
    assert!(state.namespace_stats().namespaces.is_empty());
}

#[test]
fn persistence_queue_lag_and_background_tasks_have_no_namespace() {
    let state = State::new();
    state.persistence_finished("commit", ms(2), true);
    state.persistence_finished("commit", ms(2), false);
    state.background_run("queue_lag_sampler", true);
    lock(&state.queue_lag).scheduled.observe(0.5);
    let text = state.prometheus_text();
    assert!(
        text.contains("persistence_requests_total{operation=\"commit\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("persistence_errors_total{operation=\"commit\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("shardinfo_scheduled_queue_lag_count{task_category=\"timer\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("background_task_runs_total{task=\"queue_lag_sampler\"} 1"),
        "{text}"
    );
    assert!(state.namespace_stats().namespaces.is_empty());
}

#[test]
fn label_values_chosen_by_tenants_are_escaped() {
    let state = State::new();
    state.schedule_to_start("id-a", "a\"b\\c\nd", false, "Activity", ms(1));
    let text = state.prometheus_text();
    assert!(text.contains(r#"taskqueue="a\"b\\c\nd""#), "{text}");
}
