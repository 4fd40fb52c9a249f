//! `GET /api/v1/usage` (JSON, hourly or daily) and
//! `GET /api/v1/usage/export.csv` (hourly). Owners, admins and finance
//! admins only: usage is the account's billing data.
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{now_ms, time};
use crate::app::AppState;
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, ErrorResponses, FieldError};
use crate::store::UsageRange;
use crate::usage::report::{Bucket, Granularity, incomplete, parse_instant, parse_month};
use crate::usage::{DAY_MS, KNOWN_ACTION_KINDS, format_micros, micro_gbh};

/// The longest range one request may ask for, per granularity: what an
/// answer may hold stays bounded (hours × namespaces).
pub const MAX_HOURLY_RANGE_DAYS: i64 = 93;
pub const MAX_DAILY_RANGE_DAYS: i64 = 366;
/// Rows (namespace × hour or day with usage) one answer holds at most, JSON
/// or CSV: beyond, 422 naming `namespace` (one namespace's range always
/// fits: 93 days of hours is 2232 rows).
pub const MAX_USAGE_ROWS: usize = 50_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_usage))
        .routes(routes!(export_usage))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// A namespace id of the caller's account; every namespace of the
    /// account (deleted ones with usage included) if omitted.
    pub namespace: Option<String>,
    /// RFC 3339, inclusive; on an hour's start (a UTC day's start for
    /// `granularity=day`). Required.
    pub from: Option<String>,
    /// RFC 3339, exclusive; on the same boundaries; after `from`, at most
    /// 93 days (hourly) or 366 days (daily) later. Required.
    pub to: Option<String>,
    /// `hour` (default) or `day` (UTC days).
    pub granularity: Option<String>,
}

/// One namespace's usage in one hour or day. Hours or days without usage
/// are left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRowView {
    pub namespace: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Billable Actions (already weighted), all kinds together.
    pub total_actions: i64,
    /// Actions by kind (`workflow_started`, `signal`, …).
    pub actions: BTreeMap<String, i64>,
    /// Decimal GB-hours (byte-seconds / 3.6e12), rounded to six decimals.
    pub active_storage_gbh: f64,
    pub retained_storage_gbh: f64,
    /// The exact figures the GB-hours come from.
    pub active_storage_byte_seconds: i64,
    pub retained_storage_byte_seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    /// Ordered by start, then namespace.
    pub rows: Vec<UsageRowView>,
    /// True when a cell holding one of these namespaces has not been pulled
    /// since `to` (or, for a range reaching into the last three pull
    /// intervals, not within them): usage may be missing.
    pub incomplete: bool,
}

/// The validated range of a request, in ms.
pub(crate) struct Range {
    pub from_ms: i64,
    pub to_ms: i64,
}

fn range(
    from: Option<&str>,
    to: Option<&str>,
    granularity: Granularity,
) -> Result<Range, ApiError> {
    let mut errors = Vec::new();
    let mut parse = |field: &str, text: Option<&str>| match text {
        None => {
            errors.push(FieldError::new(field, "required (RFC 3339)"));
            None
        }
        Some(text) => parse_instant(text, granularity)
            .map_err(|why| errors.push(FieldError::new(field, why)))
            .ok(),
    };
    let (from_ms, to_ms) = (parse("from", from), parse("to", to));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (from_ms, to_ms) = (from_ms.unwrap_or_default(), to_ms.unwrap_or_default());
    if to_ms <= from_ms {
        return Err(ApiError::field("to", "must be after from"));
    }
    let max_days = match granularity {
        Granularity::Hour => MAX_HOURLY_RANGE_DAYS,
        Granularity::Day => MAX_DAILY_RANGE_DAYS,
    };
    if to_ms - from_ms > max_days * DAY_MS {
        return Err(ApiError::field(
            "to",
            format!("at most {max_days} days after from at this granularity"),
        ));
    }
    Ok(Range { from_ms, to_ms })
}

/// Whether the account's usage in `range` may be incomplete; 404 for a
/// namespace that is not (and never was, with usage) the account's.
pub(crate) async fn completeness(
    state: &AppState,
    caller: &Caller,
    namespace: Option<&str>,
    range: &Range,
) -> Result<bool, ApiError> {
    let cells = state
        .store
        .usage_cells(&caller.account_id, namespace)
        .await?;
    if namespace.is_some() && cells.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(incomplete(
        &cells,
        range.to_ms,
        now_ms(),
        state.usage.pull_interval,
    ))
}

/// The account's usage in `range` by (bucket start, namespace), summed by
/// the database, and whether it may be incomplete; 422 naming `namespace`
/// (or `to` when one namespace was asked about) past [`MAX_USAGE_ROWS`].
async fn load(
    state: &AppState,
    caller: &Caller,
    namespace: Option<&str>,
    range: &Range,
    granularity: Granularity,
) -> Result<(BTreeMap<(i64, String), Bucket>, bool), ApiError> {
    let incomplete = completeness(state, caller, namespace, range).await?;
    let mut out: BTreeMap<(i64, String), Bucket> = BTreeMap::new();
    let mut too_many = false;
    let range = UsageRange {
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        bucket_ms: granularity.ms(),
    };
    state
        .store
        .account_usage(&caller.account_id, namespace, range, &mut |row| {
            let key = (row.hour_ms, row.namespace_id);
            if out.len() >= MAX_USAGE_ROWS && !out.contains_key(&key) {
                too_many = true;
                return ControlFlow::Break(());
            }
            out.entry(key).or_default().add(&row.kind, row.total);
            ControlFlow::Continue(())
        })
        .await?;
    if too_many {
        return Err(ApiError::field(
            if namespace.is_none() {
                "namespace"
            } else {
                "to"
            },
            format!(
                "the range holds more than {MAX_USAGE_ROWS} rows (namespaces × hours or days \
                 with usage): ask for one namespace, a shorter range or granularity=day"
            ),
        ));
    }
    Ok((out, incomplete))
}

