//! Table-order stock over HTTP (seed 000, H68): a store's settings and
//! menu on the admin tablet, "reset now", the customer display, and the
//! ordering call the customer tablet makes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::LocationId;
use jaego_core::error::Validator;
use jaego_core::limits::REFERENCE_LEN_MAX;
use jaego_core::role::Permission;
use jaego_core::table_order::{ResetMode, parse_reset_schedule};
use jaego_store::now_us;
use jaego_store::stock_rules::table_order::{
    Display, MenuItem, MenuItemChange, ResetReport, TableOrder, TableOrderSettings,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem, name_shortages};
use crate::extract::{ApiJson, Auth, parse_enum};
use crate::wire::time;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, set_settings))
        .routes(routes!(get_menu))
        .routes(routes!(set_menu_item, remove_menu_item))
        .routes(routes!(track_all))
        .routes(routes!(reset_now))
        .routes(routes!(get_display))
        .routes(routes!(place_order))
}

async fn location(
    state: &AppState,
    tenant: jaego_core::TenantId,
    key: &str,
) -> ApiResult<LocationId> {
    Ok(state.store.find_location(tenant, key).await?.id)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableOrderSettingsBody {
    pub location_id: String,
    pub location_code: String,
    pub time_zone: String,
    /// `to_initial` or `to_zero`.
    pub reset_mode: String,
    /// Customer screens show each tracked item's remaining count.
    pub show_remaining: bool,
    /// `daily HH:MM` in the store's time zone; `null`: manual only.
    pub reset_schedule: Option<String>,
    pub next_reset_at: Option<String>,
    pub last_reset_at: Option<String>,
}

impl From<TableOrderSettings> for TableOrderSettingsBody {
    fn from(s: TableOrderSettings) -> Self {
        TableOrderSettingsBody {
            location_id: s.location_id.to_string(),
            location_code: s.location_code,
            time_zone: s.time_zone,
            reset_mode: s.reset_mode.as_str().to_string(),
            show_remaining: s.show_remaining,
            reset_schedule: s.reset_schedule.map(|s| s.to_string()),
            next_reset_at: s.next_reset_at.map(time),
            last_reset_at: s.last_reset_at.map(time),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTableOrderSettings {
    /// `to_initial` (default) or `to_zero`.
    pub reset_mode: Option<String>,
    /// Default `false`.
    #[serde(default)]
    pub show_remaining: bool,
    /// `daily HH:MM` in the store's time zone, or `null` / absent for
    /// manual only ("reset now").
    pub reset_schedule: Option<String>,
}

#[utoipa::path(get, path = "/table-order/{location}/settings", tag = "table-order", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = TableOrderSettingsBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<TableOrderSettingsBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let id = location(&state, p.tenant_id, &key).await?;
    Ok(Json(
        state
            .store
            .table_order_settings(p.tenant_id, id)
            .await?
            .into(),
    ))
}

#[utoipa::path(put, path = "/table-order/{location}/settings", tag = "table-order", security(("bearer" = ["catalog:write"])),
    params(("location" = String, Path, description = "Store location id or code")), request_body = SetTableOrderSettings,
    responses((status = 200, body = TableOrderSettingsBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<SetTableOrderSettings>,
) -> ApiResult<Json<TableOrderSettingsBody>> {
    let p = auth.require(Permission::WriteCatalog, "change table-order settings")?;
    let mode: ResetMode = body
        .reset_mode
        .as_deref()
        .map(|m| parse_enum("reset_mode", m))
        .transpose()?
        .unwrap_or_default();
    let schedule = parse_reset_schedule(body.reset_schedule.as_deref())?;
    let id = location(&state, p.tenant_id, &key).await?;
    Ok(Json(
        state
            .store
            .set_table_order_settings(
                p.tenant_id,
                id,
                mode,
                body.show_remaining,
                schedule,
                now_us(),
            )
            .await?
            .into(),
    ))
}

/// A menu item on the admin tablet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MenuItemBody {
    pub sku_id: String,
    pub sku_code: String,
    pub name: String,
    /// Stock tracking (재고관리 사용여부), the SKU's own flag.
    pub tracked: bool,
    /// A bundle (combination SKU): it holds no stock, so it has no counts
    /// of its own; `on_hand` and `available` are its components' at the
    /// store by the bundle rule.
    pub bundle: bool,
    /// What a `to_initial` reset sets the count to.
    pub initial_count: i64,
    /// The current count (현재수량): units on hand at the store.
    pub on_hand: i64,
    /// What can still be ordered.
    pub available: i64,
    /// The count a customer screen shows (`null` when not shown).
    pub remaining: Option<i64>,
    /// Tracked and nothing available: it cannot be ordered.
    pub sold_out: bool,
}

impl From<MenuItem> for MenuItemBody {
    fn from(i: MenuItem) -> Self {
        MenuItemBody {
            sku_id: i.sku_id.to_string(),
            sku_code: i.sku_code,
            name: i.name,
            tracked: i.tracked,
            bundle: i.bundle,
            initial_count: i.initial_count,
            on_hand: i.balance.on_hand,
            available: i.balance.available(),
            remaining: i.shown.remaining,
            sold_out: i.shown.sold_out,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MenuBody {
    pub location_id: String,
    pub location_code: String,
    pub location_name: String,
    pub show_remaining: bool,
    /// By SKU code.
    pub items: Vec<MenuItemBody>,
}

impl From<Display> for MenuBody {
    fn from(d: Display) -> Self {
        MenuBody {
            location_id: d.location_id.to_string(),
            location_code: d.location_code,
            location_name: d.location_name,
            show_remaining: d.show_remaining,
            items: d.items.into_iter().map(MenuItemBody::from).collect(),
        }
    }
}

#[utoipa::path(get, path = "/table-order/{location}/menu", tag = "table-order", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = MenuBody), (status = 404, body = Problem)))]
pub async fn get_menu(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<MenuBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let id = location(&state, p.tenant_id, &key).await?;
    Ok(Json(
        state.store.table_order_menu(p.tenant_id, id).await?.into(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMenuItem {
    /// 초기수량: what a `to_initial` reset sets the count to (0 to
    /// 1,000,000,000; default 0 for a new item).
    pub initial_count: Option<i64>,
    /// 현재수량: sets the count now (a `count` movement).
    /// Neither count may be set on a bundle (`409 bundle_holds_no_stock`).
    pub current_count: Option<i64>,
    /// 사용여부: the SKU's stock tracking.
    pub tracked: Option<bool>,
}

#[utoipa::path(put, path = "/table-order/{location}/menu/{sku}", tag = "table-order", security(("bearer" = ["stock:write"])),
    params(("location" = String, Path, description = "Store location id or code"), ("sku" = String, Path, description = "SKU id or code")),
    request_body = SetMenuItem,
    responses((status = 200, body = MenuItemBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_menu_item(
    State(state): State<AppState>,
    auth: Auth,
    Path((key, sku)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetMenuItem>,
) -> ApiResult<Json<MenuItemBody>> {
    let p = auth.require(Permission::WriteStock, "change menu counts")?;
    let id = location(&state, p.tenant_id, &key).await?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    let change = MenuItemChange {
        initial_count: body.initial_count,
        current_count: body.current_count,
        tracked: body.tracked,
    };
    Ok(Json(
        state
            .store
            .set_menu_item(p.tenant_id, id, sku, &change, &p.actor())
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/table-order/{location}/menu/{sku}", tag = "table-order", security(("bearer" = ["stock:write"])),
    params(("location" = String, Path, description = "Store location id or code"), ("sku" = String, Path, description = "SKU id or code")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove_menu_item(
    State(state): State<AppState>,
    auth: Auth,
    Path((key, sku)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteStock, "change menu counts")?;
    let id = location(&state, p.tenant_id, &key).await?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    state.store.remove_menu_item(p.tenant_id, id, sku).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackAllBody {
    /// Menu items whose tracking was turned on.
    pub turned_on: usize,
}

#[utoipa::path(post, path = "/table-order/{location}/track-all", tag = "table-order", security(("bearer" = ["stock:write"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = TrackAllBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn track_all(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<TrackAllBody>> {
    let p = auth.require(Permission::WriteStock, "change menu counts")?;
    let id = location(&state, p.tenant_id, &key).await?;
    let turned_on = state.store.track_whole_menu(p.tenant_id, id).await?;
    Ok(Json(TrackAllBody { turned_on }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetLineBody {
    pub sku_id: String,
    pub sku_code: String,
    /// On hand before the reset.
    pub before: i64,
    pub after: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetBody {
    pub location_id: String,
    /// `to_initial` or `to_zero`.
    pub mode: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// Every tracked menu item, each a `reset` movement.
    pub items: Vec<ResetLineBody>,
    pub at: String,
}

impl From<ResetReport> for ResetBody {
    fn from(r: ResetReport) -> Self {
        ResetBody {
            location_id: r.location_id.to_string(),
            mode: r.mode.as_str().to_string(),
            trigger: r.trigger.to_string(),
            items: r
                .items
                .into_iter()
                .map(|l| ResetLineBody {
                    sku_id: l.sku_id.to_string(),
                    sku_code: l.sku_code,
                    before: l.before,
                    after: l.after,
                })
                .collect(),
            at: time(r.at),
        }
    }
}

#[utoipa::path(post, path = "/table-order/{location}/reset", tag = "table-order", security(("bearer" = ["stock:write"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = ResetBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reset_now(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<ResetBody>> {
    let p = auth.require(Permission::WriteStock, "reset counts")?;
    let id = location(&state, p.tenant_id, &key).await?;
    Ok(Json(
        state
            .store
            .reset_now(p.tenant_id, id, &p.actor(), now_us())
            .await?
            .into(),
    ))
}

/// An item on a customer screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayItemBody {
    pub sku_id: String,
    pub sku_code: String,
    pub name: String,
    /// The remaining count, when the store shows counts and the item is
    /// tracked; else `null`.
    pub remaining: Option<i64>,
    /// It cannot be ordered now.
    pub sold_out: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayBody {
    pub location_id: String,
    pub location_name: String,
    pub show_remaining: bool,
    pub items: Vec<DisplayItemBody>,
}

impl From<Display> for DisplayBody {
    fn from(d: Display) -> Self {
        DisplayBody {
            location_id: d.location_id.to_string(),
            location_name: d.location_name,
            show_remaining: d.show_remaining,
            items: d
                .items
                .into_iter()
                .map(|i| DisplayItemBody {
                    sku_id: i.sku_id.to_string(),
                    sku_code: i.sku_code,
                    name: i.name,
                    remaining: i.shown.remaining,
                    sold_out: i.shown.sold_out,
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/table-order/{location}/display", tag = "table-order", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = DisplayBody), (status = 404, body = Problem)))]
pub async fn get_display(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<DisplayBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let id = location(&state, p.tenant_id, &key).await?;
    Ok(Json(
        state.store.table_order_menu(p.tenant_id, id).await?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// SKU id or code.
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceTableOrder {
    /// 1 to 100 lines.
    pub lines: Vec<OrderLine>,
    /// The table, or the order number of the tablet.
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SoldLineBody {
    pub sku_id: String,
    pub sku_code: String,
    pub name: String,
    pub quantity: i64,
    pub tracked: bool,
    /// What is left after this order, for a tracked item.
    pub remaining: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableOrderBody {
    pub location_id: String,
    pub reference: String,
    pub lines: Vec<SoldLineBody>,
    pub created_at: String,
}

impl From<TableOrder> for TableOrderBody {
    fn from(o: TableOrder) -> Self {
        TableOrderBody {
            location_id: o.location_id.to_string(),
            reference: o.reference,
            lines: o
                .lines
                .into_iter()
                .map(|l| SoldLineBody {
                    sku_id: l.sku_id.to_string(),
                    sku_code: l.sku_code,
                    name: l.name,
                    quantity: l.quantity,
                    tracked: l.tracked,
                    remaining: l.remaining.map(|r| r.max(0)),
                })
                .collect(),
            created_at: time(o.created_at),
        }
    }
}

#[utoipa::path(post, path = "/table-order/{location}/orders", tag = "table-order", security(("bearer" = ["orders:write"])),
    params(("location" = String, Path, description = "Store location id or code"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = PlaceTableOrder,
    responses((status = 201, body = TableOrderBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn place_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<PlaceTableOrder>,
) -> ApiResult<(StatusCode, Json<TableOrderBody>)> {
    let p = auth.require(Permission::WriteOrders, "place table orders")?;
    let mut v = Validator::new();
    v.optional_text("reference", &body.reference, REFERENCE_LEN_MAX);
    v.finish()?;
    let id = location(&state, p.tenant_id, &key).await?;
    let lines: Vec<(String, i64)> = body
        .lines
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect();
    let placed = state
        .store
        .place_table_order(p.tenant_id, id, &lines, &body.reference, &p.actor())
        .await;
    let order = name_shortages(&state.store, p.tenant_id, placed).await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}
