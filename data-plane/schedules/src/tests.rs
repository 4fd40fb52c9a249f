use super::*;
use chrono::TimeZone;
use orrery_proto::api::schedule::v1::CalendarSpec;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ts(s: &str) -> Timestamp {
    let d = t(s);
    Timestamp {
        seconds: d.timestamp(),
        nanos: d.timestamp_subsec_nanos() as i32,
    }
}

fn secs(s: i64) -> Duration {
    Duration {
        seconds: s,
        nanos: 0,
    }
}

fn r(start: i32, end: i32, step: i32) -> Range {
    Range { start, end, step }
}

/// The Python SDK's `ScheduleCalendarSpec()` defaults: midnight every day.
fn midnight() -> StructuredCalendarSpec {
    StructuredCalendarSpec {
        second: vec![r(0, 0, 0)],
        minute: vec![r(0, 0, 0)],
        hour: vec![r(0, 0, 0)],
        day_of_month: vec![r(1, 31, 0)],
        month: vec![r(1, 12, 0)],
        year: vec![],
        day_of_week: vec![r(0, 6, 0)],
        comment: String::new(),
    }
}

fn cron(strings: &[&str]) -> ScheduleSpec {
    ScheduleSpec {
        cron_string: strings.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The first `n` nominal times after `after`.
fn times(spec: &ScheduleSpec, after: &str, n: usize) -> Vec<String> {
    CompiledSpec::new(spec)
        .unwrap()
        .future_times(t(after), "seed", n)
        .into_iter()
        .map(|x| {
            x.nominal
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .collect()
}

fn err(spec: &ScheduleSpec) -> String {
    CompiledSpec::new(spec).unwrap_err().to_string()
}

#[test]
fn structured_calendar() {
    let mut cal = midnight();
    cal.hour = vec![r(12, 0, 0)];
    cal.day_of_week = vec![r(1, 0, 0)];
    let spec = ScheduleSpec {
        structured_calendar: vec![cal],
        ..Default::default()
    };
    assert_eq!(
        times(&spec, "2026-12-01T18:00:00Z", 2),
        ["2026-12-07T12:00:00Z", "2026-12-14T12:00:00Z"]
    );
}

#[test]
fn next_is_strictly_after() {
    let spec = cron(&["@hourly"]);
    assert_eq!(
        times(&spec, "2027-01-01T01:00:00Z", 1),
        ["2027-01-01T02:00:00Z"]
    );
    assert_eq!(
        times(&spec, "2027-01-01T00:59:59.999Z", 1),
        ["2027-01-01T01:00:00Z"]
    );
    let every = cron(&["@every 1h"]);
    assert_eq!(
        times(&every, "2027-01-01T01:00:00Z", 1),
        ["2027-01-01T02:00:00Z"]
    );
    assert_eq!(
        times(&every, "2027-01-01T00:59:59.5Z", 1),
        ["2027-01-01T01:00:00Z"]
    );
}

#[test]
fn cron_becomes_structured_calendar() {
    // The Python SDK's test_schedule_calendar_spec / cron expectation.
    let c = canonical_spec(&cron(&["0 12 * * MON"])).unwrap();
    assert!(c.cron_string.is_empty());
    assert_eq!(c.structured_calendar.len(), 1);
    let cal = &c.structured_calendar[0];
    assert_eq!(cal.second, [r(0, 0, 1)]);
    assert_eq!(cal.minute, [r(0, 0, 1)]);
    assert_eq!(cal.hour, [r(12, 12, 1)]);
    assert_eq!(cal.day_of_month, [r(1, 31, 1)]);
    assert_eq!(cal.month, [r(1, 12, 1)]);
    assert_eq!(cal.day_of_week, [r(1, 1, 1)]);
    assert!(cal.year.is_empty());
}

#[test]
fn user_calendars_are_kept_as_sent_and_come_first() {
    let mut cal = midnight();
    cal.minute = vec![r(1, 0, 1)];
    let spec = ScheduleSpec {
        structured_calendar: vec![cal, StructuredCalendarSpec::default()],
        calendar: vec![CalendarSpec {
            hour: "5".into(),
            ..Default::default()
        }],
        cron_string: vec!["0 4 * * *".into()],
        ..Default::default()
    };
    let c = canonical_spec(&spec).unwrap();
    assert_eq!(c.structured_calendar.len(), 4);
    assert_eq!(c.structured_calendar[0].minute, [r(1, 1, 1)]);
    // An empty calendar stays empty (and matches nothing).
    assert_eq!(c.structured_calendar[1], StructuredCalendarSpec::default());
    assert_eq!(c.structured_calendar[2].hour, [r(5, 5, 1)]);
    assert_eq!(c.structured_calendar[3].hour, [r(4, 4, 1)]);
    assert!(c.calendar.is_empty());
    // Canonicalizing the canonical form changes nothing.
    assert_eq!(canonical_spec(&c).unwrap(), c);
}

#[test]
fn empty_fields_match_nothing() {
    let spec = ScheduleSpec {
        structured_calendar: vec![StructuredCalendarSpec {
            hour: vec![r(12, 0, 0)],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(times(&spec, "2027-01-01T00:00:00Z", 1).is_empty());
}

#[test]
fn legacy_string_calendar() {
    let spec = ScheduleSpec {
        calendar: vec![CalendarSpec {
            minute: "1,3-5/2".into(),
            hour: "*/6".into(),
            day_of_week: "mon-fri".into(),
            month: "jan,Jul".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        times(&spec, "2026-12-31T00:00:00Z", 4),
        [
            "2027-01-01T00:01:00Z",
            "2027-01-01T00:03:00Z",
            "2027-01-01T00:05:00Z",
            "2027-01-01T06:01:00Z"
        ]
    );
}

#[test]
fn descriptors_and_seven_fields() {
    assert_eq!(
        times(&cron(&["@yearly"]), "2027-03-01T00:00:00Z", 1),
        ["2028-01-01T00:00:00Z"]
    );
    assert_eq!(
        times(&cron(&["@monthly"]), "2027-03-01T00:00:00Z", 1),
        ["2027-04-01T00:00:00Z"]
    );
    // 2027-03-01 is a Monday; @weekly is Sunday midnight.
    assert_eq!(
        times(&cron(&["@weekly"]), "2027-03-01T00:00:00Z", 1),
        ["2027-03-07T00:00:00Z"]
    );
    assert_eq!(
        times(&cron(&["15 */20 3 * * * 2027"]), "2027-12-31T03:30:00Z", 2),
        ["2027-12-31T03:40:15Z"]
    );
    // Six fields: the sixth is the year.
    assert_eq!(
        times(&cron(&["0 0 1 1 * 2030"]), "2027-01-01T00:00:00Z", 2),
        ["2030-01-01T00:00:00Z"]
    );
}

#[test]
fn cron_time_zone_and_comment() {
    let c = canonical_spec(&cron(&["CRON_TZ=America/New_York 0 6 * * * # six"])).unwrap();
    assert_eq!(c.timezone_name, "America/New_York");
    assert_eq!(c.structured_calendar[0].comment, "six");
    let spec = cron(&["TZ=Asia/Kolkata 45 9 * * *"]);
    assert_eq!(
        times(&spec, "2027-01-01T00:00:00Z", 1),
        ["2027-01-01T04:15:00Z"]
    );
}

#[test]
fn interval_with_phase_is_aligned_to_epoch() {
    let spec = ScheduleSpec {
        interval: vec![IntervalSpec {
            interval: Some(secs(5400)),
            phase: Some(secs(600)),
        }],
        ..Default::default()
    };
    assert_eq!(
        times(&spec, "2027-01-01T00:00:00Z", 3),
        [
            "2027-01-01T00:10:00Z",
            "2027-01-01T01:40:00Z",
            "2027-01-01T03:10:00Z"
        ]
    );
    let every = canonical_spec(&cron(&["@every 90m/10m"])).unwrap();
    assert_eq!(every.interval, spec.interval);
    assert_eq!(
        canonical_spec(&cron(&["@every 1.5d"])).unwrap().interval[0].interval,
        Some(secs(129_600))
    );
}

#[test]
fn calendars_and_intervals_unite() {
    let mut spec = cron(&["0 */3 * * *"]);
    spec.interval = vec![IntervalSpec {
        interval: Some(secs(7200)),
        phase: Some(secs(1800)),
    }];
    assert_eq!(
        times(&spec, "2027-06-01T00:00:00Z", 5),
        [
            "2027-06-01T00:30:00Z",
            "2027-06-01T02:30:00Z",
            "2027-06-01T03:00:00Z",
            "2027-06-01T04:30:00Z",
            "2027-06-01T06:00:00Z"
        ]
    );
}

#[test]
fn excludes() {
    let mut excl = midnight();
    excl.second = vec![r(0, 59, 0)];
    excl.minute = vec![r(0, 59, 0)];
    excl.hour = vec![r(0, 23, 0)];
    excl.day_of_week = vec![r(0, 0, 0), r(6, 0, 0)];
    let spec = ScheduleSpec {
        interval: vec![IntervalSpec {
            interval: Some(secs(3600)),
            phase: None,
        }],
        exclude_structured_calendar: vec![excl],
        ..Default::default()
    };
    // 2027-01-08 is a Friday.
    assert_eq!(
        times(&spec, "2027-01-08T22:00:00Z", 2),
        ["2027-01-08T23:00:00Z", "2027-01-11T00:00:00Z"]
    );
    // String form of the same.
    #[allow(deprecated)]
    let spec2 = ScheduleSpec {
        interval: spec.interval.clone(),
        exclude_calendar: vec![CalendarSpec {
            second: "*".into(),
            minute: "*".into(),
            hour: "*".into(),
            day_of_week: "sat,sun".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        times(&spec2, "2027-01-08T22:00:00Z", 2),
        times(&spec, "2027-01-08T22:00:00Z", 2)
    );
}

#[test]
fn too_many_exclusions_is_reported() {
    let mut excl = midnight();
    excl.second = vec![r(0, 59, 0)];
    excl.minute = vec![r(0, 59, 0)];
    excl.hour = vec![r(0, 23, 0)];
    let spec = ScheduleSpec {
        cron_string: vec!["* * * * * * *".into()],
        exclude_structured_calendar: vec![excl],
        ..Default::default()
    };
    let c = CompiledSpec::new(&spec).unwrap();
    assert_eq!(
        c.next_after(t("2027-01-01T00:00:00Z"), ""),
        Err(TooManyExclusions)
    );
}

#[test]
fn start_and_end_time() {
    let mut spec = cron(&["@daily"]);
    spec.start_time = Some(ts("2027-01-10T00:00:00Z"));
    spec.end_time = Some(ts("2027-01-12T00:00:00Z"));
    // The start itself matches; the end is inclusive.
    assert_eq!(
        times(&spec, "2020-01-01T00:00:00Z", 5),
        [
            "2027-01-10T00:00:00Z",
            "2027-01-11T00:00:00Z",
            "2027-01-12T00:00:00Z"
        ]
    );
    // A start with a fraction lets its own second match (as the real server).
    spec.start_time = Some(ts("2027-01-10T00:00:00.5Z"));
    assert_eq!(
        times(&spec, "2020-01-01T00:00:00Z", 1),
        ["2027-01-10T00:00:00Z"]
    );
    // End before start: nothing.
    spec.end_time = Some(ts("2027-01-05T00:00:00Z"));
    assert!(times(&spec, "2020-01-01T00:00:00Z", 1).is_empty());
}

#[test]
fn nothing_after_2100() {
    assert!(times(&cron(&["@yearly"]), "2100-01-01T00:00:00Z", 1).is_empty());
    let every = cron(&["@every 1h"]);
    assert_eq!(
        times(&every, "2100-12-31T22:30:00Z", 3),
        ["2100-12-31T23:00:00Z"]
    );
}

#[test]
fn sparse_specs_are_fast() {
    let started = std::time::Instant::now();
    assert_eq!(
        times(&cron(&["0 0 29 2 MON *"]), "2026-12-01T00:00:00Z", 5),
        ["2044-02-29T00:00:00Z", "2072-02-29T00:00:00Z"]
    );
    assert_eq!(
        times(&cron(&["0 0 30 2 *"]), "1970-01-01T00:00:00Z", 1),
        Vec::<String>::new()
    );
    assert_eq!(
        times(&cron(&["0 0 0 1 1 * 2080"]), "2026-12-01T00:00:00Z", 2),
        ["2080-01-01T00:00:00Z"]
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn dst_gap_skips_missing_wall_times() {
    // New York springs forward 2027-03-14 02:00 -> 03:00.
    let spec = cron(&["CRON_TZ=America/New_York 30 2 * * *"]);
    assert_eq!(
        times(&spec, "2027-03-12T12:00:00Z", 2),
        ["2027-03-13T07:30:00Z", "2027-03-15T06:30:00Z"]
    );
    // Every-hour specs simply have no 02:xx that day.
    let hourly = cron(&["CRON_TZ=America/New_York 30 * * * *"]);
    assert_eq!(
        times(&hourly, "2027-03-14T05:00:00Z", 3),
        [
            "2027-03-14T05:30:00Z",
            "2027-03-14T06:30:00Z",
            "2027-03-14T07:30:00Z"
        ]
    );
}

#[test]
fn dst_overlap_runs_twice_in_new_york() {
    // New York falls back 2027-11-07 02:00 EDT -> 01:00 EST.
    let mut spec = cron(&["30 1 * * *"]);
    spec.timezone_name = "America/New_York".into();
    assert_eq!(
        times(&spec, "2027-11-06T12:00:00Z", 3),
        [
            "2027-11-07T05:30:00Z",
            "2027-11-07T06:30:00Z",
            "2027-11-08T06:30:00Z"
        ]
    );
}

#[test]
fn dst_overlap_in_london_follows_go() {
    // London falls back 2027-10-31 02:00 BST -> 01:00 GMT; the real server's
    // search skips 01:00 UTC (see calendar.rs).
    let spec = cron(&["TZ=Europe/London 0 * * * *"]);
    assert_eq!(
        times(&spec, "2027-10-30T22:30:00Z", 4),
        [
            "2027-10-30T23:00:00Z",
            "2027-10-31T00:00:00Z",
            "2027-10-31T02:00:00Z",
            "2027-10-31T03:00:00Z"
        ]
    );
}

#[test]
fn jitter_is_deterministic_and_bounded() {
    let mut spec = cron(&["@hourly"]);
    spec.jitter = Some(secs(1800));
    let c = CompiledSpec::new(&spec).unwrap();
    let a = c.future_times(t("2027-01-01T00:00:00Z"), "ns-sched", 20);
    let b = c.future_times(t("2027-01-01T00:00:00Z"), "ns-sched", 20);
    assert_eq!(a, b);
    for n in &a {
        let j = n.actual - n.nominal;
        assert!(j >= chrono::Duration::zero() && j < chrono::Duration::minutes(30));
        assert_eq!(n.nominal.timestamp_subsec_nanos(), 0);
    }
    let other = c.future_times(t("2027-01-01T00:00:00Z"), "ns-other", 20);
    assert_ne!(a, other);
    // A jitter longer than the gap is cut to the gap.
    let mut spec = cron(&["@every 60s"]);
    spec.jitter = Some(secs(3600));
    let c = CompiledSpec::new(&spec).unwrap();
    for n in c.future_times(t("2027-01-01T00:00:00Z"), "x", 50) {
        assert!(n.actual - n.nominal < chrono::Duration::seconds(60));
    }
}

#[test]
fn matching_and_backfill_bounds() {
    let c = CompiledSpec::new(&cron(&["@hourly"])).unwrap();
    let (start, end) = (t("2027-01-01T00:00:00Z"), t("2027-01-01T03:00:00Z"));
    // ListScheduleMatchingTimes: (start, end]
    let m = c.matching_times(start, end, "").unwrap();
    assert_eq!(
        m,
        [
            t("2027-01-01T01:00:00Z"),
            t("2027-01-01T02:00:00Z"),
            t("2027-01-01T03:00:00Z")
        ]
    );
    // Backfill: [start, end]
    let b = c.backfill_times(start, end, "", 100).unwrap();
    assert_eq!(b.len(), 4);
    assert_eq!(b[0].nominal, start);
    assert_eq!(c.backfill_times(start, end, "", 2).unwrap().len(), 2);
    // Capped.
    let every = CompiledSpec::new(&cron(&["@every 1s"])).unwrap();
    let many = every
        .matching_times(start, t("2027-01-02T00:00:00Z"), "")
        .unwrap();
    assert_eq!(many.len(), MAX_MATCHING_TIMES);
}

#[test]
fn times_before_the_epoch_start_at_the_epoch() {
    let c = CompiledSpec::new(&cron(&["@daily"])).unwrap();
    let n = c
        .next_after(Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap(), "")
        .unwrap()
        .unwrap();
    assert_eq!(n.nominal, t("1970-01-01T00:00:00Z"));
}

#[test]
fn invalid_specs() {
    let mut hour24 = midnight();
    hour24.hour = vec![r(24, 0, 0)];
    let mut dow7 = midnight();
    dow7.day_of_week = vec![r(7, 0, 0)];
    let mut neg_step = midnight();
    neg_step.minute = vec![r(0, 59, -1)];
    let mut backwards = midnight();
    backwards.minute = vec![r(30, 10, 0)];
    let mut y1999 = midnight();
    y1999.year = vec![r(1999, 0, 0)];
    let mut several = midnight();
    several.second = vec![r(60, 0, 0)];
    several.month = vec![r(0, 0, 0)];
    several.day_of_month = vec![r(1, 32, 0)];
    let mut long_comment = midnight();
    long_comment.comment = "x".repeat(201);
    let structured = |c: StructuredCalendarSpec| ScheduleSpec {
        structured_calendar: vec![c],
        ..Default::default()
    };
    let interval = |every: Option<Duration>, phase: Option<Duration>| ScheduleSpec {
        interval: vec![IntervalSpec {
            interval: every,
            phase,
        }],
        ..Default::default()
    };
    let string_cal = |c: CalendarSpec| ScheduleSpec {
        calendar: vec![c],
        ..Default::default()
    };
    let minute = |m: &str| {
        string_cal(CalendarSpec {
            minute: m.into(),
            ..Default::default()
        })
    };
    let mut tz_conflict = cron(&["CRON_TZ=Europe/Paris 0 * * * *"]);
    tz_conflict.timezone_name = "UTC".into();
    let mut bad_zone = cron(&["@daily"]);
    bad_zone.timezone_name = "Not/AZone".into();
    let mut tz_data = cron(&["@daily"]);
    tz_data.timezone_data = vec![1, 2, 3];
    let mut neg_exclude = cron(&["@daily"]);
    neg_exclude.exclude_structured_calendar = vec![StructuredCalendarSpec {
        hour: vec![r(-1, 0, 0)],
        ..Default::default()
    }];
    let p = "Invalid schedule spec: ";
    let cases: Vec<(ScheduleSpec, String)> = vec![
        (
            structured(hour24),
            "invalid calendar spec: Hour Start is not in range [0-23]".into(),
        ),
        (
            structured(dow7),
            "invalid calendar spec: DayOfWeek Start is not in range [0-6]".into(),
        ),
        (
            structured(neg_step),
            "invalid calendar spec: Minute has invalid Step".into(),
        ),
        (
            structured(backwards),
            "invalid calendar spec: Minute End is before Start or not in range [0-59]".into(),
        ),
        (
            structured(y1999),
            "invalid calendar spec: Year Start is not in range [2000-2100]".into(),
        ),
        (
            structured(several),
            "invalid calendar spec: Second Start is not in range [0-59], DayOfMonth End is before \
             Start or not in range [1-31], Month Start is not in range [1-12]"
                .into(),
        ),
        (
            structured(long_comment),
            "invalid calendar spec: comment is too long".into(),
        ),
        (
            cron(&["* * *"]),
            "CronString does not have 5-7 fields".into(),
        ),
        (
            cron(&["* * * * * * * *"]),
            "CronString does not have 5-7 fields".into(),
        ),
        (
            cron(&["@fortnightly"]),
            "CronString does not have 5-7 fields".into(),
        ),
        (
            cron(&["0 12 * * FOO"]),
            "DayOfWeek is not in range [0-7]".into(),
        ),
        (cron(&["0 0 1 13 *"]), "Month is not in range [1-12]".into()),
        (
            cron(&["0 10 L * *"]),
            "DayOfMonth is not in range [1-31]".into(),
        ),
        (
            cron(&["0 10 * dec-feb sat-Sunday"]),
            "DayOfWeek End is before Start or not in range [0-7], Month End is before Start or \
             not in range [1-12]"
                .into(),
        ),
        (cron(&["*/0 * * * *"]), "Minute has invalid Step".into()),
        (
            cron(&["CRON_TZ=Mars/Olympus 0 * * * *"]),
            "unknown time zone Mars/Olympus".into(),
        ),
        (
            cron(&["CRON_TZ=UTC"]),
            "CronString has time zone but missing fields".into(),
        ),
        (
            cron(&["CRON_TZ=UTC 0 * * * *", "CRON_TZ=Europe/Paris 0 * * * *"]),
            "conflicting timezone names".into(),
        ),
        (
            cron(&["CRON_TZ=Europe/Paris 0 * * * *", "0 1 * * *"]),
            "conflicting timezone names".into(),
        ),
        (tz_conflict, "conflicting timezone names".into()),
        (
            cron(&["@every"]),
            "CronString does not have interval after @every".into(),
        ),
        (
            cron(&["@every 1x"]),
            "time: unknown unit \"x\" in duration \"1x\"".into(),
        ),
        (
            cron(&["@every 10"]),
            "time: missing unit in duration \"10\"".into(),
        ),
        (cron(&["@every -1h"]), "interval is too small".into()),
        (
            cron(&["@every 1h/2h"]),
            "phase cannot be greater than Interval".into(),
        ),
        (bad_zone, "unknown time zone Not/AZone".into()),
        (
            interval(Some(secs(0)), None),
            "interval is too small".into(),
        ),
        (interval(None, None), "interval is too small".into()),
        (
            interval(
                Some(Duration {
                    seconds: 0,
                    nanos: 500_000_000,
                }),
                None,
            ),
            "interval is too small".into(),
        ),
        (
            interval(Some(secs(3600)), Some(secs(3600))),
            "phase cannot be greater than Interval".into(),
        ),
        (
            interval(Some(secs(3600)), Some(secs(-1))),
            "phase is negative".into(),
        ),
        (
            interval(
                Some(Duration {
                    seconds: 1,
                    nanos: -5,
                }),
                None,
            ),
            "interval is not a valid duration: proto: duration (seconds:1 nanos:-5) has seconds \
             and nanos with different signs"
                .into(),
        ),
        (
            minute("5-3"),
            "Minute End is before Start or not in range [0-59]".into(),
        ),
        (minute("1/2/3"), "Minute has too many slashes".into()),
        (minute("5/"), "Minute missing step value".into()),
        (minute("1-2-3"), "Minute has too many dashes".into()),
        (
            string_cal(CalendarSpec {
                hour: "25".into(),
                day_of_month: "0".into(),
                ..Default::default()
            }),
            "Hour is not in range [0-23], DayOfMonth is not in range [1-31]".into(),
        ),
        (
            string_cal(CalendarSpec {
                year: "2101".into(),
                ..Default::default()
            }),
            "Year is not in range [2000-2100]".into(),
        ),
        (
            tz_data,
            "timezone_data is not supported: name the zone in timezone_name".into(),
        ),
        (neg_exclude, "exclude calendar has a negative value".into()),
    ];
    assert!(cases.len() >= 15);
    for (spec, want) in cases {
        assert_eq!(err(&spec), format!("{p}{want}"), "{spec:?}");
    }
}

#[test]
fn unvalidated_exclude_ranges_are_harmless() {
    let mut spec = cron(&["0 * * * *"]);
    spec.exclude_structured_calendar = vec![StructuredCalendarSpec {
        second: vec![r(0, 100, 0)],
        minute: vec![r(0, 59, 0)],
        hour: vec![r(1, i32::MAX, 0)],
        day_of_month: vec![r(1, 31, 0)],
        month: vec![r(1, 12, 0)],
        year: vec![r(0, i32::MAX, 1)],
        day_of_week: vec![r(0, 6, 0)],
        comment: String::new(),
    }];
    assert_eq!(
        times(&spec, "2026-12-01T18:34:00Z", 2),
        ["2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"]
    );
}
