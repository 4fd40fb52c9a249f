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
    SetExpr, Statement, UnaryOperator, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::catalog::{AttrInfo, Catalog, Column, NAMESPACE_DIVISION, Storage};
use crate::literals::{
    parse_execution_duration, parse_rfc3339_ns, parse_status_name, status_from_int,
};
use crate::types::SaType;

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

fn not_supported(what: impl std::fmt::Display) -> QueryError {
    QueryError::new(format!("{NOT_SUPPORTED}: {what}"))
}

fn invalid(what: impl std::fmt::Display) -> QueryError {
    QueryError::new(format!("{INVALID}: {what}"))
}

/// A parsed, type-checked list filter.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Query {
    pub(crate) filter: Option<Expr>,
    pub(crate) order_by: Vec<OrderTerm>,
    pub(crate) group_by: Option<GroupBy>,
    pub(crate) mentions_namespace_division: bool,
    pub(crate) written: Vec<String>,
}

impl Query {
    /// True if the query has a WHERE part.
    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }

    /// The custom `ORDER BY`, empty for the default order.
    pub fn order_by(&self) -> &[OrderTerm] {
        &self.order_by
    }

    pub fn group_by(&self) -> Option<GroupBy> {
        self.group_by
    }

    /// The attribute names as the query wrote them (before aliases such as
    /// `ScheduleId` resolve), each once, in order.
    pub fn written_names(&self) -> &[String] {
        &self.written
    }

    /// True if the query names `TemporalNamespaceDivision`; otherwise the
    /// translation keeps only rows without a division, as the real server.
    pub fn mentions_namespace_division(&self) -> bool {
        self.mentions_namespace_division
    }
}

/// One `ORDER BY` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderTerm {
    pub attr: AttrInfo,
    pub descending: bool,
}

/// The only `GROUP BY` Orrery serves (for CountWorkflowExecutions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    ExecutionStatus,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Leaf(Leaf),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Leaf {
    pub attr: AttrInfo,
    pub op: Op,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator whose result is NOT of this one (in SQL's three-valued
    /// logic too: both are NULL when the column is).
    pub fn negate(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Ge => CmpOp::Lt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Le => CmpOp::Gt,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Cmp(CmpOp, Lit),
    In { negated: bool, values: Vec<Lit> },
    Between { negated: bool, low: Lit, high: Lit },
    StartsWith { negated: bool, prefix: String },
    IsNull { negated: bool },
}

/// A literal converted to the attribute's type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Int(i64),
    Double(f64),
    Text(String),
    Bool(bool),
    /// Nanoseconds since the Unix epoch.
    Time(i128),
}

/// A literal as written.
enum Raw {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Raw {
    fn describe(&self) -> String {
        match self {
            Raw::Str(s) => format!("'{}' (a string)", shorten(s)),
            Raw::Int(i) => format!("{i} (an integer)"),
            Raw::Float(f) => format!("{f} (a number)"),
            Raw::Bool(b) => format!("{b} (a boolean)"),
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

fn show(e: &SqlExpr) -> String {
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

fn raw_value(e: &SqlExpr) -> Result<Raw, QueryError> {
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

fn raw_literal(v: &Value, negate: bool) -> Result<Raw, QueryError> {
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

fn value_type_error(attr: &AttrInfo, raw: &Raw, expected: &str) -> QueryError {
    invalid(format!(
        "invalid value for search attribute {} of type {}: {} (expected {expected})",
        attr.name,
        attr.ty,
        raw.describe()
    ))
}

/// Converts a literal to the attribute's type, as the real server's
/// `parseSQLVal` / `validateValueType`.
fn typed(attr: &AttrInfo, raw: Raw) -> Result<Lit, QueryError> {
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
