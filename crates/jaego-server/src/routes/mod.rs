//! The API's areas; each exposes `router()` and [`api`] merges them.

use axum::Router;

use crate::AppState;

pub mod admin;
pub mod catalog;
pub mod csv;
pub mod ops;
pub mod places;
pub mod reservations;
pub mod stock;

/// Every `/api/v1` route whose writes honour `Idempotency-Key`: all but
/// [`admin`], whose token creation shows a secret once and must never have
/// its answer stored or replayed.
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(catalog::router())
        .merge(places::router())
        .merge(stock::router())
        .merge(reservations::router())
        .merge(csv::router())
}
