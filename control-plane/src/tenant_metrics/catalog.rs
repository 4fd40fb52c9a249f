//! Which Temporal Cloud metric (`temporal_cloud_v1_*`) each cell statistic
//! becomes, and with which labels. Cloud serves every metric as a gauge of
//! one of three kinds: a per-second rate, a current value, or a latency
//! percentile; the names, kinds and label names here are Cloud's, so
//! dashboards built for Cloud read them unchanged.
//!
//! A cell reports its operator metrics (Temporal's server names:
//! `service_requests`, `workflow_success`, …) per namespace; only the Cloud
//! metrics a cell measures are here (docs/control-plane.md, "Tenant
//! metrics", lists the rest). Labels a Cloud metric does not carry are
//! summed away, so a series is what Cloud would show and the cardinality
//! is Cloud's.

/// How a family's value is computed from the cell's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Per-second rate of a cell counter over the last minute.
    Rate,
    /// A cell gauge's latest value.
    Value,
    /// p50/p95/p99 of a cell histogram's observations over the last minute.
    Percentile,
}

pub struct Family {
    /// The Cloud name; percentile families get `_p50`, `_p95`, `_p99`.
    pub name: &'static str,
    pub kind: Kind,
    /// The cell statistics it is computed from (spellings of one
    /// statistic; summed should a cell report several).
    pub sources: &'static [&'static str],
    /// Cloud label names kept from the cell's labels.
    pub labels: &'static [&'static str],
    /// Labels with one value here (`is_background`, `namespace_mode`).
    pub fixed: &'static [(&'static str, &'static str)],
    /// Cloud omits `region` on a few namespace-scoped metrics.
    pub region: bool,
    pub help: &'static str,
}

pub const QUANTILES: [(f64, &str); 3] = [(0.50, "_p50"), (0.95, "_p95"), (0.99, "_p99")];

const OP: &[&str] = &["operation"];
const TQ_WT: &[&str] = &["temporal_task_queue", "temporal_workflow_type"];

const fn family(
    name: &'static str,
    kind: Kind,
    sources: &'static [&'static str],
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        sources,
        labels,
        fixed: &[],
        region: true,
        help,
    }
}

use Kind::{Percentile, Rate, Value};

/// Rendered in this order.
pub static FAMILIES: &[Family] = &[
    family(
        "temporal_cloud_v1_service_request_count",
        Rate,
        &["service_requests"],
        OP,
        "gRPC requests per second",
    ),
    family(
        "temporal_cloud_v1_service_error_count",
        Rate,
        &["service_errors"],
        OP,
        "gRPC errors per second",
    ),
    family(
        "temporal_cloud_v1_service_latency",
        Percentile,
        &["service_latency"],
        OP,
        "Service request latency in seconds over the last minute",
    ),
    family(
        "temporal_cloud_v1_workflow_success_count",
        Rate,
        &["workflow_success"],
        TQ_WT,
        "Workflows completed successfully per second",
    ),
    family(
        "temporal_cloud_v1_workflow_failed_count",
        Rate,
        &["workflow_failed"],
        TQ_WT,
        "Workflows failed per second",
    ),
    family(
        "temporal_cloud_v1_workflow_timeout_count",
        Rate,
        &["workflow_timeout"],
        TQ_WT,
        "Workflows timed out per second",
    ),
    family(
        "temporal_cloud_v1_workflow_cancel_count",
        Rate,
        &["workflow_cancel"],
        TQ_WT,
        "Workflows canceled per second",
    ),
    family(
        "temporal_cloud_v1_workflow_terminate_count",
        Rate,
        &["workflow_terminate"],
        TQ_WT,
        "Workflows terminated per second",
    ),
    family(
        "temporal_cloud_v1_workflow_continued_as_new_count",
        Rate,
        &["workflow_continued_as_new"],
        TQ_WT,
        "Workflows continued as new per second",
    ),
    family(
        "temporal_cloud_v1_approximate_backlog_count",
        Value,
        &["approximate_backlog_count"],
        &["temporal_task_queue", "task_type", "task_priority"],
        "Tasks waiting in a task queue now (approximate)",
    ),
    Family {
        name: "temporal_cloud_v1_total_action_count",
        kind: Rate,
        sources: &["action"],
        labels: &[],
        // Every Action a cell counts is the tenant's own work, in the one
        // (active) copy of the namespace.
        fixed: &[("is_background", "false"), ("namespace_mode", "active")],
        region: false,
        help: "Actions per second",
    },
    family(
        "temporal_cloud_v1_billable_action_count",
        Rate,
        &["action"],
        &["action_type", "temporal_workflow_type"],
        "Actions per second by action type",
    ),
];

/// The Cloud label a cell label becomes, if it has one. Cells use the
/// operator metrics' label names; a few spellings are accepted.
pub fn cloud_label(cell_label: &str) -> Option<&'static str> {
    Some(match cell_label {
        "operation" => "operation",
        "task_queue" | "taskqueue" | "temporal_task_queue" => "temporal_task_queue",
        "workflow_type" | "workflowType" | "temporal_workflow_type" => "temporal_workflow_type",
        "task_type" | "taskType" => "task_type",
        "task_priority" | "priority" => "task_priority",
        "action_type" => "action_type",
        "timeout_type" => "timeout_type",
        _ => return None,
    })
}

/// Cloud spells task types `workflow` and `activity`.
pub fn cloud_label_value(label: &str, value: &str) -> String {
    if label == "task_type" {
        value.to_ascii_lowercase()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_clouds_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FAMILIES {
            assert!(f.name.starts_with("temporal_cloud_v1_"), "{}", f.name);
            assert!(seen.insert(f.name), "{} twice", f.name);
            assert!(!f.sources.is_empty());
            for label in f.labels {
                assert!(
                    cloud_label(label) == Some(label),
                    "{label} is not a Cloud label"
                );
            }
        }
    }
}
