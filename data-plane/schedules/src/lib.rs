//! Temporal schedule specs, computed as the real server (1.32) computes
//! them: validation (the texts become `InvalidArgument`), the canonical form
//! that DescribeSchedule returns, and the times a spec matches.
//!
//! * [`canonical_spec`] turns cron strings and string calendars into
//!   structured calendars (appended after the caller's own, string calendars
//!   first, then cron strings), `@every` cron strings into intervals, copies
//!   a cron string's `CRON_TZ=` zone into `timezone_name`, and fills each
//!   range's `end` (= `start` when smaller) and `step` (1 when 0). It does
//!   *not* fill empty fields of a structured calendar: an empty `second`,
//!   `minute`, … list matches nothing (only an empty `year` means every year),
//!   which is what the real server does.
//! * [`CompiledSpec::next_after`] gives the first time strictly after a given
//!   instant (whole seconds) that some calendar or interval matches, that no
//!   exclude calendar matches, not before `start_time` and not after
//!   `end_time` or the end of 2100, with a deterministic jitter.
//! * [`CompiledSpec::matching_times`] serves ListScheduleMatchingTimes
//!   (`(start, end]`) and [`CompiledSpec::backfill_times`] backfills
//!   (`[start, end]`).
//!
//! Calendars are searched field by field (see `calendar.rs` for how clock
//! changes are met), so sparse specs (`year = 2080`, 29 February on a
//! Monday) cost a few thousand steps at most.
mod calendar;
mod duration;
mod farmhash;
mod parse;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use orrery_proto::api::schedule::v1::{IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec};
use prost_wkt_types::{Duration, Timestamp};

use calendar::{CompiledCalendar, Zone};
use parse::{Cron, MAX_CALENDAR_YEAR, MIN_CALENDAR_YEAR};

/// How many times ListScheduleMatchingTimes answers at most (the real
/// server's `maxListMatchingTimesCount`).
pub const MAX_MATCHING_TIMES: usize = 1000;

/// How many excluded candidates one search looks at before giving up (the
/// real server's default `scheduler.specMaxIterations`: two weeks of seconds).
pub const MAX_EXCLUDED_CANDIDATES: usize = 2 * 7 * 24 * 60 * 60;

/// Longest comment of a calendar.
const MAX_COMMENT_LEN: usize = 200;

const NANOS: i128 = 1_000_000_000;

/// 2101-01-01T00:00:00Z: no time from here on is ever matched.
const END_OF_CALENDAR: i64 = 4_133_980_800;

/// A spec the real server would refuse; `Display` is the whole
/// `InvalidArgument` message ("Invalid schedule spec: …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid schedule spec: {0}")]
pub struct SpecError(pub String);

impl SpecError {
    /// The text after "Invalid schedule spec: ".
    pub fn reason(&self) -> &str {
        &self.0
    }
}

/// The search for a next time met more excluded candidates than
/// [`MAX_EXCLUDED_CANDIDATES`]; the real server then answers
/// ListScheduleMatchingTimes with this `InvalidArgument` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the schedule calendar specification has too many exclusions. Please modify the specification."
)]
pub struct TooManyExclusions;

/// A matching time: `nominal` as the spec gives it, `actual` = nominal +
/// jitter (millisecond resolution), when the action should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub nominal: DateTime<Utc>,
    pub actual: DateTime<Utc>,
}

/// The jitter seed the real server uses for a schedule:
/// `"<namespace id>-<schedule id>"`.
pub fn jitter_seed(namespace_id: &str, schedule_id: &str) -> String {
    format!("{namespace_id}-{schedule_id}")
}

/// The spec as DescribeSchedule (and ListSchedules) shows it once stored;
/// fails as CreateSchedule / UpdateSchedule would.
pub fn canonical_spec(spec: &ScheduleSpec) -> Result<ScheduleSpec, SpecError> {
    CompiledSpec::new(spec).map(|c| c.canonical)
}

