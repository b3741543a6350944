//! Store pickup (click and collect, seed 001): the state machine of a
//! pickup request and the print schedule's minutes.
//!
//! A request is made for one order at one store. It is `requested` until
//! the store has scanned every unit into the pickup hanger, which makes it
//! `received` and holds the units for the customer; it is `completed` when
//! the customer has taken them (after the slip, the receipt and every held
//! unit were scanned). Before reception the store may declare it
//! `unavailable`; after reception the customer may `cancel` it, or it
//! `expire`s past the store's deadline. Those four states are final.
//!
//! ```text
//!             reception scans (all units)
//! requested ───────────────────────────────▶ received ──complete──▶ completed
//!     │  mark unavailable (reason)              │ cancel (reason) ──▶ cancelled
//!     ▼                                         │ expire (deadline) ─▶ expired
//! unavailable                                   ▼
//!                  every unit cancelled online: cancelled (from either)
//! ```
//!
//! [`apply`] judges one action on a request's state and returns the state
//! after it and what it does to stock ([`Effect`]): `Hold` on reception,
//! `Ship` on completion, `Release` when held units go back to sellable
//! stock. It never reads a clock or stores anything; the store locks the
//! request, calls it, and writes what it returns.

use std::fmt;
use std::str::FromStr;

use crate::error::InvalidInput;
use crate::limits::{PICKUP_DEADLINE_HOURS_MAX, PICKUP_DEADLINE_HOURS_MIN, PICKUP_REASON_LEN_MAX};
use crate::schedule::MinuteSet;

/// The deadline of a store that set none: three days.
pub const PICKUP_DEADLINE_HOURS_DEFAULT: i64 = 72;
/// Print minutes are multiples of this (00, 05, …, 55).
pub const PRINT_MINUTE_STEP: u8 = 5;

/// Where a pickup request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PickupStatus {
    /// Asked for by the online order; not yet in the store's hanger.
    Requested,
    /// Every unit scanned into the hanger and held for the customer.
    Received,
    /// Handed over to the customer.
    Completed,
    /// The store could not serve it (before reception).
    Unavailable,
    /// Cancelled after reception, or every unit cancelled online.
    Cancelled,
    /// Not collected before the store's deadline.
    Expired,
}

impl PickupStatus {
    pub const ALL: [PickupStatus; 6] = [
        PickupStatus::Requested,
        PickupStatus::Received,
        PickupStatus::Completed,
        PickupStatus::Unavailable,
        PickupStatus::Cancelled,
        PickupStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PickupStatus::Requested => "requested",
            PickupStatus::Received => "received",
            PickupStatus::Completed => "completed",
            PickupStatus::Unavailable => "unavailable",
            PickupStatus::Cancelled => "cancelled",
            PickupStatus::Expired => "expired",
        }
    }

    /// Nothing happens to a request in a final state any more.
    pub fn is_final(self) -> bool {
        !matches!(self, PickupStatus::Requested | PickupStatus::Received)
    }
}

impl fmt::Display for PickupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PickupStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PickupStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown pickup status {s:?}; expected one of requested, received, completed, unavailable, cancelled, expired"
                )
            })
    }
}

/// One item (an order line's units) of a request, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemState {
    /// Units asked for when the request was made.
    pub quantity: i64,
    /// Units cancelled online since.
    pub cancelled: i64,
    /// Units scanned into the hanger (reception).
    pub received_scans: i64,
    /// Units scanned out of the hanger for the customer (completion).
    pub completion_scans: i64,
}

impl ItemState {
    pub fn new(quantity: i64) -> ItemState {
        ItemState {
            quantity,
            ..ItemState::default()
        }
    }

    /// Units the customer still gets.
    pub fn units(&self) -> i64 {
        self.quantity - self.cancelled
    }

    fn holds(&self) -> bool {
        self.quantity > 0
            && (0..=self.quantity).contains(&self.cancelled)
            && (0..=self.units()).contains(&self.received_scans)
            && (0..=self.units()).contains(&self.completion_scans)
    }
}

