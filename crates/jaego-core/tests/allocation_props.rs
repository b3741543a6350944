//! Property tests of the allocation planner against an independent model.
//!
//! With one location and no gifts, allocation is simple enough to write
//! again in a few lines: take orders by (priority, collection time), and
//! under `complete` give an order everything if everything fits, under
//! `partial` give each line that fits whole its units, then what is left
//! to the others, each in line order. The planner must agree with that
//! model exactly. With several locations the model cannot say where units
//! come from, so the test checks what must hold whatever the sourcing: no
//! row goes below zero under `strict`, a `complete` order is all or
//! nothing, held orders get nothing, nothing comes from an unlinked
//! location, and no line gets more than it needs.

use std::collections::HashMap;

use jaego_core::allocation::{
    Available, ChannelRules, GiftRule, PlanLine, PlanOrder, ShipmentMode, plan,
};
use jaego_core::{ChannelId, LocationId, SkuId, StockPolicy};
use proptest::prelude::*;
use uuid::Uuid;

fn sku(n: u8) -> SkuId {
    SkuId::from_uuid(Uuid::from_u128(u128::from(n) + 1))
}
fn loc(n: u8) -> LocationId {
    LocationId::from_uuid(Uuid::from_u128(u128::from(n) + 1000))
}
fn chan() -> ChannelId {
    ChannelId::from_uuid(Uuid::from_u128(7))
}

fn orders() -> impl Strategy<Value = Vec<PlanOrder>> {
    let line = (0u8..4, 1i64..5).prop_map(|(s, q)| PlanLine {
        sku: Some(sku(s)),
        open: q,
        gift: false,
        parts: Vec::new(),
    });
    let order = (
        any::<bool>(),
        0i64..5,
        prop::bool::weighted(0.1),
        prop::collection::vec(line, 1..4),
    )
        .prop_map(|(priority, collected_at, hold, lines)| PlanOrder {
            channel: chan(),
            priority,
            collected_at,
            hold,
            batch: None,
            lines,
        });
    prop::collection::vec(order, 0..25)
}

fn ranked(orders: &[PlanOrder]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..orders.len()).collect();
    // Stable sort: ties keep input order.
    idx.sort_by(|&a, &b| {
        let key = |o: &PlanOrder| (u8::from(!o.priority), o.collected_at);
        key(&orders[a]).cmp(&key(&orders[b]))
    });
    idx
}

/// The model: units per order per line, for one location.
fn model(orders: &[PlanOrder], stock: &HashMap<SkuId, i64>, partial: bool) -> Vec<Vec<i64>> {
    let mut left = stock.clone();
    let mut got: Vec<Vec<i64>> = orders.iter().map(|o| vec![0; o.lines.len()]).collect();
    for i in ranked(orders) {
        let o = &orders[i];
        if o.hold {
            continue;
        }
        if partial {
            // Lines that fit whole first, in line order; then what is left
            // goes to the others, in line order.
            for whole in [true, false] {
                for (k, l) in o.lines.iter().enumerate() {
                    if got[i][k] > 0 {
                        continue;
                    }
                    let have = left.entry(l.sku.unwrap()).or_default();
                    let take = if whole {
                        if *have >= l.open { l.open } else { 0 }
                    } else {
                        (*have).min(l.open).max(0)
                    };
                    *have -= take;
                    got[i][k] = take;
                }
            }
        } else {
            let mut need: HashMap<SkuId, i64> = HashMap::new();
            for l in &o.lines {
                *need.entry(l.sku.unwrap()).or_default() += l.open;
            }
            if need
                .iter()
                .all(|(s, q)| left.get(s).copied().unwrap_or(0) >= *q)
            {
                for (s, q) in need {
                    *left.get_mut(&s).unwrap() -= q;
                }
                for (k, l) in o.lines.iter().enumerate() {
                    got[i][k] = l.open;
                }
            }
        }
    }
    got
}

fn units(orders: &[PlanOrder], plans: &[jaego_core::allocation::OrderPlan]) -> Vec<Vec<i64>> {
    let mut got: Vec<Vec<i64>> = orders.iter().map(|o| vec![0; o.lines.len()]).collect();
    for p in plans {
        for x in &p.placements {
            got[p.order][x.line] += x.quantity;
        }
    }
    got
}

proptest! {
    #[test]
    fn one_location_agrees_with_the_model(
        orders in orders(),
        stock in prop::collection::vec(0i64..8, 4),
        partial in any::<bool>(),
    ) {
        let mode = if partial { ShipmentMode::Partial } else { ShipmentMode::Complete };
        let channels = HashMap::from([(chan(), ChannelRules {
            mode,
            basis: StockPolicy::Strict,
            gift_rule: GiftRule::Complete,
            locations: vec![loc(0)],
        })]);
        let by_sku: HashMap<SkuId, i64> = stock.iter().enumerate().map(|(i, &q)| (sku(i as u8), q)).collect();
        let mut available: Available = by_sku.iter().map(|(&s, &q)| ((s, loc(0)), q)).collect();
        let plans = plan(&orders, &channels, None, &mut available);
        prop_assert_eq!(units(&orders, &plans), model(&orders, &by_sku, partial));
        prop_assert!(available.values().all(|&v| v >= 0));
    }

    #[test]
    fn several_locations_keep_the_rules(
        orders in orders(),
        stock in prop::collection::vec(0i64..6, 12),
        linked in 1u8..4,
        partial in any::<bool>(),
    ) {
        let mode = if partial { ShipmentMode::Partial } else { ShipmentMode::Complete };
        let locations: Vec<LocationId> = (0..linked).map(loc).collect();
        let channels = HashMap::from([(chan(), ChannelRules {
            mode,
            basis: StockPolicy::Strict,
            gift_rule: GiftRule::Complete,
            locations: locations.clone(),
        })]);
        // Three locations' stock, though only `linked` are linked.
        let before: Available = stock
            .iter()
            .enumerate()
            .map(|(i, &q)| ((sku((i % 4) as u8), loc((i / 4) as u8)), q))
            .collect();
        let mut available = before.clone();
        let plans = plan(&orders, &channels, None, &mut available);
        prop_assert_eq!(plans.len(), orders.len());
        let mut used: HashMap<(SkuId, LocationId), i64> = HashMap::new();
        for p in &plans {
            let o = &orders[p.order];
            if o.hold {
                prop_assert!(p.placements.is_empty());
            }
            let mut per_line = vec![0; o.lines.len()];
            for x in &p.placements {
                prop_assert!(locations.contains(&x.location));
                prop_assert!(x.quantity > 0);
                prop_assert_eq!(Some(x.sku), o.lines[x.line].sku);
                per_line[x.line] += x.quantity;
                *used.entry((x.sku, x.location)).or_default() += x.quantity;
            }
            for (k, l) in o.lines.iter().enumerate() {
                prop_assert!(per_line[k] <= l.open);
            }
            let full = o.lines.iter().zip(&per_line).all(|(l, &g)| g == l.open);
            prop_assert_eq!(p.complete, full);
            if !partial {
                prop_assert!(full || p.placements.is_empty());
            }
        }
        for (key, q) in used {
            prop_assert!(q <= before.get(&key).copied().unwrap_or(0));
            prop_assert_eq!(available[&key], before[&key] - q);
        }
    }
}
