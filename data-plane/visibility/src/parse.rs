//! Temporal's list-filter language → a typed query.
//!
//! Like the real server, the filter is wrapped as `SELECT * FROM t WHERE
//! <filter>` (or `SELECT * FROM t ORDER BY|GROUP BY ...`) and parsed as
//! MySQL: backquoted names, `'...'` and `"..."` string literals, `true` /
//! `false`. `STARTS_WITH` is not SQL: the tokens are rewritten to `LIKE`
//! before parsing, so a `LIKE` the user wrote is refused first. Then the tree
//! is checked node by node; anything not in the language is an error.

use std::sync::OnceLock;

use sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, GroupByExpr, InTarget, OrderByKind, OrderBySort, Select,
    SetExpr, Statement, UnaryOperator,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::catalog::{AttrInfo, Catalog, Column, NAMESPACE_DIVISION, Storage};
pub(crate) use crate::query::{CmpOp, Expr, Leaf, Lit, Op};
pub use crate::query::{GroupBy, OrderTerm, Query};
use crate::types::SaType;
use crate::values::{Raw, raw_value, typed};

/// A query the caller may not run. `Display` gives the message for gRPC
/// InvalidArgument ("invalid query: ...", as the real server words it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid query: {message}")]
pub struct QueryError {
    message: String,
}

impl QueryError {
    pub(crate) fn new(message: impl Into<String>) -> QueryError {
        QueryError {
            message: message.into(),
        }
    }

    /// The message without the "invalid query: " prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

const NOT_SUPPORTED: &str = "operation is not supported";
const INVALID: &str = "invalid expression";
const MALFORMED: &str = "malformed SQL query";

/// Nesting deeper than this is refused (AND/OR chains are flattened and do
/// not count).
const MAX_DEPTH: usize = 100;

pub(crate) fn not_supported(what: impl std::fmt::Display) -> QueryError {
    QueryError::new(format!("{NOT_SUPPORTED}: {what}"))
}

pub(crate) fn invalid(what: impl std::fmt::Display) -> QueryError {
    QueryError::new(format!("{INVALID}: {what}"))
}

pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

pub(crate) fn show(e: &SqlExpr) -> String {
    shorten(&e.to_string())
}

fn baseline() -> &'static sqlparser::ast::Query {
    static B: OnceLock<sqlparser::ast::Query> = OnceLock::new();
    B.get_or_init(|| {
        let mut stmts = Parser::parse_sql(&MySqlDialect {}, "SELECT * FROM t")
            .expect("baseline statement parses");
        match stmts.pop() {
            Some(Statement::Query(q)) => *q,
            _ => unreachable!("baseline is a query"),
        }
    })
}

