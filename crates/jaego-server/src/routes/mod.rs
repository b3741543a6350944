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

/// Every `/api/v1` route.
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(catalog::router())
        .merge(places::router())
        .merge(stock::router())
        .merge(reservations::router())
        .merge(admin::router())
        .merge(csv::router())
}
