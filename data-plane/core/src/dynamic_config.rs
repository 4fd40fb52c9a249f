//! Temporal's dynamic config, by Temporal's key names, so operators and test
//! suites that tune the real server tune Orrery the same way
//! (`orrery dev --dynamic-config limit.blobSize.error=1048576`).
use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct DynamicConfig {
    values: HashMap<String, String>,
}

impl DynamicConfig {
    /// Parses `KEY=VALUE` pairs; a value may be quoted as the CLI allows.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut values = HashMap::new();
        for pair in pairs {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("dynamic config {pair:?} is not KEY=VALUE"))?;
            values.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
        }
        Ok(Self { values })
    }

    pub fn i64(&self, key: &str, default: i64) -> i64 {
        self.values
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn bool(&self, key: &str, default: bool) -> bool {
        self.values
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
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
}
