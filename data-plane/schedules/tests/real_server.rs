//! Compares this crate with recorded observations of the real Temporal
//! server (tests/fixtures/real_server_specs.json, written by
//! tests/record_real_server.py): for each spec, the error CreateSchedule
//! gave, or the spec DescribeSchedule showed, its next action times and
//! ListScheduleMatchingTimes' answer.
use chrono::{DateTime, Utc};
use orrery_proto::api::schedule::v1::{
    CalendarSpec, IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec,
};
use orrery_schedules::{CompiledSpec, canonical_spec};
use prost_wkt_types::{Duration, Timestamp};
use serde_json::Value;

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn timestamp(v: &Value) -> Timestamp {
    let t = time(v.as_str().unwrap());
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Protobuf JSON duration: "3600s", "1.500s", "-0.500s".
fn duration(v: &Value) -> Duration {
    let s = v.as_str().unwrap().strip_suffix('s').unwrap();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let seconds: i64 = whole.parse().unwrap();
    let nanos: i32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().unwrap()
    };
    if neg {
        Duration {
            seconds: -seconds,
            nanos: -nanos,
        }
    } else {
        Duration { seconds, nanos }
    }
}

fn int(v: &Value, key: &str) -> i32 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0) as i32
}

fn string(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn list<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn ranges(v: &Value, key: &str) -> Vec<Range> {
    list(v, key)
        .into_iter()
        .map(|r| Range {
            start: int(r, "start"),
            end: int(r, "end"),
            step: int(r, "step"),
        })
        .collect()
}

fn structured(v: &Value) -> StructuredCalendarSpec {
    StructuredCalendarSpec {
        second: ranges(v, "second"),
        minute: ranges(v, "minute"),
        hour: ranges(v, "hour"),
        day_of_month: ranges(v, "dayOfMonth"),
        month: ranges(v, "month"),
        year: ranges(v, "year"),
        day_of_week: ranges(v, "dayOfWeek"),
        comment: string(v, "comment"),
    }
}

fn calendar(v: &Value) -> CalendarSpec {
    CalendarSpec {
        second: string(v, "second"),
        minute: string(v, "minute"),
        hour: string(v, "hour"),
        day_of_month: string(v, "dayOfMonth"),
        month: string(v, "month"),
        year: string(v, "year"),
        day_of_week: string(v, "dayOfWeek"),
        comment: string(v, "comment"),
    }
}

/// A `ScheduleSpec` from its protobuf JSON form.
#[allow(deprecated)]
fn spec(v: &Value) -> ScheduleSpec {
    ScheduleSpec {
        structured_calendar: list(v, "structuredCalendar")
            .into_iter()
            .map(structured)
            .collect(),
        cron_string: list(v, "cronString")
            .into_iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect(),
        calendar: list(v, "calendar").into_iter().map(calendar).collect(),
        interval: list(v, "interval")
            .into_iter()
            .map(|i| IntervalSpec {
                interval: i.get("interval").map(duration),
                phase: i.get("phase").map(duration),
            })
            .collect(),
        exclude_calendar: list(v, "excludeCalendar")
            .into_iter()
            .map(calendar)
            .collect(),
        exclude_structured_calendar: list(v, "excludeStructuredCalendar")
            .into_iter()
            .map(structured)
            .collect(),
        start_time: v.get("startTime").map(timestamp),
        end_time: v.get("endTime").map(timestamp),
        jitter: v.get("jitter").map(duration),
        timezone_name: string(v, "timezoneName"),
        timezone_data: Vec::new(),
    }
}

fn times(v: &Value) -> Vec<DateTime<Utc>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| time(t.as_str().unwrap()))
        .collect()
}

#[test]
fn agrees_with_the_real_server() {
    let text = include_str!("fixtures/real_server_specs.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let (mut valid, mut invalid, mut failures) = (0, 0, Vec::new());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = spec(&case["spec"]);
        if let Some(error) = case.get("error") {
            invalid += 1;
            let want = error["message"].as_str().unwrap();
            match canonical_spec(&input) {
                Err(e) if e.to_string() == want => {}
                got => failures.push(format!("{name}: want error {want:?}, got {got:?}")),
            }
            continue;
        }
        valid += 1;
        let compiled = match CompiledSpec::new(&input) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: refused: {e}"));
                continue;
            }
        };
        let described = spec(&case["described_spec"]);
        if compiled.canonical() != &described {
            failures.push(format!(
                "{name}: canonical spec\n  ours:  {:?}\n  real:  {described:?}",
                compiled.canonical()
            ));
        }
        let seed = case["jitter_seed"].as_str().unwrap();
        // The real server counts from the schedule's creation.
        let base = time(case["create_time"].as_str().unwrap());
        let want = times(&case["next_action_times"]);
        let got: Vec<_> = compiled
            .future_times(base, seed, 10)
            .into_iter()
            .map(|n| n.actual)
            .collect();
        if got != want {
            failures.push(format!(
                "{name}: next action times\n  ours: {got:?}\n  real: {want:?}"
            ));
        }
        if let Some(m) = case.get("matching") {
            let start = time(m["start"].as_str().unwrap());
            let end = time(m["end"].as_str().unwrap());
            let want = times(&m["times"]);
            let got = compiled.matching_times(start, end, seed).unwrap();
            if got != want {
                failures.push(format!(
                    "{name}: matching times\n  ours: {got:?}\n  real: {want:?}"
                ));
            }
        }
    }
    assert!(
        valid >= 15 && invalid >= 15,
        "{valid} valid, {invalid} invalid"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
