//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem, ShortageBody};
use crate::routes::{admin, catalog, csv, places, reservations, stock};

#[derive(OpenApi)]
#[openapi(
    info(title = "jaego", description = "Multichannel inventory and order management. Every error is RFC 9457 problem+json with a stable `code`."),
    paths(
        catalog::create_product, catalog::list_products, catalog::get_product,
        catalog::create_sku, catalog::list_skus, catalog::get_sku, catalog::update_sku,
        places::create_location, places::list_locations, places::get_location, places::update_location,
        places::create_channel, places::list_channels, places::get_channel, places::set_channel_locations,
        places::create_movement_type, places::list_movement_types,
        stock::create_movement, stock::list_movements, stock::get_movement, stock::list_balances,
        stock::create_transfer, stock::get_transfer, stock::receive_transfer,
        reservations::create_reservation, reservations::get_reservation, reservations::commit_reservation, reservations::release_reservation,
        admin::create_token, admin::list_tokens, admin::revoke_token,
        csv::export_skus, csv::import_skus, csv::export_stock, csv::import_stock,
    ),
    components(schemas(Problem, FieldError, ShortageBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}
