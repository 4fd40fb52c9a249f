//! Usage and billing: the puller that copies cells' usage totals into the
//! control plane (`puller`), the aggregation the usage API and CSV export
//! serve (`report`), and the rate card and invoice arithmetic (`rate_card`,
//! `invoice`). See docs/control-plane.md, "Usage, rate card and invoices".
pub mod invoice;
pub mod puller;
pub mod rate_card;
pub mod report;

pub use orrery_cell_api::{ACTIVE_STORAGE_BYTE_SECONDS, RETAINED_STORAGE_BYTE_SECONDS};

/// The Action kinds cells report today (the names of
/// `orrery_core::actions::Action`, which this crate must not link). They
/// name the CSV export's columns; a kind not listed here still counts in
/// `total_actions` and appears in the JSON `actions` object (and in the
/// CSV's `other_actions`), so a cell newer than this list loses nothing.
pub const KNOWN_ACTION_KINDS: [&str; 17] = [
    "workflow_started",
    "workflow_reset",
    "timer_started",
    "search_attributes_upserted",
    "workflow_properties_modified",
    "signal",
    "query",
    "update_accepted",
    "update_rejected",
    "child_workflow_started",
    "activity_started",
    "activity_retried",
    "local_activities",
    "heartbeat",
    "schedule_action",
    "workflow_archived",
    "execution_options_updated",
];

/// Kinds under this prefix are storage, never Actions.
pub const STORAGE_PREFIX: &str = "storage.";

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Byte-seconds in one GB-hour: decimal gigabytes (10^9 bytes), as cloud
/// billing counts them.
pub const BYTE_SECONDS_PER_GBH: i128 = 1_000_000_000 * 3600;

/// Whether a usage kind counts as Actions (everything not storage).
pub fn is_action(kind: &str) -> bool {
    !kind.starts_with(STORAGE_PREFIX)
}

/// GB-hours in millionths, rounded half up: exact integer arithmetic, so
/// the JSON, the CSV and the invoice agree to the last digit shown.
pub fn micro_gbh(byte_seconds: i64) -> i64 {
    let micro = div_round_half_up(i128::from(byte_seconds) * 1_000_000, BYTE_SECONDS_PER_GBH);
    i64::try_from(micro).unwrap_or(i64::MAX)
}

/// `micro / 10^6` with six decimals (`12.000340`), for CSV and invoice text.
pub fn format_micros(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let abs = micro.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// `n / d` rounded half away from zero (d > 0).
pub fn div_round_half_up(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d { q + n.signum() } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb_hours_are_decimal_and_rounded_half_up() {
        // One decimal GB held for one hour.
        assert_eq!(micro_gbh(3_600_000_000_000), 1_000_000);
        assert_eq!(format_micros(micro_gbh(3_600_000_000_000)), "1.000000");
        // 1.8e6 byte-seconds is exactly half a millionth: rounds up.
        assert_eq!(micro_gbh(1_800_000), 1);
        assert_eq!(micro_gbh(1_799_999), 0);
        assert_eq!(format_micros(1_234_567), "1.234567");
        assert_eq!(format_micros(5), "0.000005");
        assert_eq!(div_round_half_up(-3, 2), -2);
        assert_eq!(div_round_half_up(7, 2), 4);
        assert!(is_action("signal") && !is_action(ACTIVE_STORAGE_BYTE_SECONDS));
    }
}
