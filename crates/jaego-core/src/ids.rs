//! Typed ids. Every id is a UUID v7, so ids sort by creation time and make
//! good keyset-pagination cursors. The caller supplies fresh ids (this crate
//! does no I/O, not even reading the clock).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    /// A merchant: every row belongs to exactly one.
    TenantId,
    /// An API token.
    TokenId,
    /// A product (style) that groups SKUs.
    ProductId,
    /// A stock-keeping unit.
    SkuId,
    /// A warehouse or store.
    LocationId,
    /// A sales channel.
    ChannelId,
    /// A ledger entry.
    MovementId,
    /// A reservation (pending transfer).
    ReservationId,
    /// A transfer between two locations.
    TransferId,
    /// A barcode label template.
    LabelTemplateId,
    /// A low-stock rule.
    LowStockRuleId,
    /// A receipt announced with a due date.
    ExpectedReceiptId,
    /// A person who signs in to the web UI.
    UserId,
    /// A signed-in browser session of a user.
    SessionId,
    /// An entry of the audit log.
    AuditId,
    /// An outbound webhook endpoint.
    WebhookId,
    /// An event parked after its webhook delivery failed too often.
    DeadLetterId,
    /// A channel order.
    OrderId,
    /// A line of an order.
    OrderLineId,
    /// An allocation run.
    AllocationRunId,
    /// A return of shipped goods.
    ReturnId,
    /// An exchange of order lines.
    ExchangeId,
    /// A store pickup request (click and collect).
    PickupId,
    /// One order line's units in a pickup request.
    PickupItemId,
    /// One print of pickup receipts at a store.
    PickupPrintRunId,
    /// A shipment: allocated units of one order leaving one location.
    ShipmentId,
    /// A courier a tenant ships with.
    CourierId,
);
