//! Translation: columns, operators per type, NULL semantics, text, times, literals, order and grouping.
use super::*;

// ---------------------------------------------------------------- basics

#[test]
fn empty_query_has_only_namespace_and_division() {
    for q in ["", "   ", "\n\t"] {
        let s = lite(q);
        assert_eq!(s.where_sql, format!("v.namespace_id = ?1 AND {DIVISION}"));
        assert_eq!(
            s.params,
            vec![text("ns-1"), text("TemporalNamespaceDivision")]
        );
        assert_eq!(s.order_sql, None);
        assert_eq!(s.joins, "");
        assert_eq!(s.group_by, None);
        assert_eq!(s.next_index(), 3);
        assert_eq!(s.next_placeholder(Dialect::Sqlite), "?3");
        assert_eq!(s.next_placeholder(Dialect::Postgres), "$3");
    }
}

#[test]
fn workflow_id_equality_both_dialects() {
    let s = lite("WorkflowId = 'wf-1'");
    assert_eq!(
        s.where_sql,
        "v.namespace_id = ?1 AND (v.workflow_id = ?2) AND v.run_id NOT IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?3)"
    );
    assert_eq!(
        s.params,
        vec![
            text("ns-1"),
            text("wf-1"),
            text("TemporalNamespaceDivision")
        ]
    );
    let p = sql("WorkflowId = 'wf-1'", Dialect::Postgres);
    assert_eq!(
        p.where_sql,
        "v.namespace_id = $1 AND (v.workflow_id = $2) AND v.run_id NOT IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = $1 AND s.name = $3)"
    );
    assert_eq!(p.params, s.params);
}

#[test]
fn custom_keyword_both_dialects() {
    let q = "CustomKeywordField = 'a' AND (WorkflowType = 'T' OR HistoryLength > 10)";
    let s = lite(q);
    assert_eq!(
        s.where_sql,
        "v.namespace_id = ?1 AND ((v.run_id IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?3 AND s.text_value = ?2)) AND ((v.workflow_type = ?4) OR (v.history_length > ?5))) AND v.run_id NOT IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?6)"
    );
    assert_eq!(
        s.params,
        vec![
            text("ns-1"),
            text("a"),
            text("CustomKeywordField"),
            text("T"),
            SqlParam::Int(10),
            text("TemporalNamespaceDivision")
        ]
    );
    let p = sql(q, Dialect::Postgres);
    assert_eq!(p.where_sql, s.where_sql.replace('?', "$"));
    assert_eq!(p.params, s.params);
}

#[test]
fn starts_with_sqlite_glob_postgres_like() {
    let s = lite("WorkflowId STARTS_WITH 'a*b?[c]%_!'");
    assert!(
        s.where_sql.contains("(v.workflow_id GLOB ?2)"),
        "{}",
        s.where_sql
    );
    assert_eq!(s.params[1], text("a[*]b[?][[]c]%_!*"));
    let p = sql("WorkflowId STARTS_WITH 'a*b?[c]%_!'", Dialect::Postgres);
    assert!(
        p.where_sql.contains("(v.workflow_id LIKE $2 ESCAPE '!')"),
        "{}",
        p.where_sql
    );
    assert_eq!(p.params[1], text("a*b?[c]!%!_!!%"));

    let s = lite("CustomKeywordField NOT STARTS_WITH 'pre'");
    assert!(s.where_sql.contains("v.run_id IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?3 AND s.text_value NOT GLOB ?2)"), "{}", s.where_sql);
    let p = sql("WorkflowId not starts_with 'pre'", Dialect::Postgres);
    assert!(p.where_sql.contains("v.workflow_id NOT LIKE $2 ESCAPE '!'"));
}

