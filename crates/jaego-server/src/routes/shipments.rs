//! Shipping over HTTP: couriers, shipments packed from allocated lines,
//! tracking numbers (one, or a courier's CSV with a per-row report), the
//! scan station, confirmation (a supervisor may override an incomplete
//! scan with a reason), the print order setting, storage bins, and the
//! print view of invoices and packing slips. See `docs/fulfilment.md`.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use jaego_core::limits::CSV_BODY_BYTES_MAX;
use jaego_core::role::Permission;
use jaego_core::shipment::{PrintOrder, ShipmentState};
use jaego_core::{OrderId, ShipmentId, TenantId};
use jaego_store::shipments::{
    Courier, CourierPatch, Pack, PrintSelection, RowError, Shipment, ShipmentFilter,
    ShippingSettings, StockBin, TrackingRow,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::documents::shipping::{Documents, invoice, packing_slip, print_pdf};
use crate::documents::svg;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, field_id, field_ids, parse_enum, path_id, unknown};
use crate::routes::csv::{Table, csv_body};
use crate::routes::labels::{BinaryFile, document};
use crate::routes::orders::line_id;
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_couriers, create_courier))
        .routes(routes!(get_courier, update_courier, delete_courier))
        .routes(routes!(get_shipping_settings, put_shipping_settings))
        .routes(routes!(list_bins))
        .routes(routes!(put_bin, delete_bin))
        .routes(routes!(list_shipments, create_shipments))
        .routes(routes!(create_order_shipments))
        .routes(routes!(get_shipment))
        .routes(routes!(open_at_scan_station))
        .routes(routes!(set_tracking))
        .routes(routes!(scan))
        .routes(routes!(confirm))
        .routes(routes!(cancel))
        .routes(routes!(print_order))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import_tracking))
                .layer(DefaultBodyLimit::max(CSV_BODY_BYTES_MAX)),
        )
}

/// The SVG and PDF answers, outside the idempotency layer.
pub fn rendering() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(packing_slip_svg))
        .routes(routes!(invoice_svg))
        .routes(routes!(print_shipments_pdf))
}

// ---- wire types ----

