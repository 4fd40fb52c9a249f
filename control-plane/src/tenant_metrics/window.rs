//! A short window of one cell's statistics, and the rates and percentiles
//! computed from it. The cell reports cumulative counters and histograms
//! since its process started; a rate is the difference between the newest
//! reading and one about a minute older, divided by the time between them
//! (the cell's own clock, `as_of_ms`), and a percentile is read from the
//! histogram's bucket differences over the same interval, so both reflect
//! the last minute as Cloud's one-minute aggregates do, without Cloud's lag.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use orrery_cell_api::{Label, NamespaceStats};

use super::catalog::{FAMILIES, Kind, QUANTILES, cloud_label, cloud_label_value};

/// The interval rates and percentiles are computed over.
pub const RATE_WINDOW_MS: i64 = 60_000;
/// Readings older than this (the newest's clock) are dropped.
pub const KEEP_MS: i64 = 5 * 60_000;
/// And at most this many are kept, whatever the clocks say.
pub const MAX_POINTS: usize = 40;
/// Series one namespace may have in one reading; past it the rest are
/// dropped (a cell reporting unbounded label values must not grow this).
pub const MAX_SERIES_PER_NAMESPACE: usize = 5_000;

/// A series: a family (index into [`FAMILIES`]) and its Cloud labels, sorted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub family: usize,
    pub labels: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hist {
    pub bounds: Vec<f64>,
    /// Per bucket, not cumulative; one more than `bounds` (+Inf).
    pub counts: Vec<u64>,
}

/// One namespace's statistics in one reading, already mapped to Cloud series.
#[derive(Debug, Default)]
pub struct NsPoint {
    pub counters: BTreeMap<SeriesKey, f64>,
    pub gauges: BTreeMap<SeriesKey, f64>,
    pub histograms: BTreeMap<SeriesKey, Hist>,
    /// Series dropped past [`MAX_SERIES_PER_NAMESPACE`].
    pub dropped: usize,
}

impl NsPoint {
    fn len(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.histograms.len()
    }

    /// Maps one namespace's cell statistics to Cloud series.
    pub fn from_stats(stats: &NamespaceStats) -> Self {
        let mut point = NsPoint::default();
        for sample in &stats.samples {
            if !sample.value.is_finite() {
                continue;
            }
            let wanted = if sample.gauge {
                Kind::Value
            } else {
                Kind::Rate
            };
            for (family, f) in FAMILIES.iter().enumerate() {
                if f.kind != wanted || !f.sources.contains(&sample.name.as_str()) {
                    continue;
                }
                let key = series_key(family, &sample.labels);
                let full = point.len() >= MAX_SERIES_PER_NAMESPACE;
                let map = if sample.gauge {
                    &mut point.gauges
                } else {
                    &mut point.counters
                };
                if full && !map.contains_key(&key) {
                    point.dropped += 1;
                    continue;
                }
                *map.entry(key).or_insert(0.0) += sample.value;
            }
        }
        for h in &stats.histograms {
            // A malformed histogram is skipped, not guessed at.
            if h.counts.len() != h.bounds.len() + 1
                || h.bounds.windows(2).any(|w| w[0] >= w[1])
                || h.bounds.iter().any(|b| !b.is_finite())
            {
                continue;
            }
            for (family, f) in FAMILIES.iter().enumerate() {
                if f.kind != Kind::Percentile || !f.sources.contains(&h.name.as_str()) {
                    continue;
                }
                let key = series_key(family, &h.labels);
                if !point.histograms.contains_key(&key) && point.len() >= MAX_SERIES_PER_NAMESPACE {
                    point.dropped += 1;
                    continue;
                }
                match point.histograms.get_mut(&key) {
                    // Series that differ only in labels Cloud drops merge.
                    Some(sum) if sum.bounds == h.bounds => {
                        for (s, c) in sum.counts.iter_mut().zip(&h.counts) {
                            *s = s.saturating_add(*c);
                        }
                    }
                    Some(_) => {}
                    None => {
                        point.histograms.insert(
                            key,
                            Hist {
                                bounds: h.bounds.clone(),
                                counts: h.counts.clone(),
                            },
                        );
                    }
                }
            }
        }
        point
    }
}