/// One component of a bundle item: each unit of the item is scanned as
/// `per_unit` units of every component (or once, whole, by the bundle's
/// own barcode). The item's own scans are the whole bundles its parts'
/// scans make ([`crate::bundle::whole_bundles`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartState {
    /// The item's index.
    pub item: usize,
    pub per_unit: i64,
    pub received_scans: i64,
    pub completion_scans: i64,
}

/// A request as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickupState {
    pub status: PickupStatus,
    /// The customer's slip was scanned (completion).
    pub slip_scanned: bool,
    /// The receipt was scanned (completion).
    pub receipt_scanned: bool,
    pub items: Vec<ItemState>,
    /// The components of bundle items (none for plain items).
    pub parts: Vec<PartState>,
}

impl PickupState {
    /// A new request for these units per item.
    pub fn requested(quantities: &[i64]) -> PickupState {
        PickupState {
            status: PickupStatus::Requested,
            slip_scanned: false,
            receipt_scanned: false,
            items: quantities.iter().map(|&q| ItemState::new(q)).collect(),
            parts: Vec::new(),
        }
    }

    /// Component units of part `p` the customer still gets.
    fn part_units(&self, p: &PartState) -> i64 {
        self.items.get(p.item).map_or(0, ItemState::units) * p.per_unit
    }

    /// A bundle item's scans: the whole bundles of its parts' scans.
    fn whole(&self, item: usize, completion: bool) -> Option<i64> {
        let mut parts = self.parts.iter().filter(|p| p.item == item).peekable();
        parts.peek()?;
        Some(crate::bundle::whole_bundles(parts.map(|p| {
            (
                p.per_unit,
                if completion {
                    p.completion_scans
                } else {
                    p.received_scans
                },
            )
        })))
    }

    /// Units (component units for a bundle item) still to scan in a phase.
    fn left(&self, completion: bool) -> i64 {
        let plain: i64 = self
            .items
            .iter()
            .enumerate()
            .filter(|(n, _)| !self.parts.iter().any(|p| p.item == *n))
            .map(|(_, i)| {
                i.units()
                    - if completion {
                        i.completion_scans
                    } else {
                        i.received_scans
                    }
            })
            .sum();
        let parts: i64 = self
            .parts
            .iter()
            .map(|p| {
                self.part_units(p)
                    - if completion {
                        p.completion_scans
                    } else {
                        p.received_scans
                    }
            })
            .sum();
        plain + parts
    }

    /// Brings every bundle item's scans in line with its parts'.
    fn settle(&mut self) {
        for n in 0..self.items.len() {
            if let (Some(received), Some(completion)) = (self.whole(n, false), self.whole(n, true))
            {
                self.items[n].received_scans = received;
                self.items[n].completion_scans = completion;
            }
        }
    }

    /// Units the request holds in the hanger: all of its units while
    /// `received`, none otherwise.
    pub fn held(&self) -> Vec<i64> {
        self.items
            .iter()
            .map(|i| {
                if self.status == PickupStatus::Received {
                    i.units()
                } else {
                    0
                }
            })
            .collect()
    }

    /// The invariants of a stored request: quantities and scans within
    /// bounds, at least one item.
    pub fn holds_invariants(&self) -> bool {
        !self.items.is_empty()
            && self.items.iter().all(ItemState::holds)
            && self.parts.iter().all(|p| {
                p.item < self.items.len()
                    && p.per_unit > 0
                    && (0..=self.part_units(p)).contains(&p.received_scans)
                    && (0..=self.part_units(p)).contains(&p.completion_scans)
            })
            && (0..self.items.len()).all(|n| {
                self.whole(n, false)
                    .is_none_or(|w| w == self.items[n].received_scans)
                    && self
                        .whole(n, true)
                        .is_none_or(|w| w == self.items[n].completion_scans)
            })
    }

    fn units(&self) -> Vec<i64> {
        self.items.iter().map(ItemState::units).collect()
    }

    fn all_received(&self) -> bool {
        self.items.iter().all(|i| i.received_scans == i.units())
            && self.items.iter().any(|i| i.units() > 0)
    }
}

