//! A query evaluated against one record in memory, for the runs that left
//! the database for the archive. Same three-valued logic as the SQL
//! translation: a comparison with a missing value is unknown, and only a
//! definite true matches.
use orrery_proto::api::workflow::v1::WorkflowExecutionInfo;

use crate::catalog::{Column, Storage};
use crate::parse::{Query, QueryError};
use crate::query::{CmpOp, Expr, Leaf, Lit, Op};

/// Whether `record` matches `query`'s filter. Only column-backed attributes
/// can be evaluated: an archived record keeps no search-attribute index.
pub fn matches(query: &Query, record: &WorkflowExecutionInfo) -> Result<bool, QueryError> {
    match &query.filter {
        None => Ok(true),
        Some(f) => Ok(eval(f, record)? == Some(true)),
    }
}

/// Rejects what [`matches`] cannot evaluate, before any record is read.
pub fn check_in_memory(query: &Query) -> Result<(), QueryError> {
    if !query.order_by.is_empty() || query.group_by.is_some() {
        return Err(QueryError::new(
            "ORDER BY and GROUP BY are not supported for archived workflows",
        ));
    }
    match &query.filter {
        Some(f) => check(f),
        None => Ok(()),
    }
}

fn check(e: &Expr) -> Result<(), QueryError> {
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().try_for_each(check),
        Expr::Not(x) => check(x),
        Expr::Leaf(l) => match l.attr.storage {
            Storage::Column(_) => Ok(()),
            Storage::Eav => Err(QueryError::new(format!(
                "search attribute {} cannot filter archived workflows (only built-in attributes such as WorkflowId, WorkflowType, StartTime, CloseTime and ExecutionStatus can)",
                l.attr.name
            ))),
        },
    }
}

fn eval(e: &Expr, r: &WorkflowExecutionInfo) -> Result<Option<bool>, QueryError> {
    Ok(match e {
        Expr::And(xs) => {
            let mut out = Some(true);
            for x in xs {
                match eval(x, r)? {
                    Some(false) => return Ok(Some(false)),
                    None => out = None,
                    Some(true) => {}
                }
            }
            out
        }
        Expr::Or(xs) => {
            let mut out = Some(false);
            for x in xs {
                match eval(x, r)? {
                    Some(true) => return Ok(Some(true)),
                    None => out = None,
                    Some(false) => {}
                }
            }
            out
        }
        Expr::Not(x) => eval(x, r)?.map(|b| !b),
        Expr::Leaf(l) => leaf(l, r)?,
    })
}

fn time_ns(t: &Option<prost_wkt_types::Timestamp>) -> Option<Lit> {
    t.as_ref()
        .map(|t| Lit::Time(i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)))
}

fn text(s: &str) -> Option<Lit> {
    (!s.is_empty()).then(|| Lit::Text(s.to_string()))
}

fn value(column: Column, r: &WorkflowExecutionInfo) -> Option<Lit> {
    let exec = r.execution.clone().unwrap_or_default();
    let ns = |t: &Option<prost_wkt_types::Timestamp>| match time_ns(t) {
        Some(Lit::Time(v)) => Some(v),
        _ => None,
    };
    match column {
        Column::WorkflowId => text(&exec.workflow_id),
        Column::RunId => text(&exec.run_id),
        Column::WorkflowType => r.r#type.as_ref().and_then(|t| text(&t.name)),
        Column::StartTime => time_ns(&r.start_time),
        Column::ExecutionTime => time_ns(&r.execution_time),
        Column::CloseTime => time_ns(&r.close_time),
        Column::ExecutionStatus => Some(Lit::Int(i64::from(r.status))),
        Column::TaskQueue => text(&r.task_queue),
        Column::HistoryLength => Some(Lit::Int(r.history_length)),
        Column::ExecutionDuration => match (ns(&r.close_time), ns(&r.execution_time)) {
            (Some(close), Some(exec)) => Some(Lit::Int((close - exec) as i64)),
            _ => None,
        },
        Column::StateTransitionCount => Some(Lit::Int(r.state_transition_count)),
        Column::HistorySizeBytes => Some(Lit::Int(r.history_size_bytes)),
        Column::ParentWorkflowId => r
            .parent_execution
            .as_ref()
            .and_then(|p| text(&p.workflow_id)),
        Column::ParentRunId => r.parent_execution.as_ref().and_then(|p| text(&p.run_id)),
        Column::RootWorkflowId => r.root_execution.as_ref().and_then(|p| text(&p.workflow_id)),
        Column::RootRunId => r.root_execution.as_ref().and_then(|p| text(&p.run_id)),
    }
}

fn compare(a: &Lit, b: &Lit) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Lit::Int(x), Lit::Int(y)) => Some(x.cmp(y)),
        (Lit::Time(x), Lit::Time(y)) => Some(x.cmp(y)),
        (Lit::Text(x), Lit::Text(y)) => Some(x.cmp(y)),
        (Lit::Double(x), Lit::Double(y)) => x.partial_cmp(y),
        (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
        (Lit::Int(x), Lit::Double(y)) => (*x as f64).partial_cmp(y),
        (Lit::Double(x), Lit::Int(y)) => x.partial_cmp(&(*y as f64)),
        _ => None,
    }
}