#[test]
fn literal_forms() {
    let s = lite(
        "`CustomKeywordField` = \"dq\" AND CustomIntField > -5 AND CustomDoubleField >= 1e3 AND HistoryLength < 5.5 AND CustomBoolField = false AND CustomDoubleField != 2",
    );
    assert_eq!(
        s.params[1..],
        [
            text("dq"),
            text("CustomKeywordField"),
            SqlParam::Int(-5),
            text("CustomIntField"),
            SqlParam::Double(1000.0),
            text("CustomDoubleField"),
            SqlParam::Double(5.5),
            SqlParam::Int(0),
            text("CustomBoolField"),
            SqlParam::Double(2.0),
            text("TemporalNamespaceDivision"),
        ]
    );
    // Escapes inside strings: doubled quote and backslash (MySQL rules).
    let s = lite(r"WorkflowId = 'it''s' OR WorkflowId = 'a\'b' OR WorkflowId = 'x\\y'");
    assert_eq!(s.params[1..4], [text("it's"), text("a'b"), text(r"x\y")]);
    // <> is !=; comments and a line break are whitespace.
    assert_eq!(
        filter("WorkflowId <> 'a' -- trailing\n"),
        "v.workflow_id != ?2"
    );
    assert_eq!(filter("RunId = 'r' # mysql comment"), "v.run_id = ?2");
}

#[test]
fn column_mapping() {
    let cases = [
        ("WorkflowId = 'x'", "v.workflow_id = ?2"),
        ("RunId = 'x'", "v.run_id = ?2"),
        ("WorkflowType = 'x'", "v.workflow_type = ?2"),
        ("TaskQueue = 'x'", "v.task_queue = ?2"),
        ("ParentWorkflowId = 'x'", "v.parent_workflow_id = ?2"),
        ("ParentRunId = 'x'", "v.parent_run_id = ?2"),
        ("RootWorkflowId = 'x'", "v.root_workflow_id = ?2"),
        ("RootRunId = 'x'", "v.root_run_id = ?2"),
        ("HistoryLength >= 3", "v.history_length >= ?2"),
        ("HistorySizeBytes < 3", "v.history_size_bytes < ?2"),
        (
            "StateTransitionCount <= 3",
            "v.state_transition_count <= ?2",
        ),
        ("ExecutionStatus = 'Running'", "v.status = ?2"),
        ("ExecutionDuration > 5", "v.execution_duration_ns > ?2"),
        ("StartTime = 0", "v.start_ms = ?2"),
        ("ExecutionTime = 0", "v.execution_ms = ?2"),
        ("CloseTime = 0", "v.close_ms = ?2"),
        ("CloseTime IS NULL", "v.close_ms IS NULL"),
        (
            "ParentWorkflowId IS NOT NULL",
            "v.parent_workflow_id IS NOT NULL",
        ),
        ("ScheduleId = 'x'", "v.workflow_id = ?2"),
        ("TemporalWorkflowId = 'x'", "v.workflow_id = ?2"),
    ];
    for (q, want) in cases {
        assert_eq!(filter(q), want, "{q}");
    }
}

// ------------------------------------------------------ operator × type

const OPS: [&str; 14] = [
    "= {a}",
    "!= {a}",
    "< {a}",
    "> {a}",
    "<= {a}",
    ">= {a}",
    "IN ({a}, {b})",
    "NOT IN ({a}, {b})",
    "BETWEEN {a} AND {b}",
    "NOT BETWEEN {a} AND {b}",
    "STARTS_WITH {a}",
    "NOT STARTS_WITH {a}",
    "IS NULL",
    "IS NOT NULL",
];

