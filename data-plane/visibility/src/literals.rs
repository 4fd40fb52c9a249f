//! Literal forms the real server accepts: RFC 3339 datetimes, Go durations,
//! execution-status names.

use chrono::DateTime;
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;

/// Parses a datetime as Go's `time.Parse(time.RFC3339Nano, s)` does:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)`, with an upper-case `T` and `Z`.
/// Returns nanoseconds since the Unix epoch (i128: years 0000–9999 exceed i64).
pub fn parse_rfc3339_ns(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    // Go's layout has a literal 'T' and 'Z'; chrono also accepts 't', ' ' and 'z'.
    if b.len() < 20 || b[10] != b'T' || s.ends_with('z') {
        return None;
    }
    let dt = DateTime::parse_from_rfc3339(s).ok()?;
    let secs = i128::from(dt.timestamp());
    Some(secs * 1_000_000_000 + i128::from(dt.timestamp_subsec_nanos()))
}

/// Nanoseconds clamped into i64 (the range the EAV table stores).
pub fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The real server's `ParseExecutionDurationStr`: an integer is nanoseconds;
/// else a Go duration (`time.ParseDuration` plus the unit `d` = 24h, e.g.
/// `"1h30m"`, `"-1.5h"`, `"300ms"`, `"2d"`); else `hh:mm:ss`.
pub fn parse_execution_duration(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Some(n) = parse_go_duration(s) {
        return Some(n);
    }
    parse_hhmmss(s)
}

fn parse_hhmmss(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, sec) = (
        h.trim().parse::<i64>().ok()?,
        m.trim().parse::<i64>().ok()?,
        sec.trim().parse::<i64>().ok()?,
    );
    if h < 0 || !(0..=59).contains(&m) || !(0..=59).contains(&sec) {
        return None;
    }
    h.checked_mul(3_600_000_000_000)?
        .checked_add(m * 60_000_000_000)?
        .checked_add(sec * 1_000_000_000)
}

/// Go's `time.ParseDuration` grammar, `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, with
/// units ns, us, µs, μs, ms, s, m, h and Temporal's extra `d`. Nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..digits];
        rest = &rest[digits..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            rest = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let v: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<u64>().ok()?.into()
        };
        let mut part = v.checked_mul(unit)?;
        if !frac_part.is_empty() {
            // Go keeps at most ~19 significant fraction digits; 18 is plenty.
            let f = &frac_part[..frac_part.len().min(18)];
            let scale = 10u128.pow(f.len() as u32);
            let fv: u128 = f.parse().ok()?;
            part = part.checked_add(fv * unit / scale)?;
        }
        total = total.checked_add(part)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return None;
        }
    }
    let t = total as i128;
    Some(if neg { -t } else { t } as i64)
}

/// An ExecutionStatus written as a string: the short name ("Running") or the
/// proto name ("WORKFLOW_EXECUTION_STATUS_RUNNING"), case-sensitively, as
/// Go's `WorkflowExecutionStatusFromString`.
pub fn parse_status_name(s: &str) -> Option<i32> {
    if let Some(st) = WorkflowExecutionStatus::from_str_name(s) {
        return Some(st as i32);
    }
    (0..=16)
        .filter_map(|i| WorkflowExecutionStatus::try_from(i).ok())
        .find(|st| status_short_name(*st) == s)
        .map(|st| st as i32)
}

/// "Running", "ContinuedAsNew", ...: the proto name in PascalCase.
pub fn status_short_name(st: WorkflowExecutionStatus) -> String {
    let long = st.as_str_name();
    let tail = long
        .strip_prefix("WORKFLOW_EXECUTION_STATUS_")
        .unwrap_or(long);
    tail.split('_')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

/// An ExecutionStatus written as a number must be a known status.
pub fn status_from_int(v: i64) -> Option<i32> {
    let v = i32::try_from(v).ok()?;
    WorkflowExecutionStatus::try_from(v).ok().map(|s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("1970-01-01T01:00:00.000000001+01:00"),
            Some(1)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-02-03T04:05:06.123456789-07:30"),
            Some(
                (DateTime::parse_from_rfc3339("2024-02-03T11:35:06Z")
                    .unwrap()
                    .timestamp() as i128)
                    * 1_000_000_000
                    + 123_456_789
            )
        );
        for bad in [
            "2024-01-01",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        let s = 1_000_000_000i64;
        assert_eq!(parse_execution_duration("10s"), Some(10 * s));
        assert_eq!(parse_execution_duration("1h30m"), Some(5400 * s));
        assert_eq!(parse_execution_duration("-1.5h"), Some(-5400 * s));
        assert_eq!(parse_execution_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_execution_duration("1.5us"), Some(1_500));
        assert_eq!(parse_execution_duration("2µs"), Some(2_000));
        assert_eq!(parse_execution_duration("1d"), Some(86_400 * s));
        assert_eq!(parse_execution_duration("0"), Some(0));
        assert_eq!(parse_execution_duration("123"), Some(123));
        assert_eq!(parse_execution_duration("01:02:03"), Some(3723 * s));
        assert_eq!(parse_execution_duration(".5s"), Some(s / 2));
        for bad in [
            "",
            "s",
            "1",
            "1x",
            "1.s.",
            "01:60:00",
            "-1:00:00",
            "1h-2m",
            "abc",
            "99999999999h",
        ] {
            if bad == "1" {
                continue; // an integer: nanoseconds
            }
            assert_eq!(parse_execution_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status_name("Running"), Some(1));
        assert_eq!(parse_status_name("ContinuedAsNew"), Some(6));
        assert_eq!(parse_status_name("TimedOut"), Some(7));
        assert_eq!(
            parse_status_name("WORKFLOW_EXECUTION_STATUS_FAILED"),
            Some(3)
        );
        assert_eq!(parse_status_name("Unspecified"), Some(0));
        assert_eq!(parse_status_name("running"), None);
        assert_eq!(parse_status_name("RUNNING"), None);
        assert_eq!(status_from_int(2), Some(2));
        assert_eq!(status_from_int(99), None);
        assert_eq!(status_from_int(-1), None);
    }
}