/// The account's usage per namespace and hour (or UTC day): Actions by
/// kind and storage. Usage arrives within a few pull intervals (10 s each
/// by default) of the Action.
/// One answer holds at most 50,000 rows (namespaces × hours or days with
/// usage): beyond, 422 naming `namespace` (ask for one, a shorter range or
/// `granularity=day`).
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage",
    params(UsageQuery),
    responses((status = 200, body = UsageView), ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<UsageView>, ApiError> {
    caller.require_usage_reader()?;
    let granularity = match q.granularity.as_deref() {
        None | Some("hour") => Granularity::Hour,
        Some("day") => Granularity::Day,
        Some(_) => return Err(ApiError::field("granularity", "hour or day")),
    };
    let range = range(q.from.as_deref(), q.to.as_deref(), granularity)?;
    let (buckets, incomplete) =
        load(&state, &caller, q.namespace.as_deref(), &range, granularity).await?;
    let rows = buckets
        .into_iter()
        .map(|((start, namespace), b)| UsageRowView {
            namespace,
            start: time(start),
            end: time(start + granularity.ms()),
            total_actions: b.total_actions,
            actions: b.actions,
            active_storage_gbh: micro_gbh(b.active_byte_seconds) as f64 / 1e6,
            retained_storage_gbh: micro_gbh(b.retained_byte_seconds) as f64 / 1e6,
            active_storage_byte_seconds: b.active_byte_seconds,
            retained_storage_byte_seconds: b.retained_byte_seconds,
        })
        .collect();
    Ok(Json(UsageView { rows, incomplete }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `YYYY-MM`: the whole month (UTC). Either this or `from` and `to`.
    pub month: Option<String>,
    /// RFC 3339 on an hour's start, inclusive.
    pub from: Option<String>,
    /// RFC 3339 on an hour's start, exclusive; at most 93 days after `from`.
    pub to: Option<String>,
    /// One namespace of the account; all if omitted.
    pub namespace: Option<String>,
}

/// The CSV's columns: these, then one per known Action kind
/// ([`KNOWN_ACTION_KINDS`], as `actions_<kind>`), then `other_actions`
/// (kinds this control plane does not know yet).
pub const CSV_LEADING_COLUMNS: [&str; 6] = [
    "namespace",
    "start",
    "end",
    "total_actions",
    "active_storage_gbh",
    "retained_storage_gbh",
];

/// Hourly usage as CSV, one row per namespace and hour with usage, like a
/// cloud billing report; at most 50,000 rows, as `GET /api/v1/usage`. `x-orrery-usage-incomplete: true` says usage may
/// be missing (as `incomplete` in `GET /api/v1/usage`).
#[utoipa::path(get, path = "/api/v1/usage/export.csv", tag = "usage",
    params(ExportQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String,
         description = "Hourly usage; columns namespace, start, end, total_actions, active_storage_gbh, retained_storage_gbh, actions_<kind> per known kind, other_actions",
         headers(("x-orrery-usage-incomplete" = String, description = "true or false"))),
        ErrorResponses),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn export_usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    caller.require_usage_reader()?;
    let (range, label) = match (&q.month, &q.from, &q.to) {
        (Some(month), None, None) => {
            let (from_ms, to_ms) =
                parse_month(month).map_err(|why| ApiError::field("month", why))?;
            (Range { from_ms, to_ms }, month.clone())
        }
        (None, from, to) => {
            let range = range(from.as_deref(), to.as_deref(), Granularity::Hour)?;
            let label = format!("{}_{}", range.from_ms / 1000, range.to_ms / 1000);
            (range, label)
        }
        (Some(_), _, _) => {
            return Err(ApiError::field("month", "give either month or from and to"));
        }
    };
    let (buckets, incomplete) = load(
        &state,
        &caller,
        q.namespace.as_deref(),
        &range,
        Granularity::Hour,
    )
    .await?;
    let mut csv = CSV_LEADING_COLUMNS.join(",");
    for kind in KNOWN_ACTION_KINDS {
        csv.push_str(",actions_");
        csv.push_str(kind);
    }
    csv.push_str(",other_actions\r\n");
    for ((start, namespace), b) in buckets {
        let rfc = |ms: i64| time(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut fields = vec![
            csv_field(&namespace),
            rfc(start),
            rfc(start + Granularity::Hour.ms()),
            b.total_actions.to_string(),
            format_micros(micro_gbh(b.active_byte_seconds)),
            format_micros(micro_gbh(b.retained_byte_seconds)),
        ];
        let mut other = b.total_actions;
        for kind in KNOWN_ACTION_KINDS {
            let n = b.actions.get(kind).copied().unwrap_or(0);
            other -= n;
            fields.push(n.to_string());
        }
        fields.push(other.to_string());
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"usage-{label}.csv\"");
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        "x-orrery-usage-incomplete",
        HeaderValue::from_static(if incomplete { "true" } else { "false" }),
    );
    Ok(response)
}

/// RFC 4180 quoting, for a field that might hold a comma or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
