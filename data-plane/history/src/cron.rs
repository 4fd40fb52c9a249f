//! Cron schedules on workflows (`cron_schedule`), read as the real server
//! reads them (robfig/cron's standard parser): five fields or a `@`
//! descriptor, `@every <Go duration>`, an optional `CRON_TZ=`/`TZ=` prefix
//! naming an IANA time zone (UTC otherwise). Runs start at the schedule's
//! next time after the previous run closed, rounded up to whole seconds.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CronScheduleError {
    /// The real server's words for any schedule it cannot parse.
    #[error("invalid CronSchedule.")]
    Invalid,
}

pub enum CronSchedule {
    Calendar { cron: Box<Cron>, zone: Tz },
    Every { interval_ms: i64 },
}

impl CronSchedule {
    pub fn parse(schedule: &str) -> Result<Self, CronScheduleError> {
        let mut spec = schedule.trim();
        let mut zone = Tz::UTC;
        if let Some(rest) = spec
            .strip_prefix("CRON_TZ=")
            .or_else(|| spec.strip_prefix("TZ="))
        {
            let (name, tail) = rest.split_once(' ').ok_or(CronScheduleError::Invalid)?;
            zone = name.parse().map_err(|_| CronScheduleError::Invalid)?;
            spec = tail.trim();
        }
        if let Some(interval) = spec.strip_prefix("@every ") {
            let interval_ms = go_duration_ms(interval.trim()).ok_or(CronScheduleError::Invalid)?;
            // robfig/cron rounds intervals below a second up to one second.
            return Ok(Self::Every {
                interval_ms: interval_ms.max(1000),
            });
        }
        // Seconds and years are not part of the standard five fields.
        if !spec.starts_with('@') && spec.split_whitespace().count() != 5 {
            return Err(CronScheduleError::Invalid);
        }
        spec.parse::<Cron>()
            .map(|cron| Self::Calendar {
                cron: Box::new(cron),
                zone,
            })
            .map_err(|_| CronScheduleError::Invalid)
    }

    /// The first scheduled time strictly after `after_ms`.
    fn next(&self, after_ms: i64) -> Option<i64> {
        match self {
            // robfig/cron drops the sub-second part before adding the delay.
            Self::Every { interval_ms } => Some(after_ms - after_ms.rem_euclid(1000) + interval_ms),
            Self::Calendar { cron, zone } => {
                let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?.with_timezone(zone);
                cron.find_next_occurrence(&after, false)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// How long after `close_ms` the next run starts, for a chain whose
    /// current run began executing at `execution_ms`: the schedule's first
    /// time at or after the close, counted from the run's execution time,
    /// rounded up to whole seconds.
    pub fn backoff_ms(&self, execution_ms: i64, close_ms: i64) -> i64 {
        let Some(mut next) = self.next(execution_ms) else {
            return 0;
        };
        while next < close_ms {
            match self.next(next) {
                Some(n) if n > next => next = n,
                _ => return 0,
            }
        }
        let wait = next - close_ms;
        (wait + 999) / 1000 * 1000
    }
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units
/// (ns, us, µs, ms, s, m, h), e.g. `1h30m`, `1.5s`.
fn go_duration_ms(text: &str) -> Option<i64> {
    let mut rest = text;
    let mut total_ns: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ns = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ns += number * unit_ns;
    }
    Some((total_ns / 1e6) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn rejects_what_the_real_server_rejects() {
        for bad in [
            "",
            "not a cron",
            "* * * *",
            "0 * * * * *",
            "61 * * * *",
            "@every",
            "@every 5x",
        ] {
            assert_eq!(
                CronSchedule::parse(bad).err(),
                Some(CronScheduleError::Invalid),
                "{bad:?}"
            );
        }
        assert_eq!(
            CronSchedule::parse("CRON_TZ=Mars/Olympus_Mons * * * * *").err(),
            Some(CronScheduleError::Invalid)
        );
    }

    #[test]
    fn every_minute_waits_for_the_next_minute_boundary() {
        let s = CronSchedule::parse("* * * * *").unwrap();
        // Started 10 s into a minute: the first run waits 50 s.
        let start = 1_000 * MINUTE + 10_000;
        assert_eq!(s.backoff_ms(start, start), 50_000);
        // A run that overran two boundaries waits for the following one.
        assert_eq!(s.backoff_ms(start, start + 2 * MINUTE), 50_000);
    }

    #[test]
    fn every_interval_counts_from_the_run_start_and_rounds_up() {
        let s = CronSchedule::parse("@every 2s").unwrap();
        assert_eq!(s.backoff_ms(10_000, 10_000), 2_000);
        // Closed 50 ms after it began: 1.95 s left, rounded up to 2 s.
        assert_eq!(s.backoff_ms(10_000, 10_050), 2_000);
        // Closed after 5.5 s: the next slot is at 12 s from 10 s + 3 × 2 s.
        assert_eq!(s.backoff_ms(10_000, 15_500), 1_000);
        assert_eq!(
            CronSchedule::parse("@every 1h30m")
                .unwrap()
                .backoff_ms(0, 0),
            90 * MINUTE
        );
    }

    #[test]
    fn descriptors_and_utc_prefix() {
        let hourly = CronSchedule::parse("@hourly").unwrap();
        assert_eq!(hourly.backoff_ms(MINUTE, MINUTE), 59 * MINUTE);
        let utc = CronSchedule::parse("CRON_TZ=UTC 0 * * * *").unwrap();
        assert_eq!(utc.backoff_ms(MINUTE, MINUTE), 59 * MINUTE);
    }

    #[test]
    fn a_time_zone_moves_the_schedule() {
        // 2026-01-15 12:00 UTC is 07:00 in New York (EST, UTC-5): the next
        // 09:00 there is two hours away; in UTC it is 21 hours away.
        let noon_utc = 1_768_478_400_000;
        let new_york = CronSchedule::parse("CRON_TZ=America/New_York 0 9 * * *").unwrap();
        assert_eq!(new_york.backoff_ms(noon_utc, noon_utc), 2 * 60 * MINUTE);
        let utc = CronSchedule::parse("0 9 * * *").unwrap();
        assert_eq!(utc.backoff_ms(noon_utc, noon_utc), 21 * 60 * MINUTE);
    }
}