/// What a person (or the online order, or the deadline) does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A unit of item `n` scanned into the hanger (for a bundle item, the
    /// bundle's own barcode: a whole bundle).
    ReceptionScan(usize),
    /// A unit of a bundle item's component (part `n`) scanned into the
    /// hanger.
    ReceptionPartScan(usize),
    /// The customer's slip scanned at the counter.
    SlipScan,
    /// The request's receipt scanned at the counter.
    ReceiptScan,
    /// A held unit of item `n` scanned for the customer (a bundle item: a
    /// whole bundle by its own barcode).
    CompletionScan(usize),
    /// A held unit of a bundle item's component (part `n`) scanned for the
    /// customer.
    CompletionPartScan(usize),
    /// "픽업 완료": the customer takes the goods.
    Complete,
    /// "픽업 불가" (with a reason, checked by [`check_reason`]).
    MarkUnavailable,
    /// "픽업 취소" after reception (with a reason).
    Cancel,
    /// The store's deadline passed.
    Expire,
    /// `units` of item `n` cancelled online (a partial or full order
    /// cancellation).
    CancelUnits { item: usize, units: i64 },
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::ReceptionScan(_) | Action::ReceptionPartScan(_) => "reception scan",
            Action::SlipScan => "slip scan",
            Action::ReceiptScan => "receipt scan",
            Action::CompletionScan(_) | Action::CompletionPartScan(_) => "completion scan",
            Action::Complete => "complete",
            Action::MarkUnavailable => "mark unavailable",
            Action::Cancel => "cancel",
            Action::Expire => "expire",
            Action::CancelUnits { .. } => "cancel units",
        }
    }
}

/// What an action does to stock, per item (units by item index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The units go into the hanger: held for the customer, not sellable.
    Hold(Vec<i64>),
    /// Held units leave the store with the customer.
    Ship(Vec<i64>),
    /// Held units go back to sellable stock.
    Release(Vec<i64>),
}

/// The state after an action, and its effect on stock, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: PickupState,
    pub effect: Option<Effect>,
}

/// Why an action was refused. Each has a stable problem code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the pickup is {0}; nothing more can happen to it")]
    Closed(PickupStatus),
    #[error("the pickup has not been received yet (scan every item into the hanger first)")]
    NotReceived,
    #[error("the pickup was already received")]
    AlreadyReceived,
    #[error("every unit of this item is already scanned")]
    OverScan,
    #[error("scan the customer's slip and the receipt before the items")]
    SlipFirst,
    #[error("not every held unit has been scanned: {0} to go")]
    ScanIncomplete(i64),
    #[error("the pickup has no item {0}")]
    NoSuchItem(usize),
    #[error("only {left} units of the item are left to cancel, {asked} asked for")]
    CancelTooMany { left: i64, asked: i64 },
}

impl Refusal {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Closed(_) => "pickup_closed",
            Refusal::NotReceived => "pickup_not_received",
            Refusal::AlreadyReceived => "pickup_already_received",
            Refusal::OverScan => "pickup_over_scan",
            Refusal::SlipFirst => "pickup_slip_first",
            Refusal::ScanIncomplete(_) => "pickup_scan_incomplete",
            Refusal::NoSuchItem(_) => "pickup_wrong_item",
            Refusal::CancelTooMany { .. } => "pickup_cancel_too_many",
        }
    }
}

