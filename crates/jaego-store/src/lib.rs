//! jaego's storage: every read and write of the database.
//!
//! One [`Store`] runs the same SQL on an embedded SQLite file (the default)
//! or on PostgreSQL, through sqlx's `Any` driver; the engine is chosen once
//! from the database URL. All SQL stays within what both engines run.
//!
//! Invariants enforced here:
//! - a balance changes only in the transaction that appends its movement;
//! - a reservation is granted by a conditional update on locked rows, never
//!   by trusting a figure read earlier; see [`reservations`];
//! - a reservation is resolved exactly once (`WHERE state = 'open'`);
//! - every query filters by tenant.

#![forbid(unsafe_code)]

pub mod audit;
pub mod backup;
mod batch;
mod batcher;
pub mod bundles;
pub mod catalog;
pub mod channel_catalog;
pub mod csv_support;
mod db;
mod error;
pub mod events;
pub mod idempotency;
pub mod labels;
pub mod ledger;
mod lookups;
pub mod orders;
pub mod page;
pub mod pickups;
pub mod places;
pub mod reservations;
mod rows;
pub mod schedules;
pub mod sessions;
pub mod shipments;
pub mod stock_rules;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;
pub mod verify;
pub mod webhooks;

pub use batcher::GroupCommitStats;
pub use db::{Engine, Store, StoreOptions};
pub use error::{StoreError, StoreResult};
pub use page::{Page, PageRequest};

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}
