//! The stock figures of one SKU at one location, and changes to them.

/// The figures of one (sku, location). A projection of the movements: the
/// sum of every movement's [`Delta`] for that pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Units physically at the location.
    pub on_hand: i64,
    /// Units held by open reservations (carts, checkouts, baskets).
    pub reserved: i64,
    /// Units committed to orders and not yet shipped.
    pub allocated: i64,
    /// Units expected to arrive.
    pub incoming: i64,
    /// Units on their way here from another location.
    pub in_transit: i64,
    /// Units kept back from sale.
    pub safety_stock: i64,
}

impl Balance {
    /// What can still be promised: `on_hand − reserved − allocated − safety_stock`.
    /// Negative only under the `unlimited` policy (backorders).
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved - self.allocated - self.safety_stock
    }

    /// The balance after `delta`, or `None` if a figure would overflow.
    pub fn apply(&self, delta: &Delta) -> Option<Balance> {
        Some(Balance {
            on_hand: self.on_hand.checked_add(delta.on_hand)?,
            reserved: self.reserved.checked_add(delta.reserved)?,
            allocated: self.allocated.checked_add(delta.allocated)?,
            incoming: self.incoming.checked_add(delta.incoming)?,
            in_transit: self.in_transit.checked_add(delta.in_transit)?,
            safety_stock: self.safety_stock.checked_add(delta.safety_stock)?,
        })
    }

    /// The figures that can never be negative, whatever the policy. `on_hand`
    /// may go negative (an adjustment after a miscount, an unlimited sale).
    pub fn holds_invariants(&self) -> bool {
        self.reserved >= 0
            && self.allocated >= 0
            && self.incoming >= 0
            && self.in_transit >= 0
            && self.safety_stock >= 0
    }
}

/// A change to a [`Balance`]; every movement carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delta {
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
    pub incoming: i64,
    pub in_transit: i64,
    pub safety_stock: i64,
}

impl Delta {
    pub fn is_zero(&self) -> bool {
        *self == Delta::default()
    }

    /// How much this change lowers `available` (negative if it raises it).
    pub fn available_cost(&self) -> i64 {
        -(self.on_hand - self.reserved - self.allocated - self.safety_stock)
    }

    pub fn checked_add(&self, other: &Delta) -> Option<Delta> {
        Some(Delta {
            on_hand: self.on_hand.checked_add(other.on_hand)?,
            reserved: self.reserved.checked_add(other.reserved)?,
            allocated: self.allocated.checked_add(other.allocated)?,
            incoming: self.incoming.checked_add(other.incoming)?,
            in_transit: self.in_transit.checked_add(other.in_transit)?,
            safety_stock: self.safety_stock.checked_add(other.safety_stock)?,
        })
    }
}
