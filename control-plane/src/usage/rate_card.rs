//! The rate card: what Actions and storage cost, and the plan minimum.
//! Money is never a float: prices are decimal strings in the file
//! (`"50.00"`, `"0.00105"`) parsed exactly into integer micro-units of the
//! currency (10^-6), and invoices are whole cents (see `invoice`).
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Micro-units of the currency in one cent.
pub const MICROS_PER_CENT: i128 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RateCardError {
    #[error("reading the rate card {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("rate card {path}: {why}")]
    Invalid { path: String, why: String },
}

/// One tier of the monthly Actions price: from the previous tier's
/// `up_to_actions` (0 for the first) up to this one's, exclusive of the
/// previous bound; the last tier has no bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierFile {
    pub up_to_actions: Option<i64>,
    pub per_million: String,
}

/// The file (`--rate-card-file`): JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateCardFile {
    pub currency: String,
    pub actions_tiers: Vec<TierFile>,
    pub active_storage_per_gbh: String,
    pub retained_storage_per_gbh: String,
    pub plan_minimum: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Exclusive upper bound on the month's Actions in this tier; None for
    /// the last.
    pub up_to_actions: Option<i64>,
    pub per_million_micros: i64,
}

/// A validated rate card, prices in micro-units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCard {
    pub currency: String,
    pub tiers: Vec<Tier>,
    pub active_per_gbh_micros: i64,
    pub retained_per_gbh_micros: i64,
    pub plan_minimum_micros: i64,
}

/// Shaped like Temporal Cloud's public Essentials pricing: Actions priced
/// per million in volume tiers over the month's total, active and retained
/// storage per GB-hour, a monthly minimum. An operator bills with a card of
/// its own (`--rate-card-file`); these figures are only a starting point.
pub const DEFAULT_RATE_CARD: &str = r#"{
  "currency": "USD",
  "actions_tiers": [
    {"up_to_actions": 5000000, "per_million": "50.00"},
    {"up_to_actions": 10000000, "per_million": "45.00"},
    {"up_to_actions": 20000000, "per_million": "40.00"},
    {"up_to_actions": 50000000, "per_million": "35.00"},
    {"up_to_actions": 100000000, "per_million": "30.00"},
    {"up_to_actions": null, "per_million": "25.00"}
  ],
  "active_storage_per_gbh": "0.042",
  "retained_storage_per_gbh": "0.00105",
  "plan_minimum": "100.00"
}"#;

impl Default for RateCard {
    fn default() -> Self {
        Self::parse(DEFAULT_RATE_CARD, "built-in").expect("the built-in rate card is valid")
    }
}

impl RateCard {
    /// The card in `path`, or the built-in one.
    pub fn load(path: Option<&Path>) -> Result<Self, RateCardError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RateCardError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    pub fn parse(text: &str, name: &str) -> Result<Self, RateCardError> {
        let invalid = |why: String| RateCardError::Invalid {
            path: name.to_owned(),
            why,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let file: RateCardFile = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| invalid(format!("{}: {}", e.path(), e.inner())))?;
        let currency = file.currency.trim().to_owned();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "currency {currency:?}: expected an ISO 4217 code such as USD"
            )));
        }
        if file.actions_tiers.is_empty() {
            return Err(invalid("actions_tiers: at least one tier".into()));
        }
        let mut tiers = Vec::new();
        let mut previous = 0;
        let last = file.actions_tiers.len() - 1;
        for (i, tier) in file.actions_tiers.iter().enumerate() {
            let field = format!("actions_tiers[{i}]");
            match (tier.up_to_actions, i == last) {
                (None, true) => {}
                (None, false) => {
                    return Err(invalid(format!(
                        "{field}.up_to_actions: only the last tier is unbounded"
                    )));
                }
                (Some(_), true) => {
                    return Err(invalid(format!(
                        "{field}.up_to_actions: the last tier must be null (unbounded)"
                    )));
                }
                (Some(bound), false) if bound <= previous => {
                    return Err(invalid(format!(
                        "{field}.up_to_actions: must rise above {previous}"
                    )));
                }
                (Some(bound), false) => previous = bound,
            }
            tiers.push(Tier {
                up_to_actions: tier.up_to_actions,
                per_million_micros: parse_money(&tier.per_million)
                    .map_err(|why| invalid(format!("{field}.per_million: {why}")))?,
            });
        }
        let money = |field: &str, text: &str| {
            parse_money(text).map_err(|why| invalid(format!("{field}: {why}")))
        };
        Ok(Self {
            currency,
            tiers,
            active_per_gbh_micros: money("active_storage_per_gbh", &file.active_storage_per_gbh)?,
            retained_per_gbh_micros: money(
                "retained_storage_per_gbh",
                &file.retained_storage_per_gbh,
            )?,
            plan_minimum_micros: money("plan_minimum", &file.plan_minimum)?,
        })
    }
}

