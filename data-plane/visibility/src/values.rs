//! Literals of the list-filter language: read from the SQL tree as written,
//! then converted to an attribute's type as the real server converts them.
use sqlparser::ast::{Expr as SqlExpr, UnaryOperator, Value};

use crate::catalog::{AttrInfo, Column, Storage};
use crate::literals::{
    parse_execution_duration, parse_rfc3339_ns, parse_status_name, status_from_int,
};
use crate::parse::{QueryError, invalid, not_supported, shorten, show};
use crate::query::Lit;
use crate::types::SaType;

/// A literal as written.
pub(crate) enum Raw {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Raw {
    pub(crate) fn describe(&self) -> String {
        match self {
            Raw::Str(s) => format!("'{}' (a string)", shorten(s)),
            Raw::Int(i) => format!("{i} (an integer)"),
            Raw::Float(f) => format!("{f} (a number)"),
            Raw::Bool(b) => format!("{b} (a boolean)"),
        }
    }
}

pub(crate) fn raw_value(e: &SqlExpr) -> Result<Raw, QueryError> {
    match e {
        SqlExpr::Value(v) => raw_literal(&v.value, false),
        SqlExpr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr,
        } => match &**expr {
            SqlExpr::Value(v) if matches!(v.value, Value::Number(..)) => {
                raw_literal(&v.value, *op == UnaryOperator::Minus)
            }
            _ => Err(not_supported(format!("arithmetic `{}`", show(e)))),
        },
        SqlExpr::Identifier(id) => Err(not_supported(format!(
            "column name on the right side of comparison expression (did you forget to quote '{}'?)",
            shorten(&id.value)
        ))),
        SqlExpr::CompoundIdentifier(_) => Err(not_supported(format!(
            "column name on the right side of comparison expression (did you forget to quote '{}'?)",
            show(e)
        ))),
        SqlExpr::Function(_) => Err(not_supported(format!("function `{}`", show(e)))),
        SqlExpr::BinaryOp { .. } | SqlExpr::UnaryOp { .. } => {
            Err(not_supported(format!("arithmetic `{}`", show(e))))
        }
        SqlExpr::Subquery(_) | SqlExpr::Exists { .. } => {
            Err(not_supported(format!("subquery `{}`", show(e))))
        }
        other => Err(invalid(format!(
            "expected a literal value, got `{}`",
            show(other)
        ))),
    }
}

pub(crate) fn raw_literal(v: &Value, negate: bool) -> Result<Raw, QueryError> {
    match v {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(Raw::Str(s.clone())),
        Value::Number(n, _) => {
            let text = if negate { format!("-{n}") } else { n.clone() };
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Raw::Int(i));
            }
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Raw::Float(f)),
                _ => Err(invalid(format!("unable to parse value {}", shorten(&text)))),
            }
        }
        Value::Boolean(b) => Ok(Raw::Bool(*b)),
        Value::Null => Err(invalid(
            "NULL is not a value to compare with; use IS NULL or IS NOT NULL",
        )),
        other => Err(not_supported(format!(
            "literal {}",
            shorten(&other.to_string())
        ))),
    }
}

pub(crate) fn value_type_error(attr: &AttrInfo, raw: &Raw, expected: &str) -> QueryError {
    invalid(format!(
        "invalid value for search attribute {} of type {}: {} (expected {expected})",
        attr.name,
        attr.ty,
        raw.describe()
    ))
}

/// Converts a literal to the attribute's type, as the real server's
/// `parseSQLVal` / `validateValueType`.
pub(crate) fn typed(attr: &AttrInfo, raw: Raw) -> Result<Lit, QueryError> {
    match attr.storage {
        Storage::Column(Column::ExecutionStatus) => {
            return match &raw {
                Raw::Str(s) => parse_status_name(s).map(|v| Lit::Int(v.into())).ok_or_else(|| {
                    invalid(format!(
                        "invalid ExecutionStatus value '{}' (expected one of Running, Completed, Failed, Canceled, Terminated, ContinuedAsNew, TimedOut)",
                        shorten(s)
                    ))
                }),
                Raw::Int(i) => status_from_int(*i)
                    .map(|v| Lit::Int(v.into()))
                    .ok_or_else(|| invalid(format!("invalid ExecutionStatus value {i}"))),
                _ => Err(value_type_error(attr, &raw, "a status name such as 'Running'")),
            };
        }
        Storage::Column(Column::ExecutionDuration) => {
            return match &raw {
                Raw::Int(i) => Ok(Lit::Int(*i)),
                Raw::Str(s) => parse_execution_duration(s).map(Lit::Int).ok_or_else(|| {
                    invalid(format!(
                        "invalid duration value for search attribute ExecutionDuration: '{}' (expected nanoseconds, a duration such as '1h30m' or '10s', or 'hh:mm:ss')",
                        shorten(s)
                    ))
                }),
                _ => Err(value_type_error(
                    attr,
                    &raw,
                    "a duration such as '1h30m' or integer nanoseconds",
                )),
            };
        }
        _ => {}
    }
    match attr.ty {
        SaType::Int => match raw {
            Raw::Int(i) => Ok(Lit::Int(i)),
            Raw::Float(f) => Ok(Lit::Double(f)),
            _ => Err(value_type_error(attr, &raw, "a number")),
        },
        SaType::Double => match raw {
            Raw::Int(i) => Ok(Lit::Double(i as f64)),
            Raw::Float(f) => Ok(Lit::Double(f)),
            _ => Err(value_type_error(attr, &raw, "a number")),
        },
        SaType::Bool => match raw {
            Raw::Bool(b) => Ok(Lit::Bool(b)),
            _ => Err(value_type_error(attr, &raw, "true or false")),
        },
        SaType::Datetime => match &raw {
            Raw::Str(s) => parse_rfc3339_ns(s).map(Lit::Time).ok_or_else(|| {
                invalid(format!(
                    "unable to parse datetime '{}' of search attribute {} (expected RFC 3339, e.g. '2024-01-02T03:04:05.678Z')",
                    shorten(s),
                    attr.name
                ))
            }),
            Raw::Int(i) => Ok(Lit::Time(i128::from(*i))),
            _ => Err(value_type_error(
                attr,
                &raw,
                "an RFC 3339 datetime string or integer nanoseconds",
            )),
        },
        SaType::Keyword | SaType::KeywordList | SaType::Text => match raw {
            Raw::Str(s) => Ok(Lit::Text(s)),
            _ => Err(value_type_error(attr, &raw, "a string")),
        },
    }
}
