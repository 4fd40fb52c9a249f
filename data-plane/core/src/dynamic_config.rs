//! Temporal's dynamic config, by Temporal's key names, so operators and test
//! suites that tune the real server tune Orrery the same way
//! (`orrery dev --dynamic-config limit.blobSize.error=1048576`).
//!
//! A value may also be Temporal's constrained form, as its dynamic config
//! file has it, written in JSON: `[{"value": 200, "constraints": {"namespace":
//! "flood"}}, {"value": 2400}]`. For a namespace the first entry whose
//! constraints it meets wins; an entry without constraints meets every one.
use std::collections::HashMap;

use serde_json::Value;

#[derive(Clone, Debug, Default)]
pub struct DynamicConfig {
    values: HashMap<String, Setting>,
}

#[derive(Clone, Debug)]
enum Setting {
    Plain(String),
    /// (namespace or none, value), in the order given.
    Constrained(Vec<(Option<String>, String)>),
}

/// An integer setting for each namespace: its own value or the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerNamespace<T> {
    pub default: T,
    pub namespaces: HashMap<String, T>,
}

impl DynamicConfig {
    /// Parses `KEY=VALUE` pairs; a value may be quoted as the CLI allows.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut values = HashMap::new();
        for pair in pairs {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("dynamic config {pair:?} is not KEY=VALUE"))?;
            let (key, value) = (k.trim(), v.trim());
            let setting = if value.starts_with('[') {
                Setting::Constrained(
                    constrained(value).map_err(|why| format!("dynamic config {key}: {why}"))?,
                )
            } else {
                Setting::Plain(value.trim_matches('"').to_string())
            };
            values.insert(key.to_string(), setting);
        }
        Ok(Self { values })
    }

    pub fn i64(&self, key: &str, default: i64) -> i64 {
        self.value(key).unwrap_or(default)
    }

    pub fn bool(&self, key: &str, default: bool) -> bool {
        self.value(key).unwrap_or(default)
    }

    /// `key` for every namespace named in its constraints, and for the rest.
    pub fn i64_per_namespace(&self, key: &str, default: i64) -> PerNamespace<i64> {
        let namespaces = match self.values.get(key) {
            Some(Setting::Constrained(entries)) => {
                let mut namespaces = HashMap::new();
                for (namespace, value) in entries {
                    let Some(namespace) = namespace else { break };
                    if let Ok(value) = value.parse() {
                        namespaces.entry(namespace.clone()).or_insert(value);
                    }
                }
                namespaces
            }
            _ => HashMap::new(),
        };
        PerNamespace {
            default: self.i64(key, default),
            namespaces,
        }
    }

    /// The value that applies everywhere: a plain one, or the first
    /// unconstrained entry.
    fn value<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        match self.values.get(key)? {
            Setting::Plain(value) => value.parse().ok(),
            Setting::Constrained(entries) => entries
                .iter()
                .find(|(only, _)| only.is_none())
                .and_then(|(_, value)| value.parse().ok()),
        }
    }
}

/// Temporal's list of constrained values; only the namespace constraint is
/// known here, and any other is refused rather than silently widened.
fn constrained(json: &str) -> Result<Vec<(Option<String>, String)>, String> {
    let entries: Vec<Value> =
        serde_json::from_str(json).map_err(|e| format!("not a JSON list of values: {e}"))?;
    entries
        .iter()
        .map(|entry| {
            let value = match entry.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => return Err(format!("{entry} has no scalar \"value\"")),
            };
            let namespace = match entry.get("constraints") {
                None => None,
                Some(Value::Object(c)) if c.is_empty() => None,
                Some(Value::Object(c)) => match (c.len(), c.get("namespace")) {
                    (1, Some(Value::String(ns))) => Some(ns.clone()),
                    _ => return Err(format!("{entry}: only a namespace constraint is supported")),
                },
                Some(other) => return Err(format!("constraints {other} is not an object")),
            };
            Ok((namespace, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_values_with_defaults() {
        let dc = DynamicConfig::parse(["limit.blobSize.error=10", "x.enabled=\"true\""]).unwrap();
        assert_eq!(dc.i64("limit.blobSize.error", 1), 10);
        assert_eq!(dc.i64("missing", 7), 7);
        assert!(dc.bool("x.enabled", false));
        assert!(DynamicConfig::parse(["novalue"]).is_err());
    }

    #[test]
    fn constrained_values_apply_per_namespace_first_match_wins() {
        let dc = DynamicConfig::parse([r#"frontend.namespaceRPS=[
            {"value": 200, "constraints": {"namespace": "flood"}},
            {"value": 300, "constraints": {"namespace": "flood"}},
            {"value": 50, "constraints": {"namespace": "small"}},
            {"value": 2400},
            {"value": 1, "constraints": {"namespace": "unreachable"}}]"#])
        .unwrap();
        let rps = dc.i64_per_namespace("frontend.namespaceRPS", 7);
        assert_eq!(rps.default, 2400);
        assert_eq!(
            rps.namespaces,
            HashMap::from([("flood".to_string(), 200), ("small".to_string(), 50)])
        );
        assert_eq!(dc.i64("frontend.namespaceRPS", 7), 2400);
        // Without an unconstrained entry the default is the caller's.
        let dc =
            DynamicConfig::parse([r#"k=[{"value":"5","constraints":{"namespace":"a"}}]"#]).unwrap();
        assert_eq!(dc.i64_per_namespace("k", 7).default, 7);
        assert_eq!(dc.i64_per_namespace("k", 7).namespaces["a"], 5);
        // A plain value has no per-namespace entries.
        let dc = DynamicConfig::parse(["k=9"]).unwrap();
        let plain = dc.i64_per_namespace("k", 7);
        assert_eq!((plain.default, plain.namespaces.len()), (9, 0));
    }

    #[test]
    fn malformed_constrained_values_are_refused_by_name() {
        for bad in [
            "k=[1, 2]",
            "k=[{\"value\": 1, \"constraints\": {\"taskQueueName\": \"q\"}}]",
            "k=[{\"constraints\": {\"namespace\": \"a\"}}]",
            "k=[{\"value\": 1",
        ] {
            let err = DynamicConfig::parse([bad]).unwrap_err();
            assert!(err.starts_with("dynamic config k: "), "{bad}: {err}");
        }
    }
}