/// A validated spec, ready to answer "when next?".
#[derive(Debug, Clone)]
pub struct CompiledSpec {
    canonical: ScheduleSpec,
    calendars: Vec<CompiledCalendar>,
    excludes: Vec<CompiledCalendar>,
    /// (interval, phase) in whole seconds.
    intervals: Vec<(i64, i64)>,
    /// Nanoseconds since the epoch.
    start: i128,
    end: Option<i128>,
    jitter_nanos: i64,
}

fn ts_nanos(t: &Timestamp) -> i128 {
    i128::from(t.seconds) * NANOS + i128::from(t.nanos)
}

fn to_datetime(nanos: i128) -> DateTime<Utc> {
    let secs = nanos.div_euclid(NANOS);
    let sub = nanos.rem_euclid(NANOS) as u32;
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, sub))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn from_datetime(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
}

/// Go's `durationpb.AsDuration`: nanoseconds, saturating; absent is 0.
fn duration_nanos(d: Option<&Duration>) -> i64 {
    let Some(d) = d else { return 0 };
    let total = i128::from(d.seconds) * NANOS + i128::from(d.nanos);
    match i64::try_from(total) {
        Ok(v) => v,
        Err(_) if d.seconds < 0 => i64::MIN,
        Err(_) if d.seconds > 0 => i64::MAX,
        Err(_) => 0,
    }
}

/// The checks of protobuf's `Duration.CheckValid`, which the real frontend
/// applies to intervals and phases before anything else.
fn check_proto_duration(d: &Duration) -> Result<(), String> {
    const MAX_SECONDS: i64 = 315_576_000_000;
    let text = format!("seconds:{} nanos:{}", d.seconds, d.nanos);
    if d.seconds < -MAX_SECONDS {
        return Err(format!("proto: duration ({text}) exceeds -10000 years"));
    }
    if d.seconds > MAX_SECONDS {
        return Err(format!("proto: duration ({text}) exceeds +10000 years"));
    }
    if d.nanos <= -1_000_000_000 || d.nanos >= 1_000_000_000 {
        return Err(format!("proto: duration ({text}) has out-of-range nanos"));
    }
    if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        return Err(format!(
            "proto: duration ({text}) has seconds and nanos with different signs"
        ));
    }
    Ok(())
}

fn validate_structured(cal: &StructuredCalendarSpec) -> Result<(), String> {
    let mut errs = Vec::new();
    let mut check = |ranges: &[Range], field: &str, min: i32, max: i32| {
        for r in ranges {
            if r.start < min || r.start > max {
                errs.push(format!("{field} Start is not in range [{min}-{max}]"));
            }
            if r.end != 0 && (r.end < r.start || r.end > max) {
                errs.push(format!(
                    "{field} End is before Start or not in range [{min}-{max}]"
                ));
            }
            if r.step < 0 {
                errs.push(format!("{field} has invalid Step"));
            }
        }
    };
    check(&cal.second, "Second", 0, 59);
    check(&cal.minute, "Minute", 0, 59);
    check(&cal.hour, "Hour", 0, 23);
    check(&cal.day_of_month, "DayOfMonth", 1, 31);
    check(&cal.month, "Month", 1, 12);
    check(&cal.year, "Year", MIN_CALENDAR_YEAR, MAX_CALENDAR_YEAR);
    check(&cal.day_of_week, "DayOfWeek", 0, 6);
    if cal.comment.len() > MAX_COMMENT_LEN {
        errs.push("comment is too long".to_string());
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid calendar spec: {}", errs.join(", ")))
    }
}

/// The real server does not validate exclude calendars; values it would
/// crash on (negative ones) are refused here instead.
fn validate_exclude(cal: &StructuredCalendarSpec) -> Result<(), String> {
    let fields = [
        &cal.second,
        &cal.minute,
        &cal.hour,
        &cal.day_of_month,
        &cal.month,
        &cal.day_of_week,
    ];
    if fields
        .iter()
        .flat_map(|f| f.iter())
        .any(|r| r.start < 0 || r.end < 0)
    {
        return Err("exclude calendar has a negative value".to_string());
    }
    Ok(())
}

