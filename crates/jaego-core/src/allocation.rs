//! The allocation planner: which open orders get stock, from which
//! locations, and why the others do not.
//!
//! The store reads the open orders and the locked balance figures, hands
//! them here, and applies the placements this returns. Nothing here reads or
//! writes anything: the decision is a pure function of its input, which is
//! what lets the table tests and the property test in this module pin it
//! down.
//!
//! The rules, in the order they apply:
//! - orders are taken by rank: the priority flag first, then collection
//!   time, then input order ([`rank`]); held orders are skipped;
//! - an order is sourced from its channel's linked locations, in priority
//!   order, preferring the fewest locations: first the location that can
//!   fill the most of its lines whole, then the next, and only a line that
//!   no location can fill alone is split across locations;
//! - the shipment mode decides what counts as enough: `complete` allocates
//!   an order only if every line can be (all or nothing), `partial`
//!   allocates what is there now, `consolidated` allocates a customer's
//!   batch of orders only if all of them can be;
//! - the basis decides what limits it: `strict` allocates at most what is
//!   available, `unlimited` allocates regardless and reports the backorder;
//! - gift lines never hold an order back; under the gift rule `complete`
//!   they are allocated only with a complete shipment of the order's other
//!   lines, under `partial` with any shipment.

use crate::ids::{ChannelId, LocationId, SkuId};
use crate::policy::StockPolicy;
use std::collections::HashMap;

/// How much of an order must be available before any of it is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ShipmentMode {
    /// 완배송: every line of the order, or nothing.
    #[default]
    Complete,
    /// 선배송: whatever is available now; the rest waits.
    Partial,
    /// 일괄배송: every order of the customer's batch, or none of them.
    Consolidated,
}

/// When gift lines get stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GiftRule {
    /// Only when the order's other lines are all allocated.
    #[default]
    Complete,
    /// Also on partial shipments.
    Partial,
}

macro_rules! text_enum {
    ($ty:ident, $what:literal, $($variant:ident => $text:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " {:?}; expected one of {}"),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(ShipmentMode, "shipment mode", Complete => "complete", Partial => "partial", Consolidated => "consolidated");
text_enum!(GiftRule, "gift rule", Complete => "complete", Partial => "partial");

/// One line of an order as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLine {
    /// `None` while the line is not matched to a SKU.
    pub sku: Option<SkuId>,
    /// Units still to allocate (ordered − cancelled − shipped − allocated).
    pub open: i64,
    pub gift: bool,
    /// For a bundle line: its components, (SKU, units per bundle unit), as
    /// the line is (or was first) allocated with; empty for a plain SKU.
    /// `open` and every placement of the line count bundle units; the
    /// planner judges and takes the components, all from one location per
    /// placement (a bundle unit is never split across locations).
    pub parts: Vec<(SkuId, i64)>,
}

/// One order as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOrder {
    pub channel: ChannelId,
    pub priority: bool,
    /// Microseconds since the epoch.
    pub collected_at: i64,
    pub hold: bool,
    /// The customer batch (same customer and address) for `consolidated`.
    pub batch: Option<String>,
    pub lines: Vec<PlanLine>,
}

/// How a channel's orders are allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRules {
    pub mode: ShipmentMode,
    pub basis: StockPolicy,
    pub gift_rule: GiftRule,
    /// Linked locations, highest priority first.
    pub locations: Vec<LocationId>,
}

/// Units of one line from one location. For a bundle line, `sku` is the
/// bundle and `quantity` bundle units; its components are taken from the
/// same location (`PlanLine::parts` × `quantity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index of the line in [`PlanOrder::lines`].
    pub line: usize,
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: i64,
    /// Under `unlimited`: units placed beyond what was available (for a
    /// bundle, the bundle units not covered by its scarcest component;
    /// the backorder itself is on the components).
    pub backorder: i64,
}

/// Why an order got nothing (or, for `Short` under `partial`, not all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The order is on shipment hold.
    Held,
    /// A line is not matched to a SKU yet.
    Unmatched,
    /// Not enough available stock in the channel's locations.
    Short,
    /// Another order of the customer's batch cannot ship (or is held).
    BatchWaiting,
    /// The channel has no linked locations (or no settings at all).
    NoLocations,
    /// The order (or another of its consolidated batch) changed while the
    /// run was under way; the next run considers it again.
    Changed,
}

text_enum!(Reason, "reason", Held => "held", Unmatched => "unmatched", Short => "short", BatchWaiting => "batch_waiting", NoLocations => "no_locations", Changed => "changed");