/// Parses and type-checks a list filter against `catalog`.
pub fn parse(query: &str, catalog: &Catalog) -> Result<Query, QueryError> {
    let trimmed = query.trim();
    if trimmed.is_empty() {
        return Ok(Query::default());
    }
    let lower: String = trimmed.chars().take(8).collect::<String>().to_lowercase();
    let sql = if lower.starts_with("order by") || lower.starts_with("group by") {
        format!("SELECT * FROM t {trimmed}")
    } else {
        format!("SELECT * FROM t WHERE {trimmed}")
    };

    let dialect = MySqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, &sql)
        .tokenize_with_location()
        .map_err(|e| QueryError::new(format!("{MALFORMED}: {}", strip_location(&e.to_string()))))?;
    for t in &mut tokens {
        match &t.token {
            Token::DoubleEq => {
                return Err(not_supported("operator '==' (use '=')"));
            }
            Token::SemiColon => {
                return Err(not_supported(
                    "';' (a query is a single filter, not statements)",
                ));
            }
            Token::Word(w) if w.quote_style.is_none() => {
                if w.value.eq_ignore_ascii_case("starts_with") {
                    t.token = Token::make_keyword("LIKE");
                } else if w.keyword == Keyword::LIKE {
                    return Err(not_supported("LIKE (use STARTS_WITH for a prefix match)"));
                }
            }
            _ => {}
        }
    }
    let mut statements = Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| QueryError::new(format!("{MALFORMED}: {}", strip_location(&e.to_string()))))?;
    if statements.len() != 1 {
        return Err(not_supported("multiple statements"));
    }
    let Some(Statement::Query(mut q)) = statements.pop() else {
        return Err(not_supported("a statement other than a filter"));
    };

    if q.limit_clause.is_some() {
        return Err(not_supported("'LIMIT' / 'OFFSET' clause"));
    }
    if q.fetch.is_some() {
        return Err(not_supported("'FETCH' clause"));
    }
    if !q.locks.is_empty() {
        return Err(not_supported("locking clause"));
    }
    if q.with.is_some() {
        return Err(not_supported("'WITH' clause"));
    }
    let order_by = q.order_by.take();
    let body = std::mem::replace(&mut q.body, baseline().body.clone());
    let mut select = match *body {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { .. } => {
            return Err(not_supported("UNION / INTERSECT / EXCEPT"));
        }
        _ => return Err(not_supported("a statement other than a filter")),
    };
    if *baseline() != *q {
        return Err(not_supported(
            "only a filter, ORDER BY and GROUP BY may follow the filter",
        ));
    }
    if select.having.is_some() {
        return Err(not_supported("'HAVING' clause"));
    }
    let selection = select.selection.take();
    let group_by = std::mem::replace(
        &mut select.group_by,
        GroupByExpr::Expressions(vec![], vec![]),
    );
    let base_select: &Select = match &*baseline().body {
        SetExpr::Select(s) => s,
        _ => unreachable!(),
    };
    if *base_select != *select {
        if !select.from.iter().all(|f| f.joins.is_empty()) {
            return Err(not_supported("joins"));
        }
        return Err(not_supported(
            "only a filter, ORDER BY and GROUP BY may follow the filter",
        ));
    }

    let mut conv = Converter {
        catalog,
        mentions_division: false,
        written: Vec::new(),
    };
    let filter = match selection {
        Some(e) => Some(conv.convert(&e, 0)?),
        None => None,
    };

    let group_by = match group_by {
        GroupByExpr::All(_) => return Err(not_supported("'GROUP BY ALL'")),
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(not_supported("'GROUP BY' modifiers"));
            }
            match exprs.as_slice() {
                [] => None,
                [e] => {
                    let attr = conv.column(e, "'GROUP BY'")?;
                    if attr.name != "ExecutionStatus" {
                        return Err(not_supported(format!(
                            "'GROUP BY' clause is not supported for search attribute {} (only ExecutionStatus)",
                            attr.name
                        )));
                    }
                    Some(GroupBy::ExecutionStatus)
                }
                _ => {
                    return Err(not_supported(
                        "'GROUP BY' clause supports only a single field",
                    ));
                }
            }
        }
    };

    let mut order = Vec::new();
    if let Some(ob) = order_by {
        if ob.interpolate.is_some() {
            return Err(not_supported("'INTERPOLATE'"));
        }
        let OrderByKind::Expressions(exprs) = ob.kind else {
            return Err(not_supported("'ORDER BY ALL'"));
        };
        for term in exprs {
            if term.with_fill.is_some() || term.options.nulls_first.is_some() {
                return Err(not_supported("'ORDER BY' options other than ASC / DESC"));
            }
            let descending = match term.options.sort {
                None | Some(OrderBySort::Asc) => false,
                Some(OrderBySort::Desc) => true,
                Some(OrderBySort::Using(_)) => {
                    return Err(not_supported("'ORDER BY ... USING'"));
                }
            };
            let attr = conv.column(&term.expr, "'ORDER BY'")?;
            if !attr.ty.sortable() {
                return Err(not_supported(format!(
                    "unable to sort by search attribute {} of type {}",
                    attr.name, attr.ty
                )));
            }
            order.push(OrderTerm { attr, descending });
        }
    }
    if group_by.is_some() && !order.is_empty() {
        return Err(not_supported(
            "'ORDER BY' clause is not supported with 'GROUP BY' clause",
        ));
    }

    Ok(Query {
        filter,
        order_by: order,
        group_by,
        mentions_namespace_division: conv.mentions_division,
        written: conv.written,
    })
}

/// sqlparser's messages end in a position within our wrapped statement,
/// which would only confuse.
fn strip_location(msg: &str) -> String {
    let msg = msg.strip_prefix("sql parser error: ").unwrap_or(msg);
    match msg.rfind(" at Line: ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

struct Converter<'a> {
    catalog: &'a Catalog,
    mentions_division: bool,
    written: Vec<String>,
}

/// The operands of a chain of one logical operator, without recursion (a
/// long `a OR b OR c ...` is a deep left-leaning tree).
fn flatten(e: &SqlExpr, and: bool) -> Vec<&SqlExpr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            SqlExpr::BinaryOp { left, op, right }
                if (and && *op == BinaryOperator::And) || (!and && *op == BinaryOperator::Or) =>
            {
                stack.push(right);
                stack.push(left);
            }
            other => out.push(other),
        }
    }
    out
}

