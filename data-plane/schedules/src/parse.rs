//! String forms of calendar specs: the legacy `CalendarSpec` ("1,3-5/2",
//! "mon-fri", "*") and cron strings, turned into structured calendars and
//! intervals exactly as the real server does (`calendar.go`'s
//! `parseCalendarToStructured` and `parseCronString`): same defaults, same
//! compact ranges (`end` 0 when equal to `start`, `step` 0 when 1), same
//! Sunday-as-7 handling, same error texts.
use orrery_proto::api::schedule::v1::{CalendarSpec, IntervalSpec, Range, StructuredCalendarSpec};
use prost_wkt_types::Duration;

use crate::duration::parse_duration_with_days;

pub(crate) const MIN_CALENDAR_YEAR: i32 = 2000;
pub(crate) const MAX_CALENDAR_YEAR: i32 = 2100;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Int,
    /// Like `Int`, but "*" is the empty list (every year).
    Year,
    /// Also month names: a prefix of at least three letters.
    Month,
    /// Also day names: a prefix of at least two letters.
    Dow,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// Go's `strconv.Atoi` on a 64-bit platform, with its error text.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// One value: a number, or a month / day name prefix in those modes.
/// `Err(())` when it is not a value in `[min, max]`.
fn parse_value(s: &str, min: i64, max: i64, mode: Mode) -> Result<i64, ()> {
    let names: &[&str] = match mode {
        Mode::Month if s.len() >= 3 => &MONTHS,
        Mode::Dow if s.len() >= 2 => &DAYS,
        _ => &[],
    };
    let lower = s.to_lowercase();
    if let Some(i) = names.iter().position(|n| n.starts_with(&lower)) {
        let v = if mode == Mode::Month { i + 1 } else { i } as i64;
        return if v < min || v > max { Err(()) } else { Ok(v) };
    }
    let v = atoi(s).map_err(|_| ())?;
    if v < min || v > max {
        return Err(());
    }
    Ok(v)
}

fn range(start: i64, end: i64, step: i64) -> Range {
    // The real server stores int32s; a larger step wraps as Go's conversion does.
    Range {
        start: start as i32,
        end: end as i32,
        step: step as i32,
    }
}