fn cmp(op: CmpOp, v: &Lit, lit: &Lit) -> Option<bool> {
    use std::cmp::Ordering::*;
    let o = compare(v, lit)?;
    Some(match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    })
}

fn leaf(l: &Leaf, r: &WorkflowExecutionInfo) -> Result<Option<bool>, QueryError> {
    let Storage::Column(column) = l.attr.storage else {
        check(&Expr::Leaf(l.clone()))?;
        return Ok(None);
    };
    let v = value(column, r);
    if let Op::IsNull { negated } = &l.op {
        return Ok(Some(v.is_none() != *negated));
    }
    let Some(v) = v else { return Ok(None) };
    Ok(match &l.op {
        Op::Cmp(op, lit) => cmp(*op, &v, lit),
        Op::In { negated, values } => {
            let found = values
                .iter()
                .any(|x| compare(&v, x) == Some(std::cmp::Ordering::Equal));
            Some(found != *negated)
        }
        Op::Between { negated, low, high } => cmp(CmpOp::Ge, &v, low)
            .zip(cmp(CmpOp::Le, &v, high))
            .map(|(above, below)| (above && below) != *negated),
        Op::StartsWith { negated, prefix } => match &v {
            Lit::Text(s) => Some(s.starts_with(prefix.as_str()) != *negated),
            _ => None,
        },
        Op::IsNull { .. } => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalog, parse};
    use orrery_proto::api::common::v1::{WorkflowExecution, WorkflowType};

    fn record(
        wid: &str,
        ty: &str,
        status: i32,
        start_s: i64,
        close_s: i64,
    ) -> WorkflowExecutionInfo {
        WorkflowExecutionInfo {
            execution: Some(WorkflowExecution {
                workflow_id: wid.into(),
                run_id: format!("run-{wid}"),
            }),
            r#type: Some(WorkflowType { name: ty.into() }),
            status,
            start_time: Some(prost_wkt_types::Timestamp {
                seconds: start_s,
                nanos: 0,
            }),
            execution_time: Some(prost_wkt_types::Timestamp {
                seconds: start_s,
                nanos: 0,
            }),
            close_time: Some(prost_wkt_types::Timestamp {
                seconds: close_s,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn hits(q: &str, records: &[WorkflowExecutionInfo]) -> Vec<String> {
        let query = parse(q, &Catalog::default()).unwrap();
        check_in_memory(&query).unwrap();
        records
            .iter()
            .filter(|r| matches(&query, r).unwrap())
            .map(|r| r.execution.as_ref().unwrap().workflow_id.clone())
            .collect()
    }

    #[test]
    fn filters_by_the_built_in_attributes() {
        // 2024-01-01T00:00:00Z = 1704067200
        let t = 1_704_067_200;
        let rs = [
            record("a", "Order", 2, t, t + 10),
            record("b", "Order", 3, t + 100, t + 200),
            record("c", "Ship", 2, t + 1000, t + 5000),
        ];
        assert_eq!(hits("", &rs), ["a", "b", "c"]);
        assert_eq!(hits("WorkflowId = 'b'", &rs), ["b"]);
        assert_eq!(
            hits(
                "WorkflowType = 'Order' AND ExecutionStatus = 'Completed'",
                &rs
            ),
            ["a"]
        );
        assert_eq!(hits("ExecutionStatus != 'Completed'", &rs), ["b"]);
        assert_eq!(hits("StartTime >= '2024-01-01T00:01:00Z'", &rs), ["b", "c"]);
        assert_eq!(
            hits(
                "CloseTime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:05:00Z'",
                &rs
            ),
            ["a", "b"]
        );
        assert_eq!(
            hits("WorkflowId IN ('a', 'c') OR WorkflowType = 'Ship'", &rs),
            ["a", "c"]
        );
        assert_eq!(hits("NOT (WorkflowType = 'Order')", &rs), ["c"]);
        assert_eq!(hits("WorkflowId STARTS_WITH 'b'", &rs), ["b"]);
        assert_eq!(hits("ExecutionDuration > '1m'", &rs), ["b", "c"]);
        // No parent: unknown, so neither = nor != matches, IS NULL does.
        assert!(hits("ParentWorkflowId = 'x'", &rs).is_empty());
        assert!(hits("ParentWorkflowId != 'x'", &rs).is_empty());
        assert_eq!(hits("ParentWorkflowId IS NULL", &rs).len(), 3);
    }

    #[test]
    fn custom_attributes_and_ordering_are_refused() {
        let mut custom = std::collections::BTreeMap::new();
        custom.insert("CustomKeywordField".to_string(), crate::SaType::Keyword);
        let catalog = Catalog::new(custom);
        let q = parse("CustomKeywordField = 'x'", &catalog).unwrap();
        assert!(check_in_memory(&q).is_err());
        let q = parse("WorkflowId = 'x' ORDER BY StartTime", &catalog).unwrap();
        assert!(check_in_memory(&q).is_err());
    }
}
