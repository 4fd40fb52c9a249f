//! A structured calendar compiled into per-field sets, and the search for
//! its next matching second, field by field (year, month, day, hour,
//! minute, second) in the schedule's time zone.
//!
//! The search follows the real server's `compiledCalendar.next` step by
//! step, including how it meets daylight-saving changes, because the
//! schedule's action times must be the ones the real server would give:
//!
//! * a wall time that does not exist (spring forward) never matches: the
//!   search moves on to the next matching wall time, so `30 2 * * *` in
//!   New York skips the day clocks jump from 2:00 to 3:00;
//! * a wall time that happens twice (fall back) matches both times when the
//!   zone's offset before the change is not zero (New York: `30 1 * * *`
//!   runs at 1:30 EDT and again at 1:30 EST);
//! * local times are resolved like Go's `time.Date`, which for a zone whose
//!   standard offset is zero (London) picks the *second* 1:xx of the
//!   repeated hour and so fires once, at 1:xx GMT; an hourly calendar in
//!   London skips 01:00 UTC that night. The real server does exactly this.
use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;
use orrery_proto::api::schedule::v1::{Range, StructuredCalendarSpec};

use crate::parse::MAX_CALENDAR_YEAR;

/// The time zone a spec is read in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Zone(pub(crate) Tz);

const SECS_PER_DAY: i64 = 86_400;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