/// `end` < `start` becomes `start`, `step` 0 becomes 1 (the real server's
/// `CleanSpec`, applied to what DescribeSchedule returns).
fn clean_calendar(cal: &mut StructuredCalendarSpec) {
    for field in [
        &mut cal.second,
        &mut cal.minute,
        &mut cal.hour,
        &mut cal.day_of_month,
        &mut cal.month,
        &mut cal.year,
        &mut cal.day_of_week,
    ] {
        for r in field.iter_mut() {
            if r.end < r.start {
                r.end = r.start;
            }
            if r.step == 0 {
                r.step = 1;
            }
        }
    }
}

fn load_zone(spec: &ScheduleSpec) -> Result<Zone, String> {
    if !spec.timezone_data.is_empty() {
        return Err("timezone_data is not supported: name the zone in timezone_name".into());
    }
    match spec.timezone_name.as_str() {
        // Go's "Local" is the server's zone; ours is UTC.
        "" | "UTC" | "Local" => Ok(Zone(Tz::UTC)),
        name => name
            .parse::<Tz>()
            .map(Zone)
            .map_err(|_| format!("unknown time zone {name}")),
    }
}

/// The real server's `canonicalizeSpec`: strings to structured calendars,
/// `@every` to intervals, validation of calendars and intervals.
fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    for iv in &spec.interval {
        if let Some(d) = &iv.interval {
            check_proto_duration(d)
                .map_err(|e| format!("interval is not a valid duration: {e}"))?;
        }
        if let Some(d) = &iv.phase {
            check_proto_duration(d).map_err(|e| format!("phase is not a valid duration: {e}"))?;
        }
    }
    let mut out = spec.clone();
    for cal in std::mem::take(&mut out.calendar) {
        out.structured_calendar.push(parse::parse_calendar(&cal)?);
    }
    // Deprecated in the API in favour of the structured form, still accepted.
    #[allow(deprecated)]
    let exclude_calendar = std::mem::take(&mut out.exclude_calendar);
    for cal in exclude_calendar {
        out.exclude_structured_calendar
            .push(parse::parse_calendar(&cal)?);
    }
    let mut cron_tz: Option<String> = None;
    for cron in std::mem::take(&mut out.cron_string) {
        let (parsed, tz) = parse::parse_cron_string(&cron)?;
        if cron_tz.as_ref().is_some_and(|seen| *seen != tz) {
            // All cron strings must agree on the zone, named or not.
            return Err("conflicting timezone names".into());
        }
        cron_tz = Some(tz);
        match parsed {
            Cron::Calendar(c) => out.structured_calendar.push(c),
            Cron::Interval(i) => out.interval.push(i),
        }
    }
    if let Some(tz) = cron_tz.filter(|tz| !tz.is_empty()) {
        if (!out.timezone_name.is_empty() && out.timezone_name != tz)
            || !out.timezone_data.is_empty()
        {
            return Err("conflicting timezone names".into());
        }
        out.timezone_name = tz;
    }
    for cal in &out.structured_calendar {
        validate_structured(cal)?;
    }
    for cal in &out.exclude_structured_calendar {
        validate_exclude(cal)?;
    }
    for iv in &out.interval {
        validate_interval(iv)?;
    }
    Ok(out)
}

fn validate_interval(iv: &IntervalSpec) -> Result<(), String> {
    let every = duration_nanos(iv.interval.as_ref());
    let phase = duration_nanos(iv.phase.as_ref());
    if every < 1_000_000_000 {
        Err("interval is too small".into())
    } else if phase < 0 {
        Err("phase is negative".into())
    } else if phase >= every {
        Err("phase cannot be greater than Interval".into())
    } else {
        Ok(())
    }
}

