//! Conformance cases for the stores whose queries are richest: schedules
//! and visibility filters (the list-filter language translated to SQL).
use std::sync::Arc;

use orrery_persistence::*;

use super::*;

pub(super) fn schedule(
    id: &str,
    version: i64,
    wake: Option<i64>,
) -> (ScheduleRecord, VisibilityRow) {
    let record = ScheduleRecord {
        namespace_id: "ns".into(),
        schedule_id: id.into(),
        version,
        next_wake_ms: wake,
        data: format!("v{version}").into_bytes(),
    };
    let row = VisibilityRow {
        namespace_id: "ns".into(),
        run_id: schedule_run_id(id),
        workflow_id: id.into(),
        workflow_type: "scheduler".into(),
        status: 1,
        start_ms: 1,
        search_attributes: keyword("CustomKeywordField", id),
        ..Default::default()
    };
    (record, row)
}

pub(super) async fn schedules_are_conditional_and_listed(s: Arc<dyn CellStore>) {
    let (a, a_row) = schedule("a", 1, Some(300));
    let (b, b_row) = schedule("b", 1, Some(100));
    let (c, c_row) = schedule("c", 1, None);
    for (r, row) in [(&a, &a_row), (&b, &b_row), (&c, &c_row)] {
        s.create_schedule(r, row).await.unwrap();
    }
    assert!(matches!(
        s.create_schedule(&a, &a_row).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(s.schedule("ns", "a").await.unwrap().unwrap(), a);
    assert_eq!(s.schedule("other", "a").await.unwrap(), None);
    // Due ones soonest first; a schedule without a wake time never is.
    assert_eq!(
        s.due_schedules(1_000, 10).await.unwrap(),
        vec![
            ("ns".to_string(), "b".to_string()),
            ("ns".to_string(), "a".to_string())
        ]
    );
    assert_eq!(s.due_schedules(200, 10).await.unwrap().len(), 1);
    assert_eq!(s.next_schedule_wake_ms().await.unwrap(), Some(100));
    // Updates are conditional on the version.
    let (a2, a2_row) = schedule("a", 2, Some(50));
    s.update_schedule(&a2, &a2_row).await.unwrap();
    assert!(matches!(
        s.update_schedule(&a2, &a2_row).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(s.schedule("ns", "a").await.unwrap().unwrap().data, b"v2");
    assert_eq!(count(&s, "ns", "CustomKeywordField = 'a'").await, 1);
    // Deleting takes the visibility row with it.
    assert!(s.delete_schedule("ns", "a").await.unwrap());
    assert!(!s.delete_schedule("ns", "a").await.unwrap());
    assert_eq!(count(&s, "ns", "CustomKeywordField = 'a'").await, 0);
    assert!(matches!(
        s.update_schedule(&schedule("a", 3, None).0, &a2_row).await,
        Err(CellError::ConditionFailed)
    ));
    assert_eq!(count(&s, "ns", "").await, 2);
}

/// The attributes the filter cases define on top of the system ones.
pub(super) fn catalog() -> orrery_visibility::Catalog {
    use orrery_visibility::SaType::*;
    orrery_visibility::Catalog::new(
        [
            ("CustomKeywordField", Keyword),
            ("CustomIntField", Int),
            ("CustomDoubleField", Double),
            ("CustomBoolField", Bool),
            ("CustomDatetimeField", Datetime),
            ("CustomTextField", Text),
            ("CustomKeywordListField", KeywordList),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect(),
    )
}

pub(super) fn query(q: &str) -> orrery_visibility::Query {
    orrery_visibility::parse(q, &catalog()).unwrap_or_else(|e| panic!("{q}: {e}"))
}

/// Indexed values of typed search attributes given as JSON.
pub(super) fn attributes(fields: &[(&str, &str)]) -> Vec<IndexedValue> {
    use orrery_proto::api::common::v1::{Payload, SearchAttributes};
    let mut sa = SearchAttributes {
        indexed_fields: fields
            .iter()
            .map(|(name, json)| {
                let payload = Payload {
                    metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
                    data: json.as_bytes().to_vec(),
                    ..Default::default()
                };
                (name.to_string(), payload)
            })
            .collect(),
    };
    orrery_visibility::validate(&mut sa, &catalog()).unwrap();
    orrery_visibility::index_rows(&sa, &catalog())
}

pub(super) fn keyword(name: &str, value: &str) -> Vec<IndexedValue> {
    attributes(&[(name, &format!("{value:?}"))])
}

pub(super) async fn count(s: &Arc<dyn CellStore>, ns: &str, q: &str) -> i64 {
    s.count_executions(ns, &query(q)).await.unwrap().total
}

pub(super) async fn listed(s: &Arc<dyn CellStore>, ns: &str, q: &str) -> Vec<String> {
    s.list_executions(ns, &query(q), &VisibilityPage::First, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.workflow_id)
        .collect()
}

/// Runs a..e with a spread of columns and attributes, and one run of
/// another namespace that matches everything.
pub(super) async fn filter_fixture(s: &Arc<dyn CellStore>) -> i64 {
    let range = s.acquire_shard(1, "a").await.unwrap();
    let mut tx = start_tx(range, "r1", 1);
    let row =
        |ns: &str, id: &str, ty: &str, status: i32, start: i64, close: Option<i64>| VisibilityRow {
            namespace_id: ns.into(),
            run_id: format!("run-{ns}-{id}"),
            workflow_id: id.into(),
            workflow_type: ty.into(),
            status,
            start_ms: start,
            execution_ms: start,
            close_ms: close,
            task_queue: "tq".into(),
            root_workflow_id: id.into(),
            root_run_id: format!("run-{ns}-{id}"),
            history_length: start / 100,
            ..Default::default()
        };
    let mut a = row("ns", "a", "Order", 1, 1_000, None);
    a.search_attributes = attributes(&[
        ("CustomKeywordField", r#""red""#),
        ("CustomIntField", "5"),
        ("CustomTextField", r#""the quick brown fox""#),
        ("CustomKeywordListField", r#"["x", "y"]"#),
        ("CustomBoolField", "true"),
        ("CustomDatetimeField", r#""2026-01-02T03:04:05Z""#),
    ]);
    let mut b = row("ns", "b", "Order", 2, 2_000, Some(5_000));
    b.search_attributes = attributes(&[
        ("CustomKeywordField", r#""blue""#),
        ("CustomIntField", "10"),
        ("CustomDoubleField", "2.5"),
        ("CustomKeywordListField", r#"["y"]"#),
    ]);
    let mut c = row("ns", "c", "Ship", 3, 3_000, Some(4_000));
    c.parent_workflow_id = Some("a".into());
    c.parent_run_id = Some("run-ns-a".into());
    c.search_attributes = attributes(&[("CustomIntField", "-1")]);
    let d = row("ns", "d-1", "Ship", 5, 4_000, Some(9_000));
    let e = row(
        "ns",
        "d-2",
        "Ship'; DROP TABLE visibility; --",
        1,
        5_000,
        None,
    );
    let mut other = row("other", "a", "Order", 1, 1_000, None);
    other.search_attributes = attributes(&[("CustomKeywordField", r#""red""#)]);
    tx.visibility = vec![a, b, c, d, e, other];
    s.commit(&tx).await.unwrap();
    range
}

pub(super) async fn visibility_filters_select_the_same_runs(s: Arc<dyn CellStore>) {
    filter_fixture(&s).await;
    let cases: &[(&str, &[&str])] = &[
        // Default order: running first (newest start first), then by close time.
        ("", &["d-2", "a", "d-1", "b", "c"]),
        ("WorkflowType = 'Order'", &["a", "b"]),
        ("WorkflowType != 'Order'", &["d-2", "d-1", "c"]),
        ("ExecutionStatus = 'Running'", &["d-2", "a"]),
        ("ExecutionStatus IN ('Completed', 'Failed')", &["b", "c"]),
        ("WorkflowId STARTS_WITH 'd-'", &["d-2", "d-1"]),
        ("WorkflowId STARTS_WITH 'D-'", &[]),
        ("WorkflowId NOT STARTS_WITH 'd-'", &["a", "b", "c"]),
        ("WorkflowId STARTS_WITH '%'", &[]),
        ("CustomKeywordField = 'red'", &["a"]),
        ("CustomKeywordField IN ('red', 'blue')", &["a", "b"]),
        ("CustomIntField >= 5", &["a", "b"]),
        ("CustomIntField BETWEEN 0 AND 7", &["a"]),
        ("CustomIntField < 0", &["c"]),
        ("CustomDoubleField > 2", &["b"]),
        ("CustomBoolField = true", &["a"]),
        ("CustomDatetimeField > '2026-01-01T00:00:00Z'", &["a"]),
        ("CustomTextField = 'quick'", &["a"]),
        ("CustomTextField = 'slow'", &[]),
        ("CustomKeywordListField = 'y'", &["a", "b"]),
        ("CustomKeywordListField = 'x'", &["a"]),
        ("CustomKeywordField IS NULL", &["d-2", "d-1", "c"]),
        ("CustomKeywordField IS NOT NULL", &["a", "b"]),
        ("ParentWorkflowId = 'a'", &["c"]),
        ("ParentWorkflowId IS NULL", &["d-2", "a", "d-1", "b"]),
        ("CloseTime IS NULL", &["d-2", "a"]),
        ("StartTime > '1970-01-01T00:00:02.5Z'", &["d-2", "d-1", "c"]),
        ("HistoryLength > 25", &["d-1", "c"]),
        ("HistoryLength IS NULL", &["d-2", "a"]),
        (
            "TaskQueue = 'tq' AND (WorkflowId = 'a' OR WorkflowId = 'c')",
            &["a", "c"],
        ),
        ("NOT (WorkflowType = 'Ship')", &["d-2", "a", "b"]),
        (
            "WorkflowType = 'Ship''; DROP TABLE visibility; --'",
            &["d-2"],
        ),
        ("ORDER BY StartTime ASC", &["a", "b", "c", "d-1", "d-2"]),
        (
            "WorkflowType = 'Order' ORDER BY CustomIntField DESC",
            &["b", "a"],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(listed(&s, "ns", q).await, *want, "query: {q}");
        assert_eq!(count(&s, "ns", q).await, want.len() as i64, "count: {q}");
    }
    // Nothing of one namespace is seen from another.
    assert_eq!(
        listed(&s, "other", "CustomKeywordField = 'red'").await,
        ["a"]
    );
    assert_eq!(count(&s, "nobody", "").await, 0);
    // Keyset pages walk the default order without gaps or repeats.
    let all = query("");
    let mut page = VisibilityPage::First;
    let mut seen = Vec::new();
    loop {
        let rows = s.list_executions("ns", &all, &page, 2).await.unwrap();
        seen.extend(rows.iter().map(|r| r.workflow_id.clone()));
        match rows.last() {
            Some(last) if rows.len() == 2 => page = last.position(),
            _ => break,
        }
    }
    assert_eq!(seen, ["d-2", "a", "d-1", "b", "c"]);
    let ordered = query("ORDER BY StartTime ASC");
    let second = s
        .list_executions("ns", &ordered, &VisibilityPage::Offset(3), 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].workflow_id, "d-1");
    // Grouped counts.
    let grouped = s
        .count_executions("ns", &query("GROUP BY ExecutionStatus"))
        .await
        .unwrap();
    assert_eq!(grouped.total, 5);
    let mut groups = grouped.by_status.unwrap();
    groups.sort();
    assert_eq!(groups, vec![(1, 2), (2, 1), (3, 1), (5, 1)]);
}

pub(super) async fn removed_search_attributes_match_nothing(s: Arc<dyn CellStore>) {
    filter_fixture(&s).await;
    s.remove_search_attribute("ns", "CustomKeywordField")
        .await
        .unwrap();
    assert_eq!(count(&s, "ns", "CustomKeywordField IS NOT NULL").await, 0);
    assert_eq!(count(&s, "ns", "CustomIntField IS NOT NULL").await, 3);
    // Another namespace's values of the same name stay.
    assert_eq!(count(&s, "other", "CustomKeywordField = 'red'").await, 1);
}