pub(crate) fn days_in_month(m: i64, y: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Wall-clock fields of an instant in a zone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Local {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    /// 0 = Sunday.
    pub weekday: i64,
}

impl Zone {
    /// Offset from UTC in seconds at the instant `unix`.
    fn offset_at(&self, unix: i64) -> i64 {
        if self.0 == Tz::UTC {
            return 0;
        }
        match DateTime::from_timestamp(unix, 0) {
            Some(t) => i64::from(
                self.0
                    .offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
            None => 0,
        }
    }

    pub(crate) fn local(&self, unix: i64) -> Local {
        let secs = unix + self.offset_at(unix);
        let days = secs.div_euclid(SECS_PER_DAY);
        let rem = secs.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Local {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            weekday: (days + 4).rem_euclid(7),
        }
    }

    /// The instant of a wall time, resolved as Go's `time.Date` resolves it
    /// (fields may overflow, e.g. hour 24 is the next day's midnight): take
    /// the offset in force at the wall time read as UTC; if the instant
    /// that gives lies outside that offset's period, use the offset in
    /// force at that instant instead. A zero first offset is used as is.
    pub(crate) fn date(&self, y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
        let wall = days_from_civil(y, mo, 1) * SECS_PER_DAY
            + (d - 1) * SECS_PER_DAY
            + h * 3600
            + mi * 60
            + s;
        let first = self.offset_at(wall);
        if first == 0 {
            return wall;
        }
        wall - self.offset_at(wall - first)
    }
}

/// The set of values a field of a calendar matches.
#[derive(Clone, Debug)]
struct Bits(u64);

impl Bits {
    fn new(ranges: &[Range]) -> Self {
        let mut bits = 0u64;
        for_each_value(ranges, 0, 63, |v| bits |= 1 << v);
        Bits(bits)
    }

    fn has(&self, v: i64) -> bool {
        (0..64).contains(&v) && self.0 & (1 << v) != 0
    }
}

/// Calls `f` with every value in `ranges` that lies in `[lo, hi]`
/// (`end` < `start` means `start` alone, `step` 0 means 1), without walking
/// values outside the window, so that huge unvalidated ranges cost nothing.
fn for_each_value(ranges: &[Range], lo: i64, hi: i64, mut f: impl FnMut(i64)) {
    for r in ranges {
        let start = i64::from(r.start);
        let end = i64::from(r.end).max(start);
        let step = if r.step == 0 { 1 } else { i64::from(r.step) };
        if step < 0 {
            continue;
        }
        let mut v = start;
        if v < lo {
            v += (lo - v + step - 1) / step * step;
        }
        while v <= end.min(hi) {
            f(v);
            v += step;
        }
    }
}

/// Years: an empty list matches every year.
#[derive(Clone, Debug)]
enum Years {
    All,
    /// Index `y` is set when year `y` (0..=2100) matches.
    Some(Vec<bool>),
}

impl Years {
    fn new(ranges: &[Range]) -> Self {
        if ranges.is_empty() {
            return Years::All;
        }
        let max = i64::from(MAX_CALENDAR_YEAR);
        let mut set = vec![false; max as usize + 1];
        for_each_value(ranges, 0, max, |v| set[v as usize] = true);
        Years::Some(set)
    }

    fn has(&self, y: i64) -> bool {
        match self {
            Years::All => true,
            Years::Some(set) => usize::try_from(y)
                .ok()
                .and_then(|i| set.get(i))
                .copied()
                .unwrap_or(false),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct CompiledCalendar {
    zone: Zone,
    year: Years,
    month: Bits,
    day_of_month: Bits,
    day_of_week: Bits,
    hour: Bits,
    minute: Bits,
    second: Bits,
}

impl CompiledCalendar {
    /// Any field left empty (other than year) matches nothing, as in the
    /// real server: it does not fill defaults into structured calendars.
    pub(crate) fn new(cal: &StructuredCalendarSpec, zone: Zone) -> Self {
        CompiledCalendar {
            zone,
            year: Years::new(&cal.year),
            month: Bits::new(&cal.month),
            day_of_month: Bits::new(&cal.day_of_month),
            day_of_week: Bits::new(&cal.day_of_week),
            hour: Bits::new(&cal.hour),
            minute: Bits::new(&cal.minute),
            second: Bits::new(&cal.second),
        }
    }

    pub(crate) fn matches(&self, unix: i64) -> bool {
        let l = self.zone.local(unix);
        self.year.has(l.year)
            && self.month.has(l.month)
            && self.day_of_month.has(l.day)
            && self.day_of_week.has(l.weekday)
            && self.hour.has(l.hour)
            && self.minute.has(l.minute)
            && self.second.has(l.second)
    }

    /// The first matching second strictly after the second `after` (Unix
    /// seconds), or `None` if none up to the end of year 2100.
    pub(crate) fn next(&self, after: i64) -> Option<i64> {
        let z = &self.zone;
        let l = z.local(after);
        let (mut y, mut mo, mut d) = (l.year, l.month, l.day);
        let (mut h, mut m, mut s) = (l.hour, l.minute, l.second);
        // In the second copy of a repeated hour, wall times of this hour
        // are the later instants.
        let mut dst_offset = if z.local(after - 3600).hour == h {
            3600
        } else {
            0
        };
        s += 1;
        'outer: loop {
            if s >= 60 {
                m += 1;
                s = 0;
            }
            if m >= 60 {
                let prev = z.date(y, mo, d, h, 0, 0);
                h += 1;
                m = 0;
                let next = z.date(y, mo, d, h, 0, 0);
                // Moving to the next hour took two hours: we skipped the
                // second copy of a repeated hour; go through it again.
                if dst_offset == 0 && next - prev > 3600 {
                    h -= 1;
                    dst_offset = 3600;
                } else {
                    dst_offset = 0;
                }
            }
            if h >= 24 {
                d += 1;
                h = 0;
            }
            if d > days_in_month(mo, y) {
                mo += 1;
                d = 1;
            }
            if mo > 12 {
                y += 1;
                mo = 1;
            }
            if y > i64::from(MAX_CALENDAR_YEAR) {
                return None;
            }
            if !self.year.has(y) {
                (y, mo, d, h, m, s) = (y + 1, 1, 1, 0, 0, 0);
                dst_offset = 0;
                continue 'outer;
            }
            while !self.month.has(mo) {
                (mo, d, h, m, s) = (mo + 1, 1, 0, 0, 0);
                dst_offset = 0;
                if mo > 12 {
                    continue 'outer;
                }
            }
            while !self.day_of_month.has(d)
                || !self
                    .day_of_week
                    .has(z.local(z.date(y, mo, d, h, m, s)).weekday)
            {
                (d, h, m, s) = (d + 1, 0, 0, 0);
                dst_offset = 0;
                if d > days_in_month(mo, y) {
                    continue 'outer;
                }
            }
            while !self.hour.has(h) {
                (h, m, s) = (h + 1, 0, 0);
                dst_offset = 0;
                if h >= 24 {
                    continue 'outer;
                }
            }
            while !self.minute.has(m) {
                (m, s) = (m + 1, 0);
                if m >= 60 {
                    continue 'outer;
                }
            }
            while !self.second.has(s) {
                s += 1;
                if s >= 60 {
                    continue 'outer;
                }
            }
            let candidate = z.date(y, mo, d, h, m, s);
            // A wall time skipped by a clock change resolves to another hour.
            if z.local(candidate).hour != h {
                (h, m, s) = (h + 1, 0, 0);
                continue 'outer;
            }
            return Some(candidate + dst_offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1, 0, 1, 365, 11_016, 47_541, 47_540, 20_000, 49_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn go_style_wall_time_resolution() {
        let ny = Zone(chrono_tz::America::New_York);
        // 2027-03-14 02:30 does not exist in New York: Go resolves it to 01:30 EST.
        let t = ny.date(2027, 3, 14, 2, 30, 0);
        assert_eq!(ny.local(t).hour, 1);
        // 2027-11-07 01:30 exists twice: the first (EDT) is taken.
        assert_eq!(ny.date(2027, 11, 7, 1, 30, 0), 1_825_565_400);
        let london = Zone(chrono_tz::Europe::London);
        // In London the offset before the change is +1 but the wall time read
        // as UTC already falls after it (offset 0): the second 01:30 (GMT).
        let t = london.date(2027, 10, 31, 1, 30, 0);
        assert_eq!(t, 1_824_946_200);
        // hour 24 is the next midnight
        assert_eq!(ny.date(2027, 1, 1, 24, 0, 0), ny.date(2027, 1, 2, 0, 0, 0));
    }

    #[test]
    fn far_future_offsets_follow_rules() {
        let ny = Zone(chrono_tz::America::New_York);
        // 2099-07-01T12:00:00Z: EDT (-4h) if rules are applied beyond the table.
        let t = days_from_civil(2099, 7, 1) * SECS_PER_DAY + 12 * 3600;
        assert_eq!(ny.local(t).hour, 8);
    }
}
