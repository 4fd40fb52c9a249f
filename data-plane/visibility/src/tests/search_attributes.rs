//! Search-attribute validation, stamping and indexing, and the catalog.
use super::*;

// ---------------------------------------------------- search attributes

fn check(name: &str, data: &str) -> Result<SearchAttributes, String> {
    let mut s = sa(&[(name, json(data))]);
    validate(&mut s, &cat())
        .map(|_| s)
        .map_err(|e| e.to_string())
}

#[test]
fn validate_accepts_each_type_and_stamps_it() {
    let ok = [
        ("CustomKeywordField", "\"abc\""),
        ("CustomKeywordField", "[\"abc\"]"),
        ("CustomTextField", "\"some text\""),
        ("CustomKeywordListField", "[\"a\", \"b\"]"),
        ("CustomIntField", "42"),
        ("CustomIntField", "-7"),
        ("CustomDoubleField", "1.5"),
        ("CustomDoubleField", "3"),
        ("CustomBoolField", "true"),
        (
            "CustomDatetimeField",
            "\"2024-01-01T00:00:00.123456789+02:00\"",
        ),
        ("CustomIntField", "null"),
        ("CustomKeywordListField", "[]"),
        ("BuildIds", "[\"x\"]"),
        ("TemporalChangeVersion", "[\"v-1\"]"),
        ("BatcherUser", "\"me\""),
        ("TemporalSchedulePaused", "false"),
    ];
    for (name, data) in ok {
        let s = check(name, data).unwrap_or_else(|e| panic!("{name} {data}: {e}"));
        let ty = cat().get(name).unwrap().ty;
        assert_eq!(
            s.indexed_fields[name].metadata[METADATA_TYPE],
            ty.name().as_bytes(),
            "{name}"
        );
    }
    // Unset forms.
    let mut empty = sa(&[("CustomIntField", Payload::default())]);
    assert!(validate(&mut empty, &cat()).is_ok());
    let mut null = Payload::default();
    null.metadata
        .insert("encoding".into(), b"binary/null".to_vec());
    let mut s = sa(&[("CustomKeywordField", null)]);
    assert!(validate(&mut s, &cat()).is_ok());
}

#[test]
fn validate_rejects_like_the_real_server() {
    let cases = [
        ("Foo", "\"x\"", "search attribute Foo is not defined"),
        (
            "WorkflowId",
            "\"x\"",
            "WorkflowId attribute can't be set in SearchAttributes",
        ),
        (
            "ExecutionStatus",
            "1",
            "ExecutionStatus attribute can't be set in SearchAttributes",
        ),
        (
            "TemporalWorkerDeployment",
            "\"d\"",
            "TemporalWorkerDeployment attribute can't be set in SearchAttributes",
        ),
        (
            "CustomIntField",
            "1.5",
            "invalid value for search attribute CustomIntField of type Int: 1.5",
        ),
        (
            "CustomIntField",
            "\"1\"",
            "invalid value for search attribute CustomIntField of type Int: 1",
        ),
        (
            "CustomIntField",
            "[1, 2]",
            "invalid value for search attribute CustomIntField of type Int: [1 2]",
        ),
        ("CustomBoolField", "1", "of type Bool: 1"),
        ("CustomDoubleField", "\"x\"", "of type Double: x"),
        ("CustomKeywordField", "5", "of type Keyword: 5"),
        (
            "CustomKeywordField",
            "{\"a\":1}",
            "of type Keyword: map[a:1]",
        ),
        ("CustomKeywordListField", "\"a\"", "of type KeywordList: a"),
        (
            "CustomKeywordListField",
            "[\"a\", 1]",
            "of type KeywordList: [a 1]",
        ),
        (
            "CustomDatetimeField",
            "\"2024-01-01\"",
            "of type Datetime: 2024-01-01",
        ),
        (
            "CustomTextField",
            "not json",
            "of type Text: value from <not json>",
        ),
    ];
    for (name, data, want) in cases {
        let e = check(name, data).expect_err(name);
        assert!(e.contains(want), "{name} {data}: {e}");
    }
    let mut wrong_encoding = json("\"x\"");
    wrong_encoding
        .metadata
        .insert("encoding".into(), b"binary/plain".to_vec());
    assert!(validate(&mut sa(&[("CustomKeywordField", wrong_encoding)]), &cat()).is_err());

    let many: Vec<(String, Payload)> = (0..101).map(|i| (format!("K{i}"), json("1"))).collect();
    let mut s = SearchAttributes {
        indexed_fields: many.into_iter().collect(),
    };
    assert_eq!(
        validate(&mut s, &cat()).unwrap_err().to_string(),
        "number of search attributes 101 exceeds limit 100"
    );
}