impl CompiledSpec {
    /// Validates and compiles a spec (as CreateSchedule would take it, or as
    /// stored: compiling a canonical spec again gives the same spec).
    pub fn new(spec: &ScheduleSpec) -> Result<CompiledSpec, SpecError> {
        let mut canonical = canonicalize(spec).map_err(SpecError)?;
        let zone = load_zone(&canonical).map_err(SpecError)?;
        for cal in canonical
            .structured_calendar
            .iter_mut()
            .chain(canonical.exclude_structured_calendar.iter_mut())
        {
            clean_calendar(cal);
        }
        let calendars = canonical
            .structured_calendar
            .iter()
            .map(|c| CompiledCalendar::new(c, zone))
            .collect();
        let excludes = canonical
            .exclude_structured_calendar
            .iter()
            .map(|c| CompiledCalendar::new(c, zone))
            .collect();
        let intervals = canonical
            .interval
            .iter()
            .map(|iv| {
                let every = (duration_nanos(iv.interval.as_ref()) / 1_000_000_000).max(1);
                let phase = (duration_nanos(iv.phase.as_ref()) / 1_000_000_000).max(0);
                (every, phase)
            })
            .collect();
        Ok(CompiledSpec {
            start: canonical.start_time.as_ref().map(ts_nanos).unwrap_or(0),
            end: canonical.end_time.as_ref().map(ts_nanos),
            jitter_nanos: duration_nanos(canonical.jitter.as_ref()),
            canonical,
            calendars,
            excludes,
            intervals,
        })
    }

    /// The canonical form (what DescribeSchedule shows).
    pub fn canonical(&self) -> &ScheduleSpec {
        &self.canonical
    }

    /// The earliest matching second strictly after the second `after`,
    /// ignoring excludes and bounds.
    fn raw_next(&self, after: i64) -> Option<i64> {
        let calendars = self.calendars.iter().filter_map(|c| c.next(after));
        let intervals = self.intervals.iter().map(|&(every, phase)| {
            // Truncating division, as the real server's (times before the
            // first period after the epoch are never reached anyway).
            after
                .wrapping_sub(phase)
                .wrapping_div(every)
                .wrapping_add(1)
                .wrapping_mul(every)
                .wrapping_add(phase)
        });
        calendars.chain(intervals).min()
    }

    fn excluded(&self, t: i64) -> bool {
        self.excludes.iter().any(|c| c.matches(t))
    }

    fn past_end(&self, t: i64) -> bool {
        self.end.is_some_and(|end| i128::from(t) * NANOS > end)
            || to_datetime(i128::from(t) * NANOS).year() > MAX_CALENDAR_YEAR
    }

