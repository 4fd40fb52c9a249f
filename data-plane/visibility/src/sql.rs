//! A typed query → parameterised SQL over `visibility v` and
//! `visibility_search_attributes`.
//!
//! # NULL semantics (mirroring the real server's SQLite visibility)
//!
//! The real server stores every non-column attribute in a generated column
//! (`JSON_EXTRACT(search_attributes, '$.X')`), NULL when the run lacks it, and
//! passes the user's boolean structure to SQLite unchanged. So with SQL's
//! three-valued logic a row matches only if the whole filter is TRUE:
//!
//! * `CustomKeywordField != 'x'`, `NOT IN`, `NOT STARTS_WITH`, `<` ... exclude
//!   runs without the attribute (the comparison is NULL);
//! * `NOT (CustomKeywordField = 'x')` excludes them too (`NOT NULL` is NULL);
//! * `IS NULL` matches runs without the attribute, `IS NOT NULL` runs with it;
//! * KeywordList and Text are matched through FTS5 as
//!   `rowid [NOT] IN (SELECT rowid FROM fts WHERE fts MATCH ...)`: two-valued,
//!   so `KeywordList != 'x'` and `NOT (KeywordList = 'x')` *include* runs
//!   without the attribute.
//!
//! We reproduce this exactly by first pushing every NOT down to the leaves
//! (De Morgan and `NOT (a < b)` ≡ `a >= b` hold in three-valued logic), after
//! which the formula is monotone and "TRUE" only depends on each leaf being
//! TRUE. Each leaf is then written as a two-valued predicate that is true iff
//! the real server's leaf is TRUE: `v.run_id IN (SELECT s.run_id ... WHERE
//! <value predicate>)` for a scalar attribute (absent ⇒ false), `NOT IN` for
//! the negative KeywordList/Text forms and for `IS NULL`.
//!
//! # CloseTime
//!
//! A running workflow has no close time: every comparison on CloseTime
//! leaves it out (`CloseTime > '2024-...'` matches closed runs only, as the
//! real server answers), and `IS NULL` finds it.
//!
//! # Time rounding
//!
//! StartTime, ExecutionTime and CloseTime are stored in milliseconds, literals
//! carry nanoseconds. A stored `m` stands for the instant `m` ms exactly, so
//! `m·10⁶ >= t` ⇔ `m >= ⌈t/10⁶⌉`, `m·10⁶ > t` ⇔ `m > ⌊t/10⁶⌋`, `<` uses the
//! ceiling, `<=` the floor, `=` with a literal that is not a whole millisecond
//! matches nothing and `!=` everything non-NULL. Datetime attributes in the
//! EAV table store nanoseconds and compare exactly.
//!
//! # Placeholders
//!
//! Both dialects use numbered placeholders (`?1, ?2, ...` on SQLite, `$1, $2,
//! ...` on PostgreSQL) with `params[i]` bound to number `i + 1`; `?1`/`$1` is
//! the namespace id and is reused by every subquery. Number `next_index()` and
//! up are free for the caller. On SQLite a plain `?` written after all of our
//! placeholders also takes the next free number, so a caller may append
//! `AND ... ?` to `where_sql` and `LIMIT ?` and bind its own params after ours.

use std::collections::HashMap;

use crate::catalog::{Column, Storage};
use crate::literals::clamp_i64;
use crate::parse::{CmpOp, Expr, GroupBy, Leaf, Lit, Op, Query};
use crate::text::text_tokens;
use crate::types::SaType;

/// The two databases Orrery runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlParam {
    Int(i64),
    Double(f64),
    Text(String),
}

/// The pieces of a `SELECT ... FROM visibility v {joins} WHERE {where_sql}
/// [GROUP BY {group_by}] ORDER BY {order_sql or the default}`.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlQuery {
    /// Starts with `v.namespace_id = ?1` (`$1`), then ` AND (filter)`, then,
    /// unless the query names TemporalNamespaceDivision, ` AND` a predicate
    /// keeping only runs without a namespace division (as the real server).
    pub where_sql: String,
    /// The body of a custom ORDER BY (no `ORDER BY` keyword), ending with a
    /// `v.run_id` tie-breaker; `None` = use the default order
    /// (`v.sort_close_ms DESC, v.start_ms DESC, v.run_id`).
    pub order_sql: Option<String>,
    /// LEFT JOINs an ORDER BY on a non-column attribute needs; may be empty.
    /// Starts with a space when not empty.
    pub joins: String,
    /// `"v.status"` for `GROUP BY ExecutionStatus`.
    pub group_by: Option<&'static str>,
    /// In placeholder-number order.
    pub params: Vec<SqlParam>,
}

