//! Usage as the API serves it: hours (or UTC days) per namespace, with
//! Actions by kind and storage in GB-hours, and whether every cell involved
//! has been pulled far enough for the answer to be whole.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{
    ACTIVE_STORAGE_BYTE_SECONDS, DAY_MS, HOUR_MS, RETAINED_STORAGE_BYTE_SECONDS, is_action,
};
#[cfg(test)]
use crate::store::NamespaceUsage;
use crate::store::UsageCell;

/// Queries are counted in memory by a cell and flushed once a second: a
/// pull that started this long after an instant has every Action before it.
pub const QUERY_FLUSH_GRACE_MS: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn ms(self) -> i64 {
        match self {
            Granularity::Hour => HOUR_MS,
            Granularity::Day => DAY_MS,
        }
    }
}

/// One namespace's usage in one hour or day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    pub total_actions: i64,
    pub actions: BTreeMap<String, i64>,
    pub active_byte_seconds: i64,
    pub retained_byte_seconds: i64,
}

impl Bucket {
    /// Adds a total of `kind` (Actions by kind, or storage).
    pub fn add(&mut self, kind: &str, total: i64) {
        if kind == ACTIVE_STORAGE_BYTE_SECONDS {
            self.active_byte_seconds = self.active_byte_seconds.saturating_add(total);
        } else if kind == RETAINED_STORAGE_BYTE_SECONDS {
            self.retained_byte_seconds = self.retained_byte_seconds.saturating_add(total);
        } else if is_action(kind) {
            self.total_actions = self.total_actions.saturating_add(total);
            let n = self.actions.entry(kind.to_owned()).or_default();
            *n = n.saturating_add(total);
        }
        // Other storage.* kinds a newer cell may send are not billed yet.
    }
}

/// Sums hourly totals into buckets keyed by (bucket start, namespace).
/// Buckets without any usage are absent. (The API has the database sum
/// into buckets; this is the reference it is tested against.)
#[cfg(test)]
pub fn buckets(
    rows: &[NamespaceUsage],
    granularity: Granularity,
) -> BTreeMap<(i64, String), Bucket> {
    let mut out: BTreeMap<(i64, String), Bucket> = BTreeMap::new();
    for row in rows {
        let start = row.hour_ms - row.hour_ms.rem_euclid(granularity.ms());
        out.entry((start, row.namespace_id.clone()))
            .or_default()
            .add(&row.kind, row.total);
    }
    out
}

/// Whether an answer for `[.., to_ms)` may lack usage: some cell that holds
/// (or held) one of the namespaces asked about has not had a whole pull
/// that started at or after `min(to, now − 3 × interval)` plus
/// [`QUERY_FLUSH_GRACE_MS`]. So a range that ended more than three pull
/// intervals ago is complete only once pulled after its end; a range that
/// reaches into the last three intervals (or the future) is complete while
/// every cell is pulled on schedule, missing at most those three intervals'
/// newest usage.
pub fn incomplete(cells: &[UsageCell], to_ms: i64, now_ms: i64, interval: Duration) -> bool {
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    let needed = to_ms.min(now_ms.saturating_sub(interval_ms.saturating_mul(3)));
    cells.iter().any(|c| {
        c.last_pull_started_ms
            .is_none_or(|started| started - QUERY_FLUSH_GRACE_MS < needed)
    })
}

/// An RFC 3339 instant on a `granularity` boundary (UTC), or why not.
pub fn parse_instant(text: &str, granularity: Granularity) -> Result<i64, String> {
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("expected an RFC 3339 date-time such as 2026-01-31T00:00:00Z: {e}"))?;
    let ms = at.timestamp_millis();
    if ms.rem_euclid(granularity.ms()) != 0 {
        return Err(match granularity {
            Granularity::Hour => "must be the start of an hour".into(),
            Granularity::Day => "must be the start of a UTC day (granularity=day)".into(),
        });
    }
    Ok(ms)
}

