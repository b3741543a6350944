//! CSV import and export of SKUs and of stock counts per location.

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
