//! Latency summaries from a sorted vector: exact nearest-rank percentiles, which at the sample
//! sizes here (hundreds to thousands) cost nothing and need no histogram crate.

use serde_json::{Value, json};

/// Milliseconds, rounded to microseconds so the JSON stays readable.
fn ms(value: f64) -> Value {
    json!((value * 1000.0).round() / 1000.0)
}

/// The nearest-rank `p`-th percentile of `sorted` (ascending, non-empty).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `{n, min, p50, p99, max, mean}` of `samples_ms`, all in milliseconds.
pub fn summary(mut samples_ms: Vec<f64>) -> Value {
    if samples_ms.is_empty() {
        return json!({ "n": 0 });
    }
    samples_ms.sort_by(f64::total_cmp);
    let mean = samples_ms.iter().sum::<f64>() / samples_ms.len() as f64;
    json!({
        "n": samples_ms.len(),
        "min": ms(samples_ms[0]),
        "p50": ms(percentile(&samples_ms, 50.0)),
        "p99": ms(percentile(&samples_ms, 99.0)),
        "max": ms(samples_ms[samples_ms.len() - 1]),
        "mean": ms(mean),
    })
}

/// A rate, rounded to two decimals.
pub fn per_sec(count: usize, secs: f64) -> Value {
    json!(((count as f64 / secs) * 100.0).round() / 100.0)
}

pub fn secs(value: f64) -> Value {
    json!((value * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 50.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.0);
    }
}