/// `YYYY-MM` as the month's `[start, end)` in ms (UTC).
pub fn parse_month(text: &str) -> Result<(i64, i64), String> {
    let bad = || "expected a month as YYYY-MM".to_owned();
    let (year, month) = text.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u32 = month.parse().map_err(|_| bad())?;
    let start = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .ok_or_else(bad)?;
    let ms = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
    };
    Ok((ms(start).ok_or_else(bad)?, ms(next).ok_or_else(bad)?))
}

/// The month (`YYYY-MM`) that holds `ms`.
pub fn month_of(ms: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    format!("{:04}-{:02}", at.year(), at.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ns: &str, hour: i64, kind: &str, total: i64) -> NamespaceUsage {
        NamespaceUsage {
            namespace_id: ns.into(),
            hour_ms: hour * HOUR_MS,
            kind: kind.into(),
            total,
        }
    }

    #[test]
    fn buckets_sum_actions_and_storage_by_hour_or_day() {
        let rows = [
            row("a", 0, "signal", 2),
            row("a", 0, "workflow_started", 3),
            row("a", 0, ACTIVE_STORAGE_BYTE_SECONDS, 10),
            row("a", 5, "signal", 4),
            row("b", 5, RETAINED_STORAGE_BYTE_SECONDS, 7),
            row("a", 25, "signal", 1),
        ];
        let hourly = buckets(&rows, Granularity::Hour);
        assert_eq!(hourly.len(), 4);
        let first = &hourly[&(0, "a".to_owned())];
        assert_eq!(first.total_actions, 5);
        assert_eq!(first.active_byte_seconds, 10);
        let daily = buckets(&rows, Granularity::Day);
        assert_eq!(daily.len(), 3);
        let day0 = &daily[&(0, "a".to_owned())];
        assert_eq!(day0.total_actions, 9);
        assert_eq!(day0.actions["signal"], 6);
        assert_eq!(daily[&(DAY_MS, "a".to_owned())].total_actions, 1);
        assert_eq!(daily[&(0, "b".to_owned())].retained_byte_seconds, 7);
    }

    #[test]
    fn months_and_instants_parse_strictly() {
        assert_eq!(
            parse_month("2026-12").unwrap(),
            (1_796_083_200_000, 1_798_761_600_000)
        );
        assert_eq!(month_of(1_796_083_200_000), "2026-12");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
        assert!(parse_instant("2026-01-01T01:00:00Z", Granularity::Hour).is_ok());
        assert!(parse_instant("2026-01-01T01:00:00+01:00", Granularity::Day).is_ok());
        assert!(parse_instant("2026-01-01T01:30:00Z", Granularity::Hour).is_err());
        assert!(parse_instant("2026-01-01T01:00:00Z", Granularity::Day).is_err());
        assert!(parse_instant("yesterday", Granularity::Hour).is_err());
    }

    #[test]
    fn incomplete_until_pulled_past_the_range() {
        let interval = Duration::from_secs(10);
        let now = 1_000_000_000;
        let cell = |started: Option<i64>| UsageCell {
            cell_id: "c".into(),
            last_pull_started_ms: started,
        };
        // Never pulled.
        assert!(incomplete(&[cell(None)], now, now, interval));
        // A range that ended long ago: only a pull after its end will do.
        let to = now - 3_600_000;
        assert!(incomplete(&[cell(Some(to))], to, now, interval));
        assert!(!incomplete(
            &[cell(Some(to + QUERY_FLUSH_GRACE_MS))],
            to,
            now,
            interval
        ));
        // A range up to now: a pull within the last three intervals.
        assert!(!incomplete(
            &[cell(Some(now - 25_000))],
            now + 1,
            now,
            interval
        ));
        assert!(incomplete(
            &[cell(Some(now - 35_000))],
            now + 1,
            now,
            interval
        ));
        // Every cell counts.
        assert!(incomplete(
            &[cell(Some(now)), cell(None)],
            now,
            now,
            interval
        ));
        assert!(!incomplete(&[], now, now, interval));
    }
}
