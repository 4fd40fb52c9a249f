//! Queries that must be refused, and inputs that must not break the parser.
use super::*;

// ------------------------------------------------------------- invalid

#[test]
fn invalid_queries() {
    let cases: &[(&str, &str)] = &[
        ("WorkflowId = 'x' UNION SELECT * FROM visibility", ""),
        ("WorkflowId = 'x'; DROP TABLE visibility", "';'"),
        ("WorkflowId = 'x';", "';'"),
        ("upper(WorkflowId) = 'X'", "search attribute name"),
        ("WorkflowId = upper('x')", "function"),
        ("WorkflowId IN (SELECT run_id FROM visibility)", ""),
        ("EXISTS (SELECT 1)", "subquery"),
        ("HistoryLength = 1 + 1", "arithmetic"),
        ("HistoryLength + 1 = 2", "search attribute name"),
        ("HistoryLength = -HistoryLength", "arithmetic"),
        ("WorkflowId LIKE 'x%'", "LIKE"),
        ("WorkflowId NOT LIKE 'x%'", "LIKE"),
        ("WorkflowId ILIKE 'x%'", ""),
        ("WorkflowId REGEXP 'x'", ""),
        ("WorkflowId = RunId", "did you forget to quote 'RunId'"),
        ("WorkflowId = 'x' OR 1=1", "search attribute name"),
        ("1 = 1", "search attribute name"),
        ("'x' = WorkflowId", "search attribute name"),
        (
            "Foo = 'x'",
            "column name 'Foo' is not a valid search attribute",
        ),
        ("namespace_id = 'x'", "not a valid search attribute"),
        ("run_id = 'x'", "not a valid search attribute"),
        ("data IS NULL", "not a valid search attribute"),
        ("sort_close_ms > 0", "not a valid search attribute"),
        ("WorkflowId == 'x'", "'=='"),
        ("NamespaceId = 'x'", "not a valid search attribute"),
        ("v.WorkflowId = 'x'", "not a valid search attribute"),
        ("workflowid = 'x'", "not a valid search attribute"),
        (
            "CustomTextField < 'x'",
            "operator '<' not supported for Text",
        ),
        ("CustomTextField STARTS_WITH 'x'", "STARTS_WITH"),
        ("CustomTextField IN ('a')", "'IN' not supported for Text"),
        ("CustomTextField BETWEEN 'a' AND 'b'", "range condition"),
        ("CustomKeywordListField > 'a'", "KeywordList"),
        ("CustomKeywordListField STARTS_WITH 'a'", "KeywordList"),
        (
            "CustomKeywordListField BETWEEN 'a' AND 'b'",
            "range condition",
        ),
        ("CustomBoolField BETWEEN true AND false", "range condition"),
        ("CustomBoolField STARTS_WITH 'a'", "Bool"),
        ("CustomIntField STARTS_WITH '1'", "Int"),
        (
            "CustomIntField = 'abc'",
            "invalid value for search attribute CustomIntField of type Int",
        ),
        ("CustomIntField = true", "of type Int"),
        ("CustomDoubleField = 'x'", "of type Double"),
        ("CustomBoolField = 1", "of type Bool"),
        ("CustomBoolField = 'true'", "of type Bool"),
        ("CustomKeywordField = 5", "of type Keyword"),
        ("CustomKeywordListField = 5", "of type KeywordList"),
        (
            "CustomDatetimeField = 'yesterday'",
            "unable to parse datetime",
        ),
        ("CustomDatetimeField = 1.5", "of type Datetime"),
        ("StartTime > '2024-01-01'", "unable to parse datetime"),
        (
            "StartTime > '2024-01-01 00:00:00Z'",
            "unable to parse datetime",
        ),
        ("ExecutionStatus = 'running'", "ExecutionStatus"),
        ("ExecutionStatus = 42", "ExecutionStatus"),
        ("ExecutionStatus STARTS_WITH 'Run'", "STARTS_WITH"),
        ("ExecutionDuration > 'forever'", "duration"),
        ("ExecutionDuration > 1.5", "ExecutionDuration"),
        ("WorkflowId = 'x' LIMIT 10", "LIMIT"),
        ("WorkflowId = 'x' LIMIT 10 OFFSET 5", "LIMIT"),
        ("WorkflowId = 'x' HAVING 1", "HAVING"),
        ("WorkflowId = 'x' FOR UPDATE", ""),
        ("GROUP BY WorkflowType", "GROUP BY"),
        ("GROUP BY ExecutionStatus, WorkflowType", "single field"),
        ("ORDER BY CustomTextField", "sort"),
        ("ORDER BY CustomKeywordListField", "sort"),
        ("ORDER BY StartTime NULLS FIRST", "ORDER BY"),
        ("ORDER BY upper(WorkflowId)", "search attribute name"),
        ("WorkflowId", "incomplete expression"),
        ("WorkflowId =", "malformed"),
        ("WorkflowId = 'x' AND", "malformed"),
        ("(WorkflowId = 'x'", "malformed"),
        ("WorkflowId = 'unterminated", "malformed"),
        ("WorkflowId IS TRUE", "IS NULL"),
        ("WorkflowId = NULL", "IS NULL"),
        ("WorkflowId IN ()", ""),
        ("CustomTextField = ''", "no tokens"),
        ("true", "literal"),
        ("WorkflowId = 'x' AND true", "literal"),
        ("SELECT * FROM visibility", ""),
        ("WHERE WorkflowId = 'x'", "malformed"),
        ("WorkflowId STARTS_WITH 5", "literal string"),
        ("WorkflowId STARTS_WITH WorkflowType", "quote"),
        ("WorkflowId = x'41'", ""),
        ("CASE WHEN 1 THEN 1 END = 1", ""),
        ("WorkflowId = ('a', 'b')", ""),
        ("WorkflowId IN ('a', WorkflowType)", "quote"),
        ("WorkflowId = 'a' XOR WorkflowId = 'b'", ""),
        ("WorkflowId = @var", ""),
        ("WorkflowId = ?", ""),
        ("WorkflowId = 'x' INTO OUTFILE '/tmp/x'", ""),
        ("WorkflowId = 'x' ) OR (1 = 1", ""),
        ("WorkflowId = 'x' ORDER BY", "malformed"),
        ("ORDER BY StartTime LIMIT 1", "LIMIT"),
        ("CustomKeywordField = 'a' COLLATE utf8mb4_bin", ""),
    ];
    assert!(cases.len() >= 40);
    for (q, needle) in cases {
        let e = err(q);
        assert!(e.starts_with("invalid query: "), "{q}: {e}");
        assert!(e.contains(needle), "{q}: {e} (wanted {needle:?})");
    }
}

#[test]
fn deep_or_long_inputs_do_not_overflow() {
    let chain = (0..5000)
        .map(|i| format!("WorkflowId = 'w{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let s = lite(&chain);
    assert_eq!(s.params.len(), 5002);
    let deep = format!("{}WorkflowId = 'x'{}", "(".repeat(500), ")".repeat(500));
    let _ = parse(&deep, &cat()); // an error or not, but no stack overflow
    let nots = format!("{}WorkflowId = 'x'", "NOT ".repeat(500));
    let _ = parse(&nots, &cat());
    let huge_in = format!(
        "WorkflowId IN ({})",
        (0..5000)
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(lite(&huge_in).params.len(), 5002);
}

#[test]
fn user_text_never_reaches_sql() {
    let q =
        "WorkflowId = 'x'' OR 1=1 --' AND CustomKeywordField STARTS_WITH '\"; DROP TABLE v; --'";
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let s = sql(q, d);
        assert!(!s.where_sql.contains("DROP"));
        assert!(!s.where_sql.contains("1=1"));
        assert!(!s.where_sql.contains("--"));
        assert_eq!(s.params[1], text("x' OR 1=1 --"));
    }
}