/// The decision on one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlan {
    /// Index of the order in the input.
    pub order: usize,
    pub placements: Vec<Placement>,
    /// Every non-gift line is now fully allocated (counting what was
    /// allocated before this run).
    pub complete: bool,
    /// Why the order got nothing, or (with placements) why it is not complete.
    pub reason: Option<Reason>,
}

/// A line that needs units: (line index, SKU, units, components). A
/// plain line's components are empty: it takes units of its own SKU.
type Need<'o> = (usize, SkuId, i64, &'o [(SkuId, i64)]);

/// What one unit of a need takes: its components, or one unit of its SKU.
fn per_unit<'o>(sku: SkuId, parts: &'o [(SkuId, i64)]) -> impl Iterator<Item = (SkuId, i64)> + 'o {
    let own = parts.is_empty().then_some((sku, 1));
    own.into_iter().chain(parts.iter().copied())
}

/// Available units per (SKU, location): the figures of the locked rows,
/// lowered as the plan places units.
pub type Available = FastMap<(SkuId, LocationId), i64>;

/// The planner's maps, hashed with foldhash rather than SipHash: it looks
/// up a (SKU, location) key several times per line it places, and SipHash
/// took about a tenth of a run's planning. The keys are ids the store made,
/// not input an attacker chooses.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The order in which orders are allocated: priority first, then the
/// earliest collected, then input order.
pub fn rank(orders: &[PlanOrder]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..orders.len()).collect();
    idx.sort_by_key(|&i| (!orders[i].priority, orders[i].collected_at, i));
    idx
}

/// The effective shipment mode of an order's channel in a run.
fn mode_of(rules: &ChannelRules, run_mode: Option<ShipmentMode>) -> ShipmentMode {
    run_mode.unwrap_or(rules.mode)
}

/// Plans `orders` against `available` (lowered by every placement made).
/// `run_mode` overrides every channel's mode. Returns one plan per order,
/// in rank order. A channel missing from `channels` has no locations.
pub fn plan(
    orders: &[PlanOrder],
    channels: &HashMap<ChannelId, ChannelRules>,
    run_mode: Option<ShipmentMode>,
    available: &mut Available,
) -> Vec<OrderPlan> {
    let ranked = rank(orders);
    // Consolidated batches: their members in rank order.
    let mut batches: FastMap<(ChannelId, &str), Vec<usize>> = FastMap::default();
    for &i in &ranked {
        let o = &orders[i];
        if let (Some(batch), Some(rules)) = (&o.batch, channels.get(&o.channel))
            && mode_of(rules, run_mode) == ShipmentMode::Consolidated
        {
            batches.entry((o.channel, batch)).or_default().push(i);
        }
    }
    let mut decided: FastMap<usize, OrderPlan> = FastMap::default();
    let mut out = Vec::with_capacity(orders.len());
    for &i in &ranked {
        if let Some(done) = decided.remove(&i) {
            out.push(done);
            continue;
        }
        let o = &orders[i];
        let Some(rules) = channels.get(&o.channel).filter(|r| !r.locations.is_empty()) else {
            out.push(nothing(i, Reason::NoLocations));
            continue;
        };
        if o.hold {
            out.push(nothing(i, Reason::Held));
            continue;
        }
        let mode = mode_of(rules, run_mode);
        let members = o
            .batch
            .as_deref()
            .and_then(|b| batches.get(&(o.channel, b)))
            .filter(|m| mode == ShipmentMode::Consolidated && m.len() > 1);
        match members {
            Some(members) => {
                let members = members.clone();
                let plans = plan_batch(orders, &members, rules, available);
                for plan in plans {
                    if plan.order == i {
                        out.push(plan);
                    } else {
                        decided.insert(plan.order, plan);
                    }
                }
            }
            None => out.push(plan_one(i, o, rules, mode, available)),
        }
    }
    out
}

fn nothing(order: usize, reason: Reason) -> OrderPlan {
    OrderPlan {
        order,
        placements: Vec::new(),
        complete: false,
        reason: Some(reason),
    }
}

/// A tentative set of placements, applied to `available` only if accepted.
struct Draft<'a, 'o> {
    available: &'a Available,
    basis: StockPolicy,
    taken: FastMap<(SkuId, LocationId), i64>,
    placements: Vec<Placement>,
    /// The components each placement took (parallel to `placements`).
    parts: Vec<&'o [(SkuId, i64)]>,
}

