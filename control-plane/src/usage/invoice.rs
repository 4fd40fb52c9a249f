//! An account's invoice for a month from its hourly usage and the rate card.
//!
//! Tiers apply to the account's total Actions of the month, in the order
//! they happened: hour by hour (namespaces of the same hour in id order),
//! the first Actions of the month fill the first tier, and so on. Each
//! (namespace, tier) is a line. Each line's amount is computed exactly from
//! integers and rounded once, half up, to whole cents; the invoice's usage
//! is the sum of its lines' cents, and a plan-minimum line tops it up to
//! the card's minimum. Storage is priced per decimal GB-hour
//! (byte-seconds / 3.6e12).
use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::rate_card::{MICROS_PER_CENT, RateCard, format_money};
#[cfg(test)]
use super::{ACTIVE_STORAGE_BYTE_SECONDS, RETAINED_STORAGE_BYTE_SECONDS, is_action};
use super::{BYTE_SECONDS_PER_GBH, div_round_half_up, format_micros, micro_gbh};
#[cfg(test)]
use crate::store::NamespaceUsage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvoiceLine {
    /// The namespace (control-plane id); absent on the plan-minimum line.
    pub namespace: Option<String>,
    /// `actions`, `active_storage`, `retained_storage` or `plan_minimum`.
    pub item: String,
    /// The Actions tier, from 1; actions lines only.
    pub tier: Option<u32>,
    /// The tier's range of the month's Actions, `[from, up_to)`; `up_to`
    /// absent for the last tier.
    pub tier_from_actions: Option<i64>,
    pub tier_up_to_actions: Option<i64>,
    /// Actions (an integer), GB-hours (six decimals) or `1` (the minimum).
    pub quantity: String,
    /// What `unit_price` is per: `million actions`, `GB-hour` or `month`.
    pub unit: String,
    /// A decimal string in the invoice's currency.
    pub unit_price: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvoiceTotals {
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub total_actions: i64,
    /// The sum of the usage lines' cents (before the minimum).
    pub usage_cents: i64,
    pub plan_minimum_cents: i64,
    /// `max(usage_cents, plan_minimum_cents)`.
    pub total_cents: i64,
}

fn cents(n: i128, d: i128) -> i64 {
    i64::try_from(div_round_half_up(n, d)).unwrap_or(i64::MAX)
}

/// One account's month's invoice, fed as the database reads it: Actions
/// per (namespace, hour) in hour order, then storage per namespace. What it
/// holds is bounded by namespaces × tiers (plus one hour's namespaces), not
/// by the month's hours.
pub struct InvoiceBuilder<'a> {
    card: &'a RateCard,
    /// The hour being gathered and its Actions per namespace: within an
    /// hour tiers fill in namespace id order, whatever order rows came in.
    hour: Option<i64>,
    this_hour: BTreeMap<String, i64>,
    /// (namespace, tier index) → Actions.
    per_tier: BTreeMap<(String, usize), i64>,
    tier: usize,
    used: i64,
    /// Byte-seconds per namespace: (active, retained).
    storage: BTreeMap<String, (i64, i64)>,
}

impl<'a> InvoiceBuilder<'a> {
    pub fn new(card: &'a RateCard) -> Self {
        Self {
            card,
            hour: None,
            this_hour: BTreeMap::new(),
            per_tier: BTreeMap::new(),
            tier: 0,
            used: 0,
            storage: BTreeMap::new(),
        }
    }

    /// A namespace's Actions in one hour; hours must not go backwards (the
    /// order tiers are filled in is the order Actions happened).
    pub fn add_actions(&mut self, hour_ms: i64, namespace: String, actions: i64) {
        debug_assert!(self.hour.is_none_or(|h| h <= hour_ms));
        if self.hour != Some(hour_ms) {
            self.fill_tiers();
            self.hour = Some(hour_ms);
        }
        let n = self.this_hour.entry(namespace).or_default();
        *n = n.saturating_add(actions);
    }

    /// A namespace's storage of the month (added to what it has).
    pub fn add_storage(&mut self, namespace: String, active: i64, retained: i64) {
        let s = self.storage.entry(namespace).or_default();
        s.0 = s.0.saturating_add(active);
        s.1 = s.1.saturating_add(retained);
    }

    fn fill_tiers(&mut self) {
        let card = self.card;
        for (ns, mut actions) in std::mem::take(&mut self.this_hour) {
            while actions > 0 {
                let room = card.tiers[self.tier]
                    .up_to_actions
                    .map_or(i64::MAX, |bound| bound - self.used);
                let take = actions.min(room);
                if take > 0 {
                    *self.per_tier.entry((ns.clone(), self.tier)).or_default() += take;
                    self.used += take;
                    actions -= take;
                }
                if actions > 0 {
                    self.tier += 1;
                }
            }
        }
    }

    pub fn finish(mut self) -> InvoiceTotals {
        self.fill_tiers();
        finish(self.card, self.per_tier, self.storage, self.used)
    }
}