impl Converter<'_> {
    fn convert(&mut self, e: &SqlExpr, depth: usize) -> Result<Expr, QueryError> {
        if depth > MAX_DEPTH {
            return Err(not_supported(format!(
                "expressions nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match e {
            SqlExpr::Nested(inner) => self.convert(inner, depth + 1),
            SqlExpr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Ok(Expr::Not(Box::new(self.convert(expr, depth + 1)?))),
            SqlExpr::BinaryOp {
                op: op @ (BinaryOperator::And | BinaryOperator::Or),
                ..
            } => {
                let and = *op == BinaryOperator::And;
                let parts = flatten(e, and)
                    .into_iter()
                    .map(|p| self.convert(p, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if and {
                    Expr::And(parts)
                } else {
                    Expr::Or(parts)
                })
            }
            SqlExpr::BinaryOp { left, op, right } => {
                let cmp = match op {
                    BinaryOperator::Eq => CmpOp::Eq,
                    BinaryOperator::NotEq => CmpOp::Ne,
                    BinaryOperator::Lt => CmpOp::Lt,
                    BinaryOperator::LtEq => CmpOp::Le,
                    BinaryOperator::Gt => CmpOp::Gt,
                    BinaryOperator::GtEq => CmpOp::Ge,
                    other => {
                        return Err(not_supported(format!(
                            "operator '{other}' in `{}`",
                            show(e)
                        )));
                    }
                };
                self.comparison(e, left, cmp, right)
            }
            SqlExpr::In {
                expr,
                target,
                negated,
                ..
            } => {
                let InTarget::List(list) = target else {
                    return Err(not_supported(format!(
                        "'IN' needs a list of literals: `{}`",
                        show(e)
                    )));
                };
                self.in_list(e, expr, list, *negated)
            }
            SqlExpr::Between {
                expr,
                negated,
                low,
                high,
            } => self.between(expr, *negated, low, high),
            SqlExpr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(not_supported(format!("`{}`", show(e))));
                }
                self.starts_with(expr, *negated, pattern)
            }
            SqlExpr::IsNull(inner) | SqlExpr::IsNotNull(inner) => {
                let attr = self.column(inner, "'IS NULL'")?;
                Ok(Expr::Leaf(Leaf {
                    attr,
                    op: Op::IsNull {
                        negated: matches!(e, SqlExpr::IsNotNull(_)),
                    },
                }))
            }
            SqlExpr::IsTrue(_)
            | SqlExpr::IsNotTrue(_)
            | SqlExpr::IsFalse(_)
            | SqlExpr::IsNotFalse(_)
            | SqlExpr::IsUnknown(_)
            | SqlExpr::IsNotUnknown(_)
            | SqlExpr::IsDistinctFrom(..)
            | SqlExpr::IsNotDistinctFrom(..) => Err(invalid(
                "'IS' operator can only be used as 'IS NULL' or 'IS NOT NULL'",
            )),
            SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_) => Err(invalid(format!(
                "incomplete expression `{}` (a search attribute needs an operator and a value)",
                show(e)
            ))),
            SqlExpr::Value(_) => Err(invalid(format!(
                "`{}` is a literal, not a condition",
                show(e)
            ))),
            SqlExpr::Function(_) => {
                Err(not_supported(format!("function expression `{}`", show(e))))
            }
            SqlExpr::Subquery(_) | SqlExpr::Exists { .. } => {
                Err(not_supported(format!("subquery `{}`", show(e))))
            }
            SqlExpr::ILike { .. } | SqlExpr::RLike { .. } | SqlExpr::SimilarTo { .. } => {
                Err(not_supported(format!(
                    "pattern matching `{}` (use STARTS_WITH for a prefix match)",
                    show(e)
                )))
            }
            other => Err(not_supported(format!("expression `{}`", show(other)))),
        }
    }

    /// The attribute named on the left of an operator.
    fn column(&mut self, e: &SqlExpr, context: &str) -> Result<AttrInfo, QueryError> {
        let name = match e {
            SqlExpr::Identifier(id) => id.value.clone(),
            SqlExpr::CompoundIdentifier(parts) => parts
                .iter()
                .map(|p| p.value.as_str())
                .collect::<Vec<_>>()
                .join("."),
            other => {
                return Err(invalid(format!(
                    "{context} needs a search attribute name, but got `{}`",
                    show(other)
                )));
            }
        };
        let Some(attr) = self.catalog.resolve(&name) else {
            return Err(invalid(format!(
                "column name '{}' is not a valid search attribute",
                shorten(&name)
            )));
        };
        if attr.name == NAMESPACE_DIVISION {
            self.mentions_division = true;
        }
        if !self.written.contains(&name) {
            self.written.push(name);
        }
        Ok(attr)
    }

    fn comparison(
        &mut self,
        whole: &SqlExpr,
        left: &SqlExpr,
        cmp: CmpOp,
        right: &SqlExpr,
    ) -> Result<Expr, QueryError> {
        let attr = self.column(left, &format!("`{}`", show(whole)))?;
        let allowed = match attr.ty {
            SaType::Text | SaType::KeywordList => matches!(cmp, CmpOp::Eq | CmpOp::Ne),
            _ => true,
        };
        if !allowed {
            return Err(op_not_supported(cmp.sql(), &attr));
        }
        let raw = raw_value(right)?;
        let lit = typed(&attr, raw)?;
        if attr.ty == SaType::Text
            && let Lit::Text(s) = &lit
            && s.split(' ').all(str::is_empty)
        {
            return Err(invalid(format!(
                "unexpected value for Text type search attribute {} (no tokens found in '{}')",
                attr.name,
                shorten(s)
            )));
        }
        Ok(Expr::Leaf(Leaf {
            attr,
            op: Op::Cmp(cmp, lit),
        }))
    }

    fn in_list(
        &mut self,
        whole: &SqlExpr,
        left: &SqlExpr,
        list: &[SqlExpr],
        negated: bool,
    ) -> Result<Expr, QueryError> {
        let attr = self.column(left, &format!("`{}`", show(whole)))?;
        if attr.ty == SaType::Text {
            return Err(op_not_supported(
                if negated { "NOT IN" } else { "IN" },
                &attr,
            ));
        }
        if list.is_empty() {
            return Err(invalid("'IN' needs at least one value"));
        }
        let values = list
            .iter()
            .map(|v| raw_value(v).and_then(|r| typed(&attr, r)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::Leaf(Leaf {
            attr,
            op: Op::In { negated, values },
        }))
    }

    fn between(
        &mut self,
        left: &SqlExpr,
        negated: bool,
        low: &SqlExpr,
        high: &SqlExpr,
    ) -> Result<Expr, QueryError> {
        let attr = self.column(left, "'BETWEEN'")?;
        let ok = matches!(
            attr.ty,
            SaType::Datetime | SaType::Double | SaType::Int | SaType::Keyword
        );
        if !ok {
            return Err(invalid(format!(
                "cannot do range condition on search attribute '{}' of type {}",
                attr.name, attr.ty
            )));
        }
        let low = typed(&attr, raw_value(low)?)?;
        let high = typed(&attr, raw_value(high)?)?;
        Ok(Expr::Leaf(Leaf {
            attr,
            op: Op::Between { negated, low, high },
        }))
    }

    fn starts_with(
        &mut self,
        left: &SqlExpr,
        negated: bool,
        pattern: &SqlExpr,
    ) -> Result<Expr, QueryError> {
        let op = if negated {
            "NOT STARTS_WITH"
        } else {
            "STARTS_WITH"
        };
        let attr = self.column(left, &format!("'{op}'"))?;
        // ExecutionStatus is a Keyword but stored as a number: the real
        // server refuses a prefix match on it too.
        if attr.ty != SaType::Keyword || attr.storage == Storage::Column(Column::ExecutionStatus) {
            return Err(op_not_supported(op, &attr));
        }
        match raw_value(pattern)? {
            Raw::Str(prefix) => Ok(Expr::Leaf(Leaf {
                attr,
                op: Op::StartsWith { negated, prefix },
            })),
            other => Err(invalid(format!(
                "right-hand side of '{op}' must be a literal string (got: {})",
                other.describe()
            ))),
        }
    }
}

fn op_not_supported(op: &str, attr: &AttrInfo) -> QueryError {
    not_supported(format!(
        "operator '{op}' not supported for {} type search attribute '{}'",
        attr.ty, attr.name
    ))
}
