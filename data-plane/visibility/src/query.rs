//! The typed query a list filter parses into, which `sql.rs` translates:
//! a filter tree of attribute leaves with literals already converted to the
//! attribute's type, the custom order and the grouping.
use crate::catalog::AttrInfo;

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