    /// The first action time after `after`: the first whole second later
    /// than `after`'s second that the spec matches (never before
    /// `start_time` less one second: a start time with a fraction lets the
    /// second it falls in match, as in the real server), or `None` when the
    /// spec has no more times. `jitter_seed` (see [`jitter_seed`]) makes the
    /// jitter deterministic: the same nominal time always gets the same
    /// jitter, below both `jitter` and the gap to the following nominal time.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        jitter_seed: &str,
    ) -> Result<Option<Next>, TooManyExclusions> {
        self.next_after_nanos(from_datetime(after), jitter_seed)
    }

    fn next_after_nanos(
        &self,
        after: i128,
        jitter_seed: &str,
    ) -> Result<Option<Next>, TooManyExclusions> {
        let after = after.max(self.start - NANOS);
        let mut after = i64::try_from(after.div_euclid(NANOS)).unwrap_or(i64::MAX);
        // Every later time would lie past 2100 (and interval arithmetic on
        // absurd instants could wrap).
        if after >= END_OF_CALENDAR {
            return Ok(None);
        }
        let mut candidates = 0usize;
        let nominal = loop {
            let Some(t) = self.raw_next(after) else {
                return Ok(None);
            };
            if self.past_end(t) {
                return Ok(None);
            }
            if !self.excluded(t) {
                break t;
            }
            candidates += 1;
            if candidates >= MAX_EXCLUDED_CANDIDATES {
                return Err(TooManyExclusions);
            }
            after = t;
        };
        let mut max_jitter = i128::from(self.jitter_nanos);
        if let Some(following) = self.raw_next(nominal) {
            max_jitter = max_jitter.min(i128::from(following - nominal) * NANOS);
        }
        let jitter_ms = jitter_millis(jitter_seed, nominal, max_jitter);
        let nominal_nanos = i128::from(nominal) * NANOS;
        Ok(Some(Next {
            nominal: to_datetime(nominal_nanos),
            actual: to_datetime(nominal_nanos + i128::from(jitter_ms) * 1_000_000),
        }))
    }

    /// ListScheduleMatchingTimes: the action times in `(start, end]`, at
    /// most [`MAX_MATCHING_TIMES`]. Each search starts from the previous
    /// *actual* time, as the real server's does.
    pub fn matching_times(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        jitter_seed: &str,
    ) -> Result<Vec<DateTime<Utc>>, TooManyExclusions> {
        let end = from_datetime(end);
        let mut t = from_datetime(start);
        let mut out = Vec::new();
        while out.len() < MAX_MATCHING_TIMES {
            let Some(next) = self.next_after_nanos(t, jitter_seed)? else {
                break;
            };
            t = from_datetime(next.actual);
            if t > end {
                break;
            }
            out.push(next.actual);
        }
        Ok(out)
    }

    /// A backfill's actions: times whose actual time lies in `[start, end]`
    /// (the real server searches from a millisecond before `start`), at most
    /// `limit`.
    pub fn backfill_times(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        jitter_seed: &str,
        limit: usize,
    ) -> Result<Vec<Next>, TooManyExclusions> {
        let end = from_datetime(end);
        let mut t = from_datetime(start) - 1_000_000;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(next) = self.next_after_nanos(t, jitter_seed)? else {
                break;
            };
            t = from_datetime(next.actual);
            if t > end {
                break;
            }
            out.push(next);
        }
        Ok(out)
    }

    /// The next `n` action times after `after` (DescribeSchedule's
    /// `future_action_times` take 10 from the schedule's last processed time).
    pub fn future_times(&self, after: DateTime<Utc>, jitter_seed: &str, n: usize) -> Vec<Next> {
        let mut out = Vec::with_capacity(n);
        let mut t = from_datetime(after);
        while out.len() < n {
            match self.next_after_nanos(t, jitter_seed) {
                Ok(Some(next)) => {
                    t = from_datetime(next.actual);
                    out.push(next);
                }
                _ => break,
            }
        }
        out
    }
}

/// Go's `time.Time.MarshalBinary` of a UTC time with whole seconds.
fn go_time_binary(unix: i64) -> [u8; 15] {
    const UNIX_TO_INTERNAL: i64 = 62_135_596_800;
    let mut b = [0u8; 15];
    b[0] = 1;
    b[1..9].copy_from_slice(&(unix + UNIX_TO_INTERNAL).to_be_bytes());
    // nanoseconds 0, then zone offset -1 meaning UTC
    b[13] = 0xff;
    b[14] = 0xff;
    b
}

/// The real server's jitter: FarmHash fingerprint of the nominal time and
/// the seed, scaled to `[0, max_jitter)` in whole milliseconds.
fn jitter_millis(seed: &str, nominal: i64, max_jitter_nanos: i128) -> i64 {
    if max_jitter_nanos <= 0 {
        return 0;
    }
    let mut bin = go_time_binary(nominal).to_vec();
    bin.extend_from_slice(seed.as_bytes());
    let fp = u64::from(farmhash::fingerprint32(&bin));
    let ms = u64::try_from(max_jitter_nanos / 1_000_000)
        .unwrap_or(u64::MAX)
        .min(u64::from(u32::MAX));
    ((fp * ms) >> 32) as i64
}

#[cfg(test)]
mod tests;