/// Judges `action` on `state`: the state after it and its effect on stock,
/// or why it is refused (and then nothing changes).
pub fn apply(state: &PickupState, action: Action) -> Result<Outcome, Refusal> {
    use PickupStatus::*;
    let mut next = state.clone();
    let count = state.items.len();
    // Online cancellations reach a request in either open state; every
    // other action names the state it needs.
    if state.status.is_final() {
        return Err(Refusal::Closed(state.status));
    }
    let effect = match (state.status, action) {
        (Requested, Action::ReceptionScan(_) | Action::ReceptionPartScan(_)) => {
            count_scan(&mut next, action)?;
            receive_if_complete(&mut next)
        }
        (Received, Action::ReceptionScan(_) | Action::ReceptionPartScan(_)) => {
            return Err(Refusal::AlreadyReceived);
        }
        (
            Requested,
            Action::SlipScan
            | Action::ReceiptScan
            | Action::CompletionScan(_)
            | Action::CompletionPartScan(_),
        ) => {
            return Err(Refusal::NotReceived);
        }
        (Received, Action::SlipScan) => {
            next.slip_scanned = true;
            None
        }
        (Received, Action::ReceiptScan) => {
            next.receipt_scanned = true;
            None
        }
        (Received, Action::CompletionScan(_) | Action::CompletionPartScan(_)) => {
            let (Action::CompletionScan(n) | Action::CompletionPartScan(n)) = action else {
                unreachable!("matched above")
            };
            let known = if matches!(action, Action::CompletionPartScan(_)) {
                n < next.parts.len()
            } else {
                n < count
            };
            if !known {
                return Err(Refusal::NoSuchItem(n));
            }
            if !(next.slip_scanned && next.receipt_scanned) {
                return Err(Refusal::SlipFirst);
            }
            count_scan(&mut next, action)?;
            None
        }
        (Requested, Action::Complete | Action::Cancel | Action::Expire) => {
            return Err(Refusal::NotReceived);
        }
        (Received, Action::Complete) => {
            if !(next.slip_scanned && next.receipt_scanned) {
                return Err(Refusal::SlipFirst);
            }
            let missing = next.left(true);
            if missing > 0 {
                return Err(Refusal::ScanIncomplete(missing));
            }
            next.status = Completed;
            Some(Effect::Ship(state.units()))
        }
        (Requested, Action::MarkUnavailable) => {
            next.status = Unavailable;
            None
        }
        (Received, Action::MarkUnavailable) => return Err(Refusal::AlreadyReceived),
        (Received, Action::Cancel) => {
            next.status = Cancelled;
            Some(Effect::Release(state.units()))
        }
        (Received, Action::Expire) => {
            next.status = Expired;
            Some(Effect::Release(state.units()))
        }
        (status, Action::CancelUnits { item: n, units }) => {
            if n >= count {
                return Err(Refusal::NoSuchItem(n));
            }
            let i = &mut next.items[n];
            if units <= 0 || units > i.units() {
                return Err(Refusal::CancelTooMany {
                    left: i.units(),
                    asked: units,
                });
            }
            i.cancelled += units;
            i.received_scans = i.received_scans.min(i.units());
            i.completion_scans = i.completion_scans.min(i.units());
            let parts_units: Vec<i64> = next.parts.iter().map(|p| next.part_units(p)).collect();
            for (p, units) in next.parts.iter_mut().zip(parts_units) {
                p.received_scans = p.received_scans.min(units);
                p.completion_scans = p.completion_scans.min(units);
            }
            next.settle();
            if next.items.iter().all(|i| i.units() == 0) {
                next.status = Cancelled;
            }
            if status == Received {
                let mut released = vec![0; next.items.len()];
                released[n] = units;
                Some(Effect::Release(released))
            } else {
                // The units cancelled may have been the last ones not yet
                // scanned in: then the request is received now. (A request
                // with every unit cancelled has none left to receive, so it
                // stays cancelled.)
                receive_if_complete(&mut next)
            }
        }
        (Completed | Unavailable | Cancelled | Expired, _) => {
            unreachable!("final states return above")
        }
    };
    debug_assert!(next.holds_invariants() || state.items.is_empty());
    Ok(Outcome {
        state: next,
        effect,
    })
}