impl SqlQuery {
    /// The first placeholder number not used by this query.
    pub fn next_index(&self) -> usize {
        self.params.len() + 1
    }

    /// The placeholder the caller's first extra param should use.
    pub fn next_placeholder(&self, dialect: Dialect) -> String {
        placeholder(dialect, self.next_index())
    }
}

/// Placeholder number `n` (from 1) in `dialect`.
pub fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

const EAV: &str = "visibility_search_attributes";
const FALSE: &str = "1 = 0";

/// Translates `query` for one namespace.
pub fn to_sql(query: &Query, namespace_id: &str, dialect: Dialect) -> SqlQuery {
    let mut w = Writer {
        dialect,
        params: vec![SqlParam::Text(namespace_id.to_string())],
        names: HashMap::new(),
    };
    let mut where_sql = format!("v.namespace_id = {}", w.ns());
    if let Some(f) = &query.filter {
        let n = nnf(f, false);
        where_sql.push_str(" AND (");
        where_sql.push_str(&w.node(&n));
        where_sql.push(')');
    }
    if !query.mentions_namespace_division {
        let sub = w.subquery(crate::catalog::NAMESPACE_DIVISION, "", true);
        where_sql.push_str(" AND ");
        where_sql.push_str(&sub);
    }

    let mut joins = String::new();
    let order_sql = if query.order_by.is_empty() {
        None
    } else {
        let mut terms = Vec::new();
        for (i, t) in query.order_by.iter().enumerate() {
            let expr = match t.attr.storage {
                Storage::Column(c) => c.sql().to_string(),
                Storage::Eav => {
                    let alias = format!("o{}", i + 1);
                    let name = w.name(&t.attr.name);
                    joins.push_str(&format!(
                        " LEFT JOIN {EAV} {alias} ON {alias}.namespace_id = v.namespace_id AND {alias}.run_id = v.run_id AND {alias}.name = {name} AND {alias}.ordinal = 0"
                    ));
                    format!("{alias}.{}", value_column(t.attr.ty))
                }
            };
            let dir = if t.descending { "DESC" } else { "ASC" };
            terms.push(format!("{expr} {dir} NULLS LAST"));
        }
        terms.push("v.run_id ASC".to_string());
        Some(terms.join(", "))
    };

    SqlQuery {
        where_sql,
        order_sql,
        joins,
        group_by: query.group_by.map(|g| match g {
            GroupBy::ExecutionStatus => "v.status",
        }),
        params: w.params,
    }
}

/// The filter in negation normal form.
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Leaf(Leaf),
}

fn nnf(e: &Expr, negated: bool) -> Node {
    match e {
        Expr::And(xs) | Expr::Or(xs) => {
            let parts = xs.iter().map(|x| nnf(x, negated)).collect();
            // NOT (a AND b) = NOT a OR NOT b, and dually.
            if matches!(e, Expr::And(_)) != negated {
                Node::And(parts)
            } else {
                Node::Or(parts)
            }
        }
        Expr::Not(x) => nnf(x, !negated),
        Expr::Leaf(l) if negated => Node::Leaf(Leaf {
            attr: l.attr.clone(),
            op: match &l.op {
                Op::Cmp(c, v) => Op::Cmp(c.negate(), v.clone()),
                Op::In { negated, values } => Op::In {
                    negated: !negated,
                    values: values.clone(),
                },
                Op::Between { negated, low, high } => Op::Between {
                    negated: !negated,
                    low: low.clone(),
                    high: high.clone(),
                },
                Op::StartsWith { negated, prefix } => Op::StartsWith {
                    negated: !negated,
                    prefix: prefix.clone(),
                },
                Op::IsNull { negated } => Op::IsNull { negated: !negated },
            },
        }),
        Expr::Leaf(l) => Node::Leaf(l.clone()),
    }
}

fn value_column(ty: SaType) -> &'static str {
    match ty {
        SaType::Int | SaType::Bool | SaType::Datetime => "int_value",
        SaType::Double => "double_value",
        SaType::Keyword | SaType::KeywordList | SaType::Text => "text_value",
    }
}

fn not_kw(negated: bool) -> &'static str {
    if negated { "NOT " } else { "" }
}

struct Writer {
    dialect: Dialect,
    params: Vec<SqlParam>,
    /// Placeholder of each attribute name already bound.
    names: HashMap<String, String>,
}

impl Writer {
    fn ns(&self) -> String {
        placeholder(self.dialect, 1)
    }