/// The invoice of `rows` (one account's month, hourly rows in any order),
/// all in memory: the reference the builder is tested against.
#[cfg(test)]
pub fn compute(card: &RateCard, rows: &[NamespaceUsage]) -> InvoiceTotals {
    let mut per_hour: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    let mut invoice = InvoiceBuilder::new(card);
    for row in rows {
        let ns = row.namespace_id.as_str();
        if row.kind == ACTIVE_STORAGE_BYTE_SECONDS {
            invoice.add_storage(ns.to_owned(), row.total, 0);
        } else if row.kind == RETAINED_STORAGE_BYTE_SECONDS {
            invoice.add_storage(ns.to_owned(), 0, row.total);
        } else if is_action(&row.kind) {
            let n = per_hour.entry((row.hour_ms, ns)).or_default();
            *n = n.saturating_add(row.total);
        }
    }
    for ((hour, ns), actions) in per_hour {
        invoice.add_actions(hour, ns.to_owned(), actions);
    }
    invoice.finish()
}

fn finish(
    card: &RateCard,
    per_tier: BTreeMap<(String, usize), i64>,
    storage: BTreeMap<String, (i64, i64)>,
    used: i64,
) -> InvoiceTotals {
    let mut lines = Vec::new();
    for ((ns, t), actions) in per_tier {
        let price = card.tiers[t].per_million_micros;
        lines.push(InvoiceLine {
            namespace: Some(ns),
            item: "actions".into(),
            tier: Some(u32::try_from(t + 1).unwrap_or(u32::MAX)),
            tier_from_actions: Some(if t == 0 {
                0
            } else {
                card.tiers[t - 1].up_to_actions.unwrap_or(0)
            }),
            tier_up_to_actions: card.tiers[t].up_to_actions,
            quantity: actions.to_string(),
            unit: "million actions".into(),
            unit_price: format_money(price),
            amount_cents: cents(
                i128::from(actions) * i128::from(price),
                1_000_000 * MICROS_PER_CENT,
            ),
        });
    }
    for (ns, (active, retained)) in &storage {
        for (item, byte_seconds, price) in [
            ("active_storage", active, card.active_per_gbh_micros),
            ("retained_storage", retained, card.retained_per_gbh_micros),
        ] {
            if *byte_seconds == 0 {
                continue;
            }
            lines.push(InvoiceLine {
                namespace: Some(ns.to_owned()),
                item: item.into(),
                tier: None,
                tier_from_actions: None,
                tier_up_to_actions: None,
                quantity: format_micros(micro_gbh(*byte_seconds)),
                unit: "GB-hour".into(),
                unit_price: format_money(price),
                amount_cents: cents(
                    i128::from(*byte_seconds) * i128::from(price),
                    BYTE_SECONDS_PER_GBH * MICROS_PER_CENT,
                ),
            });
        }
    }
    let usage_cents = lines
        .iter()
        .map(|l| l.amount_cents)
        .fold(0i64, i64::saturating_add);
    let plan_minimum_cents = cents(i128::from(card.plan_minimum_micros), MICROS_PER_CENT);
    if usage_cents < plan_minimum_cents {
        lines.push(InvoiceLine {
            namespace: None,
            item: "plan_minimum".into(),
            tier: None,
            tier_from_actions: None,
            tier_up_to_actions: None,
            quantity: "1".into(),
            unit: "month".into(),
            unit_price: format_money(card.plan_minimum_micros),
            amount_cents: plan_minimum_cents - usage_cents,
        });
    }
    InvoiceTotals {
        currency: card.currency.clone(),
        lines,
        total_actions: used,
        usage_cents,
        plan_minimum_cents,
        total_cents: usage_cents.max(plan_minimum_cents),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::HOUR_MS;

    #[test]
    fn fed_hour_by_hour_in_any_namespace_order_it_matches_the_whole_month() {
        let card = RateCard::parse(
            r#"{"currency":"USD","actions_tiers":[
                {"up_to_actions":10,"per_million":"50"},{"per_million":"25"}],
              "active_storage_per_gbh":"0.042","retained_storage_per_gbh":"0.00105",
              "plan_minimum":"0"}"#,
            "test",
        )
        .unwrap();
        let row = |ns: &str, hour: i64, kind: &str, total: i64| NamespaceUsage {
            namespace_id: ns.into(),
            hour_ms: hour * HOUR_MS,
            kind: kind.into(),
            total,
        };
        let rows = [
            row("b", 0, "signal", 4),
            row("a", 0, "signal", 3),
            row("a", 0, "workflow_started", 2),
            row("b", 1, "signal", 6),
            row("a", 2, ACTIVE_STORAGE_BYTE_SECONDS, 3_600_000_000_000),
        ];
        let whole = compute(&card, &rows);
        let mut fed = InvoiceBuilder::new(&card);
        // Hour 0 with b before a: the tiers still fill a first.
        fed.add_actions(0, "b".into(), 4);
        fed.add_actions(0, "a".into(), 5);
        fed.add_actions(HOUR_MS, "b".into(), 6);
        fed.add_storage("a".into(), 3_600_000_000_000, 0);
        let fed = fed.finish();
        assert_eq!(fed, whole);
        assert_eq!(fed.total_actions, 15);
        // Hour 0: a's 5, then b's 4 (tier 1 holds 10); hour 1: b's 6, one
        // in tier 1 and five in tier 2.
        let tiers: Vec<_> = fed
            .lines
            .iter()
            .filter(|l| l.item == "actions")
            .map(|l| {
                (
                    l.namespace.clone().unwrap(),
                    l.tier.unwrap(),
                    l.quantity.clone(),
                )
            })
            .collect();
        assert_eq!(
            tiers,
            [
                ("a".to_owned(), 1, "5".to_owned()),
                ("b".to_owned(), 1, "5".to_owned()),
                ("b".to_owned(), 2, "5".to_owned()),
            ]
        );
    }
}
