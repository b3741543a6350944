//! Orders over HTTP: collection (one, a batch, CSV, the signed webhook),
//! settings, SKU links and the unmatched queue, the integrated order view,
//! allocation runs, deallocation, shipping, customer service and the
//! owner's reset. See `docs/orders.md`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use jaego_core::allocation::{GiftRule, ShipmentMode};
use jaego_core::limits::{CSV_BODY_BYTES_MAX, ORDERS_PER_SELECTION_MAX, PAGE_SIZE_MAX};
use jaego_core::order::{DuplicatePolicy, OrderStatus, PostalRange, Restock};
use jaego_core::role::Permission;
use jaego_core::schedule::Spec;
use jaego_core::{ChannelId, OrderId, OrderLineId, StockPolicy, TenantId};
use jaego_store::orders::runs::{AllocationRun, RunRequest, RunResult};
use jaego_store::orders::service::{
    Exchange, ExchangeLine, OrderPatch, OrderReturn, RESET_CONFIRMATION,
};
use jaego_store::orders::{
    ChannelOrderSettings, Collected, NewOrder, Order, OrderFilter, OrderSettings, RemoteRange,
    ReturnReason, SkuLink, UnmatchedItem,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{
    ApiJson, ApiQuery, Auth, field_ids, optional_json, parse_enum, path_id, signed_channel, unknown,
};
use crate::routes::csv::csv_body;
use crate::routes::order_ingest::{
    OrderBatchInput, OrderInput, batch_into_new, parse_orders_csv, parse_orders_json,
};
use crate::routes::stock::BalanceBody;
use crate::wire::{PageBody, page, parse_time, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_order_settings, put_order_settings))
        .routes(routes!(
            get_channel_order_settings,
            put_channel_order_settings
        ))
        .routes(routes!(list_remote_areas, add_remote_area))
        .routes(routes!(delete_remote_area))
        .routes(routes!(list_return_reasons))
        .routes(routes!(put_return_reason))
        .routes(routes!(list_sku_links, create_sku_link, delete_sku_link))
        .routes(routes!(auto_link))
        .routes(routes!(list_unmatched))
        .routes(routes!(collect_order))
        .routes(routes!(collect_orders))
        .routes(routes!(list_orders))
        .routes(routes!(get_order, update_order))
        .routes(routes!(order_stock))
        .routes(routes!(product_stock))
        .routes(routes!(deallocate))
        .routes(routes!(ship))
        .routes(routes!(cancel))
        .routes(routes!(create_exchange))
        .routes(routes!(resolve_exchange))
        .routes(routes!(create_return, list_returns))
        .routes(routes!(collect_return))
        .routes(routes!(split))
        .routes(routes!(merge))
        .routes(routes!(create_run, list_runs))
        .routes(routes!(get_run))
        .routes(routes!(run_results))
        .routes(routes!(reset_orders))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import_orders))
                .layer(DefaultBodyLimit::max(CSV_BODY_BYTES_MAX)),
        )
}

/// The inbound webhook, mounted outside bearer authentication: the
/// channel's signature authenticates it.
pub fn hooks() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(order_webhook))
}