#[derive(Debug, Serialize, ToSchema)]
pub struct CourierBody {
    pub id: String,
    pub code: String,
    pub name: String,
    /// Inactive couriers take no new tracking numbers.
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Courier> for CourierBody {
    fn from(c: Courier) -> Self {
        CourierBody {
            id: c.id.to_string(),
            code: c.code,
            name: c.name,
            active: c.active,
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentLineBody {
    /// 1-based within the shipment.
    pub line: i64,
    pub order_line_id: String,
    /// The order line's number (1-based within the order).
    pub order_line: i64,
    pub sku_id: String,
    pub sku_code: String,
    pub sku_name: String,
    /// The SKU's bin at the shipment's location.
    pub bin: Option<String>,
    pub quantity: i64,
    /// Units scanned; for a bundle line, the whole bundles its components'
    /// scans make.
    pub scanned: i64,
    /// Units still to scan; for a bundle line, component units.
    pub remaining: i64,
    /// A bundle line's components, which the scan station checks (left out
    /// for a plain line).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ShipmentComponentBody>,
}

/// One component of a bundle line at the scan station.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentComponentBody {
    pub sku_id: String,
    pub sku_code: String,
    pub sku_name: String,
    /// Units of the component in one bundle (the order line's stored recipe).
    pub per_bundle: i64,
    /// Units to scan: the line's bundles × `per_bundle`.
    pub quantity: i64,
    pub scanned: i64,
    pub remaining: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientBody {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub postal_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentBody {
    pub id: String,
    /// The packing slip's barcode (`SH` and digits).
    pub code: String,
    pub order_id: String,
    pub order_no: String,
    pub channel_id: String,
    pub location_id: String,
    pub location_code: String,
    /// `open`, `confirmed` or `cancelled`.
    pub state: String,
    /// The courier's code, once a tracking number is registered.
    pub courier: Option<String>,
    pub courier_name: Option<String>,
    pub tracking_no: Option<String>,
    /// Units to scan (a bundle line counts its components' units).
    pub units: i64,
    pub scanned: i64,
    /// Units still to scan.
    pub remaining: i64,
    /// Every unit is scanned.
    pub complete: bool,
    /// Set when a supervisor confirmed an incomplete scan.
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    pub confirmed_at: Option<String>,
    pub confirmed_by: Option<String>,
    pub recipient: RecipientBody,
    pub order_collected_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub lines: Vec<ShipmentLineBody>,
}

impl From<Shipment> for ShipmentBody {
    fn from(s: Shipment) -> Self {
        let units = s.units();
        let scanned = s.scanned();
        ShipmentBody {
            id: s.id.to_string(),
            code: s.code,
            order_id: s.order_id.to_string(),
            order_no: s.order_no,
            channel_id: s.channel_id.to_string(),
            location_id: s.location_id.to_string(),
            location_code: s.location_code,
            state: s.state.as_str().to_string(),
            courier: s.courier.as_ref().map(|c| c.code.clone()),
            courier_name: s.courier.map(|c| c.name),
            tracking_no: s.tracking_no,
            units,
            scanned,
            remaining: units - scanned,
            complete: scanned == units,
            override_reason: s.override_reason,
            override_by: s.override_by,
            confirmed_at: s.confirmed_at.map(time),
            confirmed_by: s.confirmed_by,
            recipient: RecipientBody {
                name: s.customer.name,
                phone: s.customer.phone,
                address: s.customer.address,
                postal_code: s.customer.postal_code,
            },
            order_collected_at: time(s.collected_at),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
            lines: s
                .lines
                .into_iter()
                .map(|l| ShipmentLineBody {
                    remaining: l.remaining(),
                    line: l.line_no,
                    order_line_id: l.order_line_id.to_string(),
                    order_line: l.order_line_no,
                    sku_id: l.sku_id.to_string(),
                    sku_code: l.sku_code,
                    sku_name: l.sku_name,
                    bin: l.bin,
                    quantity: l.quantity,
                    scanned: l.scanned,
                    components: l
                        .components
                        .into_iter()
                        .map(|c| ShipmentComponentBody {
                            sku_id: c.sku_id.to_string(),
                            sku_code: c.sku_code,
                            sku_name: c.sku_name,
                            per_bundle: c.per_bundle,
                            quantity: c.quantity,
                            remaining: c.quantity - c.scanned,
                            scanned: c.scanned,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn shipment_id(raw: &str) -> ApiResult<ShipmentId> {
    path_id(raw, "shipment")
}

async fn location_id(
    state: &AppState,
    tenant: TenantId,
    raw: &str,
) -> ApiResult<jaego_core::LocationId> {
    Ok(state.store.find_location(tenant, raw).await?.id)
}

// ---- couriers ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCourier {
    /// Unique per tenant; what tracking CSVs name (e.g. `cj`).
    pub code: String,
    pub name: String,
}

#[utoipa::path(get, path = "/couriers", tag = "shipping", security(("bearer" = ["read"])),
    responses((status = 200, body = Vec<CourierBody>)))]
pub async fn list_couriers(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<CourierBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let list = state.store.list_couriers(p.tenant_id).await?;
    Ok(Json(list.into_iter().map(CourierBody::from).collect()))
}

#[utoipa::path(post, path = "/couriers", tag = "shipping", security(("bearer" = ["catalog:write"])), request_body = CreateCourier,
    responses((status = 201, body = CourierBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_courier(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(b): ApiJson<CreateCourier>,
) -> ApiResult<(StatusCode, Json<CourierBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change couriers")?;
    let c = state
        .store
        .create_courier(p.tenant_id, &b.code, &b.name)
        .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[utoipa::path(get, path = "/couriers/{courier}", tag = "shipping", security(("bearer" = ["read"])),
    params(("courier" = String, Path, description = "Courier id or code")),
    responses((status = 200, body = CourierBody), (status = 404, body = Problem)))]
pub async fn get_courier(
    State(state): State<AppState>,
    auth: Auth,
    Path(courier): Path<String>,
) -> ApiResult<Json<CourierBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .find_courier(p.tenant_id, &courier)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCourier {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[utoipa::path(patch, path = "/couriers/{courier}", tag = "shipping", security(("bearer" = ["catalog:write"])), request_body = UpdateCourier,
    params(("courier" = String, Path, description = "Courier id or code")),
    responses((status = 200, body = CourierBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_courier(
    State(state): State<AppState>,
    auth: Auth,
    Path(courier): Path<String>,
    ApiJson(b): ApiJson<UpdateCourier>,
) -> ApiResult<Json<CourierBody>> {
    let p = auth.require(Permission::WriteCatalog, "change couriers")?;
    let c = state
        .store
        .update_courier(
            p.tenant_id,
            &courier,
            &CourierPatch {
                name: b.name,
                active: b.active,
            },
        )
        .await?;
    Ok(Json(c.into()))
}

#[utoipa::path(delete, path = "/couriers/{courier}", tag = "shipping", security(("bearer" = ["catalog:write"])),
    params(("courier" = String, Path, description = "Courier id or code")),
    responses((status = 204), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`courier_in_use`: shipments name it; deactivate it instead")))]
pub async fn delete_courier(
    State(state): State<AppState>,
    auth: Auth,
    Path(courier): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change couriers")?;
    state.store.delete_courier(p.tenant_id, &courier).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- settings and bins ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingSettingsBody {
    /// The order invoices and packing slips print in: `collected_at`
    /// (oldest order first, the default), `sku` (by SKU code) or `bin`
    /// (by storage bin at the shipping location).
    pub print_order: String,
}

#[utoipa::path(get, path = "/shipping-settings", tag = "shipping", security(("bearer" = ["read"])),
    responses((status = 200, body = ShippingSettingsBody)))]
pub async fn get_shipping_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<ShippingSettingsBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let s = state.store.shipping_settings(p.tenant_id).await?;
    Ok(Json(ShippingSettingsBody {
        print_order: s.print_order.as_str().to_string(),
    }))
}

#[utoipa::path(put, path = "/shipping-settings", tag = "shipping", security(("bearer" = ["catalog:write"])), request_body = ShippingSettingsBody,
    responses((status = 200, body = ShippingSettingsBody), (status = 422, body = Problem)))]
pub async fn put_shipping_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(b): ApiJson<ShippingSettingsBody>,
) -> ApiResult<Json<ShippingSettingsBody>> {
    let p = auth.require(Permission::WriteCatalog, "change shipping settings")?;
    let print_order = parse_enum::<PrintOrder>("print_order", &b.print_order)?;
    let s = state
        .store
        .set_shipping_settings(p.tenant_id, ShippingSettings { print_order })
        .await?;
    Ok(Json(ShippingSettingsBody {
        print_order: s.print_order.as_str().to_string(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BinBody {
    pub sku_id: String,
    pub sku_code: String,
    pub location_id: String,
    pub bin: String,
    pub updated_at: String,
}

impl From<StockBin> for BinBody {
    fn from(b: StockBin) -> Self {
        BinBody {
            sku_id: b.sku_id.to_string(),
            sku_code: b.sku_code,
            location_id: b.location_id.to_string(),
            bin: b.bin,
            updated_at: time(b.updated_at),
        }
    }
}

#[utoipa::path(get, path = "/locations/{location}/bins", tag = "shipping", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Location id or code")),
    responses((status = 200, body = Vec<BinBody>), (status = 404, body = Problem)))]
pub async fn list_bins(
    State(state): State<AppState>,
    auth: Auth,
    Path(location): Path<String>,
) -> ApiResult<Json<Vec<BinBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let loc = location_id(&state, p.tenant_id, &location).await?;
    let bins = state.store.list_bins(p.tenant_id, loc).await?;
    Ok(Json(bins.into_iter().map(BinBody::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBin {
    /// A shelf or bin code: letters, digits, `- _ . /`, at most 40 characters.
    pub bin: String,
}

#[utoipa::path(put, path = "/locations/{location}/bins/{sku}", tag = "shipping", security(("bearer" = ["catalog:write"])), request_body = PutBin,
    params(("location" = String, Path, description = "Location id or code"), ("sku" = String, Path, description = "SKU id or code")),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_bin(
    State(state): State<AppState>,
    auth: Auth,
    Path((location, sku)): Path<(String, String)>,
    ApiJson(b): ApiJson<PutBin>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change bins")?;
    let loc = location_id(&state, p.tenant_id, &location).await?;
    let sku = state.store.find_sku(p.tenant_id, &sku).await?.id;
    state
        .store
        .set_bin(p.tenant_id, loc, sku, Some(&b.bin))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/locations/{location}/bins/{sku}", tag = "shipping", security(("bearer" = ["catalog:write"])),
    params(("location" = String, Path, description = "Location id or code"), ("sku" = String, Path, description = "SKU id or code")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_bin(
    State(state): State<AppState>,
    auth: Auth,
    Path((location, sku)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change bins")?;
    let loc = location_id(&state, p.tenant_id, &location).await?;
    let sku = state.store.find_sku(p.tenant_id, &sku).await?.id;
    state.store.set_bin(p.tenant_id, loc, sku, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- shipments ----

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ShipmentQuery {
    /// `open`, `confirmed` or `cancelled`.
    pub state: Option<String>,
    /// An order id.
    pub order: Option<String>,
    /// A location id or code.
    pub location: Option<String>,
    pub after: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/shipments", tag = "shipping", security(("bearer" = ["read"])), params(ShipmentQuery),
    responses((status = 200, body = PageBody<ShipmentBody>), (status = 422, body = Problem)))]
pub async fn list_shipments(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ShipmentQuery>,
) -> ApiResult<Json<PageBody<ShipmentBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let filter = ShipmentFilter {
        state: q
            .state
            .as_deref()
            .map(|s| parse_enum::<ShipmentState>("state", s))
            .transpose()?,
        order_id: field_id(q.order.as_deref(), "order", "an order id")?,
        location_id: match &q.location {
            Some(l) => Some(location_id(&state, p.tenant_id, l).await?),
            None => None,
        },
    };
    let got = state
        .store
        .list_shipments(p.tenant_id, &filter, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, ShipmentBody::from)))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateShipments {
    /// Only these orders (ids, at most 1,000); omit for every order with
    /// allocated units no open shipment carries yet.
    pub orders: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedShipments {
    pub shipments: Vec<ShipmentBody>,
    /// More orders are waiting: call again.
    pub more: bool,
}

#[utoipa::path(post, path = "/shipments", tag = "shipping", security(("bearer" = ["orders:write"])), request_body = CreateShipments,
    responses((status = 201, body = CreatedShipments, description = "One shipment per order and location of the allocated units not yet packed; orders on hold and pickup lines are left out"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_shipments(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(b): ApiJson<CreateShipments>,
) -> ApiResult<(StatusCode, Json<CreatedShipments>)> {
    let p = auth.require(Permission::WriteOrders, "create shipments")?;
    let orders = b
        .orders
        .as_ref()
        .map(|list| field_ids::<OrderId>(list.iter().map(String::as_str), "orders", "an order id"))
        .transpose()?;
    let (made, more) = state
        .store
        .create_shipments(p.tenant_id, orders.as_deref(), &p.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedShipments {
            shipments: made.into_iter().map(ShipmentBody::from).collect(),
            more,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackLine {
    /// The order line's number (1-based).
    pub line: i64,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderShipments {
    /// With `lines`: one shipment of these units from this location (id or code).
    pub location: Option<String>,
    pub lines: Option<Vec<PackLine>>,
}

#[utoipa::path(post, path = "/orders/{order}/shipments", tag = "shipping", security(("bearer" = ["orders:write"])), request_body = CreateOrderShipments,
    responses((status = 201, body = Vec<ShipmentBody>, description = "Without a body (or `{}`): one shipment per location of everything allocated and not yet packed"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`nothing_to_ship`, `order_on_hold`, `order_not_shippable`, `not_allocated`"),
        (status = 422, body = Problem)))]
pub async fn create_order_shipments(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Vec<ShipmentBody>>)> {
    let p = auth.require(Permission::WriteOrders, "create shipments")?;
    let b: CreateOrderShipments = crate::extract::optional_json(&body)?;
    let id: OrderId = path_id(&order, "order")?;
    let pack = match (&b.location, &b.lines) {
        (None, None) => None,
        (Some(loc), Some(lines)) => {
            let o = state.store.get_order(p.tenant_id, id).await?;
            let location = state
                .store
                .find_location(p.tenant_id, loc)
                .await
                .map_err(unknown("location", "location", loc))?
                .id;
            let mut out = Vec::with_capacity(lines.len());
            for (i, l) in lines.iter().enumerate() {
                out.push((
                    line_id(&o, l.line, &format!("lines[{i}].line"))?,
                    l.quantity,
                ));
            }
            Some(Pack {
                location,
                lines: out,
            })
        }
        _ => {
            return Err(ApiError::invalid(
                "lines",
                "give `location` and `lines` together, or neither",
            ));
        }
    };
    let made = state
        .store
        .create_order_shipments(p.tenant_id, id, pack.as_ref(), &p.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(made.into_iter().map(ShipmentBody::from).collect()),
    ))
}

#[utoipa::path(get, path = "/shipments/{shipment}", tag = "shipping", security(("bearer" = ["read"])),
    responses((status = 200, body = ShipmentBody), (status = 404, body = Problem)))]
pub async fn get_shipment(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
) -> ApiResult<Json<ShipmentBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let s = state
        .store
        .get_shipment(p.tenant_id, shipment_id(&shipment)?)
        .await?;
    Ok(Json(s.into()))
}

#[utoipa::path(get, path = "/scan-station/{code}", tag = "shipping", security(("bearer" = ["read"])),
    params(("code" = String, Path, description = "What the scanner read first: a tracking number or a packing slip's code")),
    responses((status = 200, body = ShipmentBody, description = "The shipment with its scan progress, as saved: a reload or a second device continues the same check"),
        (status = 404, body = Problem)))]
pub async fn open_at_scan_station(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
) -> ApiResult<Json<ShipmentBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let s = state
        .store
        .find_shipment_by_code(p.tenant_id, code.trim())
        .await?;
    Ok(Json(s.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTracking {
    /// Courier id or code.
    pub courier: String,
    /// Letters, digits and `-`, at most 40 characters; unique per tenant.
    pub tracking_no: String,
}

#[utoipa::path(put, path = "/shipments/{shipment}/tracking", tag = "shipping", security(("bearer" = ["orders:write"])), request_body = SetTracking,
    responses((status = 200, body = ShipmentBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`duplicate` (another shipment has the tracking number), `shipment_not_open`"),
        (status = 422, body = Problem)))]
pub async fn set_tracking(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
    ApiJson(b): ApiJson<SetTracking>,
) -> ApiResult<Json<ShipmentBody>> {
    let p = auth.require(Permission::WriteOrders, "register tracking numbers")?;
    // An unknown shipment is 404 before the body's courier is judged.
    let id = state
        .store
        .get_shipment(p.tenant_id, shipment_id(&shipment)?)
        .await?
        .id;
    let s = state
        .store
        .set_tracking(
            p.tenant_id,
            id,
            &b.courier,
            b.tracking_no.trim(),
            &p.actor(),
        )
        .await?;
    Ok(Json(s.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RowErrorBody {
    /// The row's line in the file (the header is line 1).
    pub line: usize,
    /// `order_no`, `channel`, `courier`, `tracking_no`, or `row`.
    pub field: String,
    pub reason: String,
}

impl From<RowError> for RowErrorBody {
    fn from(e: RowError) -> Self {
        RowErrorBody {
            line: e.line,
            field: e.field,
            reason: e.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredRowBody {
    pub line: usize,
    pub shipment_id: String,
    pub shipment_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingReportBody {
    /// Data rows read.
    pub rows: usize,
    pub registered: Vec<RegisteredRowBody>,
    /// Rows whose tracking number was already on a shipment of that order.
    pub unchanged: usize,
    /// Rows that changed nothing, with what was wrong.
    pub errors: Vec<RowErrorBody>,
}

const TRACKING_COLUMNS: [&str; 4] = ["order_no", "courier", "tracking_no", "channel"];

#[utoipa::path(post, path = "/tracking-numbers/import", tag = "shipping", security(("bearer" = ["orders:write"])),
    request_body(content = String, content_type = "text/csv",
        description = "Header `order_no,courier,tracking_no` (and optionally `channel`, for order numbers used on several channels); one row per parcel"),
    responses((status = 200, body = TrackingReportBody, description = "Each row on its own: good rows are registered, bad rows change nothing and are listed with what was wrong"),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem, description = "The file itself is unreadable (not UTF-8, missing columns); nothing changed")))]
pub async fn import_tracking(
    State(state): State<AppState>,
    auth: Auth,
    request: Request,
) -> ApiResult<Json<TrackingReportBody>> {
    let p = auth.require(Permission::WriteOrders, "register tracking numbers")?;
    let body = csv_body(request).await?;
    let mut table = Table::read(&body, &TRACKING_COLUMNS, &TRACKING_COLUMNS[..3])?;
    let misshapen = std::mem::take(&mut table.bad).into_lines();
    let rows: Vec<TrackingRow> = table
        .rows
        .iter()
        .map(|r| {
            let channel = table.get(r, "channel");
            TrackingRow {
                line: r.line as usize,
                order_no: table.get(r, "order_no").to_string(),
                channel: (!channel.is_empty()).then(|| channel.to_string()),
                courier: table.get(r, "courier").to_string(),
                tracking_no: table.get(r, "tracking_no").to_string(),
            }
        })
        .collect();
    let report = state
        .store
        .import_tracking(p.tenant_id, &rows, &p.actor())
        .await?;
    let mut errors: Vec<RowErrorBody> = report.errors.into_iter().map(Into::into).collect();
    errors.extend(misshapen.into_iter().map(|(line, reasons)| RowErrorBody {
        line: line as usize,
        field: "row".into(),
        reason: reasons.join("; "),
    }));
    errors.sort_by_key(|e| e.line);
    Ok(Json(TrackingReportBody {
        rows: report.rows + errors.iter().filter(|e| e.field == "row").count(),
        registered: report
            .registered
            .into_iter()
            .map(|(line, id, code)| RegisteredRowBody {
                line,
                shipment_id: id.to_string(),
                shipment_code: code,
            })
            .collect(),
        unchanged: report.unchanged,
        errors,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// What the scanner read: a SKU barcode or SKU code.
    pub barcode: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanBody {
    /// `accepted`, `wrong_item` (not in this shipment), `too_many` (every
    /// unit of it is scanned already) or `unknown_barcode`.
    pub result: String,
    pub barcode: String,
    /// The SKU the barcode names, if any.
    pub sku_id: Option<String>,
    pub sku_code: Option<String>,
    /// The shipment line that took the unit (accepted only).
    pub line: Option<i64>,
    /// The component of that bundle line that took the unit (accepted
    /// only; absent for a plain line or the bundle's own barcode, which
    /// counts a whole bundle).
    pub component_sku_id: Option<String>,
    /// Units of that line still to scan (accepted only; for a bundle line,
    /// component units).
    pub line_remaining: Option<i64>,
    /// Units of the whole shipment still to scan.
    pub remaining: i64,
    /// Every unit is scanned: the shipment can be confirmed.
    pub complete: bool,
    pub shipment: ShipmentBody,
}

#[utoipa::path(post, path = "/shipments/{shipment}/scans", tag = "shipping", security(("bearer" = ["orders:write"])), request_body = ScanRequest,
    responses((status = 200, body = ScanBody, description = "The scan's answer; every scan is saved, and only `accepted` counts a unit"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`shipment_not_open`: confirmed or cancelled"),
        (status = 422, body = Problem)))]
pub async fn scan(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
    ApiJson(b): ApiJson<ScanRequest>,
) -> ApiResult<Json<ScanBody>> {
    let p = auth.require(Permission::WriteOrders, "scan shipments")?;
    let barcode = b.barcode.trim();
    let out = state
        .store
        .scan_shipment(p.tenant_id, shipment_id(&shipment)?, barcode, &p.actor())
        .await?;
    let line = out
        .line_no
        .and_then(|n| out.shipment.lines.iter().find(|l| l.line_no == n));
    let remaining = out.shipment.units() - out.shipment.scanned();
    Ok(Json(ScanBody {
        result: out.verdict.as_str().to_string(),
        barcode: barcode.to_string(),
        sku_id: out.sku_id.map(|s| s.to_string()),
        sku_code: out.sku_code.clone(),
        line: out.line_no,
        component_sku_id: out.component.map(|s| s.to_string()),
        line_remaining: line.map(jaego_store::shipments::ShipmentLine::remaining),
        remaining,
        complete: remaining == 0,
        shipment: out.shipment.into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// Confirm although units are left to scan: needs the `supervise`
    /// permission (owner or manager) and is recorded on the shipment.
    pub override_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedBody {
    pub shipment: ShipmentBody,
    /// The order's status after the shipment.
    pub order_status: String,
}

#[utoipa::path(post, path = "/shipments/{shipment}/confirm", tag = "shipping", security(("bearer" = ["orders:write"])), request_body = ConfirmRequest,
    responses((status = 200, body = ConfirmedBody, description = "Shipped: one `shipment` movement per order line (on hand and allocated drop), the order's status updated, `order.shipped` and `shipment.confirmed` written"),
        (status = 403, body = Problem, description = "`override_reason` given by a role without `supervise`"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`scan_incomplete`, `shipment_not_open`, `order_on_hold`, `order_not_shippable`, `not_allocated` (customer service took units back since packing)"),
        (status = 422, body = Problem)))]
pub async fn confirm(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ConfirmedBody>> {
    let p = auth.require(Permission::WriteOrders, "confirm shipments")?;
    let b: ConfirmRequest = crate::extract::optional_json(&body)?;
    if b.override_reason.is_some() {
        auth.require(
            Permission::Supervise,
            "confirm an incompletely scanned shipment",
        )?;
    }
    let (s, order) = state
        .store
        .confirm_shipment(
            p.tenant_id,
            shipment_id(&shipment)?,
            b.override_reason.as_deref(),
            &p.actor(),
        )
        .await?;
    Ok(Json(ConfirmedBody {
        shipment: s.into(),
        order_status: order.status.as_str().to_string(),
    }))
}

#[utoipa::path(post, path = "/shipments/{shipment}/cancel", tag = "shipping", security(("bearer" = ["orders:write"])),
    responses((status = 200, body = ShipmentBody, description = "Cancelled; its units may be packed again. Stock does not change"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
) -> ApiResult<Json<ShipmentBody>> {
    let p = auth.require(Permission::WriteOrders, "cancel shipments")?;
    let s = state
        .store
        .cancel_shipment(p.tenant_id, shipment_id(&shipment)?, &p.actor())
        .await?;
    Ok(Json(s.into()))
}

// ---- printing ----

#[derive(Debug, Deserialize, IntoParams, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PrintQuery {
    /// Comma-separated shipment ids; omit for every open shipment (at most 500).
    pub shipments: Option<String>,
    /// Only shipments leaving this location (id or code).
    pub location: Option<String>,
    /// `collected_at`, `sku` or `bin`; omit for the tenant's setting.
    pub order: Option<String>,
    /// `both` (default: per shipment its invoice, then its slip), `invoices` or `slips`. PDF only.
    pub documents: Option<String>,
}

async fn selection(
    state: &AppState,
    tenant: TenantId,
    q: &PrintQuery,
) -> ApiResult<PrintSelection> {
    let mut sel = PrintSelection::default();
    if let Some(list) = &q.shipments {
        sel.shipments = Some(field_ids::<ShipmentId>(
            list.split(',').map(str::trim).filter(|s| !s.is_empty()),
            "shipments",
            "a shipment id",
        )?);
    }
    if let Some(l) = &q.location {
        sel.location = Some(location_id(state, tenant, l).await?);
    }
    if let Some(o) = &q.order {
        sel.order = Some(parse_enum::<PrintOrder>("order", o)?);
    }
    Ok(sel)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentPrintBody {
    /// The order used.
    pub print_order: String,
    /// The shipments in print order, each with its lines in slip order.
    pub shipments: Vec<ShipmentBody>,
}

#[utoipa::path(get, path = "/print/shipments", tag = "shipping", security(("bearer" = ["read"])), params(PrintQuery),
    responses((status = 200, body = ShipmentPrintBody, description = "What `print/shipments.pdf` prints, in the same order"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn print_order(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PrintQuery>,
) -> ApiResult<Json<ShipmentPrintBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let sel = selection(&state, p.tenant_id, &q).await?;
    let (order, run) = state.store.print_run(p.tenant_id, &sel).await?;
    Ok(Json(ShipmentPrintBody {
        print_order: order.as_str().to_string(),
        shipments: run.into_iter().map(ShipmentBody::from).collect(),
    }))
}

#[utoipa::path(get, path = "/print/shipments.pdf", tag = "shipping", security(("bearer" = ["read"])), params(PrintQuery),
    responses((status = 200, content_type = "application/pdf", body = BinaryFile,
            description = "Invoices (100 × 150 mm, for shipments with a tracking number) and packing slips (A4, with the slip's code as a Code 128 barcode) in print order. Changes nothing"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn print_shipments_pdf(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PrintQuery>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let which = match q.documents.as_deref() {
        None | Some("both") => Documents::Both,
        Some("invoices") => Documents::Invoices,
        Some("slips") => Documents::Slips,
        Some(other) => {
            return Err(ApiError::invalid(
                "documents",
                format!("unknown {other:?}; expected both, invoices or slips"),
            ));
        }
    };
    let sel = selection(&state, p.tenant_id, &q).await?;
    let (_, run) = state.store.print_run(p.tenant_id, &sel).await?;
    let bytes = tokio::task::spawn_blocking(move || print_pdf(&run, which))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering shipments: {e}")))?;
    Ok(document("application/pdf", None, bytes))
}

#[utoipa::path(get, path = "/shipments/{shipment}/packing-slip.svg", tag = "shipping", security(("bearer" = ["read"])),
    responses((status = 200, content_type = "image/svg+xml", body = String,
            description = "The first page of the packing slip (A4), its code as a Code 128 barcode"),
        (status = 404, body = Problem)))]
pub async fn packing_slip_svg(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let (_, mut run) = state
        .store
        .print_run(
            p.tenant_id,
            &PrintSelection {
                shipments: Some(vec![shipment_id(&shipment)?]),
                ..PrintSelection::default()
            },
        )
        .await?;
    let s = run
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("shipment {shipment} not found")))?;
    let pages = packing_slip(&s);
    Ok(document(
        "image/svg+xml",
        None,
        svg::render(&pages[0]).into_bytes(),
    ))
}

#[utoipa::path(get, path = "/shipments/{shipment}/invoice.svg", tag = "shipping", security(("bearer" = ["read"])),
    responses((status = 200, content_type = "image/svg+xml", body = String,
            description = "The courier invoice (100 × 150 mm), the tracking number as a Code 128 barcode"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`no_tracking_number`: register one first")))]
pub async fn invoice_svg(
    State(state): State<AppState>,
    auth: Auth,
    Path(shipment): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let s = state
        .store
        .get_shipment(p.tenant_id, shipment_id(&shipment)?)
        .await?;
    let d = invoice(&s).ok_or_else(|| ApiError::Refused {
        code: "no_tracking_number",
        detail: format!("shipment {} has no tracking number yet", s.code),
    })?;
    Ok(document(
        "image/svg+xml",
        None,
        svg::render(&d).into_bytes(),
    ))
}
