//! Wall-clock helpers. Durations and instants cross the API as protobuf
//! `Timestamp`/`Duration`; inside a cell they are unix milliseconds.
use prost_wkt_types::{Duration, Timestamp};

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn timestamp(millis: i64) -> Timestamp {
    Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn timestamp_millis(ts: &Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

pub fn duration(millis: i64) -> Duration {
    Duration {
        seconds: millis / 1000,
        nanos: ((millis % 1000) * 1_000_000) as i32,
    }
}

/// Milliseconds of an optional duration; `None` and zero both mean "unset".
pub fn duration_millis(d: Option<&Duration>) -> i64 {
    d.map(|d| d.seconds.saturating_mul(1000) + i64::from(d.nanos) / 1_000_000)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1] {
            assert_eq!(timestamp_millis(&timestamp(ms)), ms);
        }
        assert_eq!(duration_millis(Some(&duration(1500))), 1500);
        assert_eq!(duration_millis(None), 0);
    }
}