    fn bind(&mut self, p: SqlParam) -> String {
        self.params.push(p);
        placeholder(self.dialect, self.params.len())
    }

    fn name(&mut self, name: &str) -> String {
        if let Some(p) = self.names.get(name) {
            return p.clone();
        }
        let p = self.bind(SqlParam::Text(name.to_string()));
        self.names.insert(name.to_string(), p.clone());
        p
    }

    fn lit(&mut self, v: &Lit) -> String {
        let p = match v {
            Lit::Int(i) => SqlParam::Int(*i),
            Lit::Double(d) => SqlParam::Double(*d),
            Lit::Text(s) => SqlParam::Text(s.clone()),
            Lit::Bool(b) => SqlParam::Int(i64::from(*b)),
            Lit::Time(ns) => SqlParam::Int(clamp_i64(*ns)),
        };
        self.bind(p)
    }

    fn list(&mut self, vs: &[Lit]) -> String {
        vs.iter()
            .map(|v| self.lit(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn node(&mut self, n: &Node) -> String {
        match n {
            Node::And(xs) | Node::Or(xs) => {
                let sep = if matches!(n, Node::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                xs.iter()
                    .map(|x| format!("({})", self.node(x)))
                    .collect::<Vec<_>>()
                    .join(sep)
            }
            Node::Leaf(l) => match l.attr.storage {
                Storage::Column(c) => self.column_leaf(c, &l.op),
                Storage::Eav => self.eav_leaf(&l.attr.name, l.attr.ty, &l.op),
            },
        }
    }

    /// `v.run_id [NOT] IN (SELECT s.run_id FROM visibility_search_attributes s
    /// WHERE s.namespace_id = ?1 AND s.name = ? [AND pred])`.
    fn subquery(&mut self, name: &str, pred: &str, negated: bool) -> String {
        let name = self.name(name);
        let ns = self.ns();
        let and = if pred.is_empty() { "" } else { " AND " };
        format!(
            "v.run_id {}IN (SELECT s.run_id FROM {EAV} s WHERE s.namespace_id = {ns} AND s.name = {name}{and}{pred})",
            not_kw(negated)
        )
    }

    fn starts_with(&mut self, col: &str, negated: bool, prefix: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                // GLOB is case-sensitive (LIKE is not, in SQLite).
                let mut pat = String::with_capacity(prefix.len() + 1);
                for c in prefix.chars() {
                    match c {
                        '*' => pat.push_str("[*]"),
                        '?' => pat.push_str("[?]"),
                        '[' => pat.push_str("[[]"),
                        c => pat.push(c),
                    }
                }
                pat.push('*');
                let p = self.bind(SqlParam::Text(pat));
                format!("{col} {}GLOB {p}", not_kw(negated))
            }
            Dialect::Postgres => {
                let mut pat = String::with_capacity(prefix.len() + 1);
                for c in prefix.chars() {
                    if matches!(c, '%' | '_' | '!') {
                        pat.push('!');
                    }
                    pat.push(c);
                }
                pat.push('%');
                let p = self.bind(SqlParam::Text(pat));
                format!("{col} {}LIKE {p} ESCAPE '!'", not_kw(negated))
            }
        }
    }

    fn column_leaf(&mut self, c: Column, op: &Op) -> String {
        if let Op::IsNull { negated } = op {
            return format!("{} IS {}NULL", c.sql(), not_kw(*negated));
        }
        let col = c.sql();
        if c.is_millis() {
            return self.millis_leaf(col, op);
        }
        self.value_predicate(col, op)
    }

    /// A predicate on a value column (a `v.` column or `s.*_value`).
    fn value_predicate(&mut self, col: &str, op: &Op) -> String {
        match op {
            Op::Cmp(c, v) => {
                let p = self.lit(v);
                format!("{col} {} {p}", c.sql())
            }
            Op::In { negated, values } => {
                let l = self.list(values);
                format!("{col} {}IN ({l})", not_kw(*negated))
            }
            Op::Between { negated, low, high } => {
                let lo = self.lit(low);
                let hi = self.lit(high);
                format!("{col} {}BETWEEN {lo} AND {hi}", not_kw(*negated))
            }
            Op::StartsWith { negated, prefix } => self.starts_with(col, *negated, prefix),
            Op::IsNull { negated } => format!("{col} IS {}NULL", not_kw(*negated)),
        }
    }

    /// A millisecond column against nanosecond literals, exactly.
    fn millis_leaf(&mut self, col: &str, op: &Op) -> String {
        const NS: i128 = 1_000_000;
        let ns = |v: &Lit| match v {
            Lit::Time(t) => *t,
            Lit::Int(i) => i128::from(*i),
            _ => 0,
        };
        let floor = |t: i128| clamp_i64(t.div_euclid(NS));
        let ceil = |t: i128| clamp_i64(-((-t).div_euclid(NS)));
        let exact = |t: i128| (t.rem_euclid(NS) == 0).then(|| clamp_i64(t / NS));
        match op {
            Op::Cmp(c, v) => {
                let t = ns(v);
                let bound = match c {
                    CmpOp::Eq | CmpOp::Ne => match exact(t) {
                        Some(ms) => ms,
                        None if *c == CmpOp::Eq => return FALSE.to_string(),
                        None => return format!("{col} IS NOT NULL"),
                    },
                    CmpOp::Lt | CmpOp::Ge => ceil(t),
                    CmpOp::Le | CmpOp::Gt => floor(t),
                };
                let p = self.bind(SqlParam::Int(bound));
                format!("{col} {} {p}", c.sql())
            }
            Op::In { negated, values } => {
                let ms: Vec<Lit> = values
                    .iter()
                    .filter_map(|v| exact(ns(v)))
                    .map(Lit::Int)
                    .collect();
                if ms.is_empty() {
                    return if *negated {
                        format!("{col} IS NOT NULL")
                    } else {
                        FALSE.to_string()
                    };
                }
                let l = self.list(&ms);
                format!("{col} {}IN ({l})", not_kw(*negated))
            }
            Op::Between { negated, low, high } => {
                let lo = self.bind(SqlParam::Int(ceil(ns(low))));
                let hi = self.bind(SqlParam::Int(floor(ns(high))));
                format!("{col} {}BETWEEN {lo} AND {hi}", not_kw(*negated))
            }
            other => self.value_predicate(col, other),
        }
    }

    fn eav_leaf(&mut self, name: &str, ty: SaType, op: &Op) -> String {
        let vc = format!("s.{}", value_column(ty));
        match (ty, op) {
            // Absent ⇔ no row.
            (_, Op::IsNull { negated }) => self.subquery(name, "", !negated),
            // "contains"; the negative forms are two-valued (see module docs).
            (SaType::KeywordList, Op::Cmp(c, v)) => {
                let p = self.lit(v);
                self.subquery(name, &format!("{vc} = {p}"), *c == CmpOp::Ne)
            }
            (SaType::KeywordList, Op::In { negated, values }) => {
                let l = self.list(values);
                self.subquery(name, &format!("{vc} IN ({l})"), *negated)
            }
            (SaType::Text, Op::Cmp(c, Lit::Text(s))) => {
                let m = self.text_match(name, s);
                if *c == CmpOp::Ne {
                    format!("NOT ({m})")
                } else {
                    m
                }
            }
            (_, op) => {
                let pred = self.value_predicate(&vc, op);
                self.subquery(name, &pred, false)
            }
        }
    }

    /// `Text = 'a b-c'`: any space-separated piece occurs; a piece occurs if
    /// all its tokens do (see `text.rs`).
    fn text_match(&mut self, name: &str, value: &str) -> String {
        let mut singles: Vec<String> = Vec::new();
        let mut multis: Vec<Vec<String>> = Vec::new();
        for piece in value.split(' ').filter(|p| !p.is_empty()) {
            let toks = text_tokens(piece);
            match toks.len() {
                0 => {}
                1 => {
                    if !singles.contains(&toks[0]) {
                        singles.extend(toks);
                    }
                }
                _ => multis.push(toks),
            }
        }
        let mut parts = Vec::new();
        if !singles.is_empty() {
            let l = self.list(&singles.into_iter().map(Lit::Text).collect::<Vec<_>>());
            parts.push(self.subquery(name, &format!("s.text_value IN ({l})"), false));
        }
        for toks in multis {
            let n = toks.len() as i64;
            let l = self.list(&toks.into_iter().map(Lit::Text).collect::<Vec<_>>());
            let name_p = self.name(name);
            let count = self.bind(SqlParam::Int(n));
            let ns = self.ns();
            parts.push(format!(
                "v.run_id IN (SELECT s.run_id FROM {EAV} s WHERE s.namespace_id = {ns} AND s.name = {name_p} AND s.text_value IN ({l}) GROUP BY s.run_id HAVING COUNT(DISTINCT s.text_value) = {count})"
            ));
        }
        match parts.len() {
            0 => FALSE.to_string(),
            1 => parts.pop().unwrap_or_default(),
            _ => parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" OR "),
        }
    }
}