#[test]
fn validate_size_limits() {
    let big = format!("\"{}\"", "x".repeat(2100));
    let s = sa(&[("CustomKeywordField", json(&big))]);
    assert_eq!(
        validate_size(&s, &SaLimits::default())
            .unwrap_err()
            .to_string(),
        "search attribute CustomKeywordField value size 2102 exceeds size limit 2048"
    );
    let small = sa(&[("CustomKeywordField", json("\"x\""))]);
    assert!(validate_size(&small, &SaLimits::default()).is_ok());
    let tight = SaLimits {
        max_total_bytes: 10,
        ..SaLimits::default()
    };
    assert!(
        validate_size(&small, &tight)
            .unwrap_err()
            .to_string()
            .starts_with("total size of search attributes ")
    );
}

#[test]
fn index_rows_per_type() {
    let mut typed_int = json("7");
    typed_int
        .metadata
        .insert(METADATA_TYPE.into(), b"Int".to_vec());
    let s = sa(&[
        ("CustomKeywordField", json("\"k\"")),
        ("CustomKeywordListField", json("[\"a\", \"b\", \"a\"]")),
        ("CustomIntField", json("42")),
        ("CustomDoubleField", json("2.5")),
        ("CustomBoolField", json("true")),
        (
            "CustomDatetimeField",
            json("\"2024-01-01T00:00:00.000000001Z\""),
        ),
        ("WorkflowId", json("\"skipped: a column\"")),
        ("Unknown", json("\"skipped\"")),
        ("CustomTextField", json("null")),
        ("BuildIds", json("[\"b1\"]")),
    ]);
    let rows = index_rows(&s, &cat());
    let r = |name: &str| -> Vec<&IndexedValue> { rows.iter().filter(|r| r.name == name).collect() };
    let row = |name: &str, ordinal, i: Option<i64>, d: Option<f64>, t: Option<&str>| IndexedValue {
        name: name.into(),
        ordinal,
        int_value: i,
        double_value: d,
        text_value: t.map(str::to_string),
    };
    assert_eq!(
        *r("CustomKeywordField")[0],
        row("CustomKeywordField", 0, None, None, Some("k"))
    );
    assert_eq!(
        r("CustomKeywordListField")
            .iter()
            .map(|x| (x.ordinal, x.text_value.clone().unwrap()))
            .collect::<Vec<_>>(),
        vec![(0, "a".into()), (1, "b".into()), (2, "a".into())]
    );
    assert_eq!(
        *r("CustomIntField")[0],
        row("CustomIntField", 0, Some(42), None, None)
    );
    assert_eq!(
        *r("CustomDoubleField")[0],
        row("CustomDoubleField", 0, None, Some(2.5), None)
    );
    assert_eq!(
        *r("CustomBoolField")[0],
        row("CustomBoolField", 0, Some(1), None, None)
    );
    assert_eq!(
        *r("CustomDatetimeField")[0],
        row("CustomDatetimeField", 0, Some(NANOS_2024 + 1), None, None)
    );
    assert!(r("WorkflowId").is_empty());
    assert!(r("Unknown").is_empty());
    assert!(r("CustomTextField").is_empty());
    assert_eq!(r("BuildIds").len(), 1);
    assert_eq!(rows.len(), 9);

    // The payload's own type wins over the catalog's.
    let rows = index_rows(&sa(&[("CustomKeywordField", typed_int)]), &cat());
    assert_eq!(
        rows,
        vec![row("CustomKeywordField", 0, Some(7), None, None)]
    );
    // Undecodable values are skipped.
    assert!(index_rows(&sa(&[("CustomIntField", json("\"x\""))]), &cat()).is_empty());
}

#[test]
fn catalog_lists_for_get_search_attributes() {
    let c = cat();
    assert_eq!(c.custom().len(), 7);
    assert!(c.system().contains_key("WorkflowId"));
    assert!(!c.system().contains_key("CustomIntField"));
    assert!(Catalog::is_reserved("ExecutionStatus"));
    assert!(!Catalog::is_reserved("CustomIntField"));
}

#[test]
fn written_names_keep_the_aliases_the_query_used() {
    let q = parse(
        "ScheduleId = 'a' OR (`CustomIntField` > 1 AND ScheduleId = 'b')",
        &cat(),
    )
    .unwrap();
    assert_eq!(q.written_names(), ["ScheduleId", "CustomIntField"]);
    assert!(parse("", &cat()).unwrap().written_names().is_empty());
}

#[test]
fn activity_queries_name_the_activity_columns() {
    let c = Catalog::for_activities(BTreeMap::new());
    let q = parse("ActivityId = 'a' AND ActivityType = 't'", &c).unwrap();
    let sql = to_sql(&q, "ns", Dialect::Sqlite);
    assert!(
        sql.where_sql.contains("v.workflow_id = ?2"),
        "{}",
        sql.where_sql
    );
    assert!(
        sql.where_sql.contains("v.workflow_type = ?3"),
        "{}",
        sql.where_sql
    );
    assert!(parse("ActivityId = 'a'", &cat()).is_err());
}
