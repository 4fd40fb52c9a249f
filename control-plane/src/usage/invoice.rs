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
use super::{
    ACTIVE_STORAGE_BYTE_SECONDS, BYTE_SECONDS_PER_GBH, RETAINED_STORAGE_BYTE_SECONDS,
    div_round_half_up, format_micros, is_action, micro_gbh,
};
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

/// The invoice of `rows` (one account's month).
pub fn compute(card: &RateCard, rows: &[NamespaceUsage]) -> InvoiceTotals {
    // Actions per (hour, namespace): the order tiers are filled in.
    let mut per_hour: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    // Byte-seconds per namespace: (active, retained).
    let mut storage: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for row in rows {
        let ns = row.namespace_id.as_str();
        if row.kind == ACTIVE_STORAGE_BYTE_SECONDS {
            let s = storage.entry(ns).or_default();
            s.0 = s.0.saturating_add(row.total);
        } else if row.kind == RETAINED_STORAGE_BYTE_SECONDS {
            let s = storage.entry(ns).or_default();
            s.1 = s.1.saturating_add(row.total);
        } else if is_action(&row.kind) {
            let n = per_hour.entry((row.hour_ms, ns)).or_default();
            *n = n.saturating_add(row.total);
        }
    }
    // (namespace, tier index) → Actions.
    let mut per_tier: BTreeMap<(&str, usize), i64> = BTreeMap::new();
    let (mut tier, mut used) = (0usize, 0i64);
    for ((_, ns), mut actions) in per_hour {
        while actions > 0 {
            let room = card.tiers[tier]
                .up_to_actions
                .map_or(i64::MAX, |bound| bound - used);
            let take = actions.min(room);
            if take > 0 {
                *per_tier.entry((ns, tier)).or_default() += take;
                used += take;
                actions -= take;
            }
            if actions > 0 {
                tier += 1;
            }
        }
    }
    let mut lines = Vec::new();
    for ((ns, t), actions) in per_tier {
        let price = card.tiers[t].per_million_micros;
        lines.push(InvoiceLine {
            namespace: Some(ns.to_owned()),
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
    for (ns, (active, retained)) in storage {
        for (item, byte_seconds, price) in [
            ("active_storage", active, card.active_per_gbh_micros),
            ("retained_storage", retained, card.retained_per_gbh_micros),
        ] {
            if byte_seconds == 0 {
                continue;
            }
            lines.push(InvoiceLine {
                namespace: Some(ns.to_owned()),
                item: item.into(),
                tier: None,
                tier_from_actions: None,
                tier_up_to_actions: None,
                quantity: format_micros(micro_gbh(byte_seconds)),
                unit: "GB-hour".into(),
                unit_price: format_money(price),
                amount_cents: cents(
                    i128::from(byte_seconds) * i128::from(price),
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
