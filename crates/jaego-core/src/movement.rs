//! Movements: the append-only ledger entries that change balances.

use std::fmt;
use std::str::FromStr;

use crate::balance::{Balance, Delta};

/// What a movement does. Each kind maps a signed quantity to a [`Delta`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MovementKind {
    /// Goods arrived: `on_hand +q`.
    Receipt,
    /// Goods arrived against an expected receipt: `on_hand +q`, `incoming −q`.
    ExpectedReceipt,
    /// A receipt is announced: `incoming +q`.
    Expect,
    /// A correction, either way: `on_hand ±q`.
    Adjustment,
    /// A stock count: sets `on_hand`; the movement records the difference.
    Count,
    /// Sets the safety stock; the movement records the difference.
    SafetyStock,
    /// Allocated goods left: `on_hand −q`, `allocated −q`.
    Shipment,
    /// Goods came back: `on_hand +q`.
    Return,
    /// A transfer left this location for another: `on_hand −q` here.
    TransferOut,
    /// A transfer is on its way here: `in_transit +q` at the destination.
    TransferDispatched,
    /// A transfer arrived: `in_transit −q`, `on_hand +q`.
    TransferIn,
    // There is no `reserve` kind: a reservation is itself the ledger entry
    // that raises `reserved` (a pending transfer; see
    // `reservation::hold_delta`). The three kinds below resolve it.
    /// A reservation was released: `reserved −q`.
    Release,
    /// A reservation ran out of time: `reserved −q`.
    Expire,
    /// A reservation became an allocation: `reserved −q`, `allocated +q`.
    Commit,
    /// Stock was allocated to orders: `allocated +q`.
    Allocate,
    /// An order's allocation was given back: `allocated −q`.
    Deallocate,
    /// A merchant-defined type that brings goods in: `on_hand +q`.
    CustomIn,
    /// A merchant-defined type that takes goods out: `on_hand −q`.
    CustomOut,
    /// Goods sold and handed over at once, at a table or a counter: `on_hand −q`.
    Sale,
    /// A table-order count reset (daily or "reset now"): sets `on_hand` to
    /// the item's initial count or to zero; the movement records the
    /// difference, zero included.
    Reset,
    /// An expected receipt was cancelled: `incoming −q`.
    ExpectCancel,
}

