//! Unit tests of parse + to_sql and of the search-attribute helpers, by
//! topic; the helpers here are shared by all of them.

pub(super) use std::collections::{BTreeMap, HashMap};

pub(super) use orrery_proto::api::common::v1::{Payload, SearchAttributes};

pub(super) use crate::*;

pub(super) fn cat() -> Catalog {
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

pub(super) fn sql(q: &str, d: Dialect) -> SqlQuery {
    let parsed = parse(q, &cat()).unwrap_or_else(|e| panic!("{q}: {e}"));
    to_sql(&parsed, "ns-1", d)
}

pub(super) fn lite(q: &str) -> SqlQuery {
    sql(q, Dialect::Sqlite)
}

/// The filter part of `where_sql` (between the namespace predicate and the
/// namespace-division predicate).
pub(super) fn filter(q: &str) -> String {
    let s = lite(q);
    let w = s.where_sql;
    let w = w
        .strip_prefix("v.namespace_id = ?1 AND (")
        .unwrap_or_else(|| panic!("{q}: {w}"));
    let end = w.rfind(") AND v.run_id NOT IN").unwrap_or(w.len() - 1);
    w[..end].to_string()
}

pub(super) fn err(q: &str) -> String {
    match parse(q, &cat()) {
        Ok(p) => panic!("{q}: expected an error, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn text(s: &str) -> SqlParam {
    SqlParam::Text(s.to_string())
}

const DIVISION: &str = "v.run_id NOT IN (SELECT s.run_id FROM visibility_search_attributes s WHERE s.namespace_id = ?1 AND s.name = ?2)";

const NANOS_2024: i64 = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z
const MS_2024: i64 = 1_704_067_200_000;

pub(super) fn json(data: &str) -> Payload {
    let mut metadata = HashMap::new();
    metadata.insert("encoding".to_string(), b"json/plain".to_vec());
    Payload {
        metadata,
        data: data.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub(super) fn sa(fields: &[(&str, Payload)]) -> SearchAttributes {
    SearchAttributes {
        indexed_fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

mod invalid;
mod search_attributes;
mod translate;
