//! jaego's inventory rules: the domain types and the decisions made on them.
//!
//! This crate knows nothing about SQL, JSON, HTTP or the clock: callers pass in
//! the current time and fresh ids. Everything here is deterministic, which is
//! what lets the property tests in `tests/` compare it against a simple model.

#![forbid(unsafe_code)]

pub mod allocation;
pub mod auth;
pub mod balance;
pub mod barcode;
pub mod bundle;
pub mod catalog;
pub mod channel_stock;
pub mod delivery;
pub mod error;
pub mod estimate;
pub mod ids;
pub mod judge;
pub mod label;
pub mod ledger;
pub mod limits;
pub mod low_stock;
pub mod movement;
pub mod order;
pub mod pickup;
pub mod policy;
pub mod product_status;
pub mod quantity;
pub mod reservation;
pub mod role;
pub mod schedule;
pub mod shipment;
pub mod signature;
pub mod table_order;

pub use balance::{Balance, Delta};
pub use error::{InvalidInput, Violation};
pub use ids::*;
pub use movement::MovementKind;
pub use policy::StockPolicy;
pub use quantity::Qty;
pub use reservation::ReservationState;
pub use role::Role;