fn series_key(family: usize, labels: &[Label]) -> SeriesKey {
    let f = &FAMILIES[family];
    let mut out: Vec<(&'static str, String)> = labels
        .iter()
        .filter_map(|l| {
            let name = cloud_label(&l.name)?;
            f.labels
                .contains(&name)
                .then(|| (name, cloud_label_value(name, &l.value)))
        })
        .collect();
    out.extend(f.fixed.iter().map(|(k, v)| (*k, (*v).to_owned())));
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    SeriesKey {
        family,
        labels: out,
    }
}

/// One reading of a cell.
#[derive(Debug)]
pub struct Point {
    pub process_start_ms: i64,
    pub as_of_ms: i64,
    /// When the control plane received it (its own clock), for staleness.
    pub received_ms: i64,
    /// By namespace name.
    pub namespaces: HashMap<String, NsPoint>,
}

/// A computed gauge: its full Cloud name, its labels, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub family: usize,
    /// "" or a percentile suffix (`_p95`).
    pub suffix: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A cell's recent readings. Each is shared (`Arc`), so a copy of the
/// window is cheap: the API copies it under the sampler's lock and
/// computes from the copy without holding the lock.
#[derive(Debug, Default, Clone)]
pub struct CellWindow {
    points: VecDeque<Arc<Point>>,
}

impl CellWindow {
    pub fn push(&mut self, point: Point) {
        if let Some(last) = self.points.back() {
            // A reading no newer than the last of the same process adds
            // nothing (and would make a zero interval).
            if last.process_start_ms == point.process_start_ms && point.as_of_ms <= last.as_of_ms {
                return;
            }
        }
        let newest = point.as_of_ms;
        self.points.push_back(Arc::new(point));
        while self.points.len() > MAX_POINTS
            || self
                .points
                .front()
                .is_some_and(|p| p.as_of_ms < newest - KEEP_MS)
        {
            self.points.pop_front();
        }
    }

    pub fn latest(&self) -> Option<&Point> {
        self.points.back().map(|p| &**p)
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// What `namespace`'s rates are measured from: its statistics in an
    /// older reading of the same process and that reading's time, or none
    /// and the process's start (every counter zero then). None: nothing
    /// to measure from.
    ///
    /// Only a reading that has the namespace will do: a reading can lack
    /// one that exists (its cell id not resolved to a name that pull), and
    /// taking its absence for zero would turn the namespace's whole count
    /// since the process started into one minute's.
    fn base(&self, namespace: &str) -> Option<(Option<&NsPoint>, i64)> {
        let latest = self.points.back()?;
        let same_run = || {
            self.points
                .iter()
                .rev()
                .skip(1)
                .filter(|p| p.process_start_ms == latest.process_start_ms)
                .filter_map(|p| Some((p.namespaces.get(namespace)?, p.as_of_ms)))
        };
        let target = latest.as_of_ms - RATE_WINDOW_MS;
        // The newest reading a minute old or older; short of one, the
        // oldest there is (a shorter interval while the window fills).
        if let Some((ns, at)) = same_run().find(|(_, at)| *at <= target) {
            return Some((Some(ns), at));
        }
        if let Some((ns, at)) = same_run().next_back() {
            return Some((Some(ns), at));
        }
        // No older reading of this process has it: its counters are since
        // the process started, which is a last-minute figure only if that
        // was recent (a cell that just restarted; a control plane that just
        // started knows no older reading). Otherwise nothing: the namespace
        // is new, or was missing from the readings until now.
        let since_start = latest.as_of_ms - latest.process_start_ms;
        (since_start > 0 && since_start <= 2 * RATE_WINDOW_MS)
            .then_some((None, latest.process_start_ms))
    }

    /// The namespace's Cloud gauges from this window; empty when the
    /// newest reading is older than `stale_before_ms` (our clock).
    pub fn compute(&self, namespace: &str, stale_before_ms: i64) -> Vec<Computed> {
        let Some(latest) = self.latest() else {
            return Vec::new();
        };
        if latest.received_ms < stale_before_ms {
            return Vec::new();
        }
        let Some(now) = latest.namespaces.get(namespace) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in &now.gauges {
            out.push(Computed {
                family: key.family,
                suffix: "",
                labels: key.labels.clone(),
                value: *value,
            });
        }
        let Some((then, base_ms)) = self.base(namespace) else {
            return out;
        };
        let seconds = (latest.as_of_ms - base_ms) as f64 / 1000.0;
        if seconds <= 0.0 {
            return out;
        }
        for (key, value) in &now.counters {
            let before = then.and_then(|t| t.counters.get(key)).copied();
            out.push(Computed {
                family: key.family,
                suffix: "",
                labels: key.labels.clone(),
                value: counter_delta(before, *value) / seconds,
            });
        }
        for (key, hist) in &now.histograms {
            let before = then.and_then(|t| t.histograms.get(key));
            let Some(delta) = hist_delta(before, hist) else {
                continue;
            };
            for (q, suffix) in QUANTILES {
                if let Some(value) = quantile(&hist.bounds, &delta, q) {
                    out.push(Computed {
                        family: key.family,
                        suffix,
                        labels: key.labels.clone(),
                        value,
                    });
                }
            }
        }
        out
    }
}

/// The increase of a counter; one that went down restarted from zero.
pub fn counter_delta(before: Option<f64>, now: f64) -> f64 {
    match before {
        Some(b) if now >= b => now - b,
        _ => now.max(0.0),
    }
}

/// The observations per bucket since `before`; None when the buckets
/// changed shape (nothing to compare) or a count went down.
pub fn hist_delta(before: Option<&Hist>, now: &Hist) -> Option<Vec<u64>> {
    match before {
        None => Some(now.counts.clone()),
        Some(b) if b.bounds == now.bounds => now
            .counts
            .iter()
            .zip(&b.counts)
            .map(|(n, b)| n.checked_sub(*b))
            .collect(),
        Some(_) => None,
    }
}

/// The `q` quantile of observations counted per bucket (`counts` has one
/// more entry than `bounds`, the +Inf bucket), interpolated linearly
/// within its bucket as Prometheus's `histogram_quantile` does; None with
/// no observations. One in the +Inf bucket reads as the highest bound.
pub fn quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let Some(&upper) = bounds.get(i) else {
                return bounds.last().copied().or(Some(0.0));
            };
            let lower = if i == 0 {
                0.0_f64.min(upper)
            } else {
                bounds[i - 1]
            };
            let within = ((rank - below as f64) / count as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower) * within);
        }
        below += count;
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_cell_api::{Histogram, Sample};

    fn family(name: &str) -> usize {
        FAMILIES.iter().position(|f| f.name == name).unwrap()
    }

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn counter(name: &str, labels: Vec<Label>, value: f64) -> Sample {
        Sample {
            name: name.into(),
            labels,
            value,
            gauge: false,
        }
    }

    fn stats(samples: Vec<Sample>, histograms: Vec<Histogram>) -> NamespaceStats {
        NamespaceStats {
            namespace_id: "ns.acme".into(),
            samples,
            histograms,
        }
    }

    fn point(start: i64, as_of: i64, s: &NamespaceStats) -> Point {
        Point {
            process_start_ms: start,
            as_of_ms: as_of,
            received_ms: as_of,
            namespaces: HashMap::from([("ns.acme".to_owned(), NsPoint::from_stats(s))]),
        }
    }

    fn requests(n: f64) -> NamespaceStats {
        stats(
            vec![counter(
                "service_requests",
                vec![label("operation", "StartWorkflowExecution")],
                n,
            )],
            vec![],
        )
    }

    fn value_of(window: &CellWindow, family_name: &str, suffix: &str) -> Option<f64> {
        let f = family(family_name);
        window
            .compute("ns.acme", 0)
            .into_iter()
            .find(|c| c.family == f && c.suffix == suffix)
            .map(|c| c.value)
    }

    const REQ: &str = "temporal_cloud_v1_service_request_count";

    #[test]
    fn rates_are_per_second_over_about_a_minute() {
        let start = 0;
        let mut w = CellWindow::default();
        // Started long ago: one reading says nothing about the last minute.
        w.push(point(start, 1_000_000, &requests(500.0)));
        assert_eq!(value_of(&w, REQ, ""), None);
        // 15 s later, 30 more: 2/s over the 15 s known so far.
        w.push(point(start, 1_015_000, &requests(530.0)));
        assert_eq!(value_of(&w, REQ, ""), Some(2.0));
        for (i, total) in [(2, 560.0), (3, 590.0), (4, 620.0)] {
            w.push(point(start, 1_000_000 + i * 15_000, &requests(total)));
        }
        // Newest at +60 s: measured against the reading exactly 60 s older.
        assert_eq!(value_of(&w, REQ, ""), Some(2.0));
        // A burst in the last 15 s: measured from the reading at +15 s.
        w.push(point(start, 1_075_000, &requests(710.0)));
        assert_eq!(value_of(&w, REQ, ""), Some((710.0 - 530.0) / 60.0));
    }

    #[test]
    fn a_restart_starts_counting_from_zero() {
        let mut w = CellWindow::default();
        w.push(point(0, 1_000_000, &requests(900.0)));
        w.push(point(0, 1_015_000, &requests(930.0)));
        // The cell restarted at 1_020_000; 10 requests since, read at +30 s.
        w.push(point(1_020_000, 1_050_000, &requests(10.0)));
        let rate = value_of(&w, REQ, "").unwrap();
        assert!((rate - 10.0 / 30.0).abs() < 1e-9, "{rate}");
        // The next reading measures against the first of the new process,
        // never against the old process's larger totals.
        w.push(point(1_020_000, 1_065_000, &requests(25.0)));
        assert_eq!(value_of(&w, REQ, ""), Some(1.0));
    }

    fn without_namespace(start: i64, as_of: i64) -> Point {
        Point {
            process_start_ms: start,
            as_of_ms: as_of,
            received_ms: as_of,
            namespaces: HashMap::new(),
        }
    }

    #[test]
    fn a_namespace_missing_from_older_readings_is_no_spike() {
        let latency = |count: u64| Histogram {
            name: "service_latency".into(),
            labels: vec![label("operation", "StartWorkflowExecution")],
            bounds: vec![0.01, 0.1, 1.0],
            counts: vec![0, 0, count, 0],
            sum: 0.0,
        };
        let busy = |n: f64| {
            stats(
                vec![counter(
                    "service_requests",
                    vec![label("operation", "StartWorkflowExecution")],
                    n,
                )],
                vec![latency(n as u64)],
            )
        };
        // A cell up for hours; its namespace's name was not resolved in the
        // readings a minute ago (expired, a lookup failed, past the lookups
        // per pull), so they lack it.
        let start = 0;
        let mut w = CellWindow::default();
        w.push(without_namespace(start, 10_000_000));
        w.push(without_namespace(start, 10_015_000));
        w.push(point(start, 10_060_000, &busy(50_000.0)));
        // Its 50 000 requests since the process started are not the last
        // minute's: no rate and no percentile rather than 833/s.
        assert_eq!(value_of(&w, REQ, ""), None);
        assert_eq!(
            value_of(&w, "temporal_cloud_v1_service_latency", "_p50"),
            None
        );
        // Missing again, then back: measured from the last reading that
        // has it, however many lack it in between.
        w.push(without_namespace(start, 10_075_000));
        w.push(point(start, 10_090_000, &busy(50_060.0)));
        assert_eq!(value_of(&w, REQ, ""), Some(2.0));
        assert!(value_of(&w, "temporal_cloud_v1_service_latency", "_p50").is_some());
    }

    #[test]
    fn after_a_restart_a_namespace_missing_before_counts_from_the_start() {
        let mut w = CellWindow::default();
        // Restarted at 1_000_000; the first reading lacks the namespace.
        w.push(without_namespace(1_000_000, 1_015_000));
        w.push(point(1_000_000, 1_030_000, &requests(60.0)));
        // Its counters are since the process started 30 s ago: 2/s.
        assert_eq!(value_of(&w, REQ, ""), Some(2.0));
    }

    #[test]
    fn a_counter_that_goes_down_counts_as_restarted() {
        assert_eq!(counter_delta(Some(10.0), 4.0), 4.0);
        assert_eq!(counter_delta(Some(10.0), 14.0), 4.0);
        assert_eq!(counter_delta(None, 3.0), 3.0);
    }

    #[test]
    fn old_and_excess_readings_are_dropped() {
        let mut w = CellWindow::default();
        for i in 0..100 {
            w.push(point(0, 1_000_000 + i * 1_000, &requests(i as f64)));
        }
        assert_eq!(w.len(), MAX_POINTS);
        w.push(point(
            0,
            1_000_000 + 99_000 + KEEP_MS + 1,
            &requests(1000.0),
        ));
        assert_eq!(w.len(), 1);
        // A duplicate (same process, not newer) is ignored.
        w.push(point(0, 1_000_000, &requests(0.0)));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let bounds = [0.01, 0.1, 1.0];
        // 100 observations: 50 under 10 ms, 40 under 100 ms, 9 under 1 s, 1 over.
        let counts = [50, 40, 9, 1];
        assert_eq!(quantile(&bounds, &counts, 0.5), Some(0.01));
        let p95 = quantile(&bounds, &counts, 0.95).unwrap();
        assert!((p95 - (0.1 + 0.9 * 5.0 / 9.0)).abs() < 1e-9, "{p95}");
        // p99 falls at the edge of the third bucket.
        assert!((quantile(&bounds, &counts, 0.99).unwrap() - 1.0).abs() < 1e-9);
        // Past every bound: the highest bound.
        assert_eq!(quantile(&bounds, &[0, 0, 0, 5], 0.5), Some(1.0));
        assert_eq!(quantile(&bounds, &[0, 0, 0, 0], 0.5), None);
        assert_eq!(quantile(&bounds, &[1, 2], 0.5), None);
    }

    #[test]
    fn percentiles_cover_only_the_last_minute() {
        let hist = |counts: Vec<u64>| {
            stats(
                vec![],
                vec![Histogram {
                    name: "service_latency".into(),
                    labels: vec![label("operation", "PollWorkflowTaskQueue")],
                    bounds: vec![0.01, 0.1, 1.0],
                    counts,
                    sum: 0.0,
                }],
            )
        };
        let mut w = CellWindow::default();
        // Long ago: a thousand slow requests.
        w.push(point(0, 1_000_000, &hist(vec![0, 0, 1000, 0])));
        // Since: 10 fast ones only.
        w.push(point(0, 1_060_000, &hist(vec![10, 0, 1000, 0])));
        let p99 = value_of(&w, "temporal_cloud_v1_service_latency", "_p99").unwrap();
        assert!(p99 <= 0.01, "{p99}");
        // No observation in the window: no percentile at all.
        w.push(point(0, 1_120_000, &hist(vec![10, 0, 1000, 0])));
        assert_eq!(
            value_of(&w, "temporal_cloud_v1_service_latency", "_p50"),
            None
        );
    }

    #[test]
    fn labels_map_to_clouds_and_extra_ones_sum_away() {
        let s = stats(
            vec![
                counter(
                    "workflow_success",
                    vec![
                        label("task_queue", "q"),
                        label("workflow_type", "Pay"),
                        label("worker", "a"),
                    ],
                    3.0,
                ),
                counter(
                    "workflow_success",
                    vec![
                        label("task_queue", "q"),
                        label("workflow_type", "Pay"),
                        label("worker", "b"),
                    ],
                    4.0,
                ),
                counter(
                    "action",
                    vec![label("action_type", "workflow_started")],
                    5.0,
                ),
                counter("action", vec![label("action_type", "signal")], 1.0),
                Sample {
                    name: "approximate_backlog_count".into(),
                    labels: vec![label("task_queue", "q"), label("task_type", "Activity")],
                    value: 12.0,
                    gauge: true,
                },
                counter("not_a_cloud_metric", vec![], 1.0),
            ],
            vec![],
        );
        let p = NsPoint::from_stats(&s);
        let wf = SeriesKey {
            family: family("temporal_cloud_v1_workflow_success_count"),
            labels: vec![
                ("temporal_task_queue", "q".into()),
                ("temporal_workflow_type", "Pay".into()),
            ],
        };
        assert_eq!(p.counters.get(&wf), Some(&7.0));
        let total = SeriesKey {
            family: family("temporal_cloud_v1_total_action_count"),
            labels: vec![
                ("is_background", "false".into()),
                ("namespace_mode", "active".into()),
            ],
        };
        assert_eq!(p.counters.get(&total), Some(&6.0));
        let backlog = SeriesKey {
            family: family("temporal_cloud_v1_approximate_backlog_count"),
            labels: vec![
                ("task_type", "activity".into()),
                ("temporal_task_queue", "q".into()),
            ],
        };
        assert_eq!(p.gauges.get(&backlog), Some(&12.0));
        // Two billable series, one total, one workflow series, one gauge.
        assert_eq!(p.counters.len(), 4);
    }

    #[test]
    fn series_per_namespace_are_bounded() {
        let samples = (0..MAX_SERIES_PER_NAMESPACE + 10)
            .map(|i| {
                counter(
                    "workflow_success",
                    vec![label("task_queue", &i.to_string())],
                    1.0,
                )
            })
            .collect();
        let p = NsPoint::from_stats(&stats(samples, vec![]));
        assert_eq!(p.counters.len(), MAX_SERIES_PER_NAMESPACE);
        assert_eq!(p.dropped, 10);
    }

    #[test]
    fn stale_cells_show_nothing() {
        let mut w = CellWindow::default();
        w.push(point(0, 1_000_000, &requests(1.0)));
        w.push(point(0, 1_015_000, &requests(2.0)));
        assert!(!w.compute("ns.acme", 1_015_000).is_empty());
        assert!(w.compute("ns.acme", 1_015_001).is_empty());
        assert!(w.compute("other.ns", 0).is_empty());
    }
}