impl MovementKind {
    pub const ALL: [MovementKind; 21] = [
        MovementKind::Receipt,
        MovementKind::ExpectedReceipt,
        MovementKind::Expect,
        MovementKind::Adjustment,
        MovementKind::Count,
        MovementKind::SafetyStock,
        MovementKind::Shipment,
        MovementKind::Return,
        MovementKind::TransferOut,
        MovementKind::TransferDispatched,
        MovementKind::TransferIn,
        MovementKind::Release,
        MovementKind::Expire,
        MovementKind::Commit,
        MovementKind::Allocate,
        MovementKind::Deallocate,
        MovementKind::CustomIn,
        MovementKind::CustomOut,
        MovementKind::Sale,
        MovementKind::Reset,
        MovementKind::ExpectCancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Receipt => "receipt",
            MovementKind::ExpectedReceipt => "expected_receipt",
            MovementKind::Expect => "expect",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Count => "count",
            MovementKind::SafetyStock => "safety_stock",
            MovementKind::Shipment => "shipment",
            MovementKind::Return => "return",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferDispatched => "transfer_dispatched",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::Release => "release",
            MovementKind::Expire => "expire",
            MovementKind::Commit => "commit",
            MovementKind::Allocate => "allocate",
            MovementKind::Deallocate => "deallocate",
            MovementKind::CustomIn => "custom_in",
            MovementKind::CustomOut => "custom_out",
            MovementKind::Sale => "sale",
            MovementKind::Reset => "reset",
            MovementKind::ExpectCancel => "expect_cancel",
        }
    }

    /// The change a movement of this kind with signed `quantity` makes.
    /// For `Count` and `SafetyStock`, `quantity` is the difference already
    /// computed by [`set_to`].
    pub fn delta(self, quantity: i64) -> Delta {
        let q = quantity;
        let d = Delta::default();
        match self {
            MovementKind::Receipt | MovementKind::Return | MovementKind::CustomIn => {
                Delta { on_hand: q, ..d }
            }
            MovementKind::Adjustment | MovementKind::Count | MovementKind::Reset => {
                Delta { on_hand: q, ..d }
            }
            MovementKind::ExpectedReceipt => Delta {
                on_hand: q,
                incoming: -q,
                ..d
            },
            MovementKind::Expect => Delta { incoming: q, ..d },
            MovementKind::ExpectCancel => Delta { incoming: -q, ..d },
            MovementKind::SafetyStock => Delta {
                safety_stock: q,
                ..d
            },
            MovementKind::Shipment => Delta {
                on_hand: -q,
                allocated: -q,
                ..d
            },
            MovementKind::TransferOut | MovementKind::CustomOut | MovementKind::Sale => {
                Delta { on_hand: -q, ..d }
            }
            MovementKind::TransferDispatched => Delta { in_transit: q, ..d },
            MovementKind::TransferIn => Delta {
                on_hand: q,
                in_transit: -q,
                ..d
            },
            MovementKind::Release | MovementKind::Expire => Delta { reserved: -q, ..d },
            MovementKind::Commit => Delta {
                reserved: -q,
                allocated: q,
                ..d
            },
            MovementKind::Allocate => Delta { allocated: q, ..d },
            MovementKind::Deallocate => Delta { allocated: -q, ..d },
        }
    }

    /// Kinds a client may post directly to the ledger (the others are made by
    /// reservations, transfers and orders).
    pub fn is_direct(self) -> bool {
        matches!(
            self,
            MovementKind::Receipt
                | MovementKind::ExpectedReceipt
                | MovementKind::Expect
                | MovementKind::Adjustment
                | MovementKind::Count
                | MovementKind::SafetyStock
                | MovementKind::Shipment
                | MovementKind::Return
                | MovementKind::CustomIn
                | MovementKind::CustomOut
                | MovementKind::Sale
        )
    }

    /// Kinds that set a figure to a target rather than move units: the
    /// movement records the difference, and under `strict` they are not
    /// refused for taking available below zero (they record what is there).
    pub fn sets_figure(self) -> bool {
        matches!(
            self,
            MovementKind::Count | MovementKind::SafetyStock | MovementKind::Reset
        )
    }
}

/// For movements that set a figure (`count`, `safety_stock`, `reset`): the signed
/// difference between the target and the current balance.
pub fn set_to(kind: MovementKind, current: &Balance, target: i64) -> i64 {
    match kind {
        MovementKind::SafetyStock => target - current.safety_stock,
        _ => target - current.on_hand,
    }
}

impl fmt::Display for MovementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MovementKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MovementKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown movement kind {s:?}"))
    }
}

/// Direction of a merchant-defined movement type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    pub fn kind(self) -> MovementKind {
        match self {
            Direction::In => MovementKind::CustomIn,
            Direction::Out => MovementKind::CustomOut,
        }
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            other => Err(format!("unknown direction {other:?}; expected in or out")),
        }
    }
}

/// Why a movement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Under `strict`, the movement would take available below zero.
    #[error("only {available} available, {requested} requested")]
    Short { available: i64, requested: i64 },
    /// A shipment of more than is allocated.
    #[error("only {allocated} allocated, {requested} requested")]
    NotAllocated { allocated: i64, requested: i64 },
    /// A receipt against more than is expected.
    #[error("only {incoming} incoming, {requested} requested")]
    NotIncoming { incoming: i64, requested: i64 },
    /// A figure would overflow.
    #[error("the figure would overflow")]
    Overflow,
}

