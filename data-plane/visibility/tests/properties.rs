//! Property tests: random queries over the grammar with hostile literals.

use std::collections::{BTreeMap, BTreeSet};

use orrery_visibility::{Catalog, Dialect, SaType, SqlQuery, parse, to_sql};
use proptest::prelude::*;

fn catalog() -> Catalog {
    let mut m = BTreeMap::new();
    m.insert("CustomKeywordField".to_string(), SaType::Keyword);
    m.insert("CustomKeywordListField".to_string(), SaType::KeywordList);
    m.insert("CustomTextField".to_string(), SaType::Text);
    m.insert("CustomIntField".to_string(), SaType::Int);
    m.insert("CustomDoubleField".to_string(), SaType::Double);
    m.insert("CustomBoolField".to_string(), SaType::Bool);
    m.insert("CustomDatetimeField".to_string(), SaType::Datetime);
    Catalog::new(m)
}

/// Every generated string starts with this marker, which our SQL never contains.
const MARK: &str = "zq";

/// A hostile string, written as a MySQL string literal (quotes doubled,
/// backslashes escaped).
fn string_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 '\";%_*?!\\[\\]\\\\-]{0,12}",
        Just("' OR 1=1 --".to_string()),
        Just("'; DROP TABLE visibility; --".to_string()),
        Just("\\' OR ''='".to_string()),
        Just("*/ UNION SELECT /*".to_string()),
    ]
    .prop_map(|s| {
        let body = format!("{MARK}{s}")
            .replace('\\', "\\\\")
            .replace('\'', "''");
        format!("'{body}'")
    })
}

fn time_lit() -> impl Strategy<Value = String> {
    (
        0u32..1_000_000_000,
        prop_oneof![Just("Z"), Just("+05:30"), Just("-01:00")],
    )
        .prop_map(|(ns, off)| format!("'2024-03-04T05:06:07.{ns:09}{off}'"))
}

fn number_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f:.3}")),
    ]
}

fn attr_and_value() -> impl Strategy<Value = (&'static str, BoxedStrategy<String>)> {
    prop_oneof![
        Just(("CustomKeywordField", string_lit().boxed())),
        Just(("WorkflowId", string_lit().boxed())),
        Just(("WorkflowType", string_lit().boxed())),
        Just(("BatcherUser", string_lit().boxed())),
        Just(("CustomKeywordListField", string_lit().boxed())),
        Just(("BuildIds", string_lit().boxed())),
        Just(("CustomTextField", string_lit().boxed())),
        Just(("CustomIntField", number_lit().boxed())),
        Just(("HistoryLength", number_lit().boxed())),
        Just(("CustomDoubleField", number_lit().boxed())),
        Just((
            "CustomBoolField",
            prop_oneof![Just("true".to_string()), Just("false".to_string())].boxed()
        )),
        Just(("CustomDatetimeField", time_lit().boxed())),
        Just(("StartTime", time_lit().boxed())),
        Just(("CloseTime", time_lit().boxed())),
        Just((
            "ExecutionStatus",
            prop_oneof![
                Just("'Running'".to_string()),
                Just("'Failed'".to_string()),
                Just("3".to_string())
            ]
            .boxed()
        )),
        Just((
            "ExecutionDuration",
            prop_oneof![
                Just("'1h30m'".to_string()),
                Just("'10s'".to_string()),
                number_lit()
            ]
            .boxed()
        )),
        Just(("Nope", string_lit().boxed())),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    attr_and_value().prop_flat_map(|(attr, v)| {
        (v.clone(), v, 0usize..14).prop_map(move |(a, b, op)| {
            let tail = match op {
                0 => format!("= {a}"),
                1 => format!("!= {a}"),
                2 => format!("< {a}"),
                3 => format!("> {a}"),
                4 => format!("<= {a}"),
                5 => format!(">= {a}"),
                6 => format!("IN ({a}, {b})"),
                7 => format!("NOT IN ({a})"),
                8 => format!("BETWEEN {a} AND {b}"),
                9 => format!("NOT BETWEEN {a} AND {b}"),
                10 => format!("STARTS_WITH {a}"),
                11 => format!("NOT STARTS_WITH {a}"),
                12 => "IS NULL".to_string(),
                _ => "IS NOT NULL".to_string(),
            };
            format!("`{attr}` {tail}")
        })
    })
}

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) OR ({b})")),
            inner.clone().prop_map(|a| format!("NOT ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

fn query() -> impl Strategy<Value = String> {
    (
        prop::option::of(filter()),
        prop::option::of(prop_oneof![
            Just(" ORDER BY StartTime DESC"),
            Just(" ORDER BY CustomIntField, WorkflowId ASC"),
            Just(" ORDER BY CustomKeywordField DESC, CustomDatetimeField"),
            Just(" GROUP BY ExecutionStatus"),
        ]),
    )
        .prop_map(|(f, tail)| format!("{}{}", f.unwrap_or_default(), tail.unwrap_or_default()))
}

fn placeholders(sql: &str, sigil: char) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for (i, c) in sql.char_indices() {
        if c == sigil {
            let digits: String = sql[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            out.insert(digits.parse::<usize>().expect("numbered placeholder"));
        }
    }
    out
}

fn check(s: &SqlQuery, d: Dialect) -> Result<(), TestCaseError> {
    let (sigil, first) = match d {
        Dialect::Sqlite => ('?', "v.namespace_id = ?1"),
        Dialect::Postgres => ('$', "v.namespace_id = $1"),
    };
    prop_assert!(s.where_sql.starts_with(first), "{}", s.where_sql);
    let all = format!(
        "{} {} {}",
        s.joins,
        s.where_sql,
        s.order_sql.clone().unwrap_or_default()
    );
    prop_assert!(!all.contains(MARK), "literal spliced: {all}");
    prop_assert!(
        !all.contains(';') && !all.contains("--") && !all.contains("/*"),
        "{all}"
    );
    let quotes = all.replace("ESCAPE '!'", "");
    prop_assert!(!quotes.contains('\'') && !quotes.contains('"'), "{all}");
    let used = placeholders(&all, sigil);
    let want: BTreeSet<usize> = (1..=s.params.len()).collect();
    prop_assert_eq!(used, want, "{}", all);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn translations_are_parameterised(q in query()) {
        let c = catalog();
        if let Ok(parsed) = parse(&q, &c) {
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                check(&to_sql(&parsed, "ns' OR 1=1 --", d), d)?;
            }
        }
    }

    #[test]
    fn leaves_of_known_attributes_mostly_parse(l in leaf()) {
        // No panic; errors are fine. Exercise to_sql on successes.
        if let Ok(p) = parse(&l, &catalog()) {
            check(&to_sql(&p, "ns", Dialect::Sqlite), Dialect::Sqlite)?;
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in any::<String>()) {
        if let Ok(p) = parse(&s, &catalog()) {
            check(&to_sql(&p, "ns", Dialect::Postgres), Dialect::Postgres)?;
        }
    }

    #[test]
    fn sql_shaped_noise_never_panics(s in "[a-zA-Z_ ()'\"`=<>!,.;0-9*-]{0,60}") {
        if let Ok(p) = parse(&s, &catalog()) {
            check(&to_sql(&p, "ns", Dialect::Sqlite), Dialect::Sqlite)?;
        }
    }
}

#[test]
fn generator_produces_successful_queries() {
    // Guard against a generator that only ever produces errors.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let c = catalog();
    let mut ok = 0;
    for _ in 0..500 {
        let q = query().new_tree(&mut runner).unwrap().current();
        if parse(&q, &c).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 50, "only {ok} of 500 generated queries parsed");
}
