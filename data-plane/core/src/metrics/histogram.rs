//! A fixed-bucket histogram kept as plain numbers under its owner's lock:
//! the hot path adds one to a bucket, nothing allocates after creation.

/// Latencies in seconds, from a millisecond to an hour: RPCs (long polls
/// last up to a minute), persistence, schedule-to-start and timer lag
/// (a backlog can wait for hours).
pub(crate) const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 1800.0, 3600.0,
];

/// Counts of tasks (the transfer queue's lag in task ids).
pub(crate) const COUNT_BOUNDS: &[f64] = &[
    0.0,
    1.0,
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
];

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hist {
    pub(crate) bounds: &'static [f64],
    /// Observations per bucket, not cumulative: `bounds.len() + 1` of them,
    /// the last one above every bound (`+Inf`).
    pub(crate) counts: Vec<u64>,
    pub(crate) sum: f64,
}

impl Hist {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    pub(crate) fn observe(&mut self, v: f64) {
        // Prometheus' `le` is inclusive: a value equal to a bound is in
        // that bound's bucket.
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(upper bound, observations in that bucket)` pairs, `+Inf` last:
    /// what the official client's encoder takes (it sums them up into the
    /// text format's cumulative `_bucket` lines itself).
    pub(crate) fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_a_bound_falls_in_that_bucket_and_larger_ones_in_inf() {
        let mut h = Hist::new(&[1.0, 2.0]);
        h.observe(1.0);
        h.observe(1.5);
        h.observe(7.0);
        h.observe(0.0);
        assert_eq!(h.counts, [2, 1, 1]);
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum, 9.5);
        assert_eq!(h.buckets(), [(1.0, 2), (2.0, 1), (f64::INFINITY, 1)]);
    }
}