/// Judges a movement of `kind` with `delta` against the locked balance
/// `before`. Under `strict`, anything that lowers available may not take it
/// below zero, except a `count` or a `reset`: a count records what is
/// physically there, a reset sets the day's sellable count, and refusing
/// either would only hide a shortage. Figures that can never be
/// negative (allocated, incoming, in transit, reserved) are checked under
/// every policy.
pub fn check(
    kind: MovementKind,
    policy: crate::StockPolicy,
    before: &Balance,
    delta: &Delta,
) -> Result<Balance, Refusal> {
    let after = before.apply(delta).ok_or(Refusal::Overflow)?;
    if after.allocated < 0 {
        return Err(Refusal::NotAllocated {
            allocated: before.allocated,
            requested: -delta.allocated,
        });
    }
    if after.incoming < 0 {
        return Err(Refusal::NotIncoming {
            incoming: before.incoming,
            requested: -delta.incoming,
        });
    }
    let cost = delta.available_cost();
    let strict = policy == crate::StockPolicy::Strict;
    let exempt = matches!(kind, MovementKind::Count | MovementKind::Reset);
    if strict && cost > 0 && !exempt && after.available() < 0 {
        return Err(Refusal::Short {
            available: before.available(),
            requested: cost,
        });
    }
    if after.reserved < 0 || after.in_transit < 0 || after.safety_stock < 0 {
        return Err(Refusal::Overflow);
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StockPolicy::*;

    fn bal(on_hand: i64, reserved: i64, allocated: i64) -> Balance {
        Balance {
            on_hand,
            reserved,
            allocated,
            ..Balance::default()
        }
    }

    #[test]
    fn movement_checks() {
        use MovementKind::*;
        let cases = [
            (Receipt, Strict, bal(0, 0, 0), 5, Ok(bal(5, 0, 0))),
            (Adjustment, Strict, bal(5, 3, 0), -2, Ok(bal(3, 3, 0))),
            (
                Adjustment,
                Strict,
                bal(5, 3, 0),
                -3,
                Err(Refusal::Short {
                    available: 2,
                    requested: 3,
                }),
            ),
            (Adjustment, Unlimited, bal(5, 3, 0), -3, Ok(bal(2, 3, 0))),
            (Count, Strict, bal(5, 3, 0), -4, Ok(bal(1, 3, 0))),
            (Shipment, Strict, bal(5, 0, 2), 2, Ok(bal(3, 0, 0))),
            (Allocate, Strict, bal(5, 3, 0), 2, Ok(bal(5, 3, 2))),
            (
                Allocate,
                Strict,
                bal(5, 3, 0),
                3,
                Err(Refusal::Short {
                    available: 2,
                    requested: 3,
                }),
            ),
            (Allocate, Unlimited, bal(5, 3, 0), 3, Ok(bal(5, 3, 3))),
            (Deallocate, Strict, bal(5, 0, 2), 2, Ok(bal(5, 0, 0))),
            (
                Deallocate,
                Strict,
                bal(5, 0, 1),
                2,
                Err(Refusal::NotAllocated {
                    allocated: 1,
                    requested: 2,
                }),
            ),
            (
                Shipment,
                Strict,
                bal(5, 0, 1),
                2,
                Err(Refusal::NotAllocated {
                    allocated: 1,
                    requested: 2,
                }),
            ),
            (
                CustomOut,
                Strict,
                bal(1, 0, 0),
                2,
                Err(Refusal::Short {
                    available: 1,
                    requested: 2,
                }),
            ),
            (Sale, Strict, bal(3, 1, 0), 2, Ok(bal(1, 1, 0))),
            (
                Sale,
                Strict,
                bal(3, 1, 0),
                3,
                Err(Refusal::Short {
                    available: 2,
                    requested: 3,
                }),
            ),
            (Sale, Unlimited, bal(0, 0, 0), 2, Ok(bal(-2, 0, 0))),
            // A reset to zero with units on hold leaves available negative:
            // it sets the count, it is not refused.
            (Reset, Strict, bal(5, 2, 0), -5, Ok(bal(0, 2, 0))),
            (Reset, Strict, bal(0, 0, 0), 10, Ok(bal(10, 0, 0))),
        ];
        for (kind, policy, before, q, expected) in cases {
            assert_eq!(
                check(kind, policy, &before, &kind.delta(q)),
                expected,
                "{kind} {policy} {q}"
            );
        }
    }
}