/// A non-negative decimal with at most six fractional digits, in
/// micro-units: `"0.00105"` is 1050.
pub fn parse_money(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{text:?}: expected a decimal string such as \"50.00\" (at most 6 decimals, not negative)"
        )
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 6
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    Ok(whole * 1_000_000 + frac)
}

/// Micro-units as a decimal string with the digits that matter (at least
/// two decimals): 1050 → "0.00105", 50_000_000 → "50.00".
pub fn format_money(micros: i64) -> String {
    let whole = micros / 1_000_000;
    let frac = format!("{:06}", (micros % 1_000_000).abs());
    let frac = frac.trim_end_matches('0');
    format!("{whole}.{frac:0<2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_exactly() {
        assert_eq!(parse_money("50.00"), Ok(50_000_000));
        assert_eq!(parse_money("0.00105"), Ok(1050));
        assert_eq!(parse_money("0.042"), Ok(42_000));
        assert_eq!(parse_money("7"), Ok(7_000_000));
        for bad in ["-1", "1.2345678", "1e3", "", ".5", "5.", "1,00", " 1"] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
        assert_eq!(format_money(1050), "0.00105");
        assert_eq!(format_money(50_000_000), "50.00");
        assert_eq!(format_money(42_000), "0.042");
    }

    #[test]
    fn the_default_card_and_bad_cards() {
        let card = RateCard::default();
        assert_eq!(card.tiers.len(), 6);
        assert_eq!(card.tiers[0].per_million_micros, 50_000_000);
        assert_eq!(card.plan_minimum_micros, 100_000_000);
        let bad = |text: &str| RateCard::parse(text, "t").unwrap_err().to_string();
        let with_tiers = |tiers: &str| {
            format!(
                r#"{{"currency":"USD","actions_tiers":{tiers},"active_storage_per_gbh":"1",
                    "retained_storage_per_gbh":"1","plan_minimum":"0"}}"#
            )
        };
        assert!(bad(&with_tiers("[]")).contains("at least one"));
        assert!(
            bad(&with_tiers(r#"[{"up_to_actions":5,"per_million":"1"}]"#)).contains("last tier")
        );
        assert!(
            bad(&with_tiers(
                r#"[{"up_to_actions":5,"per_million":"1"},{"up_to_actions":5,"per_million":"1"},{"up_to_actions":null,"per_million":"1"}]"#
            ))
            .contains("actions_tiers[1].up_to_actions")
        );
        assert!(
            bad(&with_tiers(r#"[{"up_to_actions":null,"per_million":1}]"#)).contains("per_million")
        );
        assert!(bad(r#"{"currency":"USD"}"#).contains("actions_tiers"));
        assert!(
            RateCard::parse(
                &with_tiers(r#"[{"up_to_actions":null,"per_million":"2.5"}]"#),
                "t"
            )
            .is_ok()
        );
    }
}
