//! The API's areas; each exposes `router()` and [`api`] merges them.
//!
//! Routes are registered with `utoipa_axum`'s `routes!`, so the router and
//! the OpenAPI document are built from one list: a handler cannot be served
//! without being documented, nor documented without being served. Each
//! operation names the permission it needs as its bearer scope
//! (`security(("bearer" = ["stock:write"]))`, see `Permission::scope`).

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub mod admin;
pub mod audit;
pub mod auth;
pub mod bundles;
pub mod catalog;
pub mod channel_catalog;
pub mod csv;
pub mod events;
pub mod labels;
pub mod low_stock;
pub mod ops;
pub mod order_ingest;
pub mod orders;
pub mod pickups;
pub mod places;
pub mod receipts;
pub mod reservations;
pub mod sharing;
pub mod shipments;
pub mod status;
pub mod stock;
pub mod table_order;
pub mod users;
pub mod webhooks;

/// Every `/api/v1` route whose writes honour `Idempotency-Key`: all but
/// [`admin`], whose token creation shows a secret once and must never have
/// its answer stored or replayed. Paths are relative to `/api/v1`.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(catalog::router())
        .merge(bundles::router())
        .merge(places::router())
        .merge(stock::router())
        .merge(reservations::router())
        .merge(csv::router())
        .merge(labels::router())
        .merge(sharing::router())
        .merge(status::router())
        .merge(low_stock::router())
        .merge(receipts::router())
        .merge(table_order::router())
        .merge(events::router())
        .merge(orders::router())
        .merge(channel_catalog::router())
        .merge(pickups::router())
        .merge(shipments::router())
}

/// Routes that authenticate by something other than a bearer token (the
/// channels' signed order webhooks), mounted outside that layer (paths
/// relative to `/api/v1`).
pub fn hooks() -> OpenApiRouter<AppState> {
    orders::hooks().merge(channel_catalog::hooks())
}

/// The routes mounted outside the idempotency layer (paths relative to
/// `/api/v1`): tokens and users, whose requests carry secrets (a new token,
/// a password) that must never be stored or replayed; webhooks, whose
/// creation and secret rotation show a secret once; the audit log; and
/// the label and barcode renderings, which change nothing and answer SVG or
/// PDF bytes that a stored JSON answer could not replay.
pub fn unreplayed() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(admin::router())
        .merge(users::router())
        .merge(webhooks::router())
        .merge(audit::router())
        .merge(labels::rendering())
        .merge(pickups::rendering())
        .merge(shipments::rendering())
}