#[test]
fn operator_type_matrix() {
    // attribute, literal a, literal b, allowed operator indexes into OPS
    let all: Vec<usize> = (0..14).collect();
    let no_prefix: Vec<usize> = (0..10).chain(12..14).collect();
    let table: Vec<(&str, &str, &str, Vec<usize>)> = vec![
        ("CustomKeywordField", "'a'", "'b'", all.clone()),
        ("WorkflowId", "'a'", "'b'", all.clone()),
        ("BatcherUser", "'a'", "'b'", all.clone()),
        (
            "CustomKeywordListField",
            "'a'",
            "'b'",
            vec![0, 1, 6, 7, 12, 13],
        ),
        ("BuildIds", "'a'", "'b'", vec![0, 1, 6, 7, 12, 13]),
        ("CustomTextField", "'a'", "'b'", vec![0, 1, 12, 13]),
        ("CustomIntField", "1", "2", no_prefix.clone()),
        ("HistoryLength", "1", "2", no_prefix.clone()),
        ("CustomDoubleField", "1.5", "2.5", no_prefix.clone()),
        (
            "CustomDatetimeField",
            "'2024-01-01T00:00:00Z'",
            "'2024-02-01T00:00:00Z'",
            no_prefix.clone(),
        ),
        (
            "StartTime",
            "'2024-01-01T00:00:00Z'",
            "'2024-02-01T00:00:00Z'",
            no_prefix.clone(),
        ),
        (
            "ExecutionStatus",
            "'Running'",
            "'Failed'",
            no_prefix.clone(),
        ),
        ("ExecutionDuration", "'1s'", "'1h'", no_prefix.clone()),
        (
            "CustomBoolField",
            "true",
            "false",
            vec![0, 1, 2, 3, 4, 5, 6, 7, 12, 13],
        ),
        (
            "TemporalSchedulePaused",
            "true",
            "false",
            vec![0, 1, 2, 3, 4, 5, 6, 7, 12, 13],
        ),
    ];
    let mut checked = 0;
    for (attr, a, b, allowed) in &table {
        for (i, op) in OPS.iter().enumerate() {
            let q = format!("{attr} {}", op.replace("{a}", a).replace("{b}", b));
            let res = parse(&q, &cat());
            if allowed.contains(&i) {
                let parsed = res.unwrap_or_else(|e| panic!("{q}: {e}"));
                for d in [Dialect::Sqlite, Dialect::Postgres] {
                    let s = to_sql(&parsed, "ns-1", d);
                    assert!(s.where_sql.starts_with("v.namespace_id = "), "{q}");
                    assert_eq!(max_placeholder(&s.where_sql), s.params.len(), "{q}");
                }
            } else {
                let e = res
                    .err()
                    .unwrap_or_else(|| panic!("{q}: expected an error"));
                assert!(
                    e.message().contains(attr) || e.message().contains("Text"),
                    "{q}: {e}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, table.len() * OPS.len());
}

fn max_placeholder(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut max = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'?' || b[i] == b'$' {
            let n: String = sql[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = n.parse::<usize>() {
                max = max.max(n);
            }
        }
        i += 1;
    }
    max
}

#[test]
fn eav_value_columns_per_type() {
    let cases = [
        ("CustomIntField = 3", "s.int_value = ?2", SqlParam::Int(3)),
        (
            "CustomIntField > 2.5",
            "s.int_value > ?2",
            SqlParam::Double(2.5),
        ),
        (
            "CustomDoubleField < 3",
            "s.double_value < ?2",
            SqlParam::Double(3.0),
        ),
        (
            "CustomBoolField = true",
            "s.int_value = ?2",
            SqlParam::Int(1),
        ),
        (
            "CustomDatetimeField >= '2024-01-01T00:00:00.000000001Z'",
            "s.int_value >= ?2",
            SqlParam::Int(NANOS_2024 + 1),
        ),
        (
            "CustomDatetimeField < 5",
            "s.int_value < ?2",
            SqlParam::Int(5),
        ),
        ("CustomKeywordField >= 'm'", "s.text_value >= ?2", text("m")),
        ("BatcherUser = 'me'", "s.text_value = ?2", text("me")),
    ];
    for (q, pred, param) in cases {
        let f = filter(q);
        assert!(
            f.contains(&format!("AND s.name = ?3 AND {pred})")),
            "{q}: {f}"
        );
        assert!(f.starts_with("v.run_id IN ("), "{q}: {f}");
        assert_eq!(lite(q).params[1], param, "{q}");
    }
    let f = filter("CustomIntField BETWEEN 1 AND 5");
    assert!(f.ends_with("s.int_value BETWEEN ?2 AND ?3)"), "{f}");
    let f = filter("CustomKeywordField NOT IN ('a', 'b')");
    assert!(f.starts_with("v.run_id IN ("), "{f}");
    assert!(f.ends_with("s.text_value NOT IN (?2, ?3))"), "{f}");
}

// ------------------------------------------------------- NULL semantics

/// `v.run_id IN (SELECT ... s.name = ?N AND <pred>)`
fn has(name_ph: &str, pred: &str) -> String {
    format!(
        "v.run_id IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = {name_ph} AND {pred})"
    )
}

#[test]
fn keyword_not_equal_excludes_runs_without_the_attribute() {
    // Real server: `Keyword01 != 'x'` is NULL for a run without it.
    assert_eq!(
        filter("CustomKeywordField != 'x'"),
        has("?3", "s.text_value != ?2")
    );
    // NOT (NULL) is NULL: also excluded.
    assert_eq!(
        filter("NOT (CustomKeywordField = 'x')"),
        has("?3", "s.text_value != ?2")
    );
    assert_eq!(
        filter("NOT CustomKeywordField NOT IN ('x')"),
        has("?3", "s.text_value IN (?2)")
    );
    assert_eq!(
        filter("NOT CustomIntField < 5"),
        has("?3", "s.int_value >= ?2")
    );
    assert_eq!(
        filter("NOT CustomIntField NOT BETWEEN 1 AND 2"),
        has("?4", "s.int_value BETWEEN ?2 AND ?3")
    );
    assert_eq!(
        filter("NOT (CustomKeywordField STARTS_WITH 'p')"),
        has("?3", "s.text_value NOT GLOB ?2")
    );
    assert_eq!(
        filter("NOT NOT CustomIntField = 1"),
        has("?3", "s.int_value = ?2")
    );
    // De Morgan.
    assert_eq!(
        filter("NOT (CustomIntField = 1 AND CustomKeywordField = 'k')"),
        format!(
            "({}) OR ({})",
            has("?3", "s.int_value != ?2"),
            has("?5", "s.text_value != ?4")
        )
    );
    assert_eq!(
        filter("NOT (WorkflowId = 'a' OR NOT WorkflowType = 'b')"),
        "(v.workflow_id != ?2) AND (v.workflow_type = ?3)"
    );
}

#[test]
fn keyword_list_negations_include_runs_without_the_attribute() {
    let not_has = |pred: &str| {
        format!(
            "v.run_id NOT IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?3 AND {pred})"
        )
    };
    // Real server: `rowid NOT IN (SELECT rowid FROM fts ... MATCH ...)`.
    assert_eq!(
        filter("CustomKeywordListField = 'x'"),
        has("?3", "s.text_value = ?2")
    );
    assert_eq!(
        filter("CustomKeywordListField != 'x'"),
        not_has("s.text_value = ?2")
    );
    assert_eq!(
        filter("NOT CustomKeywordListField = 'x'"),
        not_has("s.text_value = ?2")
    );
    assert_eq!(
        filter("CustomKeywordListField NOT IN ('x')"),
        not_has("s.text_value IN (?2)")
    );
    assert_eq!(
        filter("NOT CustomKeywordListField NOT IN ('x', 'y')"),
        has("?4", "s.text_value IN (?2, ?3)")
    );
}

#[test]
fn is_null_on_attributes() {
    let none = "v.run_id NOT IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?2)";
    let some = "v.run_id IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?2)";
    for attr in [
        "CustomKeywordField",
        "CustomKeywordListField",
        "CustomTextField",
        "CustomIntField",
        "CustomDatetimeField",
    ] {
        assert_eq!(filter(&format!("{attr} IS NULL")), none, "{attr}");
        assert_eq!(filter(&format!("{attr} IS NOT NULL")), some, "{attr}");
        assert_eq!(filter(&format!("NOT ({attr} IS NULL)")), some, "{attr}");
        assert_eq!(lite(&format!("{attr} IS NULL")).params[1], text(attr));
    }
}

// ------------------------------------------------------------------ text

#[test]
fn text_matches_any_word() {
    let q = "CustomTextField = 'Hello WORLD hello'";
    assert_eq!(filter(q), has("?4", "s.text_value IN (?2, ?3)"));
    assert_eq!(lite(q).params[1..3], [text("hello"), text("world")]);
    // != is two-valued, as FTS `rowid NOT IN`.
    assert_eq!(
        filter("CustomTextField != 'hello'"),
        format!("NOT ({})", has("?3", "s.text_value IN (?2)"))
    );
    // A piece with punctuation needs all its tokens.
    let f = filter("CustomTextField = 'foo-bar baz'");
    assert!(f.contains("s.text_value IN (?2)"), "{f}");
    assert!(
        f.contains(
            "s.text_value IN (?4, ?5) GROUP BY s.run_id HAVING COUNT(DISTINCT s.text_value) = ?6"
        ),
        "{f}"
    );
    assert_eq!(
        lite("CustomTextField = 'foo-bar'").params[4],
        SqlParam::Int(2)
    );
    // Only separators: nothing matches.
    assert_eq!(filter("CustomTextField = '---'"), "1 = 0");
    assert!(err("CustomTextField = '  '").contains("no tokens"));
}

#[test]
fn text_tokens_are_shared_with_indexing() {
    let rows = index_rows(
        &sa(&[("CustomTextField", json("\"Hello, wörld! Hello\""))]),
        &cat(),
    );
    let toks: Vec<_> = rows.iter().map(|r| r.text_value.clone().unwrap()).collect();
    assert_eq!(toks, vec!["hello", "world"]);
    assert_eq!(lite("CustomTextField = 'WÖRLD'").params[1], text("world"));
}

// ------------------------------------------------------------ datetimes

#[test]
fn millisecond_columns_round_exactly() {
    let sub = "'2024-01-01T00:00:00.0005Z'"; // 0.5 ms past MS_2024
    let whole = "'2024-01-01T00:00:00.001Z'";
    let p = |q: &str| lite(q).params[1].clone();
    assert_eq!(filter(&format!("StartTime >= {sub}")), "v.start_ms >= ?2");
    assert_eq!(
        p(&format!("StartTime >= {sub}")),
        SqlParam::Int(MS_2024 + 1)
    );
    assert_eq!(p(&format!("StartTime > {sub}")), SqlParam::Int(MS_2024));
    assert_eq!(p(&format!("StartTime < {sub}")), SqlParam::Int(MS_2024 + 1));
    assert_eq!(p(&format!("StartTime <= {sub}")), SqlParam::Int(MS_2024));
    assert_eq!(filter(&format!("StartTime = {sub}")), "1 = 0");
    assert_eq!(
        filter(&format!("StartTime != {sub}")),
        "v.start_ms IS NOT NULL"
    );
    assert_eq!(
        filter(&format!("NOT StartTime = {sub}")),
        "v.start_ms IS NOT NULL"
    );
    assert_eq!(
        p(&format!("StartTime = {whole}")),
        SqlParam::Int(MS_2024 + 1)
    );
    assert_eq!(
        p(&format!("StartTime >= {whole}")),
        SqlParam::Int(MS_2024 + 1)
    );
    assert_eq!(
        p(&format!("StartTime > {whole}")),
        SqlParam::Int(MS_2024 + 1)
    );
    // IN keeps only whole milliseconds.
    assert_eq!(filter(&format!("ExecutionTime IN ({sub})")), "1 = 0");
    assert_eq!(
        filter(&format!("ExecutionTime NOT IN ({sub})")),
        "v.execution_ms IS NOT NULL"
    );
    let s = lite(&format!("ExecutionTime IN ({sub}, {whole})"));
    assert!(s.where_sql.contains("v.execution_ms IN (?2)"));
    assert_eq!(s.params[1], SqlParam::Int(MS_2024 + 1));
    // BETWEEN: ceil(low) .. floor(high).
    let s = lite(&format!(
        "StartTime BETWEEN {sub} AND '2024-01-01T00:00:00.0029Z'"
    ));
    assert!(s.where_sql.contains("v.start_ms BETWEEN ?2 AND ?3"));
    assert_eq!(
        s.params[1..3],
        [SqlParam::Int(MS_2024 + 1), SqlParam::Int(MS_2024 + 2)]
    );
    // Offsets and integer nanoseconds.
    assert_eq!(
        p("StartTime = '2024-01-01T01:00:00+01:00'"),
        SqlParam::Int(MS_2024)
    );
    assert_eq!(
        p(&format!("StartTime > {NANOS_2024}")),
        SqlParam::Int(MS_2024)
    );
    // Before the epoch the floor goes down.
    assert_eq!(
        p("StartTime <= '1969-12-31T23:59:59.9995Z'"),
        SqlParam::Int(-1)
    );
    assert_eq!(
        p("StartTime >= '1969-12-31T23:59:59.9995Z'"),
        SqlParam::Int(0)
    );
}

#[test]
fn close_time_comparisons_leave_running_runs_out() {
    // The real server answers `CloseTime > t` with closed runs only.
    assert_eq!(
        filter("CloseTime > '2024-01-01T00:00:00Z'"),
        "v.close_ms > ?2"
    );
    assert_eq!(filter("CloseTime IS NOT NULL"), "v.close_ms IS NOT NULL");
}

// ------------------------------------------------------ status, duration

#[test]
fn execution_status_literals() {
    let p = |q: &str| lite(q).params[1].clone();
    assert_eq!(p("ExecutionStatus = 'Running'"), SqlParam::Int(1));
    assert_eq!(p("ExecutionStatus = \"Completed\""), SqlParam::Int(2));
    assert_eq!(
        p("ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_FAILED'"),
        SqlParam::Int(3)
    );
    assert_eq!(p("ExecutionStatus != 'Canceled'"), SqlParam::Int(4));
    assert_eq!(p("ExecutionStatus = 'Terminated'"), SqlParam::Int(5));
    assert_eq!(p("ExecutionStatus = 'ContinuedAsNew'"), SqlParam::Int(6));
    assert_eq!(p("ExecutionStatus = 'TimedOut'"), SqlParam::Int(7));
    assert_eq!(p("ExecutionStatus = 2"), SqlParam::Int(2));
    let s = lite("ExecutionStatus IN ('Running', 'Failed')");
    assert!(s.where_sql.contains("v.status IN (?2, ?3)"));
    assert_eq!(s.params[1..3], [SqlParam::Int(1), SqlParam::Int(3)]);
    assert!(err("ExecutionStatus = 'running'").contains("invalid ExecutionStatus value 'running'"));
    assert!(err("ExecutionStatus = 'RUNNING'").contains("ExecutionStatus"));
    assert!(err("ExecutionStatus = 42").contains("invalid ExecutionStatus value 42"));
}

#[test]
fn execution_duration_literals() {
    let p = |q: &str| lite(q).params[1].clone();
    let s = 1_000_000_000i64;
    assert_eq!(p("ExecutionDuration > '1h30m'"), SqlParam::Int(5400 * s));
    assert_eq!(p("ExecutionDuration > '10s'"), SqlParam::Int(10 * s));
    assert_eq!(p("ExecutionDuration > '1.5m'"), SqlParam::Int(90 * s));
    assert_eq!(p("ExecutionDuration > '2d'"), SqlParam::Int(2 * 86_400 * s));
    assert_eq!(p("ExecutionDuration > '00:01:00'"), SqlParam::Int(60 * s));
    assert_eq!(p("ExecutionDuration > 1000"), SqlParam::Int(1000));
    assert_eq!(p("ExecutionDuration > '1000'"), SqlParam::Int(1000));
    assert!(err("ExecutionDuration > 'forever'").contains("invalid duration value"));
    assert!(err("ExecutionDuration > 1.5").contains("ExecutionDuration"));
}

// ---------------------------------------------------- order by, group by

#[test]
fn order_by_columns_and_attributes() {
    let s = lite("ORDER BY StartTime DESC");
    assert_eq!(s.where_sql, format!("v.namespace_id = ?1 AND {DIVISION}"));
    assert_eq!(
        s.order_sql.as_deref(),
        Some("v.start_ms DESC NULLS LAST, v.run_id ASC")
    );
    assert_eq!(s.joins, "");

    let s = lite("WorkflowType = 't' order by CustomIntField, CloseTime asc, ExecutionStatus DESC");
    assert_eq!(
        s.joins,
        " LEFT JOIN visibility_search_attributes o1 ON o1.namespace_id = v.namespace_id AND o1.run_id = v.run_id AND o1.name = ?4 AND o1.ordinal = 0"
    );
    assert_eq!(
        s.order_sql.as_deref(),
        Some(
            "o1.int_value ASC NULLS LAST, v.close_ms ASC NULLS LAST, v.status DESC NULLS LAST, v.run_id ASC"
        )
    );
    assert_eq!(s.params[3], text("CustomIntField"));
    assert_eq!(s.params.len(), 4);

    let p = sql("ORDER BY CustomKeywordField DESC", Dialect::Postgres);
    assert!(p.joins.contains("o1.name = $3"));
    assert_eq!(
        p.order_sql.as_deref(),
        Some("o1.text_value DESC NULLS LAST, v.run_id ASC")
    );
    let parsed = parse("ORDER BY CustomDoubleField", &cat()).unwrap();
    assert_eq!(parsed.order_by().len(), 1);
    assert!(!parsed.has_filter());

    assert!(err("ORDER BY CustomTextField").contains("unable to sort"));
    assert!(err("ORDER BY CustomKeywordListField").contains("unable to sort"));
    assert!(err("ORDER BY Nope").contains("not a valid search attribute"));
}

#[test]
fn group_by_execution_status() {
    let s = lite("GROUP BY ExecutionStatus");
    assert_eq!(s.group_by, Some("v.status"));
    let s = lite("WorkflowType = 'x' GROUP BY ExecutionStatus");
    assert_eq!(s.group_by, Some("v.status"));
    assert!(s.where_sql.contains("v.workflow_type = ?2"));
    assert_eq!(
        parse("group by ExecutionStatus", &cat())
            .unwrap()
            .group_by(),
        Some(GroupBy::ExecutionStatus)
    );
    assert!(
        err("GROUP BY WorkflowType").contains("not supported for search attribute WorkflowType")
    );
    assert!(err("GROUP BY ExecutionStatus, WorkflowType").contains("single field"));
    assert!(err("GROUP BY ExecutionStatus ORDER BY StartTime").contains("'GROUP BY'"));
}

#[test]
fn namespace_division_filter() {
    let s = lite("TemporalNamespaceDivision = 'TemporalScheduler'");
    assert!(!s.where_sql.contains("NOT IN"), "{}", s.where_sql);
    assert_eq!(
        s.params,
        vec![
            text("ns-1"),
            text("TemporalScheduler"),
            text("TemporalNamespaceDivision")
        ]
    );
    let s = lite("NamespaceDivision IS NULL OR NamespaceDivision IS NOT NULL");
    assert_eq!(s.params.len(), 2); // the name is bound once
    assert!(
        parse("TemporalNamespaceDivision IS NULL", &cat())
            .unwrap()
            .mentions_namespace_division()
    );
    assert!(
        !parse("WorkflowId = 'a'", &cat())
            .unwrap()
            .mentions_namespace_division()
    );
}
