//! Visibility: Temporal's list-filter language and search attributes.
//!
//! * [`parse`] turns a `ListWorkflowExecutions` / `CountWorkflowExecutions`
//!   query into a typed [`Query`], checked against a namespace's [`Catalog`];
//!   anything outside the language is a [`QueryError`] (gRPC InvalidArgument).
//! * [`to_sql`] turns a [`Query`] into parameterised SQL for SQLite or
//!   PostgreSQL over `visibility v` and `visibility_search_attributes`
//!   (see [`sql`] for the NULL semantics, time rounding and placeholders).
//!   Nothing the user wrote is spliced into SQL text: literals are params,
//!   attribute names map to fixed columns or to an `s.name = <param>`.
//! * [`validate`] checks search attributes a user sends, [`index_rows`]
//!   computes the rows a run's attributes occupy in the EAV table.
//!
//! The semantics follow the real server's SQLite visibility (what `temporal
//! server start-dev` runs), read from `common/persistence/visibility/store`,
//! `common/searchattribute` and `schema/sqlite/v3/visibility` of
//! temporalio/temporal.

mod catalog;
mod eval;
mod index;
mod literals;
mod parse;
mod query;
pub mod sql;
mod text;
mod types;
mod values;

pub use catalog::{
    AttrInfo, AttrKind, Catalog, Column, NAMESPACE_DIVISION, RESERVED_PREFIX, SYSTEM_ATTRIBUTES,
    Storage, SystemAttr,
};
pub use eval::{check_in_memory, matches};
pub use index::{
    IndexedValue, METADATA_TYPE, SaError, SaLimits, index_rows, validate, validate_size,
    validate_with,
};
pub use literals::{parse_execution_duration, parse_rfc3339_ns};
pub use parse::{GroupBy, OrderTerm, Query, QueryError, parse};
pub use sql::{Dialect, SqlParam, SqlQuery, placeholder, to_sql};
pub use text::text_tokens;
pub use types::{SaType, UnknownSaType};

#[cfg(test)]
mod tests;