/// Counts one scan of `action` (a reception or completion scan) on
/// `next`: a plain item's unit, a bundle item's whole bundle (`per_unit`
/// of every part, only if all of it fits), or one unit of a part.
fn count_scan(next: &mut PickupState, action: Action) -> Result<(), Refusal> {
    let (target, part, completion) = match action {
        Action::ReceptionScan(n) => (n, false, false),
        Action::ReceptionPartScan(n) => (n, true, false),
        Action::CompletionScan(n) => (n, false, true),
        Action::CompletionPartScan(n) => (n, true, true),
        _ => return Ok(()),
    };
    if part {
        let p = *next.parts.get(target).ok_or(Refusal::NoSuchItem(target))?;
        let room = next.part_units(&p)
            - if completion {
                p.completion_scans
            } else {
                p.received_scans
            };
        if room <= 0 {
            return Err(Refusal::OverScan);
        }
        let p = &mut next.parts[target];
        if completion {
            p.completion_scans += 1;
        } else {
            p.received_scans += 1;
        }
    } else {
        if target >= next.items.len() {
            return Err(Refusal::NoSuchItem(target));
        }
        let mine: Vec<usize> = (0..next.parts.len())
            .filter(|&p| next.parts[p].item == target)
            .collect();
        if mine.is_empty() {
            let i = &mut next.items[target];
            let units = i.units();
            let s = if completion {
                &mut i.completion_scans
            } else {
                &mut i.received_scans
            };
            if *s >= units {
                return Err(Refusal::OverScan);
            }
            *s += 1;
        } else {
            for &p in &mine {
                let part = next.parts[p];
                let s = if completion {
                    part.completion_scans
                } else {
                    part.received_scans
                };
                if s + part.per_unit > next.part_units(&part) {
                    return Err(Refusal::OverScan);
                }
            }
            for p in mine {
                let part = &mut next.parts[p];
                if completion {
                    part.completion_scans += part.per_unit;
                } else {
                    part.received_scans += part.per_unit;
                }
            }
        }
    }
    next.settle();
    Ok(())
}

fn receive_if_complete(next: &mut PickupState) -> Option<Effect> {
    if next.all_received() {
        next.status = PickupStatus::Received;
        Some(Effect::Hold(next.units()))
    } else {
        None
    }
}

impl PickupState {
    /// Units still to scan in the current phase: into the hanger while
    /// `requested`, out of it while `received`; 0 otherwise.
    /// A bundle item counts its components' units.
    pub fn remaining_scans(&self) -> i64 {
        match self.status {
            PickupStatus::Requested => self.left(false),
            PickupStatus::Received => self.left(true),
            _ => 0,
        }
    }
}

/// Checks a reason for an unavailable or cancelled pickup: required,
/// at most [`PICKUP_REASON_LEN_MAX`] characters.
pub fn check_reason(reason: &str) -> Result<(), InvalidInput> {
    if reason.trim().is_empty() {
        return Err(InvalidInput::one("reason", "is required"));
    }
    if reason.chars().count() > PICKUP_REASON_LEN_MAX {
        return Err(InvalidInput::one(
            "reason",
            format!("must be at most {PICKUP_REASON_LEN_MAX} characters"),
        ));
    }
    Ok(())
}

/// The print minutes of a store: each a multiple of 5 from 0 to 55, at
/// least one; `field` names the input in the error.
pub fn print_minutes(field: &str, minutes: &[u8]) -> Result<MinuteSet, InvalidInput> {
    for (i, &m) in minutes.iter().enumerate() {
        if m > 55 || m % PRINT_MINUTE_STEP != 0 {
            return Err(InvalidInput::one(
                format!("{field}[{i}]"),
                format!("{m} is not one of 0, 5, 10, …, 55"),
            ));
        }
    }
    MinuteSet::new(minutes.iter().copied()).ok_or_else(|| {
        InvalidInput::one(
            field,
            "choose at least one minute, or send null for manual printing only",
        )
    })
}

/// A pickup deadline in hours, checked.
pub fn check_deadline_hours(hours: i64) -> Result<i64, InvalidInput> {
    if (PICKUP_DEADLINE_HOURS_MIN..=PICKUP_DEADLINE_HOURS_MAX).contains(&hours) {
        Ok(hours)
    } else {
        Err(InvalidInput::one(
            "deadline_hours",
            format!("must be between {PICKUP_DEADLINE_HOURS_MIN} and {PICKUP_DEADLINE_HOURS_MAX}"),
        ))
    }
}