// ---- wire types ----

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerBody {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub postal_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationBody {
    pub location_id: String,
    /// Allocated there, not yet shipped.
    pub quantity: i64,
    pub shipped: i64,
    pub returned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineBody {
    pub id: String,
    /// 1-based; names the line in requests.
    pub line: i64,
    pub item_code: String,
    pub item_option: String,
    pub product_name: String,
    pub option_text: String,
    /// `null` while the line waits in the unmatched queue.
    pub sku_id: Option<String>,
    pub quantity: i64,
    pub allocated: i64,
    pub shipped: i64,
    pub cancelled: i64,
    pub returned: i64,
    /// Units still to allocate.
    pub open: i64,
    pub gift: bool,
    /// A pickup request for this store.
    pub pickup_location_id: Option<String>,
    pub allocations: Vec<AllocationBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExcludedBody {
    pub item_code: String,
    pub product_name: String,
    pub quantity: i64,
    /// The exclusion pattern that matched.
    pub pattern: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBody {
    pub id: String,
    pub channel_id: String,
    pub order_no: String,
    /// 0, or 1, 2, … for copies kept under the duplicate policy `new` and splits.
    pub copy_no: i64,
    /// `open`, `partially_allocated`, `allocated`, `partially_shipped`, `shipped`, `cancelled` or `merged`.
    pub status: String,
    /// Shipment hold (출고보류): allocation runs skip the order.
    pub hold: bool,
    /// A marker (깃발).
    pub flag: bool,
    /// Priority allocation (우선할당).
    pub priority: bool,
    pub never_merge: bool,
    pub note: String,
    pub customer: CustomerBody,
    /// The postal code is in a remote-area range (도서산간).
    pub remote_area: bool,
    /// Not shipped the configured number of days after collection.
    pub delayed: bool,
    pub pickup_location_id: Option<String>,
    pub reservation_id: Option<String>,
    /// Lines left out by the channel's exclusion rules.
    pub excluded: Vec<ExcludedBody>,
    /// Exchange shipping fees recorded, minor units.
    pub exchange_fee: i64,
    pub split_from: Option<String>,
    pub merged_into: Option<String>,
    pub ordered_at: Option<String>,
    pub collected_at: String,
    pub updated_at: String,
    pub lines: Vec<OrderLineBody>,
}

impl OrderBody {
    fn new(o: Order, delay_days: i64, now: i64) -> Self {
        let delayed = o.delayed(delay_days, now);
        OrderBody {
            id: o.id.to_string(),
            channel_id: o.channel_id.to_string(),
            order_no: o.external_no,
            copy_no: o.copy_no,
            status: o.status.to_string(),
            hold: o.hold,
            flag: o.flag,
            priority: o.priority,
            never_merge: o.never_merge,
            note: o.note,
            customer: CustomerBody {
                name: o.customer.name,
                phone: o.customer.phone,
                address: o.customer.address,
                postal_code: o.customer.postal_code,
            },
            remote_area: o.remote_area,
            delayed,
            pickup_location_id: o.pickup_location_id.map(|l| l.to_string()),
            reservation_id: o.reservation_id.map(|r| r.to_string()),
            excluded: o
                .excluded
                .into_iter()
                .map(|x| ExcludedBody {
                    item_code: x.item_code,
                    product_name: x.product_name,
                    quantity: x.quantity,
                    pattern: x.pattern,
                })
                .collect(),
            exchange_fee: o.exchange_fee,
            split_from: o.split_from.map(|x| x.to_string()),
            merged_into: o.merged_into.map(|x| x.to_string()),
            ordered_at: o.ordered_at.map(time),
            collected_at: time(o.collected_at),
            updated_at: time(o.updated_at),
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLineBody {
                    id: l.id.to_string(),
                    line: l.line_no,
                    item_code: l.item_code,
                    item_option: l.item_option,
                    product_name: l.product_name,
                    option_text: l.option_text,
                    sku_id: l.sku_id.map(|s| s.to_string()),
                    quantity: l.qty.quantity,
                    allocated: l.qty.allocated,
                    shipped: l.qty.shipped,
                    cancelled: l.qty.cancelled,
                    returned: l.qty.returned,
                    open: l.qty.open(),
                    gift: l.gift,
                    pickup_location_id: l.pickup_location_id.map(|p| p.to_string()),
                    allocations: l
                        .allocations
                        .into_iter()
                        .map(|a| AllocationBody {
                            location_id: a.location_id.to_string(),
                            quantity: a.quantity,
                            shipped: a.shipped,
                            returned: a.returned,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Renders orders with the tenant's delay setting.
async fn bodies(
    state: &AppState,
    tenant: TenantId,
    orders: Vec<Order>,
) -> ApiResult<Vec<OrderBody>> {
    let delay = state.store.order_settings(tenant).await?.delay_days;
    let now = jaego_store::now_us();
    Ok(orders
        .into_iter()
        .map(|o| OrderBody::new(o, delay, now))
        .collect())
}

async fn body(state: &AppState, tenant: TenantId, order: Order) -> ApiResult<OrderBody> {
    Ok(bodies(state, tenant, vec![order]).await?.remove(0))
}

pub(crate) async fn channel_id(
    state: &AppState,
    tenant: TenantId,
    raw: &str,
) -> ApiResult<ChannelId> {
    Ok(state.store.find_channel(tenant, raw).await?.id)
}

/// Maps a request's 1-based line numbers to line ids of `order`.
pub(crate) fn line_id(order: &Order, line: i64, field: &str) -> ApiResult<OrderLineId> {
    order
        .lines
        .iter()
        .find(|l| l.line_no == line)
        .map(|l| l.id)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("order {} has no line {line}", order.external_no),
            )
        })
}

// ---- settings ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderSettingsBody {
    /// Days after collection an unshipped order shows as delayed (0–365; default 3).
    pub delay_days: i64,
    /// Mark both halves of an unallocated split "never merge" (default true).
    pub split_never_merge: bool,
    /// Hold an order while an exchange of it is open (default true).
    pub exchange_hold: bool,
    /// Exchange shipping fee when an exchange names none, minor units (default 0).
    pub exchange_fee: i64,
}

impl From<OrderSettings> for OrderSettingsBody {
    fn from(s: OrderSettings) -> Self {
        OrderSettingsBody {
            delay_days: s.delay_days,
            split_never_merge: s.split_never_merge,
            exchange_hold: s.exchange_hold,
            exchange_fee: s.exchange_fee,
        }
    }
}

#[utoipa::path(get, path = "/order-settings", tag = "orders", security(("bearer" = ["read"])), responses((status = 200, body = OrderSettingsBody)))]
pub async fn get_order_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<OrderSettingsBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(state.store.order_settings(p.tenant_id).await?.into()))
}

#[utoipa::path(put, path = "/order-settings", tag = "orders", security(("bearer" = ["catalog:write"])), request_body = OrderSettingsBody,
    responses((status = 200, body = OrderSettingsBody), (status = 422, body = Problem)))]
pub async fn put_order_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(b): ApiJson<OrderSettingsBody>,
) -> ApiResult<Json<OrderSettingsBody>> {
    let p = auth.require(Permission::WriteCatalog, "change settings")?;
    let s = OrderSettings {
        delay_days: b.delay_days,
        split_never_merge: b.split_never_merge,
        exchange_hold: b.exchange_hold,
        exchange_fee: b.exchange_fee,
    };
    Ok(Json(
        state
            .store
            .set_order_settings(p.tenant_id, &s)
            .await?
            .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelOrderSettingsBody {
    /// `ignore`, `update` or `new`.
    pub duplicate_policy: String,
    /// `complete`, `partial` or `consolidated`.
    pub shipment_mode: String,
    /// `strict` or `unlimited`.
    pub basis: String,
    /// `complete` or `partial`.
    pub gift_rule: String,
    pub name_match: bool,
    pub exclusions: Vec<String>,
    /// Whether the inbound webhook is on (the secret is never shown).
    pub webhook: bool,
    /// The auto-link schedule (`every 3600s`, `daily 02:00`, `minutes 0,30`), or null for on demand only.
    pub auto_link: Option<String>,
}

impl From<ChannelOrderSettings> for ChannelOrderSettingsBody {
    fn from(s: ChannelOrderSettings) -> Self {
        ChannelOrderSettingsBody {
            duplicate_policy: s.duplicate_policy.to_string(),
            shipment_mode: s.shipment_mode.to_string(),
            basis: s.basis.to_string(),
            gift_rule: s.gift_rule.to_string(),
            name_match: s.name_match,
            exclusions: s.exclusions,
            webhook: s.webhook_secret.is_some(),
            auto_link: s.auto_link.map(|a| a.to_string()),
        }
    }
}

/// Every field is optional: what is left out keeps its current value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutChannelOrderSettings {
    pub duplicate_policy: Option<String>,
    pub shipment_mode: Option<String>,
    pub basis: Option<String>,
    pub gift_rule: Option<String>,
    pub name_match: Option<bool>,
    pub exclusions: Option<Vec<String>>,
    /// 16 to 200 bytes; an empty string turns the webhook off.
    pub webhook_secret: Option<String>,
    /// A schedule spec, or an empty string for on demand only.
    pub auto_link: Option<String>,
}

#[utoipa::path(get, path = "/channels/{channel}/order-settings", tag = "orders", security(("bearer" = ["read"])),
    responses((status = 200, body = ChannelOrderSettingsBody), (status = 404, body = Problem)))]
pub async fn get_channel_order_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<ChannelOrderSettingsBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    Ok(Json(
        state
            .store
            .channel_order_settings(p.tenant_id, c)
            .await?
            .into(),
    ))
}