impl<'a, 'o> Draft<'a, 'o> {
    fn new(available: &'a Available, basis: StockPolicy) -> Self {
        Draft {
            available,
            basis,
            taken: FastMap::default(),
            placements: Vec::new(),
            parts: Vec::new(),
        }
    }

    fn left(&self, key: (SkuId, LocationId)) -> i64 {
        self.available.get(&key).copied().unwrap_or(0) - self.taken.get(&key).copied().unwrap_or(0)
    }

    /// Whole units of a need that fit at `location`, beyond `used` (units
    /// of each SKU already promised in the current pass): the scarcest
    /// component's `floor(left / per unit)`, for a plain line its own left.
    fn room(
        &self,
        sku: SkuId,
        parts: &[(SkuId, i64)],
        location: LocationId,
        used: Option<&FastMap<SkuId, i64>>,
    ) -> i64 {
        per_unit(sku, parts)
            .map(|(s, per)| {
                let u = used.and_then(|u| u.get(&s)).copied().unwrap_or(0);
                (self.left((s, location)) - u).div_euclid(per)
            })
            .min()
            .unwrap_or(0)
    }

    fn take(
        &mut self,
        line: usize,
        sku: SkuId,
        parts: &'o [(SkuId, i64)],
        location: LocationId,
        quantity: i64,
    ) {
        let backorder = match self.basis {
            StockPolicy::Strict => 0,
            StockPolicy::Unlimited => {
                (quantity - self.room(sku, parts, location, None).max(0)).max(0)
            }
        };
        for (s, per) in per_unit(sku, parts) {
            *self.taken.entry((s, location)).or_default() += quantity * per;
        }
        self.placements.push(Placement {
            line,
            sku,
            location,
            quantity,
            backorder,
        });
        self.parts.push(parts);
    }

    /// Places `needs` (line, SKU, units, components) from `locations`,
    /// fewest locations first. With `partial`, places what it can;
    /// otherwise all or nothing (returns false and places nothing).
    /// Returns whether every unit was placed. Needs that share a SKU (a
    /// bundle's component and a plain line of it, or two bundles) are
    /// judged on their sum: every check counts what the pass has already
    /// promised.
    fn place(&mut self, needs: &[Need<'o>], locations: &[LocationId], partial: bool) -> bool {
        if needs.is_empty() {
            return true;
        }
        if self.basis == StockPolicy::Unlimited {
            // Everything can be placed; prefer one location that has it all.
            let home = locations
                .iter()
                .copied()
                .find(|&l| {
                    let mut used: FastMap<SkuId, i64> = FastMap::default();
                    needs.iter().all(|&(_, s, q, parts)| {
                        let fits = self.room(s, parts, l, Some(&used)) >= q;
                        for (c, per) in per_unit(s, parts) {
                            *used.entry(c).or_default() += q * per;
                        }
                        fits
                    })
                })
                .unwrap_or(locations[0]);
            for &(line, sku, q, parts) in needs {
                self.take(line, sku, parts, home, q);
            }
            return true;
        }
        let mark = self.placements.len();
        let mut remaining: Vec<Need<'o>> = needs.to_vec();
        let mut chosen: Vec<LocationId> = Vec::new();
        // Greedy cover: the location that fills the most remaining lines
        // whole, ties to the higher priority.
        loop {
            let mut best: Option<(LocationId, usize)> = None;
            for &l in locations {
                let mut fits = 0;
                let mut used: FastMap<SkuId, i64> = FastMap::default();
                for &(_, s, q, parts) in &remaining {
                    if self.room(s, parts, l, Some(&used)) >= q {
                        for (c, per) in per_unit(s, parts) {
                            *used.entry(c).or_default() += q * per;
                        }
                        fits += 1;
                    }
                }
                if fits > 0 && best.is_none_or(|(_, n)| fits > n) {
                    best = Some((l, fits));
                }
            }
            let Some((l, _)) = best else { break };
            chosen.push(l);
            let mut rest = Vec::with_capacity(remaining.len());
            for (line, s, q, parts) in remaining {
                if self.room(s, parts, l, None) >= q {
                    self.take(line, s, parts, l, q);
                } else {
                    rest.push((line, s, q, parts));
                }
            }
            remaining = rest;
            if remaining.is_empty() {
                return true;
            }
        }
        // What no location can fill alone: split (in whole bundle units
        // for a bundle line), the chosen locations first.
        let order: Vec<LocationId> = chosen
            .iter()
            .copied()
            .chain(locations.iter().copied().filter(|l| !chosen.contains(l)))
            .collect();
        let mut all = true;
        for (line, s, q, parts) in remaining {
            let mut need = q;
            for &l in &order {
                let here = self.room(s, parts, l, None).min(need);
                if here > 0 {
                    self.take(line, s, parts, l, here);
                    need -= here;
                }
                if need == 0 {
                    break;
                }
            }
            if need > 0 {
                all = false;
            }
        }
        if !all && !partial {
            // Undo this call's placements (what `take` added to `taken`).
            let parts: Vec<_> = self.parts.drain(mark..).collect();
            for (p, parts) in self.placements.drain(mark..).zip(parts) {
                for (s, per) in per_unit(p.sku, parts) {
                    if let Some(t) = self.taken.get_mut(&(s, p.location)) {
                        *t -= p.quantity * per;
                    }
                }
            }
        }
        all
    }

    fn finish(self) -> (FastMap<(SkuId, LocationId), i64>, Vec<Placement>) {
        (self.taken, self.placements)
    }
}

/// Lowers `available` by what an accepted draft took.
fn apply(available: &mut Available, taken: FastMap<(SkuId, LocationId), i64>) {
    for (key, q) in taken {
        *available.entry(key).or_default() -= q;
    }
}

/// The non-gift and gift lines that still need units, and whether a
/// non-gift line is unmatched.
fn needs_of(o: &PlanOrder) -> (Vec<Need<'_>>, Vec<Need<'_>>, bool) {
    let mut main = Vec::new();
    let mut gifts = Vec::new();
    let mut unmatched = false;
    for (i, line) in o.lines.iter().enumerate() {
        if line.open <= 0 {
            continue;
        }
        match (line.sku, line.gift) {
            (Some(s), false) => main.push((i, s, line.open, line.parts.as_slice())),
            (Some(s), true) => gifts.push((i, s, line.open, line.parts.as_slice())),
            (None, false) => unmatched = true,
            (None, true) => {}
        }
    }
    (main, gifts, unmatched)
}

/// Gift lines, each whole or not at all, wherever they fit.
fn place_gifts<'o>(draft: &mut Draft<'_, 'o>, gifts: &[Need<'o>], locations: &[LocationId]) {
    for &need in gifts {
        draft.place(&[need], locations, false);
    }
}