/// When something that became printable at `ready_us` is printed by a
/// store printing at `minutes` in `zone`: the first print minute at or
/// after it (the scheduled run at minute M prints everything pending then).
pub fn print_time(minutes: MinuteSet, zone: &jiff::tz::TimeZone, ready_us: i64) -> i64 {
    crate::schedule::Spec::MinutesPast(minutes).next_after(zone, ready_us - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PickupStatus::*;

    fn state(status: PickupStatus) -> PickupState {
        // Two items: 2 units and 1 unit. A received request has all
        // reception scans; a requested one none.
        let mut s = PickupState::requested(&[2, 1]);
        s.status = status;
        if status != Requested {
            for i in &mut s.items {
                i.received_scans = i.quantity;
            }
        }
        s
    }

    fn ready(mut s: PickupState) -> PickupState {
        s.slip_scanned = true;
        s.receipt_scanned = true;
        for i in &mut s.items {
            i.completion_scans = i.units();
        }
        s
    }

    /// What the table expects: the status after, the effect, or the
    /// refusal's code.
    #[derive(Debug, PartialEq)]
    enum Expect {
        To(PickupStatus, Option<Effect>),
        No(&'static str),
    }
    use Expect::*;

    #[expect(
        clippy::needless_pass_by_value,
        reason = "the table reads best with rows by value"
    )]
    fn check(from: &PickupState, action: Action, expected: Expect) {
        let got = match apply(from, action) {
            Ok(o) => To(o.state.status, o.effect),
            Err(r) => No(r.code()),
        };
        assert_eq!(got, expected, "{:?} + {action:?}", from.status);
    }

    #[test]
    fn every_state_and_action() {
        let actions = [
            Action::ReceptionScan(0),
            Action::SlipScan,
            Action::ReceiptScan,
            Action::CompletionScan(0),
            Action::Complete,
            Action::MarkUnavailable,
            Action::Cancel,
            Action::Expire,
            Action::CancelUnits { item: 1, units: 1 },
        ];
        // The whole table: (state, action) → result.
        let table: Vec<(PickupStatus, [Expect; 9])> = vec![
            (
                Requested,
                [
                    To(Requested, None),
                    No("pickup_not_received"),
                    No("pickup_not_received"),
                    No("pickup_not_received"),
                    No("pickup_not_received"),
                    To(Unavailable, None),
                    No("pickup_not_received"),
                    No("pickup_not_received"),
                    To(Requested, None),
                ],
            ),
            (
                Received,
                [
                    No("pickup_already_received"),
                    To(Received, None),
                    To(Received, None),
                    No("pickup_slip_first"),
                    No("pickup_slip_first"),
                    No("pickup_already_received"),
                    To(Cancelled, Some(Effect::Release(vec![2, 1]))),
                    To(Expired, Some(Effect::Release(vec![2, 1]))),
                    To(Received, Some(Effect::Release(vec![0, 1]))),
                ],
            ),
        ];
        for (from, row) in table {
            for (action, expected) in actions.into_iter().zip(row) {
                check(&state(from), action, expected);
            }
        }
        // Every action on every final state is refused, naming the state.
        for from in [Completed, Unavailable, Cancelled, Expired] {
            for action in actions {
                check(&state(from), action, No("pickup_closed"));
            }
        }
    }

    #[test]
    fn reception_holds_when_the_last_unit_is_scanned() {
        let s = state(Requested);
        let s = apply(&s, Action::ReceptionScan(0)).unwrap().state;
        let s = apply(&s, Action::ReceptionScan(1)).unwrap().state;
        check(&s, Action::ReceptionScan(1), No("pickup_over_scan"));
        check(&s, Action::ReceptionScan(2), No("pickup_wrong_item"));
        check(
            &s,
            Action::ReceptionScan(0),
            To(Received, Some(Effect::Hold(vec![2, 1]))),
        );
    }

    #[test]
    fn completion_needs_slip_receipt_and_every_unit() {
        let mut s = state(Received);
        s.slip_scanned = true;
        check(&s, Action::CompletionScan(0), No("pickup_slip_first"));
        s.receipt_scanned = true;
        check(&s, Action::Complete, No("pickup_scan_incomplete"));
        let s = apply(&s, Action::CompletionScan(1)).unwrap().state;
        check(&s, Action::CompletionScan(1), No("pickup_over_scan"));
        check(&s, Action::CompletionScan(7), No("pickup_wrong_item"));
        assert_eq!(s.remaining_scans(), 2);
        check(
            &ready(state(Received)),
            Action::Complete,
            To(Completed, Some(Effect::Ship(vec![2, 1]))),
        );
    }

    /// One bundle item of 2 bundles, each 2 × part 0 + 1 × part 1, and a
    /// plain item of 1.
    fn bundle_request() -> PickupState {
        let mut s = PickupState::requested(&[2, 1]);
        s.parts = vec![
            PartState {
                item: 0,
                per_unit: 2,
                received_scans: 0,
                completion_scans: 0,
            },
            PartState {
                item: 0,
                per_unit: 1,
                received_scans: 0,
                completion_scans: 0,
            },
        ];
        s
    }

    #[test]
    fn bundle_items_are_scanned_as_components() {
        let s = bundle_request();
        assert_eq!(s.remaining_scans(), 7);
        // Part scans count component units; the item counts whole bundles.
        let s = apply(&s, Action::ReceptionPartScan(0)).unwrap().state;
        let s = apply(&s, Action::ReceptionPartScan(0)).unwrap().state;
        assert_eq!(s.items[0].received_scans, 0);
        let s = apply(&s, Action::ReceptionPartScan(1)).unwrap().state;
        assert_eq!(s.items[0].received_scans, 1);
        assert!(s.holds_invariants());
        // The bundle's own barcode: a whole bundle, only if all of it fits.
        let s = apply(&s, Action::ReceptionPartScan(0)).unwrap().state;
        check(&s, Action::ReceptionScan(0), No("pickup_over_scan"));
        let s = apply(&s, Action::ReceptionPartScan(0)).unwrap().state;
        check(&s, Action::ReceptionPartScan(0), No("pickup_over_scan"));
        check(&s, Action::ReceptionPartScan(2), No("pickup_wrong_item"));
        let s = apply(&s, Action::ReceptionScan(1)).unwrap().state;
        assert_eq!(s.remaining_scans(), 1);
        check(
            &s,
            Action::ReceptionPartScan(1),
            To(Received, Some(Effect::Hold(vec![2, 1]))),
        );
        // A whole bundle at once, then completion by the bundle's barcode.
        let s = apply(&bundle_request(), Action::ReceptionScan(0))
            .unwrap()
            .state;
        assert_eq!(
            (s.parts[0].received_scans, s.parts[1].received_scans),
            (2, 1)
        );
        let mut s = apply(&s, Action::ReceptionScan(0)).unwrap().state;
        let s = {
            s = apply(&s, Action::ReceptionScan(1)).unwrap().state;
            assert_eq!(s.status, Received);
            s.slip_scanned = true;
            s
        };
        check(&s, Action::CompletionPartScan(0), No("pickup_slip_first"));
        let mut s = s;
        s.receipt_scanned = true;
        let s = apply(&s, Action::CompletionScan(0)).unwrap().state;
        let s = apply(&s, Action::CompletionPartScan(0)).unwrap().state;
        let s = apply(&s, Action::CompletionPartScan(0)).unwrap().state;
        let s = apply(&s, Action::CompletionPartScan(1)).unwrap().state;
        check(&s, Action::Complete, No("pickup_scan_incomplete"));
        let s = apply(&s, Action::CompletionScan(1)).unwrap().state;
        check(
            &s,
            Action::Complete,
            To(Completed, Some(Effect::Ship(vec![2, 1]))),
        );
        // A cancelled bundle unit takes its components' scans with it.
        let s = apply(&bundle_request(), Action::ReceptionScan(0))
            .unwrap()
            .state;
        let s = apply(&s, Action::ReceptionScan(0)).unwrap().state;
        let s = apply(&s, Action::CancelUnits { item: 0, units: 1 })
            .unwrap()
            .state;
        assert_eq!(
            (s.parts[0].received_scans, s.parts[1].received_scans),
            (2, 1)
        );
        assert!(s.holds_invariants());
    }

    #[test]
    fn online_cancellations() {
        // Everything cancelled before reception: cancelled, nothing held.
        let s = state(Requested);
        let s = apply(&s, Action::CancelUnits { item: 0, units: 2 })
            .unwrap()
            .state;
        check(
            &s,
            Action::CancelUnits { item: 0, units: 1 },
            No("pickup_cancel_too_many"),
        );
        check(
            &s,
            Action::CancelUnits { item: 1, units: 1 },
            To(Cancelled, None),
        );
        // The last unit not yet scanned in is cancelled: received now.
        let s = state(Requested);
        let s = apply(&s, Action::ReceptionScan(0)).unwrap().state;
        let s = apply(&s, Action::ReceptionScan(0)).unwrap().state;
        check(
            &s,
            Action::CancelUnits { item: 1, units: 1 },
            To(Received, Some(Effect::Hold(vec![2, 0]))),
        );
        // Everything cancelled after reception: every held unit released.
        let s = state(Received);
        let s = apply(&s, Action::CancelUnits { item: 0, units: 2 })
            .unwrap()
            .state;
        check(
            &s,
            Action::CancelUnits { item: 1, units: 1 },
            To(Cancelled, Some(Effect::Release(vec![0, 1]))),
        );
    }

    #[test]
    fn reasons_and_settings() {
        assert!(check_reason("").is_err());
        assert!(check_reason("   ").is_err());
        assert!(check_reason("품절").is_ok());
        assert!(check_reason(&"x".repeat(PICKUP_REASON_LEN_MAX + 1)).is_err());
        assert!(print_minutes("m", &[0, 5, 55]).is_ok());
        assert!(print_minutes("m", &[3]).is_err());
        assert!(print_minutes("m", &[60]).is_err());
        assert!(print_minutes("m", &[]).is_err());
        assert!(check_deadline_hours(0).is_err());
        assert_eq!(check_deadline_hours(72), Ok(72));
        for s in PickupStatus::ALL {
            assert_eq!(s.as_str().parse::<PickupStatus>(), Ok(s));
        }
    }

    fn us(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
    }

    /// Which print run each request lands in, for a store's zone and
    /// minutes: across midnight, and across both DST changes of a zone that
    /// has them.
    #[test]
    fn print_times_across_midnight_and_dst() {
        let new_york = crate::schedule::zone("America/New_York").unwrap();
        let half_hours = print_minutes("m", &[0, 30]).unwrap();
        for (ready, printed) in [
            // 23:50 EST on 7 March prints at 00:00 on 8 March.
            ("2026-03-08T04:50:00Z", "2026-03-08T05:00:00Z"),
            // Exactly on a print minute: that run prints it.
            ("2026-03-08T05:00:00Z", "2026-03-08T05:00:00Z"),
            ("2026-03-08T05:00:01Z", "2026-03-08T05:30:00Z"),
            // 01:40 EST; 02:00 never happens (clocks jump to 03:00 EDT),
            // so the next run is 03:00 EDT, 20 minutes later.
            ("2026-03-08T06:40:00Z", "2026-03-08T07:00:00Z"),
            // 01:45 EDT on 1 November; the next :00 is 01:00 EST, the
            // second 1 o'clock, 15 minutes later.
            ("2026-11-01T05:45:00Z", "2026-11-01T06:00:00Z"),
            ("2026-11-01T06:10:00Z", "2026-11-01T06:30:00Z"),
        ] {
            assert_eq!(
                print_time(half_hours, &new_york, us(ready)),
                us(printed),
                "New York, ready at {ready}"
            );
        }
        // Every five minutes in Berlin, across the spring-forward gap
        // (02:00 CET becomes 03:00 CEST on 29 March 2026).
        let berlin = crate::schedule::zone("Europe/Berlin").unwrap();
        let all: Vec<u8> = (0..12).map(|m| m * 5).collect();
        let every_five = print_minutes("m", &all).unwrap();
        assert_eq!(
            print_time(every_five, &berlin, us("2026-03-29T00:58:00Z")),
            us("2026-03-29T01:00:00Z"),
            "01:58 CET prints at 03:00 CEST"
        );
        // 5 and 35 past, the seed's second example, in Seoul (no DST).
        let seoul = crate::schedule::zone("Asia/Seoul").unwrap();
        let seed = print_minutes("m", &[5, 35]).unwrap();
        assert_eq!(
            print_time(seed, &seoul, us("2026-04-12T14:50:00Z")),
            us("2026-04-12T15:05:00Z"),
            "23:50 KST prints at 00:05 the next day"
        );
    }
}
