//! The two views of the store: Prometheus' text format (operators) and
//! per-namespace statistics (the control plane, for tenants). Both are built
//! from one snapshot, so a name or label means the same in each.
use std::collections::BTreeMap;
use std::sync::Arc;

use orrery_cell_api::{
    Histogram as StatsHistogram, Label, NamespaceStats, PullNamespaceStatsResponse, Sample,
};
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::histogram::Hist;
use super::{STATE, State, UNKNOWN, WorkflowOutcome, lock};

/// The `Content-Type` of [`prometheus_text`]: Prometheus' text format 0.0.4,
/// which every scraper and parser reads (and which two processes' bodies can
/// be joined in, as `orrery dev` does).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
pub(crate) enum Value {
    Number(f64),
    Hist(Hist),
}

#[derive(Debug)]
pub(crate) struct Series {
    /// The namespace the series belongs to (its `namespace` label), if any.
    pub(crate) namespace_id: Option<Arc<str>>,
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: Value,
}

#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) kind: Kind,
    pub(crate) series: Vec<Series>,
}

impl Family {
    fn new(name: &'static str, help: &'static str, kind: Kind) -> Self {
        Self {
            name,
            help,
            kind,
            series: Vec::new(),
        }
    }

    fn push(
        &mut self,
        namespace_id: Option<&Arc<str>>,
        labels: Vec<(&'static str, String)>,
        value: Value,
    ) {
        self.series.push(Series {
            namespace_id: namespace_id.cloned(),
            labels,
            value,
        });
    }
}

impl State {
    /// Everything, in a fixed family order; series sorted within a family.
    pub(crate) fn families(&self) -> Vec<Family> {
        use Kind::*;
        let mut requests = Family::new(
            "service_requests",
            "Requests answered by the frontend, by operation and namespace",
            Counter,
        );
        let mut errors = Family::new(
            "service_errors",
            "Requests the frontend answered with an error",
            Counter,
        );
        let mut errors_typed = Family::new(
            "service_error_with_type",
            "Requests the frontend answered with an error, by gRPC code (error_type)",
            Counter,
        );
        let mut latency = Family::new(
            "service_latency",
            "Time the frontend took to answer, in seconds (long polls included)",
            Histogram,
        );
        let mut outcomes: Vec<Family> = WorkflowOutcome::ALL
            .iter()
            .map(|o| Family::new(o.metric(), "Runs that closed this way", Counter))
            .collect();
        let mut actions = Family::new(
            "action",
            "Billable Actions committed, by action_type (queries excepted: they are metered apart)",
            Counter,
        );
        let mut schedule_to_start = Family::new(
            "task_schedule_to_start_latency",
            "Time from a task's creation to its hand-over to a poller, in seconds",
            Histogram,
        );
        let mut namespaces: Vec<(Arc<str>, _)> = self
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, m)| (id.clone(), m.clone()))
            .collect();
        namespaces.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, m) in &namespaces {
            let ns = Some(id);
            let m = lock(m);
            for (op, stats) in &m.rpcs {
                let op_label = || vec![("operation", op.to_string())];
                requests.push(ns, op_label(), Value::Number(stats.requests as f64));
                let failed: u64 = stats.errors.values().sum();
                errors.push(ns, op_label(), Value::Number(failed as f64));
                for (code, n) in &stats.errors {
                    errors_typed.push(
                        ns,
                        vec![
                            ("operation", op.to_string()),
                            ("error_type", code.to_string()),
                        ],
                        Value::Number(*n as f64),
                    );
                }
                latency.push(ns, op_label(), Value::Hist(stats.latency.clone()));
            }
            if &**id != UNKNOWN {
                for (family, n) in outcomes.iter_mut().zip(m.outcomes) {
                    family.push(ns, vec![], Value::Number(n as f64));
                }
            }
            for (action, n) in &m.actions {
                actions.push(
                    ns,
                    vec![("action_type", action.to_string())],
                    Value::Number(*n as f64),
                );
            }
            for ((queue, task_type), h) in &m.schedule_to_start {
                schedule_to_start.push(
                    ns,
                    vec![
                        ("taskqueue", queue.to_string()),
                        ("task_type", task_type.to_string()),
                    ],
                    Value::Hist(h.clone()),
                );
            }
        }

        let mut families = vec![requests, errors, errors_typed, latency];
        families.append(&mut outcomes);
        families.extend([actions, self.backlog_family(), schedule_to_start]);
        families.extend(self.persistence_families());
        families.extend(self.queue_lag_families());
        families.extend(self.background_families());
        families
    }

    fn backlog_family(&self) -> Family {
        let mut family = Family::new(
            "approximate_backlog_count",
            "Tasks waiting in a task queue, as this cell holds them in memory",
            Kind::Gauge,
        );
        let source = self
            .backlog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(source) = source else {
            return family;
        };
        // Sticky queues and queues past the label cap share a label value:
        // their counts add up.
        let mut sums: BTreeMap<(Arc<str>, Arc<str>, &'static str), u64> = BTreeMap::new();
        for s in source() {
            let queue = {
                let mut labels = lock(&self.task_queues);
                if s.count == 0 && !s.sticky {
                    match labels.existing(&s.namespace_id, &s.task_queue) {
                        Some(queue) => queue,
                        None => continue,
                    }
                } else {
                    labels.label(&s.namespace_id, &s.task_queue, s.sticky)
                }
            };
            *sums
                .entry((Arc::from(s.namespace_id.as_str()), queue, s.task_type))
                .or_default() += s.count;
        }
        for ((ns, queue, task_type), n) in sums {
            family.push(
                Some(&ns),
                vec![
                    ("taskqueue", queue.to_string()),
                    ("task_type", task_type.to_string()),
                ],
                Value::Number(n as f64),
            );
        }
        family
    }

    fn persistence_families(&self) -> [Family; 3] {
        let mut requests = Family::new(
            "persistence_requests",
            "Persistence operations (transactions and reads), by operation",
            Kind::Counter,
        );
        let mut errors = Family::new(
            "persistence_errors",
            "Persistence operations that failed",
            Kind::Counter,
        );
        let mut latency = Family::new(
            "persistence_latency",
            "Time a persistence operation took, in seconds",
            Kind::Histogram,
        );
        for (op, s) in lock(&self.persistence).iter() {
            let labels = || vec![("operation", op.to_string())];
            requests.push(None, labels(), Value::Number(s.requests as f64));
            errors.push(None, labels(), Value::Number(s.errors as f64));
            latency.push(None, labels(), Value::Hist(s.latency.clone()));
        }
        [requests, errors, latency]
    }

    fn queue_lag_families(&self) -> [Family; 2] {
        let lag = lock(&self.queue_lag);
        let mut scheduled = Family::new(
            "shardinfo_scheduled_queue_lag",
            "Across shards, sampled every few seconds: how late the oldest due timer is, in seconds",
            Kind::Histogram,
        );
        scheduled.push(
            None,
            vec![("task_category", "timer".into())],
            Value::Hist(lag.scheduled.clone()),
        );
        let mut immediate = Family::new(
            "shardinfo_immediate_queue_lag",
            "Across shards, sampled every few seconds: task ids issued since the oldest pending transfer task",
            Kind::Histogram,
        );
        immediate.push(
            None,
            vec![("task_category", "transfer".into())],
            Value::Hist(lag.immediate.clone()),
        );
        [scheduled, immediate]
    }

    fn background_families(&self) -> [Family; 2] {
        let mut runs = Family::new(
            "background_task_runs",
            "Passes of a background task",
            Kind::Counter,
        );
        let mut failures = Family::new(
            "background_task_failures",
            "Passes of a background task that failed",
            Kind::Counter,
        );
        for (task, [n, failed]) in lock(&self.background).iter() {
            runs.push(
                None,
                vec![("task", task.to_string())],
                Value::Number(*n as f64),
            );
            failures.push(
                None,
                vec![("task", task.to_string())],
                Value::Number(*failed as f64),
            );
        }
        [runs, failures]
    }

    /// The `namespace` label of a namespace id: its name, or the id itself
    /// while its name is not known (never a value two namespaces share).
    fn namespace_label(&self, id: &str) -> String {
        if id == UNKNOWN {
            return UNKNOWN.into();
        }
        match self
            .names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .name_of(id)
        {
            Some(name) if name != UNKNOWN => name.to_string(),
            _ => id.to_string(),
        }
    }

    pub(crate) fn prometheus_text(&self) -> String {
        let snapshot = (self.families().into_iter())
            .map(|f| {
                let series = (f.series.into_iter())
                    .map(|s| {
                        let mut labels = Vec::with_capacity(s.labels.len() + 1);
                        if let Some(id) = &s.namespace_id {
                            labels.push(("namespace", self.namespace_label(id)));
                        }
                        labels.extend(s.labels);
                        (labels, s.value)
                    })
                    .collect();
                (f.name, f.help, f.kind, series)
            })
            .collect();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Snapshot(snapshot)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub(crate) fn namespace_stats(&self) -> PullNamespaceStatsResponse {
        let mut by_namespace: BTreeMap<Arc<str>, NamespaceStats> = BTreeMap::new();
        for family in self.families() {
            for s in family.series {
                let Some(id) = s.namespace_id else { continue };
                // Calls naming no known namespace belong to no tenant.
                if &*id == UNKNOWN {
                    continue;
                }
                let stats = by_namespace
                    .entry(id.clone())
                    .or_insert_with(|| NamespaceStats {
                        namespace_id: id.to_string(),
                        ..Default::default()
                    });
                let labels = (s.labels.into_iter())
                    .map(|(name, value)| Label {
                        name: name.into(),
                        value,
                    })
                    .collect();
                match s.value {
                    Value::Number(value) => stats.samples.push(Sample {
                        name: family.name.into(),
                        labels,
                        value,
                        gauge: family.kind == Kind::Gauge,
                    }),
                    Value::Hist(h) => stats.histograms.push(StatsHistogram {
                        name: family.name.into(),
                        labels,
                        bounds: h.bounds.to_vec(),
                        counts: h.counts,
                        sum: h.sum,
                    }),
                }
            }
        }
        PullNamespaceStatsResponse {
            process_start_ms: self.start_ms,
            as_of_ms: crate::time::now_millis(),
            namespaces: by_namespace.into_values().collect(),
        }
    }
}

type Encoded = (
    &'static str,
    &'static str,
    Kind,
    Vec<(Vec<(&'static str, String)>, Value)>,
);

/// One scrape's values, handed to the official client's encoder.
#[derive(Debug)]
struct Snapshot(Vec<Encoded>);

impl prometheus_client::collector::Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, kind, series) in &self.0 {
            let metric_type = match kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
            for (labels, value) in series {
                let mut metric = family.encode_family(labels)?;
                match (kind, value) {
                    (Kind::Counter, Value::Number(n)) => {
                        metric.encode_counter::<NoLabelSet, _, f64>(n, None)?
                    }
                    (_, Value::Number(n)) => metric.encode_gauge(n)?,
                    (_, Value::Hist(h)) => metric.encode_histogram::<NoLabelSet>(
                        h.sum,
                        h.count(),
                        &h.buckets(),
                        None,
                    )?,
                }
            }
        }
        Ok(())
    }
}

/// The whole store in Prometheus' text format: what `/metrics` serves.
pub fn prometheus_text() -> String {
    STATE.prometheus_text()
}

/// Every namespace's cumulative counters, gauges and histograms, for the
/// cell admin service's `PullNamespaceStats`. Calls that named no namespace
/// this process knows are left out: they belong to no tenant.
pub fn namespace_stats() -> PullNamespaceStatsResponse {
    STATE.namespace_stats()
}