fn plan_one(
    i: usize,
    o: &PlanOrder,
    rules: &ChannelRules,
    mode: ShipmentMode,
    available: &mut Available,
) -> OrderPlan {
    let (main, gifts, unmatched) = needs_of(o);
    let partial = mode == ShipmentMode::Partial;
    if unmatched && !partial {
        return nothing(i, Reason::Unmatched);
    }
    let mut draft = Draft::new(available, rules.basis);
    let all = draft.place(&main, &rules.locations, partial);
    let complete = all && !unmatched;
    if !all && !partial {
        return nothing(i, Reason::Short);
    }
    let shipping = complete || !draft.placements.is_empty();
    let gifts_go = match rules.gift_rule {
        GiftRule::Complete => complete,
        GiftRule::Partial => shipping || main.is_empty(),
    };
    if gifts_go {
        place_gifts(&mut draft, &gifts, &rules.locations);
    }
    let (taken, placements) = draft.finish();
    apply(available, taken);
    let reason = if complete {
        None
    } else if unmatched {
        Some(Reason::Unmatched)
    } else {
        Some(Reason::Short)
    };
    OrderPlan {
        order: i,
        placements,
        complete,
        reason,
    }
}

/// A consolidated batch: every member complete, or none allocated.
fn plan_batch(
    orders: &[PlanOrder],
    members: &[usize],
    rules: &ChannelRules,
    available: &mut Available,
) -> Vec<OrderPlan> {
    let waiting = |reason_of: &dyn Fn(usize) -> Reason| {
        members
            .iter()
            .map(|&m| nothing(m, reason_of(m)))
            .collect::<Vec<_>>()
    };
    if members.iter().any(|&m| orders[m].hold) {
        return waiting(&|m| {
            if orders[m].hold {
                Reason::Held
            } else {
                Reason::BatchWaiting
            }
        });
    }
    let needs: Vec<_> = members.iter().map(|&m| needs_of(&orders[m])).collect();
    if let Some(bad) = needs.iter().position(|n| n.2) {
        let bad = members[bad];
        return waiting(&|m| {
            if m == bad {
                Reason::Unmatched
            } else {
                Reason::BatchWaiting
            }
        });
    }
    let mut draft = Draft::new(available, rules.basis);
    let mut spans = Vec::with_capacity(members.len());
    for (k, (main, _, _)) in needs.iter().enumerate() {
        let start = draft.placements.len();
        if !draft.place(main, &rules.locations, false) {
            let short = members[k];
            return waiting(&|m| {
                if m == short {
                    Reason::Short
                } else {
                    Reason::BatchWaiting
                }
            });
        }
        spans.push(start);
    }
    // Gifts after every main line, so a gift never takes a unit a member needs.
    let mut gift_spans = Vec::with_capacity(members.len());
    for (_, gifts, _) in &needs {
        let start = draft.placements.len();
        place_gifts(&mut draft, gifts, &rules.locations);
        gift_spans.push((start, draft.placements.len()));
    }
    let (taken, placements) = draft.finish();
    apply(available, taken);
    members
        .iter()
        .enumerate()
        .map(|(k, &m)| {
            let end = spans.get(k + 1).copied().unwrap_or(gift_spans[0].0);
            let mut mine: Vec<Placement> = placements[spans[k]..end].to_vec();
            let (gs, ge) = gift_spans[k];
            mine.extend_from_slice(&placements[gs..ge]);
            OrderPlan {
                order: m,
                placements: mine,
                complete: true,
                reason: None,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(
    clippy::type_complexity,
    clippy::needless_pass_by_value,
    reason = "tables of cases read best inline"
)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn sku(n: u128) -> SkuId {
        SkuId::from_uuid(Uuid::from_u128(n))
    }
    fn loc(n: u128) -> LocationId {
        LocationId::from_uuid(Uuid::from_u128(100 + n))
    }
    fn chan() -> ChannelId {
        ChannelId::from_uuid(Uuid::from_u128(999))
    }

    fn line(s: u128, open: i64) -> PlanLine {
        PlanLine {
            sku: Some(sku(s)),
            open,
            gift: false,
            parts: Vec::new(),
        }
    }
    fn gift(s: u128, open: i64) -> PlanLine {
        PlanLine {
            gift: true,
            ..line(s, open)
        }
    }
    fn order(lines: Vec<PlanLine>) -> PlanOrder {
        PlanOrder {
            channel: chan(),
            priority: false,
            collected_at: 0,
            hold: false,
            batch: None,
            lines,
        }
    }

    fn rules(mode: ShipmentMode, locations: &[u128]) -> ChannelRules {
        ChannelRules {
            mode,
            basis: StockPolicy::Strict,
            gift_rule: GiftRule::Complete,
            locations: locations.iter().map(|&l| loc(l)).collect(),
        }
    }

    /// (sku, location, available)
    fn stock(rows: &[(u128, u128, i64)]) -> Available {
        rows.iter()
            .map(|&(s, l, q)| ((sku(s), loc(l)), q))
            .collect()
    }

    /// What an order got, as (line, location, quantity) and its reason, in
    /// input order of the orders.
    type Got = Vec<(Vec<(usize, u128, i64)>, Option<Reason>)>;

    fn check(
        orders: &[PlanOrder],
        rules: ChannelRules,
        run: Option<ShipmentMode>,
        stock_rows: &[(u128, u128, i64)],
        expected: Got,
        case: &str,
    ) {
        let channels = HashMap::from([(chan(), rules)]);
        let mut available = stock(stock_rows);
        let plans = plan(orders, &channels, run, &mut available);
        let mut got: Vec<Option<(Vec<(usize, u128, i64)>, Option<Reason>)>> =
            vec![None; orders.len()];
        for p in plans {
            let placements = p
                .placements
                .iter()
                .map(|x| (x.line, x.location.as_uuid().as_u128() - 100, x.quantity))
                .collect();
            got[p.order] = Some((placements, p.reason));
        }
        let got: Got = got.into_iter().map(Option::unwrap).collect();
        assert_eq!(got, expected, "{case}");
    }

    #[test]
    fn modes() {
        use Reason::*;
        use ShipmentMode::*;
        let two_lines = || vec![order(vec![line(1, 2), line(2, 3)])];
        let cases: Vec<(&str, ShipmentMode, &[(u128, u128, i64)], Got)> = vec![
            (
                "complete, enough",
                Complete,
                &[(1, 1, 5), (2, 1, 5)],
                vec![(vec![(0, 1, 2), (1, 1, 3)], None)],
            ),
            (
                "complete, one line short",
                Complete,
                &[(1, 1, 5), (2, 1, 2)],
                vec![(vec![], Some(Short))],
            ),
            (
                "partial, one line short",
                Partial,
                &[(1, 1, 5), (2, 1, 2)],
                vec![(vec![(0, 1, 2), (1, 1, 2)], Some(Short))],
            ),
            (
                "partial, nothing",
                Partial,
                &[],
                vec![(vec![], Some(Short))],
            ),
            (
                "consolidated alone acts complete",
                Consolidated,
                &[(1, 1, 5), (2, 1, 2)],
                vec![(vec![], Some(Short))],
            ),
        ];
        for (case, mode, rows, expected) in cases {
            check(&two_lines(), rules(mode, &[1]), None, rows, expected, case);
        }
        // The run's mode overrides the channel's.
        check(
            &two_lines(),
            rules(Complete, &[1]),
            Some(Partial),
            &[(1, 1, 5), (2, 1, 2)],
            vec![(vec![(0, 1, 2), (1, 1, 2)], Some(Short))],
            "run override",
        );
    }

    #[test]
    fn consolidated_batches() {
        use Reason::*;
        let member = |s: u128, q: i64, batch: &str| PlanOrder {
            batch: Some(batch.into()),
            ..order(vec![line(s, q)])
        };
        let r = || rules(ShipmentMode::Consolidated, &[1]);
        // Both fit: both allocated.
        check(
            &[member(1, 1, "kim"), member(2, 1, "kim")],
            r(),
            None,
            &[(1, 1, 1), (2, 1, 1)],
            vec![(vec![(0, 1, 1)], None), (vec![(0, 1, 1)], None)],
            "batch fits",
        );
        // One short: neither, and the other batch still goes.
        check(
            &[
                member(1, 1, "kim"),
                member(2, 1, "kim"),
                member(1, 1, "lee"),
            ],
            r(),
            None,
            &[(1, 1, 1)],
            vec![
                (vec![], Some(BatchWaiting)),
                (vec![], Some(Short)),
                (vec![(0, 1, 1)], None),
            ],
            "batch short",
        );
        // A held member holds the batch.
        let mut held = member(2, 1, "kim");
        held.hold = true;
        check(
            &[member(1, 1, "kim"), held],
            r(),
            None,
            &[(1, 1, 5), (2, 1, 5)],
            vec![(vec![], Some(BatchWaiting)), (vec![], Some(Held))],
            "batch held",
        );
        // Under partial the batch key means nothing.
        check(
            &[member(1, 1, "kim"), member(2, 1, "kim")],
            rules(ShipmentMode::Partial, &[1]),
            None,
            &[(1, 1, 1)],
            vec![(vec![(0, 1, 1)], None), (vec![], Some(Short))],
            "batch under partial",
        );
    }

    #[test]
    fn gift_rule() {
        use Reason::*;
        // (rule, mode, stock of the main SKU, expected)
        let cases: Vec<(GiftRule, ShipmentMode, i64, Got)> = vec![
            (
                GiftRule::Complete,
                ShipmentMode::Complete,
                2,
                vec![(vec![(0, 1, 2), (1, 1, 1)], None)],
            ),
            (
                GiftRule::Complete,
                ShipmentMode::Complete,
                1,
                vec![(vec![], Some(Short))],
            ),
            (
                GiftRule::Complete,
                ShipmentMode::Partial,
                1,
                vec![(vec![(0, 1, 1)], Some(Short))],
            ),
            (
                GiftRule::Partial,
                ShipmentMode::Partial,
                1,
                vec![(vec![(0, 1, 1), (1, 1, 1)], Some(Short))],
            ),
            (
                GiftRule::Partial,
                ShipmentMode::Partial,
                0,
                vec![(vec![], Some(Short))],
            ),
            (
                GiftRule::Partial,
                ShipmentMode::Complete,
                2,
                vec![(vec![(0, 1, 2), (1, 1, 1)], None)],
            ),
        ];
        for (rule, mode, main_stock, expected) in cases {
            let mut r = rules(mode, &[1]);
            r.gift_rule = rule;
            check(
                &[order(vec![line(1, 2), gift(9, 1)])],
                r,
                None,
                &[(1, 1, main_stock), (9, 1, 5)],
                expected,
                &format!("{rule} {mode} {main_stock}"),
            );
        }
        // A gift that is out of stock never holds the order back.
        check(
            &[order(vec![line(1, 1), gift(9, 1)])],
            rules(ShipmentMode::Complete, &[1]),
            None,
            &[(1, 1, 1)],
            vec![(vec![(0, 1, 1)], None)],
            "gift short",
        );
    }

    #[test]
    fn priority_and_hold() {
        use Reason::*;
        let o = |collected_at: i64, priority: bool, hold: bool| PlanOrder {
            collected_at,
            priority,
            hold,
            ..order(vec![line(1, 1)])
        };
        let r = || rules(ShipmentMode::Complete, &[1]);
        let one = &[(1, 1, 1)];
        let cases: Vec<(&str, Vec<PlanOrder>, Got)> = vec![
            (
                "earliest first",
                vec![o(2, false, false), o(1, false, false)],
                vec![(vec![], Some(Short)), (vec![(0, 1, 1)], None)],
            ),
            (
                "priority beats time",
                vec![o(1, false, false), o(2, true, false)],
                vec![(vec![], Some(Short)), (vec![(0, 1, 1)], None)],
            ),
            (
                "ties keep input order",
                vec![o(1, false, false), o(1, false, false)],
                vec![(vec![(0, 1, 1)], None), (vec![], Some(Short))],
            ),
            (
                "held is skipped",
                vec![o(1, true, true), o(2, false, false)],
                vec![(vec![], Some(Held)), (vec![(0, 1, 1)], None)],
            ),
        ];
        for (case, orders, expected) in cases {
            check(&orders, r(), None, one, expected, case);
        }
    }

    #[test]
    fn basis() {
        use Reason::*;
        let mut unlimited = rules(ShipmentMode::Complete, &[1, 2]);
        unlimited.basis = StockPolicy::Unlimited;
        let orders = [order(vec![line(1, 3)])];
        check(
            &orders,
            unlimited.clone(),
            None,
            &[(1, 1, 1)],
            vec![(vec![(0, 1, 3)], None)],
            "unlimited backorders at the first location",
        );
        check(
            &orders,
            unlimited.clone(),
            None,
            &[(1, 2, 3)],
            vec![(vec![(0, 2, 3)], None)],
            "unlimited prefers a location that has it",
        );
        check(
            &orders,
            rules(ShipmentMode::Complete, &[1, 2]),
            None,
            &[(1, 1, 1)],
            vec![(vec![], Some(Short))],
            "strict",
        );
        let channels = HashMap::from([(chan(), unlimited)]);
        let mut available = stock(&[(1, 1, 1)]);
        let plans = plan(&orders, &channels, None, &mut available);
        assert_eq!(plans[0].placements[0].backorder, 2);
        assert_eq!(available[&(sku(1), loc(1))], -2);
    }

    #[test]
    fn multi_location_sourcing() {
        use Reason::*;
        let two = || vec![order(vec![line(1, 2), line(2, 2)])];
        let cases: Vec<(&str, &[u128], &[(u128, u128, i64)], Got)> = vec![
            (
                "one location has everything: the lower priority one",
                &[1, 2],
                &[(1, 1, 2), (2, 2, 2), (1, 2, 2)],
                vec![(vec![(0, 2, 2), (1, 2, 2)], None)],
            ),
            (
                "priority order breaks ties",
                &[2, 1],
                &[(1, 1, 2), (2, 1, 2), (1, 2, 2), (2, 2, 2)],
                vec![(vec![(0, 2, 2), (1, 2, 2)], None)],
            ),
            (
                "each line whole somewhere",
                &[1, 2],
                &[(1, 1, 2), (2, 2, 2)],
                vec![(vec![(0, 1, 2), (1, 2, 2)], None)],
            ),
            (
                "a line split across locations",
                &[1, 2],
                &[(1, 1, 1), (1, 2, 1), (2, 2, 2)],
                vec![(vec![(1, 2, 2), (0, 2, 1), (0, 1, 1)], None)],
            ),
            (
                "an unlinked location is never used",
                &[1],
                &[(1, 1, 2), (2, 2, 2)],
                vec![(vec![], Some(Short))],
            ),
            (
                "no linked location",
                &[],
                &[(1, 1, 2)],
                vec![(vec![], Some(NoLocations))],
            ),
        ];
        for (case, locations, rows, expected) in cases {
            check(
                &two(),
                rules(ShipmentMode::Complete, locations),
                None,
                rows,
                expected,
                case,
            );
        }
    }

    #[test]
    fn unmatched_lines() {
        use Reason::*;
        let o = || {
            vec![order(vec![
                line(1, 1),
                PlanLine {
                    sku: None,
                    open: 1,
                    gift: false,
                    parts: Vec::new(),
                },
            ])]
        };
        check(
            &o(),
            rules(ShipmentMode::Complete, &[1]),
            None,
            &[(1, 1, 5)],
            vec![(vec![], Some(Unmatched))],
            "complete",
        );
        check(
            &o(),
            rules(ShipmentMode::Partial, &[1]),
            None,
            &[(1, 1, 5)],
            vec![(vec![(0, 1, 1)], Some(Unmatched))],
            "partial",
        );
    }

    /// A bundle line (sku 9) of 2 × sku 1 + 1 × sku 2 per unit.
    fn bundle(open: i64) -> PlanLine {
        PlanLine {
            sku: Some(sku(9)),
            open,
            gift: false,
            parts: vec![(sku(1), 2), (sku(2), 1)],
        }
    }

    /// What a plan took per (sku, location), from `available` before and after.
    fn taken(before: &Available, after: &Available) -> Vec<(u128, u128, i64)> {
        let mut v: Vec<_> = before
            .iter()
            .map(|(k, q)| {
                (
                    k.0.as_uuid().as_u128(),
                    k.1.as_uuid().as_u128() - 100,
                    q - after.get(k).copied().unwrap_or(0),
                )
            })
            .filter(|x| x.2 != 0)
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn bundle_lines_take_their_components_judged_on_the_sum() {
        use Reason::*;
        // 3 of sku 1: a bundle (2 of it) and a line of 2 need 4: short.
        check(
            &[order(vec![bundle(1), line(1, 2)])],
            rules(ShipmentMode::Complete, &[1]),
            None,
            &[(1, 1, 3), (2, 1, 5)],
            vec![(vec![], Some(Short))],
            "bundle + component line over the figure",
        );
        // With 4, both go, and the components are what is taken.
        let channels = HashMap::from([(chan(), rules(ShipmentMode::Complete, &[1]))]);
        let before = stock(&[(1, 1, 4), (2, 1, 5)]);
        let mut available = before.clone();
        let plans = plan(
            &[order(vec![bundle(1), line(1, 2)])],
            &channels,
            None,
            &mut available,
        );
        assert_eq!(plans[0].placements.len(), 2);
        assert_eq!(plans[0].placements[0].sku, sku(9));
        assert_eq!(taken(&before, &available), [(1, 1, 4), (2, 1, 1)]);
        // Two bundle lines sharing a component: 5 of sku 1 is 2 bundles, not 3.
        check(
            &[order(vec![bundle(2), bundle(1)])],
            rules(ShipmentMode::Complete, &[1]),
            None,
            &[(1, 1, 5), (2, 1, 5)],
            vec![(vec![], Some(Short))],
            "two bundle lines",
        );
        check(
            &[order(vec![bundle(2), bundle(1)])],
            rules(ShipmentMode::Partial, &[1]),
            None,
            &[(1, 1, 5), (2, 1, 5)],
            vec![(vec![(0, 1, 2)], Some(Short))],
            "partial keeps bundles whole",
        );
        // A bundle line splits across locations only in whole bundles.
        check(
            &[order(vec![bundle(3)])],
            rules(ShipmentMode::Complete, &[1, 2]),
            None,
            &[(1, 1, 3), (2, 1, 3), (1, 2, 4), (2, 2, 2)],
            vec![(vec![(0, 1, 1), (0, 2, 2)], None)],
            "split in whole bundles",
        );
    }

    #[test]
    fn unlimited_bundles_backorder_their_components() {
        let channels = HashMap::from([(
            chan(),
            ChannelRules {
                basis: StockPolicy::Unlimited,
                ..rules(ShipmentMode::Complete, &[1])
            },
        )]);
        let before = stock(&[(1, 1, 1), (2, 1, 5)]);
        let mut available = before.clone();
        let plans = plan(&[order(vec![bundle(2)])], &channels, None, &mut available);
        let p = plans[0].placements[0];
        assert_eq!((p.sku, p.quantity, p.backorder), (sku(9), 2, 2));
        // The bundle SKU itself is never taken; the components go below zero.
        assert_eq!(taken(&before, &available), [(1, 1, 4), (2, 1, 2)]);
        assert!(!available.contains_key(&(sku(9), loc(1))));
    }

    #[test]
    fn names_round_trip() {
        for m in [
            ShipmentMode::Complete,
            ShipmentMode::Partial,
            ShipmentMode::Consolidated,
        ] {
            assert_eq!(m.as_str().parse::<ShipmentMode>(), Ok(m));
        }
        assert!("some".parse::<GiftRule>().is_err());
    }
}