/// Parses one field (`*`, `x`, `x-z`, `x-z/y`, `x/y`, comma lists of these).
fn make_range(
    s: &str,
    field: &str,
    default: &str,
    min: i64,
    max: i64,
    mode: Mode,
) -> Result<Vec<Range>, String> {
    let mut s = s.trim();
    if s.is_empty() {
        s = default;
    }
    if s == "*" && mode == Mode::Year {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for part in s.split(',') {
        let mut part = part;
        let mut step = 1;
        let mut has_step = false;
        match part.matches('/').count() {
            0 => {}
            1 => {
                let (value, step_text) = part.split_once('/').unwrap_or((part, ""));
                if step_text.is_empty() {
                    return Err(format!("{field} missing step value"));
                }
                part = value;
                step = atoi(step_text)?;
                if step < 1 {
                    return Err(format!("{field} has invalid Step"));
                }
                has_step = true;
            }
            _ => return Err(format!("{field} has too many slashes")),
        }
        let (mut start, mut end) = (min, max);
        if part != "*" {
            if part.contains('-') {
                if part.matches('-').count() > 1 {
                    return Err(format!("{field} has too many dashes"));
                }
                let (a, b) = part.split_once('-').unwrap_or((part, ""));
                start = parse_value(a, min, max, mode)
                    .map_err(|_| format!("{field} Start is not in range [{min}-{max}]"))?;
                end = parse_value(b, start, max, mode).map_err(|_| {
                    format!("{field} End is before Start or not in range [{min}-{max}]")
                })?;
            } else {
                start = parse_value(part, min, max, mode)
                    .map_err(|_| format!("{field} is not in range [{min}-{max}]"))?;
                if !has_step {
                    // "x/y" runs from x to the maximum; a bare "x" is just x.
                    end = start;
                }
            }
        }
        // Sunday may be written 7: fold it into 0, adding a range when 7 was
        // actually matched and the original range cannot simply end at 6.
        if mode == Mode::Dow && end == 7 {
            if (7 - start) % step == 0 && (step > 1 || start > 1) {
                ranges.push(range(0, 0, 0));
                if start == 7 {
                    continue;
                }
            }
            end = 6;
        }
        if start == end {
            end = 0;
        }
        if step == 1 {
            step = 0;
        }
        ranges.push(range(start, end, step));
    }
    Ok(ranges)
}

/// `CalendarSpec` (strings) to `StructuredCalendarSpec`. Empty fields take
/// the real server's defaults: second, minute and hour "0", the others "*".
pub(crate) fn parse_calendar(cal: &CalendarSpec) -> Result<StructuredCalendarSpec, String> {
    let mut errs = Vec::new();
    let mut field = |s: &str, name: &str, default: &str, min, max, mode| {
        make_range(s, name, default, min, max, mode).unwrap_or_else(|e| {
            errs.push(e);
            Vec::new()
        })
    };
    // Same order as the real server, so that joined errors read the same.
    let second = field(&cal.second, "Second", "0", 0, 59, Mode::Int);
    let minute = field(&cal.minute, "Minute", "0", 0, 59, Mode::Int);
    let hour = field(&cal.hour, "Hour", "0", 0, 23, Mode::Int);
    let day_of_week = field(&cal.day_of_week, "DayOfWeek", "*", 0, 7, Mode::Dow);
    let day_of_month = field(&cal.day_of_month, "DayOfMonth", "*", 1, 31, Mode::Int);
    let month = field(&cal.month, "Month", "*", 1, 12, Mode::Month);
    let year = field(
        &cal.year,
        "Year",
        "*",
        i64::from(MIN_CALENDAR_YEAR),
        i64::from(MAX_CALENDAR_YEAR),
        Mode::Year,
    );
    if !errs.is_empty() {
        return Err(errs.join(", "));
    }
    Ok(StructuredCalendarSpec {
        second,
        minute,
        hour,
        day_of_month,
        month,
        year,
        day_of_week,
        comment: cal.comment.clone(),
    })
}

/// What one cron string becomes.
pub(crate) enum Cron {
    Calendar(StructuredCalendarSpec),
    Interval(IntervalSpec),
}

fn nanos_to_duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

/// Parses a cron string: optional `CRON_TZ=`/`TZ=` prefix, optional
/// `# comment`, then `@every <d>[/<phase>]`, a descriptor (`@hourly`,
/// `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`) or
/// 5 fields (minute hour day-of-month month day-of-week), 6 (… year) or
/// 7 (second … year). Returns the time zone named in the prefix ("" when
/// none; always "" for `@every`, as in the real server).
pub(crate) fn parse_cron_string(c: &str) -> Result<(Cron, String), String> {
    let mut c = c.trim();
    let mut tz_name = String::new();
    if c.starts_with("TZ=") || c.starts_with("CRON_TZ=") {
        let Some((tz, rest)) = c.split_once(' ') else {
            return Err("CronString has time zone but missing fields".into());
        };
        tz_name = tz.split_once('=').map(|(_, n)| n).unwrap_or("").to_string();
        c = rest;
    }
    let (fields, comment) = c.split_once('#').unwrap_or((c, ""));
    let c = fields.trim();
    let comment = comment.trim();

    if c.starts_with("@every") {
        let Some((_, text)) = c.split_once(' ') else {
            return Err("CronString does not have interval after @every".into());
        };
        let (every, phase) = text.split_once('/').unwrap_or((text, ""));
        let every = parse_duration_with_days(every)?;
        let phase = if phase.is_empty() {
            None
        } else {
            Some(nanos_to_duration(parse_duration_with_days(phase)?))
        };
        let interval = IntervalSpec {
            interval: Some(nanos_to_duration(every)),
            phase,
        };
        return Ok((Cron::Interval(interval), String::new()));
    }

    let c = match c {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let toks: Vec<&str> = c.split_whitespace().take(8).collect();
    let mut cal = CalendarSpec {
        comment: comment.to_string(),
        ..Default::default()
    };
    let (sec, rest) = match toks.len() {
        5 | 6 => ("", &toks[..]),
        7 => (toks[0], &toks[1..]),
        _ => return Err("CronString does not have 5-7 fields".into()),
    };
    cal.second = sec.to_string();
    cal.minute = rest[0].to_string();
    cal.hour = rest[1].to_string();
    cal.day_of_month = rest[2].to_string();
    cal.month = rest[3].to_string();
    cal.day_of_week = rest[4].to_string();
    if let Some(year) = rest.get(5) {
        cal.year = year.to_string();
    }
    Ok((Cron::Calendar(parse_calendar(&cal)?), tz_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    fn field(s: &str, mode: Mode, min: i64, max: i64) -> Result<Vec<Range>, String> {
        make_range(s, "F", "*", min, max, mode)
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(
            field("1,3-5/2", Mode::Int, 0, 59),
            Ok(vec![r(1, 0, 0), r(3, 5, 2)])
        );
        assert_eq!(field("*/15", Mode::Int, 0, 59), Ok(vec![r(0, 59, 15)]));
        assert_eq!(field("5/20", Mode::Int, 0, 59), Ok(vec![r(5, 59, 20)]));
        assert_eq!(field(" 7 ", Mode::Int, 0, 59), Ok(vec![r(7, 0, 0)]));
        assert_eq!(field("*", Mode::Year, 2000, 2100), Ok(vec![]));
        assert_eq!(
            field("*/2", Mode::Year, 2000, 2100),
            Ok(vec![r(2000, 2100, 2)])
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            field("jan,Jul", Mode::Month, 1, 12),
            Ok(vec![r(1, 0, 0), r(7, 0, 0)])
        );
        assert_eq!(field("MARCH-may", Mode::Month, 1, 12), Ok(vec![r(3, 5, 0)]));
        assert_eq!(field("mon-fri", Mode::Dow, 0, 7), Ok(vec![r(1, 5, 0)]));
        assert_eq!(field("Tu", Mode::Dow, 0, 7), Ok(vec![r(2, 0, 0)]));
        assert!(field("ja", Mode::Month, 1, 12).is_err());
        assert!(field("t", Mode::Dow, 0, 7).is_err());
    }

    #[test]
    fn sunday_seven() {
        assert_eq!(field("7", Mode::Dow, 0, 7), Ok(vec![r(0, 0, 0)]));
        assert_eq!(
            field("3-7", Mode::Dow, 0, 7),
            Ok(vec![r(0, 0, 0), r(3, 6, 0)])
        );
        assert_eq!(
            field("1-7/2", Mode::Dow, 0, 7),
            Ok(vec![r(0, 0, 0), r(1, 6, 2)])
        );
        assert_eq!(field("0-7", Mode::Dow, 0, 7), Ok(vec![r(0, 6, 0)]));
        assert_eq!(field("1-7", Mode::Dow, 0, 7), Ok(vec![r(1, 6, 0)]));
        assert_eq!(field("3-7/3", Mode::Dow, 0, 7), Ok(vec![r(3, 6, 3)]));
        assert_eq!(field("*", Mode::Dow, 0, 7), Ok(vec![r(0, 6, 0)]));
    }

    #[test]
    fn range_errors() {
        let e = |s: &str| field(s, Mode::Int, 0, 59).unwrap_err();
        assert_eq!(e("5-3"), "F End is before Start or not in range [0-59]");
        assert_eq!(e("1/2/3"), "F has too many slashes");
        assert_eq!(e("5/"), "F missing step value");
        assert_eq!(e("5/0"), "F has invalid Step");
        assert_eq!(e("5/x"), "strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(e("1-2-3"), "F has too many dashes");
        assert_eq!(e("60"), "F is not in range [0-59]");
        assert_eq!(e("-1"), "F Start is not in range [0-59]");
        assert_eq!(e("1,,2"), "F is not in range [0-59]");
    }

    #[test]
    fn cron_forms() {
        let (Cron::Calendar(c), tz) =
            parse_cron_string("CRON_TZ=Asia/Tokyo 0 12 * * MON # x").unwrap()
        else {
            panic!("not a calendar")
        };
        assert_eq!(tz, "Asia/Tokyo");
        assert_eq!(c.comment, "x");
        assert_eq!(c.hour, vec![r(12, 0, 0)]);
        assert_eq!(c.day_of_week, vec![r(1, 0, 0)]);
        assert_eq!(c.second, vec![r(0, 0, 0)]);
        assert_eq!(c.year, vec![]);

        let (Cron::Calendar(c), _) = parse_cron_string("15 */20 3 * * * 2027").unwrap() else {
            panic!("not a calendar")
        };
        assert_eq!(c.second, vec![r(15, 0, 0)]);
        assert_eq!(c.year, vec![r(2027, 0, 0)]);

        let (Cron::Interval(i), tz) = parse_cron_string("TZ=UTC @every 90m/10m").unwrap() else {
            panic!("not an interval")
        };
        assert_eq!(tz, "");
        assert_eq!(i.interval.unwrap().seconds, 5400);
        assert_eq!(i.phase.unwrap().seconds, 600);

        assert!(matches!(
            parse_cron_string("@weekly"),
            Ok((Cron::Calendar(_), _))
        ));
        for bad in ["* * *", "@fortnightly", "# only", "* * * * * * * *"] {
            assert_eq!(
                parse_cron_string(bad).err().as_deref(),
                Some("CronString does not have 5-7 fields"),
                "{bad}"
            );
        }
        assert_eq!(
            parse_cron_string("CRON_TZ=UTC").err().as_deref(),
            Some("CronString has time zone but missing fields")
        );
        assert_eq!(
            parse_cron_string("@every").err().as_deref(),
            Some("CronString does not have interval after @every")
        );
    }
}
