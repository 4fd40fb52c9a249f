//! OpenMetrics text (version 1.0.0): one `gauge` family per Cloud metric,
//! its samples together, `# EOF` last. Label values are tenants' own
//! strings (task queues, workflow types) and are escaped, so none can end
//! its series early and forge another.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::catalog::FAMILIES;
use super::window::Computed;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One namespace's computed gauges and where they come from.
pub struct NamespaceSeries {
    /// The namespace's full name (`temporal_namespace`).
    pub namespace: String,
    /// The account id (`temporal_account`).
    pub account: String,
    /// `region`: the cell's name.
    pub region: String,
    pub values: Vec<Computed>,
}

pub fn render(namespaces: &[NamespaceSeries]) -> String {
    // (family, suffix) → the lines of its samples, in catalog order.
    let mut families: BTreeMap<(usize, &'static str), Vec<String>> = BTreeMap::new();
    for ns in namespaces {
        for c in &ns.values {
            if !c.value.is_finite() {
                continue;
            }
            let f = &FAMILIES[c.family];
            let mut line = String::with_capacity(128);
            line.push_str(f.name);
            line.push_str(c.suffix);
            line.push('{');
            let mut labels: Vec<(&str, &str)> = vec![
                ("temporal_namespace", &ns.namespace),
                ("temporal_account", &ns.account),
            ];
            if f.region {
                labels.push(("region", &ns.region));
            }
            labels.extend(c.labels.iter().map(|(k, v)| (*k, v.as_str())));
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{k}=\"{}\"", escape(v));
            }
            let _ = write!(line, "}} {}", number(c.value));
            families.entry((c.family, c.suffix)).or_default().push(line);
        }
    }
    let mut out = String::new();
    for ((family, suffix), mut lines) in families {
        let f = &FAMILIES[family];
        let name = format!("{}{suffix}", f.name);
        let help = match suffix {
            "" => f.help.to_owned(),
            p => format!("{} ({}th percentile)", f.help, &p[2..]),
        };
        lines.sort();
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "# HELP {name} {}", escape(&help));
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// OpenMetrics label-value (and HELP) escaping: backslash, quote, newline.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A finite value in a form OpenMetrics accepts (Rust never writes an
/// exponent for f64's Display, and integers come out without a point).
fn number(v: f64) -> String {
    if v == 0.0 { "0".into() } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(name: &str) -> usize {
        FAMILIES.iter().position(|f| f.name == name).unwrap()
    }

    #[test]
    fn families_group_samples_and_escape_labels() {
        let req = family("temporal_cloud_v1_service_request_count");
        let total = family("temporal_cloud_v1_total_action_count");
        let ns = |name: &str, queue: &str| NamespaceSeries {
            namespace: name.into(),
            account: "acc-1".into(),
            region: "cell-a".into(),
            values: vec![
                Computed {
                    family: req,
                    suffix: "",
                    labels: vec![("operation", queue.into())],
                    value: 0.5,
                },
                Computed {
                    family: total,
                    suffix: "",
                    labels: vec![],
                    value: 2.0,
                },
            ],
        };
        let text = render(&[ns("a.acme", "x\"} 1\nforged{a=\"b"), ns("b.acme", "ok\\")]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"));
        assert_eq!(
            lines[0],
            "# TYPE temporal_cloud_v1_service_request_count gauge"
        );
        assert_eq!(
            lines[2],
            r#"temporal_cloud_v1_service_request_count{temporal_namespace="a.acme",temporal_account="acc-1",region="cell-a",operation="x\"} 1\nforged{a=\"b"} 0.5"#
        );
        assert_eq!(
            lines[3],
            r#"temporal_cloud_v1_service_request_count{temporal_namespace="b.acme",temporal_account="acc-1",region="cell-a",operation="ok\\"} 0.5"#
        );
        assert_eq!(
            lines[4],
            "# TYPE temporal_cloud_v1_total_action_count gauge"
        );
        // No region on the total Action count, as in Cloud.
        assert_eq!(
            lines[6],
            r#"temporal_cloud_v1_total_action_count{temporal_namespace="a.acme",temporal_account="acc-1"} 2"#
        );
        assert_eq!(lines.len(), 9);
    }

    #[test]
    fn nothing_to_show_is_just_eof() {
        assert_eq!(render(&[]), "# EOF\n");
    }
}