#[utoipa::path(put, path = "/channels/{channel}/order-settings", tag = "orders", security(("bearer" = ["catalog:write"])), request_body = PutChannelOrderSettings,
    responses((status = 200, body = ChannelOrderSettingsBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_channel_order_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(b): ApiJson<PutChannelOrderSettings>,
) -> ApiResult<Json<ChannelOrderSettingsBody>> {
    let p = auth.require(Permission::WriteCatalog, "change settings")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let mut s = state.store.channel_order_settings(p.tenant_id, c).await?;
    if let Some(x) = &b.duplicate_policy {
        s.duplicate_policy = parse_enum::<DuplicatePolicy>("duplicate_policy", x)?;
    }
    if let Some(x) = &b.shipment_mode {
        s.shipment_mode = parse_enum::<ShipmentMode>("shipment_mode", x)?;
    }
    if let Some(x) = &b.basis {
        s.basis = parse_enum::<StockPolicy>("basis", x)?;
    }
    if let Some(x) = &b.gift_rule {
        s.gift_rule = parse_enum::<GiftRule>("gift_rule", x)?;
    }
    if let Some(x) = b.name_match {
        s.name_match = x;
    }
    if let Some(x) = b.exclusions {
        s.exclusions = x;
    }
    if let Some(x) = b.webhook_secret {
        s.webhook_secret = (!x.is_empty()).then_some(x);
    }
    if let Some(x) = &b.auto_link {
        s.auto_link = if x.is_empty() {
            None
        } else {
            Some(parse_enum::<Spec>("auto_link", x)?)
        };
    }
    let saved = state
        .store
        .set_channel_order_settings(p.tenant_id, c, &s, jaego_store::now_us())
        .await?;
    Ok(Json(saved.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteAreaBody {
    /// `null` for the built-in Jeju range, which cannot be removed.
    pub id: Option<String>,
    pub from: u32,
    pub to: u32,
    pub label: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRemoteArea {
    /// Postal code range, both ends included: `40200-40240` or one code.
    pub range: String,
    #[serde(default)]
    pub label: String,
}

fn remote_body(r: RemoteRange) -> RemoteAreaBody {
    RemoteAreaBody {
        id: Some(r.id),
        from: r.range.from,
        to: r.range.to,
        label: r.label,
    }
}

#[utoipa::path(get, path = "/remote-areas", tag = "orders", security(("bearer" = ["read"])), responses((status = 200, body = Vec<RemoteAreaBody>)))]
pub async fn list_remote_areas(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<RemoteAreaBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let mut out: Vec<RemoteAreaBody> = jaego_core::order::DEFAULT_REMOTE_AREAS
        .iter()
        .map(|r| RemoteAreaBody {
            id: None,
            from: r.from,
            to: r.to,
            label: "제주 Jeju (built in)".into(),
        })
        .collect();
    out.extend(
        state
            .store
            .remote_ranges(p.tenant_id)
            .await?
            .into_iter()
            .map(remote_body),
    );
    Ok(Json(out))
}

#[utoipa::path(post, path = "/remote-areas", tag = "orders", security(("bearer" = ["catalog:write"])), request_body = CreateRemoteArea,
    responses((status = 201, body = RemoteAreaBody), (status = 422, body = Problem)))]
pub async fn add_remote_area(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(b): ApiJson<CreateRemoteArea>,
) -> ApiResult<(StatusCode, Json<RemoteAreaBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change settings")?;
    let range: PostalRange = parse_enum("range", &b.range)?;
    let r = state
        .store
        .add_remote_range(p.tenant_id, range, &b.label)
        .await?;
    Ok((StatusCode::CREATED, Json(remote_body(r))))
}

#[utoipa::path(delete, path = "/remote-areas/{id}", tag = "orders", security(("bearer" = ["catalog:write"])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_remote_area(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "change settings")?;
    state.store.delete_remote_range(p.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnReasonBody {
    pub code: String,
    pub name: String,
    /// `origin` (back on hand where it shipped from), `location` (on hand at `location_id`) or `none`.
    pub restock: String,
    pub location_id: Option<String>,
}

impl From<ReturnReason> for ReturnReasonBody {
    fn from(r: ReturnReason) -> Self {
        ReturnReasonBody {
            code: r.code,
            name: r.name,
            restock: r.restock.to_string(),
            location_id: r.location_id.map(|l| l.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutReturnReason {
    pub name: String,
    /// `origin`, `location` or `none`.
    pub restock: String,
    /// For `location`: where collected goods go (id or code), e.g. a defects area.
    pub location: Option<String>,
}

#[utoipa::path(get, path = "/return-reasons", tag = "orders", security(("bearer" = ["read"])), responses((status = 200, body = Vec<ReturnReasonBody>)))]
pub async fn list_return_reasons(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<ReturnReasonBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .return_reasons(p.tenant_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(put, path = "/return-reasons/{code}", tag = "orders", security(("bearer" = ["catalog:write"])), request_body = PutReturnReason,
    responses((status = 200, body = ReturnReasonBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_return_reason(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<PutReturnReason>,
) -> ApiResult<Json<ReturnReasonBody>> {
    let p = auth.require(Permission::WriteCatalog, "change settings")?;
    let restock = parse_enum::<Restock>("restock", &b.restock)?;
    let location_id = match &b.location {
        Some(l) => Some(state.store.find_location(p.tenant_id, l).await?.id),
        None => None,
    };
    let r = ReturnReason {
        code,
        name: b.name,
        restock,
        location_id,
    };
    Ok(Json(
        state.store.set_return_reason(p.tenant_id, &r).await?.into(),
    ))
}

// ---- links ----

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuLinkBody {
    pub channel_id: String,
    pub item_code: String,
    pub item_option: String,
    pub sku_id: String,
    /// `manual`, `code` (identical SKU code) or `name`.
    pub source: String,
    pub created_at: String,
    /// Waiting lines this link matched now (on creation; null in lists).
    pub matched_lines: Option<u64>,
}

fn link_body(l: SkuLink, matched: Option<u64>) -> SkuLinkBody {
    SkuLinkBody {
        channel_id: l.channel_id.to_string(),
        item_code: l.item_code,
        item_option: l.item_option,
        sku_id: l.sku_id.to_string(),
        source: l.source,
        created_at: time(l.created_at),
        matched_lines: matched,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSkuLink {
    pub item_code: String,
    #[serde(default)]
    pub item_option: String,
    /// SKU id or code.
    pub sku: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteLinkQuery {
    pub item_code: String,
    #[serde(default)]
    pub item_option: String,
}

#[utoipa::path(get, path = "/channels/{channel}/sku-links", tag = "orders", security(("bearer" = ["read"])), params(LinkQuery),
    responses((status = 200, body = PageBody<SkuLinkBody>), (status = 404, body = Problem)))]
pub async fn list_sku_links(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiQuery(q): ApiQuery<LinkQuery>,
) -> ApiResult<Json<PageBody<SkuLinkBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let got = state
        .store
        .list_sku_links(p.tenant_id, c, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, |l| link_body(l, None))))
}

#[utoipa::path(post, path = "/channels/{channel}/sku-links", tag = "orders", security(("bearer" = ["orders:write"])), request_body = CreateSkuLink,
    responses((status = 201, body = SkuLinkBody, description = "Every waiting line of the item is matched now"), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_sku_link(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(b): ApiJson<CreateSkuLink>,
) -> ApiResult<(StatusCode, Json<SkuLinkBody>)> {
    let p = auth.require(Permission::WriteOrders, "link channel items")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let sku = state
        .store
        .sku_id(p.tenant_id, &b.sku)
        .await
        .map_err(unknown("sku", "SKU", &b.sku))?;
    let (link, matched) = state
        .store
        .set_sku_link(
            p.tenant_id,
            c,
            &b.item_code,
            &b.item_option,
            sku,
            &p.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(link_body(link, Some(matched)))))
}

#[utoipa::path(delete, path = "/channels/{channel}/sku-links", tag = "orders", security(("bearer" = ["orders:write"])), params(DeleteLinkQuery),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_sku_link(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiQuery(q): ApiQuery<DeleteLinkQuery>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteOrders, "link channel items")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    state
        .store
        .delete_sku_link(p.tenant_id, c, &q.item_code, &q.item_option)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AutoLinkBody {
    /// Waiting lines matched by this run.
    pub matched_lines: u64,
}

#[utoipa::path(post, path = "/channels/{channel}/sku-links/auto", tag = "orders", security(("bearer" = ["orders:write"])),
    responses((status = 200, body = AutoLinkBody), (status = 404, body = Problem)))]
pub async fn auto_link(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<AutoLinkBody>> {
    let p = auth.require(Permission::WriteOrders, "link channel items")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let matched_lines = state.store.auto_link(p.tenant_id, c, &p.actor()).await?;
    Ok(Json(AutoLinkBody { matched_lines }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnmatchedBody {
    pub channel_id: String,
    pub item_code: String,
    pub item_option: String,
    pub product_name: String,
    pub option_text: String,
    /// Lines waiting.
    pub lines: i64,
    /// Units on those lines.
    pub units: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UnmatchedQuery {
    /// Channel id or code.
    pub channel: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/unmatched", tag = "orders", security(("bearer" = ["read"])), params(UnmatchedQuery), responses((status = 200, body = Vec<UnmatchedBody>)))]
pub async fn list_unmatched(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<UnmatchedQuery>,
) -> ApiResult<Json<Vec<UnmatchedBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let c = match &q.channel {
        Some(c) => Some(channel_id(&state, p.tenant_id, c).await?),
        None => None,
    };
    let limit = page(None, q.limit)?.size();
    let items = state.store.unmatched(p.tenant_id, c, limit).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|u: UnmatchedItem| UnmatchedBody {
                channel_id: u.channel_id.to_string(),
                item_code: u.item_code,
                item_option: u.item_option,
                product_name: u.product_name,
                option_text: u.option_text,
                lines: u.lines,
                units: u.units,
            })
            .collect(),
    ))
}

// ---- collection ----

#[derive(Debug, Serialize, ToSchema)]
pub struct CollectedBody {
    /// `created`, `ignored` (known number, policy `ignore`), `updated` or `copied` (policy `new`).
    pub outcome: String,
    pub order: OrderBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollectedBatchBody {
    pub results: Vec<CollectedBody>,
}

async fn collect(
    state: &AppState,
    tenant: TenantId,
    channel: ChannelId,
    orders: &[NewOrder],
    actor: &str,
) -> ApiResult<Vec<CollectedBody>> {
    let got = state
        .store
        .collect_orders(tenant, channel, orders, actor)
        .await?;
    let outcomes: Vec<Collected> = got.iter().map(|(c, _)| *c).collect();
    let rendered = bodies(state, tenant, got.into_iter().map(|(_, o)| o).collect()).await?;
    Ok(outcomes
        .into_iter()
        .zip(rendered)
        .map(|(c, order)| CollectedBody {
            outcome: c.as_str().to_string(),
            order,
        })
        .collect())
}

#[utoipa::path(post, path = "/channels/{channel}/orders", tag = "orders", security(("bearer" = ["orders:write"])), request_body = OrderInput,
    responses((status = 201, body = CollectedBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn collect_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(b): ApiJson<OrderInput>,
) -> ApiResult<(StatusCode, Json<CollectedBody>)> {
    let p = auth.require(Permission::WriteOrders, "collect orders")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let orders = batch_into_new(vec![b])?;
    let mut got = collect(&state, p.tenant_id, c, &orders, &p.actor()).await?;
    Ok((StatusCode::CREATED, Json(got.remove(0))))
}

#[utoipa::path(post, path = "/channels/{channel}/orders/batch", tag = "orders", security(("bearer" = ["orders:write"])), request_body = OrderBatchInput,
    responses((status = 201, body = CollectedBatchBody, description = "All orders or, on any error, none"), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn collect_orders(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(b): ApiJson<OrderBatchInput>,
) -> ApiResult<(StatusCode, Json<CollectedBatchBody>)> {
    let p = auth.require(Permission::WriteOrders, "collect orders")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let orders = batch_into_new(b.orders)?;
    let results = collect(&state, p.tenant_id, c, &orders, &p.actor()).await?;
    Ok((StatusCode::CREATED, Json(CollectedBatchBody { results })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportBody {
    pub created: usize,
    pub updated: usize,
    pub ignored: usize,
    pub copied: usize,
}

#[utoipa::path(post, path = "/channels/{channel}/orders/import", tag = "orders", security(("bearer" = ["orders:write"])),
    request_body(content = String, content_type = "text/csv",
        description = "Header with `order_no` and `quantity`, and any of `item_code`, `item_option`, `product_name`, `option_text`, `sku`, `gift`, `pickup_location`, `customer_name`, `customer_phone`, `address`, `postal_code`, `ordered_at`, `note`, `priority`, `hold`, `reservation`; one row per line, rows with the same `order_no` form one order"),
    responses((status = 201, body = ImportBody), (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem, description = "Nothing was collected; `errors` names each bad row as `line N`")))]
pub async fn import_orders(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ImportBody>)> {
    let p = auth.require(Permission::WriteOrders, "collect orders")?;
    let c = channel_id(&state, p.tenant_id, &channel).await?;
    let body = csv_body(request).await?;
    let orders = parse_orders_csv(&body)?;
    let mut counts = ImportBody {
        created: 0,
        updated: 0,
        ignored: 0,
        copied: 0,
    };
    // One transaction per file keeps a file all or nothing; files larger
    // than a request's batch are collected in one call all the same.
    let got = state
        .store
        .collect_orders(p.tenant_id, c, &orders, &p.actor())
        .await?;
    for (outcome, _) in got {
        match outcome {
            Collected::Created => counts.created += 1,
            Collected::Updated => counts.updated += 1,
            Collected::Ignored => counts.ignored += 1,
            Collected::Copied => counts.copied += 1,
        }
    }
    Ok((StatusCode::CREATED, Json(counts)))
}

#[utoipa::path(post, path = "/hooks/channels/{channel}/orders", tag = "orders", security(("channel_signature" = [])), request_body = OrderBatchInput,
    params(("x-jaego-signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.\" + body>` with the channel's webhook secret")),
    responses((status = 202, body = ImportBody), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn order_webhook(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ImportBody>)> {
    let (tenant, c) = signed_channel(&state, &channel, &headers, &body).await?;
    let orders = parse_orders_json(&body)?;
    let got = state
        .store
        .collect_orders(tenant, c, &orders, &format!("webhook:{c}"))
        .await?;
    let mut counts = ImportBody {
        created: 0,
        updated: 0,
        ignored: 0,
        copied: 0,
    };
    for (outcome, _) in got {
        match outcome {
            Collected::Created => counts.created += 1,
            Collected::Updated => counts.updated += 1,
            Collected::Ignored => counts.ignored += 1,
            Collected::Copied => counts.copied += 1,
        }
    }
    Ok((StatusCode::ACCEPTED, Json(counts)))
}

// ---- the view ----

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// Channel id or code.
    pub channel: Option<String>,
    pub status: Option<String>,
    pub hold: Option<bool>,
    pub flag: Option<bool>,
    pub priority: Option<bool>,
    pub remote_area: Option<bool>,
    /// Not shipped the configured days after collection.
    pub delayed: Option<bool>,
    /// SKU id or code: orders with a line of it.
    pub sku: Option<String>,
    /// Collected at or after (RFC 3339).
    pub from: Option<String>,
    /// Collected before (RFC 3339).
    pub to: Option<String>,
    pub order_no: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = ["read"])), params(OrderQuery),
    responses((status = 200, body = PageBody<OrderBody>), (status = 422, body = Problem)))]
pub async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> ApiResult<Json<PageBody<OrderBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let t = p.tenant_id;
    let filter = OrderFilter {
        channel_id: match &q.channel {
            Some(c) => Some(channel_id(&state, t, c).await?),
            None => None,
        },
        status: q
            .status
            .as_deref()
            .map(|s| parse_enum::<OrderStatus>("status", s))
            .transpose()?,
        hold: q.hold,
        flag: q.flag,
        priority: q.priority,
        remote_area: q.remote_area,
        sku_id: match &q.sku {
            Some(s) => Some(state.store.sku_id(t, s).await?),
            None => None,
        },
        from: q
            .from
            .as_deref()
            .map(|f| parse_time("from", f))
            .transpose()?,
        to: q.to.as_deref().map(|f| parse_time("to", f)).transpose()?,
        delayed: q.delayed,
        external_no: q.order_no.clone(),
    };
    let now = jaego_store::now_us();
    let got = state
        .store
        .list_orders(t, &filter, &page(q.after, q.limit)?, now)
        .await?;
    let delay = state.store.order_settings(t).await?.delay_days;
    Ok(Json(PageBody::from_page(got, |o| {
        OrderBody::new(o, delay, now)
    })))
}

#[utoipa::path(get, path = "/orders/{order}", tag = "orders", security(("bearer" = ["read"])), responses((status = 200, body = OrderBody), (status = 404, body = Problem)))]
pub async fn get_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
) -> ApiResult<Json<OrderBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let o = state
        .store
        .get_order(p.tenant_id, path_id(&order, "order")?)
        .await?;
    Ok(Json(body(&state, p.tenant_id, o).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOrder {
    pub hold: Option<bool>,
    pub flag: Option<bool>,
    pub priority: Option<bool>,
    pub never_merge: Option<bool>,
    pub note: Option<String>,
    /// A store (id or code), or an empty string to clear it.
    pub pickup_location: Option<String>,
}

#[utoipa::path(patch, path = "/orders/{order}", tag = "orders", security(("bearer" = ["orders:write"])), request_body = PatchOrder,
    responses((status = 200, body = OrderBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    ApiJson(b): ApiJson<PatchOrder>,
) -> ApiResult<Json<OrderBody>> {
    let p = auth.require(Permission::WriteOrders, "change orders")?;
    let pickup_location = match &b.pickup_location {
        None => None,
        Some(s) if s.is_empty() => Some(None),
        Some(s) => Some(Some(state.store.find_location(p.tenant_id, s).await?.id)),
    };
    let patch = OrderPatch {
        hold: b.hold,
        flag: b.flag,
        priority: b.priority,
        never_merge: b.never_merge,
        note: b.note,
        pickup_location,
    };
    let o = state
        .store
        .update_order(p.tenant_id, path_id(&order, "order")?, &patch, &p.actor())
        .await?;
    Ok(Json(body(&state, p.tenant_id, o).await?))
}

#[utoipa::path(get, path = "/orders/{order}/stock", tag = "orders", security(("bearer" = ["read"])),
    responses((status = 200, body = Vec<BalanceBody>, description = "Every location's balance of each SKU of the order"), (status = 404, body = Problem)))]
pub async fn order_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
) -> ApiResult<Json<Vec<BalanceBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let o = state
        .store
        .get_order(p.tenant_id, path_id(&order, "order")?)
        .await?;
    let mut skus: Vec<_> = o.lines.iter().filter_map(|l| l.sku_id).collect();
    skus.sort();
    skus.dedup();
    Ok(Json(
        state
            .store
            .stock_of(p.tenant_id, &skus)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/products/{product}/stock", tag = "orders", security(("bearer" = ["read"])),
    responses((status = 200, body = Vec<BalanceBody>, description = "Every location's balance of each SKU of the style"), (status = 404, body = Problem)))]
pub async fn product_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(product): Path<String>,
) -> ApiResult<Json<Vec<BalanceBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let skus = state
        .store
        .product_sku_ids(p.tenant_id, path_id(&product, "product")?)
        .await?;
    Ok(Json(
        state
            .store
            .stock_of(p.tenant_id, &skus)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

// ---- stock moves and customer service ----

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DeallocateBody {
    /// Only this line (number); omit for the whole order.
    pub line: Option<i64>,
}

#[utoipa::path(post, path = "/orders/{order}/deallocate", tag = "orders", security(("bearer" = ["orders:write"])), request_body(content = DeallocateBody, description = "Optional"),
    responses((status = 200, body = OrderBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn deallocate(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    raw: Bytes,
) -> ApiResult<Json<OrderBody>> {
    let p = auth.require(Permission::WriteOrders, "deallocate orders")?;
    let b: DeallocateBody = optional_json(&raw)?;
    let id: OrderId = path_id(&order, "order")?;
    let line = match b.line {
        Some(n) => Some(line_id(
            &state.store.get_order(p.tenant_id, id).await?,
            n,
            "line",
        )?),
        None => None,
    };
    let o = state
        .store
        .deallocate_order(p.tenant_id, id, line, &p.actor())
        .await?;
    Ok(Json(body(&state, p.tenant_id, o).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipLine {
    pub line: i64,
    /// Location id or code the units leave from; must be allocated there.
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipBody {
    pub lines: Vec<ShipLine>,
    /// A tracking number or document reference for the movements.
    #[serde(default)]
    pub reference: String,
}

#[utoipa::path(post, path = "/orders/{order}/ship", tag = "orders", security(("bearer" = ["orders:write"])), request_body = ShipBody,
    responses((status = 200, body = OrderBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn ship(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    ApiJson(b): ApiJson<ShipBody>,
) -> ApiResult<Json<OrderBody>> {
    let p = auth.require(Permission::WriteOrders, "ship orders")?;
    crate::routes::stock::check_texts("", &b.reference)?;
    let id: OrderId = path_id(&order, "order")?;
    let o = state.store.get_order(p.tenant_id, id).await?;
    if b.lines.is_empty() {
        return Err(ApiError::invalid("lines", "name at least one line"));
    }
    let mut items = Vec::with_capacity(b.lines.len());
    for (i, l) in b.lines.iter().enumerate() {
        let loc = state
            .store
            .find_location(p.tenant_id, &l.location)
            .await?
            .id;
        items.push((
            line_id(&o, l.line, &format!("lines[{i}].line"))?,
            loc,
            l.quantity,
        ));
    }
    let o = state
        .store
        .ship_order_lines(p.tenant_id, id, &items, &b.reference, &p.actor())
        .await?;
    Ok(Json(body(&state, p.tenant_id, o).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineQuantity {
    pub line: i64,
    /// Omit for all of the line.
    pub quantity: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Lines and units; omit to cancel everything not yet shipped.
    pub lines: Option<Vec<LineQuantity>>,
    /// Also the return reason for units already shipped (default `sellable`).
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnBody {
    pub id: String,
    pub order_id: String,
    pub line_id: String,
    pub quantity: i64,
    pub reason: String,
    /// `requested` or `collected`.
    pub state: String,
    pub exchange_id: Option<String>,
    /// Where the goods went back on hand; null if not restocked (or not yet).
    pub restocked_at: Option<String>,
    pub created_at: String,
    pub collected_at: Option<String>,
}

impl From<OrderReturn> for ReturnBody {
    fn from(r: OrderReturn) -> Self {
        ReturnBody {
            id: r.id.to_string(),
            order_id: r.order_id.to_string(),
            line_id: r.line_id.to_string(),
            quantity: r.quantity,
            reason: r.reason,
            state: r.state,
            exchange_id: r.exchange_id.map(|e| e.to_string()),
            restocked_at: r.restocked_at.map(|l| l.to_string()),
            created_at: time(r.created_at),
            collected_at: r.collected_at.map(time),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledBody {
    pub order: OrderBody,
    /// Returns opened for units already shipped.
    pub returns: Vec<ReturnBody>,
}

#[utoipa::path(post, path = "/orders/{order}/cancel", tag = "orders", security(("bearer" = ["orders:write"])), request_body(content = CancelBody, description = "Optional"),
    responses((status = 200, body = CancelledBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    raw: Bytes,
) -> ApiResult<Json<CancelledBody>> {
    let p = auth.require(Permission::WriteOrders, "cancel orders")?;
    let b: CancelBody = optional_json(&raw)?;
    let id: OrderId = path_id(&order, "order")?;
    let lines = match &b.lines {
        Some(ls) => {
            let o = state.store.get_order(p.tenant_id, id).await?;
            Some(
                ls.iter()
                    .enumerate()
                    .map(|(i, l)| {
                        Ok((
                            line_id(&o, l.line, &format!("lines[{i}].line"))?,
                            l.quantity,
                        ))
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            )
        }
        None => None,
    };
    let (o, returns) = state
        .store
        .cancel_order(p.tenant_id, id, lines.as_deref(), &b.reason, &p.actor())
        .await?;
    Ok(Json(CancelledBody {
        order: body(&state, p.tenant_id, o).await?,
        returns: returns.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeLineInput {
    pub line: i64,
    pub quantity: i64,
    /// The replacement SKU (id or code).
    pub sku: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExchange {
    pub lines: Vec<ExchangeLineInput>,
    /// Exchange shipping fee, minor units; default from the order settings.
    pub fee: Option<i64>,
    #[serde(default)]
    pub reason: String,
    /// For units already shipped: the return reason (default `sellable`).
    pub return_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeBody {
    pub id: String,
    pub order_id: String,
    /// `open` or `resolved`.
    pub state: String,
    pub after_shipment: bool,
    pub fee: i64,
    pub reason: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

impl From<Exchange> for ExchangeBody {
    fn from(e: Exchange) -> Self {
        ExchangeBody {
            id: e.id.to_string(),
            order_id: e.order_id.to_string(),
            state: e.state,
            after_shipment: e.after_shipment,
            fee: e.fee,
            reason: e.reason,
            created_at: time(e.created_at),
            resolved_at: e.resolved_at.map(time),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangedBody {
    pub order: OrderBody,
    pub exchange: ExchangeBody,
}

#[utoipa::path(post, path = "/orders/{order}/exchanges", tag = "orders", security(("bearer" = ["orders:write"])), request_body = CreateExchange,
    responses((status = 201, body = ExchangedBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_exchange(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    ApiJson(b): ApiJson<CreateExchange>,
) -> ApiResult<(StatusCode, Json<ExchangedBody>)> {
    let p = auth.require(Permission::WriteOrders, "exchange orders")?;
    let id: OrderId = path_id(&order, "order")?;
    let o = state.store.get_order(p.tenant_id, id).await?;
    let mut lines = Vec::with_capacity(b.lines.len());
    for (i, l) in b.lines.iter().enumerate() {
        let sku = state.store.sku_id(p.tenant_id, &l.sku).await.map_err(|_| {
            ApiError::invalid(format!("lines[{i}].sku"), format!("no SKU {:?}", l.sku))
        })?;
        lines.push(ExchangeLine {
            line: line_id(&o, l.line, &format!("lines[{i}].line"))?,
            quantity: l.quantity,
            sku,
        });
    }
    let (o, e) = state
        .store
        .exchange_order(
            p.tenant_id,
            id,
            &lines,
            b.fee,
            &b.reason,
            b.return_reason.as_deref().unwrap_or("sellable"),
            &p.actor(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ExchangedBody {
            order: body(&state, p.tenant_id, o).await?,
            exchange: e.into(),
        }),
    ))
}

#[utoipa::path(post, path = "/exchanges/{exchange}/resolve", tag = "orders", security(("bearer" = ["orders:write"])),
    responses((status = 200, body = ExchangedBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resolve_exchange(
    State(state): State<AppState>,
    auth: Auth,
    Path(exchange): Path<String>,
) -> ApiResult<Json<ExchangedBody>> {
    let p = auth.require(Permission::WriteOrders, "exchange orders")?;
    let (o, e) = state
        .store
        .resolve_exchange(p.tenant_id, path_id(&exchange, "exchange")?, &p.actor())
        .await?;
    Ok(Json(ExchangedBody {
        order: body(&state, p.tenant_id, o).await?,
        exchange: e.into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReturn {
    pub line: i64,
    pub quantity: i64,
    /// A return reason code (`sellable`, `defective`, or one you defined).
    pub reason: String,
}

#[utoipa::path(post, path = "/orders/{order}/returns", tag = "orders", security(("bearer" = ["orders:write"])), request_body = CreateReturn,
    responses((status = 201, body = ReturnBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_return(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    ApiJson(b): ApiJson<CreateReturn>,
) -> ApiResult<(StatusCode, Json<ReturnBody>)> {
    let p = auth.require(Permission::WriteOrders, "handle returns")?;
    let id: OrderId = path_id(&order, "order")?;
    let o = state.store.get_order(p.tenant_id, id).await?;
    let line = line_id(&o, b.line, "line")?;
    let r = state
        .store
        .request_return(p.tenant_id, id, line, b.quantity, &b.reason, &p.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

#[utoipa::path(get, path = "/orders/{order}/returns", tag = "orders", security(("bearer" = ["read"])),
    responses((status = 200, body = Vec<ReturnBody>), (status = 404, body = Problem)))]
pub async fn list_returns(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
) -> ApiResult<Json<Vec<ReturnBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let id: OrderId = path_id(&order, "order")?;
    state.store.get_order(p.tenant_id, id).await?;
    Ok(Json(
        state
            .store
            .order_returns(p.tenant_id, id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/returns/{return}/collect", tag = "orders", security(("bearer" = ["orders:write"])),
    responses((status = 200, body = ReturnBody, description = "Restocked per the reason's setting"), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn collect_return(
    State(state): State<AppState>,
    auth: Auth,
    Path(ret): Path<String>,
) -> ApiResult<Json<ReturnBody>> {
    let p = auth.require(Permission::WriteOrders, "handle returns")?;
    Ok(Json(
        state
            .store
            .collect_return(p.tenant_id, path_id(&ret, "return")?, &p.actor())
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    /// Whole lines (no quantity) move with their allocation; a quantity moves unallocated units.
    pub lines: Vec<LineQuantity>,
    /// Mark both orders never merge; only for an unallocated split. Default from the settings.
    pub never_merge: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SplitResultBody {
    pub original: OrderBody,
    pub split: OrderBody,
}

#[utoipa::path(post, path = "/orders/{order}/split", tag = "orders", security(("bearer" = ["orders:write"])), request_body = SplitBody,
    responses((status = 201, body = SplitResultBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn split(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    ApiJson(b): ApiJson<SplitBody>,
) -> ApiResult<(StatusCode, Json<SplitResultBody>)> {
    let p = auth.require(Permission::WriteOrders, "split orders")?;
    let id: OrderId = path_id(&order, "order")?;
    let o = state.store.get_order(p.tenant_id, id).await?;
    let lines = b
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok((
                line_id(&o, l.line, &format!("lines[{i}].line"))?,
                l.quantity,
            ))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let (original, split) = state
        .store
        .split_order(p.tenant_id, id, &lines, b.never_merge, &p.actor())
        .await?;
    let mut both = bodies(&state, p.tenant_id, vec![original, split]).await?;
    let split = both.pop().expect("two orders");
    let original = both.pop().expect("two orders");
    Ok((
        StatusCode::CREATED,
        Json(SplitResultBody { original, split }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// Orders (ids) whose lines move into this one.
    pub orders: Vec<String>,
}

#[utoipa::path(post, path = "/orders/{order}/merge", tag = "orders", security(("bearer" = ["orders:write"])), request_body = MergeBody,
    responses((status = 200, body = OrderBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn merge(
    State(state): State<AppState>,
    auth: Auth,
    Path(order): Path<String>,
    ApiJson(b): ApiJson<MergeBody>,
) -> ApiResult<Json<OrderBody>> {
    let p = auth.require(Permission::WriteOrders, "merge orders")?;
    let sources = b
        .orders
        .iter()
        .map(|s| path_id::<OrderId>(s, "order"))
        .collect::<ApiResult<Vec<_>>>()?;
    let o = state
        .store
        .merge_orders(p.tenant_id, path_id(&order, "order")?, &sources, &p.actor())
        .await?;
    Ok(Json(body(&state, p.tenant_id, o).await?))
}

// ---- allocation runs ----

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// Only these orders (ids); omit for every eligible order.
    pub orders: Option<Vec<String>>,
    /// `complete`, `partial` or `consolidated`; overrides every channel's mode.
    pub mode: Option<String>,
    /// Show what the run would do and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Include the per-order results in the answer (default true); a stored
    /// run's results can always be paged at `/allocation-runs/{run}/results`.
    pub results: Option<bool>,
    /// Answer `202` at once with the run `running`, and run it in the
    /// background; poll `GET /allocation-runs/{id}` until its `state` is
    /// `completed` or `failed`. For runs over many orders.
    #[serde(default)]
    pub background: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlacementBody {
    pub line_id: String,
    pub location_id: String,
    pub quantity: i64,
    /// Units placed beyond what was available (basis `unlimited`).
    pub backorder: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunResultBody {
    pub order_id: String,
    /// `allocated` (complete), `partial` or `skipped`.
    pub outcome: String,
    /// Why not (completely): `held`, `unmatched`, `short`, `batch_waiting`, `no_locations`,
    /// `changed` (the order changed while the run was under way; the next run considers it).
    pub reason: Option<String>,
    pub units: i64,
    /// For previews and the run's own answer; empty when paged from a stored run.
    pub placements: Vec<PlacementBody>,
}

impl From<RunResult> for RunResultBody {
    fn from(r: RunResult) -> Self {
        RunResultBody {
            order_id: r.order_id.to_string(),
            outcome: r.outcome.to_string(),
            reason: r.reason.map(|x| x.to_string()),
            units: r.units,
            placements: r
                .placements
                .into_iter()
                .map(|x| PlacementBody {
                    line_id: x.line_id.to_string(),
                    location_id: x.location_id.to_string(),
                    quantity: x.quantity,
                    backorder: x.backorder,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    /// A preview's id is not stored.
    pub id: String,
    pub mode: Option<String>,
    pub dry_run: bool,
    pub considered: i64,
    pub allocated: i64,
    pub partial: i64,
    pub skipped: i64,
    pub units: i64,
    pub started_at: String,
    /// When it finished; while `running`, when its last chunk committed.
    pub finished_at: String,
    pub duration_ms: f64,
    /// `running`, `completed`, `failed`, or `interrupted` (it was running
    /// when its server stopped: the chunks it committed stand, and the
    /// next run takes the orders it left).
    pub state: String,
    /// Why a `failed` run failed.
    pub error: Option<String>,
    /// Per order in allocation order, up to 10,000 (page a stored run's with `/results`).
    pub results: Vec<RunResultBody>,
    pub results_truncated: bool,
}

fn run_body(r: AllocationRun) -> RunBody {
    let truncated = r.results.len() > ORDERS_PER_SELECTION_MAX;
    RunBody {
        id: r.id.to_string(),
        mode: r.mode.map(|m| m.to_string()),
        dry_run: r.dry_run,
        considered: r.considered,
        allocated: r.allocated,
        partial: r.partial,
        skipped: r.skipped,
        units: r.units,
        started_at: time(r.started_at),
        finished_at: time(r.finished_at),
        duration_ms: (r.finished_at - r.started_at) as f64 / 1000.0,
        state: r.state.to_string(),
        error: r.error,
        results: r
            .results
            .into_iter()
            .take(ORDERS_PER_SELECTION_MAX)
            .map(Into::into)
            .collect(),
        results_truncated: truncated,
    }
}

#[utoipa::path(post, path = "/allocation-runs", tag = "orders", security(("bearer" = ["orders:write"])), request_body(content = CreateRun, description = "Optional"),
    responses((status = 201, body = RunBody), (status = 200, body = RunBody, description = "A preview"),
        (status = 202, body = RunBody, description = "`background`: the run, `running`; poll its `Location`"),
        (status = 409, body = Problem, description = "`run_in_progress`: another run of the tenant is running"), (status = 422, body = Problem)))]
pub async fn create_run(
    State(state): State<AppState>,
    auth: Auth,
    raw: Bytes,
) -> ApiResult<(StatusCode, HeaderMap, Json<RunBody>)> {
    let p = auth.require(Permission::WriteOrders, "run allocations")?;
    let b: CreateRun = optional_json(&raw)?;
    let orders = match b.orders {
        Some(ids) => {
            if ids.is_empty() || ids.len() > ORDERS_PER_SELECTION_MAX {
                return Err(ApiError::invalid(
                    "orders",
                    format!("name 1 to {ORDERS_PER_SELECTION_MAX} orders, or omit for all"),
                ));
            }
            Some(field_ids::<OrderId>(
                ids.iter().map(String::as_str),
                "orders",
                "an order id",
            )?)
        }
        None => None,
    };
    let request = RunRequest {
        orders,
        mode: b
            .mode
            .as_deref()
            .map(|m| parse_enum::<ShipmentMode>("mode", m))
            .transpose()?,
        dry_run: b.dry_run,
    };
    if request.dry_run {
        if b.background {
            return Err(ApiError::invalid(
                "background",
                "a preview answers at once; background is for runs",
            ));
        }
        let mut run = state
            .store
            .allocation_run(p.tenant_id, &request, &p.actor())
            .await?;
        if b.results == Some(false) {
            run.results.clear();
        }
        return Ok((StatusCode::OK, HeaderMap::new(), Json(run_body(run))));
    }
    let actor = p.actor();
    let id = state
        .store
        .begin_allocation_run(p.tenant_id, &request, &actor)
        .await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = format!("/api/v1/allocation-runs/{id}").parse() {
        headers.insert(axum::http::header::LOCATION, location);
    }
    // Read before the task starts, so a background answer always shows
    // the run as it was stored (`running`), however fast the run is.
    let stored = if b.background {
        Some(state.store.get_allocation_run(p.tenant_id, id).await?)
    } else {
        None
    };
    // The run goes on in its own task either way, so a client that stops
    // waiting (or the request timeout) never cuts it between chunks.
    let store = state.store.clone();
    let tenant = p.tenant_id;
    let task = tokio::spawn(async move {
        let outcome = store
            .finish_allocation_run(tenant, &request, &actor, id)
            .await;
        if let Err(e) = &outcome {
            tracing::warn!(run = %id, error = %e, "allocation run failed");
        }
        outcome
    });
    if let Some(run) = stored {
        return Ok((StatusCode::ACCEPTED, headers, Json(run_body(run))));
    }
    let mut run = task
        .await
        .map_err(|e| ApiError::Internal(format!("allocation run task: {e}")))??;
    if b.results == Some(false) {
        run.results.clear();
    }
    Ok((StatusCode::CREATED, headers, Json(run_body(run))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/allocation-runs", tag = "orders", security(("bearer" = ["read"])), params(RunQuery), responses((status = 200, body = PageBody<RunBody>)))]
pub async fn list_runs(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> ApiResult<Json<PageBody<RunBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let got = state
        .store
        .list_allocation_runs(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, run_body)))
}

#[utoipa::path(get, path = "/allocation-runs/{run}", tag = "orders", security(("bearer" = ["read"])), responses((status = 200, body = RunBody), (status = 404, body = Problem)))]
pub async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    Path(run): Path<String>,
) -> ApiResult<Json<RunBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(run_body(
        state
            .store
            .get_allocation_run(p.tenant_id, path_id(&run, "allocation run")?)
            .await?,
    )))
}

#[utoipa::path(get, path = "/allocation-runs/{run}/results", tag = "orders", security(("bearer" = ["read"])), params(RunQuery),
    responses((status = 200, body = PageBody<RunResultBody>), (status = 404, body = Problem)))]
pub async fn run_results(
    State(state): State<AppState>,
    auth: Auth,
    Path(run): Path<String>,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> ApiResult<Json<PageBody<RunResultBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let got = state
        .store
        .allocation_results(
            p.tenant_id,
            path_id(&run, "allocation run")?,
            &page(q.after, q.limit.or(Some(PAGE_SIZE_MAX.min(500))))?,
        )
        .await?;
    Ok(Json(PageBody::from_page(got, Into::into)))
}

// ---- reset ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetOrdersBody {
    /// Type exactly `DELETE ALL ORDERS`.
    pub confirm: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResultBody {
    pub orders: u64,
    pub allocation_runs: u64,
    /// Allocated units given back to available.
    pub deallocated_units: i64,
}

#[utoipa::path(post, path = "/orders/reset", tag = "orders", security(("bearer" = ["admin"])), request_body = ResetOrdersBody,
    responses((status = 200, body = ResetResultBody, description = "Irreversible"), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn reset_orders(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(b): ApiJson<ResetOrdersBody>,
) -> ApiResult<Json<ResetResultBody>> {
    let p = auth.require(Permission::Administer, "reset order data")?;
    if b.confirm != RESET_CONFIRMATION {
        return Err(ApiError::invalid(
            "confirm",
            format!(
                "type exactly {RESET_CONFIRMATION:?} to delete every order; this cannot be undone"
            ),
        ));
    }
    let r = state.store.reset_orders(p.tenant_id, &p.actor()).await?;
    Ok(Json(ResetResultBody {
        orders: r.orders,
        allocation_runs: r.runs,
        deallocated_units: r.deallocated_units,
    }))
}
