//! Store pickup (click and collect) over HTTP (seed 001): a store's print
//! settings and print runs, the expired-receipts prompt, reception and
//! completion scans, unavailable and cancelled pickups, the history, and
//! receipts as SVG or PDF.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use jaego_core::pickup::{PickupStatus, print_minutes};
use jaego_core::role::Permission;
use jaego_core::{PickupId, TenantId};
use jaego_store::now_us;
use jaego_store::pickups::{
    Pickup, PickupFilter, PickupItem, PickupSettings, PrintEntry, PrintRun, ScanOutcome,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::documents::receipt::{ReceiptLine, receipt_drawing, receipts_pdf};
use crate::documents::svg;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, field_ids, parse_enum, path_id, unknown};
use crate::routes::labels::{BinaryFile, document};
use crate::wire::{PageBody, page, parse_time, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(print_now))
        .routes(routes!(list_print_runs))
        .routes(routes!(get_expired_prompt, answer_expired_prompt))
        .routes(routes!(list_pickups))
        .routes(routes!(get_pickup))
        .routes(routes!(reception_scan))
        .routes(routes!(completion_scan))
        .routes(routes!(complete))
        .routes(routes!(unavailable))
        .routes(routes!(cancel))
}

/// The renderings: they change nothing and answer bytes, so they are
/// mounted outside the idempotency layer.
pub fn rendering() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receipt))
        .routes(routes!(print_run_document))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickupSettingsBody {
    pub location_id: String,
    pub location_code: String,
    pub location_name: String,
    pub time_zone: String,
    /// Minutes of each hour (0, 5, …, 55) at which new requests and
    /// cancellations print; `null`: only "print pending now".
    pub print_minutes: Option<Vec<u8>>,
    /// A partial cancellation prints every cancelled item of the request,
    /// not only the ones cancelled since the last print.
    pub print_whole_on_cancel: bool,
    /// Hours a received request waits for its customer before it expires.
    pub deadline_hours: i64,
    pub next_print_at: Option<String>,
    /// When receipts last printed (최종 출력 시간).
    pub last_print_at: Option<String>,
    /// Receipts waiting for the next print.
    pub pending_prints: i64,
    /// Units held in the hanger: counted in the store's `allocated`, never
    /// in `available`.
    pub held_units: i64,
    /// Expired requests the store has not been asked to print yet.
    pub expired_unprompted: i64,
}

impl From<PickupSettings> for PickupSettingsBody {
    fn from(s: PickupSettings) -> Self {
        PickupSettingsBody {
            location_id: s.location_id.to_string(),
            location_code: s.location_code,
            location_name: s.location_name,
            time_zone: s.time_zone,
            print_minutes: s.print_minutes.map(|m| m.minutes().collect()),
            print_whole_on_cancel: s.print_whole_on_cancel,
            deadline_hours: s.deadline_hours,
            next_print_at: s.next_print_at.map(time),
            last_print_at: s.last_print_at.map(time),
            pending_prints: s.pending_prints,
            held_units: s.held_units,
            expired_unprompted: s.expired_unprompted,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPickupSettings {
    /// Minutes of each hour, multiples of 5 from 0 to 55 (e.g. `[5, 35]`);
    /// `null` or absent: manual printing only.
    pub print_minutes: Option<Vec<u8>>,
    /// Default `false`: a partial cancellation prints only the items
    /// cancelled since the last print.
    #[serde(default)]
    pub print_whole_on_cancel: bool,
    /// Default 72.
    #[serde(default = "default_deadline")]
    pub deadline_hours: i64,
}

fn default_deadline() -> i64 {
    jaego_core::pickup::PICKUP_DEADLINE_HOURS_DEFAULT
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickupItemBody {
    pub id: String,
    pub item_no: i64,
    pub line_id: String,
    pub sku_id: String,
    pub sku_code: String,
    pub sku_name: String,
    /// Units asked for when the request was made.
    pub quantity: i64,
    /// Units cancelled online since.
    pub cancelled: i64,
    /// Units the customer gets: `quantity - cancelled`.
    pub units: i64,
    /// Units scanned in; for a bundle item, the whole bundles its
    /// components' scans make.
    pub received_scans: i64,
    pub completion_scans: i64,
    /// A bundle item's components, which the scans count (left out for a
    /// plain item).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<PickupComponentBody>,
}

/// One component of a bundle item: each unit of the item is scanned as
/// `per_unit` of it (or whole, by the bundle's own barcode).
#[derive(Debug, Serialize, ToSchema)]
pub struct PickupComponentBody {
    pub sku_id: String,
    pub sku_code: String,
    pub sku_name: String,
    pub per_unit: i64,
    /// Units of it the customer gets: the item's `units × per_unit`.
    pub units: i64,
    pub received_scans: i64,
    pub completion_scans: i64,
}

impl From<PickupItem> for PickupItemBody {
    fn from(i: PickupItem) -> Self {
        PickupItemBody {
            units: i.units(),
            id: i.id.to_string(),
            item_no: i.item_no,
            line_id: i.line_id.to_string(),
            sku_id: i.sku_id.to_string(),
            sku_code: i.sku_code,
            sku_name: i.sku_name,
            quantity: i.quantity,
            cancelled: i.cancelled,
            received_scans: i.received_scans,
            completion_scans: i.completion_scans,
            components: i
                .components
                .into_iter()
                .map(|c| PickupComponentBody {
                    sku_id: c.sku_id.to_string(),
                    sku_code: c.sku_code,
                    sku_name: c.sku_name,
                    units: (i.quantity - i.cancelled) * c.per_unit,
                    per_unit: c.per_unit,
                    received_scans: c.received_scans,
                    completion_scans: c.completion_scans,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickupBody {
    pub id: String,
    pub location_id: String,
    pub location_code: String,
    pub order_id: String,
    pub channel_id: String,
    /// The order's number: what the customer's slip carries.
    pub order_no: String,
    pub customer_name: String,
    pub customer_phone: String,
    /// What the receipt's barcode carries.
    pub receipt_code: String,
    /// `requested`, `received`, `completed`, `unavailable`, `cancelled` or
    /// `expired`.
    pub status: String,
    pub reason: String,
    pub slip_scanned: bool,
    pub receipt_scanned: bool,
    /// Units held in the hanger (all units while `received`).
    pub held_units: i64,
    pub requested_at: String,
    pub received_at: Option<String>,
    pub deadline_at: Option<String>,
    pub closed_at: Option<String>,
    pub printed_at: Option<String>,
    pub items: Vec<PickupItemBody>,
}

impl From<Pickup> for PickupBody {
    fn from(p: Pickup) -> Self {
        PickupBody {
            held_units: p.held_units(),
            id: p.id.to_string(),
            location_id: p.location_id.to_string(),
            location_code: p.location_code,
            order_id: p.order_id.to_string(),
            channel_id: p.channel_id.to_string(),
            order_no: p.external_no,
            customer_name: p.customer_name,
            customer_phone: p.customer_phone,
            receipt_code: p.receipt_code,
            status: p.status.as_str().to_string(),
            reason: p.reason,
            slip_scanned: p.slip_scanned,
            receipt_scanned: p.receipt_scanned,
            requested_at: time(p.requested_at),
            received_at: p.received_at.map(time),
            deadline_at: p.deadline_at.map(time),
            closed_at: p.closed_at.map(time),
            printed_at: p.printed_at.map(time),
            items: p.items.into_iter().map(PickupItemBody::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintEntryBody {
    /// `new`, `cancellation` or `expired`.
    pub kind: String,
    pub pickup_id: String,
    pub receipt_code: String,
    pub order_no: String,
    /// The units this receipt lists, per item.
    pub items: Vec<PrintedItemBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintedItemBody {
    pub item_id: String,
    pub sku_code: String,
    pub units: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PickupPrintRunBody {
    pub id: String,
    pub location_id: String,
    /// `schedule`, `manual` or `expired`.
    pub cause: String,
    pub actor: String,
    pub created_at: String,
    /// Where the receipts are, as one PDF to send to the store's printer.
    pub document: String,
    pub receipts: Vec<PrintEntryBody>,
}

fn entry_body(e: &PrintEntry) -> PrintEntryBody {
    PrintEntryBody {
        kind: e.kind.as_str().to_string(),
        pickup_id: e.pickup.id.to_string(),
        receipt_code: e.pickup.receipt_code.clone(),
        order_no: e.pickup.external_no.clone(),
        items: e
            .items
            .iter()
            .map(|(id, units)| PrintedItemBody {
                item_id: id.to_string(),
                sku_code: e
                    .pickup
                    .items
                    .iter()
                    .find(|i| i.id == *id)
                    .map(|i| i.sku_code.clone())
                    .unwrap_or_default(),
                units: *units,
            })
            .collect(),
    }
}

impl From<PrintRun> for PickupPrintRunBody {
    fn from(r: PrintRun) -> Self {
        PickupPrintRunBody {
            document: format!("/api/v1/pickup-print-runs/{}/document", r.id),
            receipts: r.entries.iter().map(entry_body).collect(),
            id: r.id.to_string(),
            location_id: r.location_id.to_string(),
            cause: r.cause.as_str().to_string(),
            actor: r.actor,
            created_at: time(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintNowBody {
    /// The print run; `null` when nothing was pending.
    pub run: Option<PickupPrintRunBody>,
}

#[utoipa::path(get, path = "/pickup-stores/{location}/settings", tag = "pickups", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = PickupSettingsBody), (status = 404, body = Problem), (status = 422, body = Problem, description = "Not a store")))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<PickupSettingsBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state.store.pickup_settings(p.tenant_id, &key).await?.into(),
    ))
}

#[utoipa::path(put, path = "/pickup-stores/{location}/settings", tag = "pickups", security(("bearer" = ["catalog:write"])),
    params(("location" = String, Path, description = "Store location id or code")), request_body = PutPickupSettings,
    responses((status = 200, body = PickupSettingsBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<PutPickupSettings>,
) -> ApiResult<Json<PickupSettingsBody>> {
    let p = auth.require(Permission::WriteCatalog, "change pickup settings")?;
    let minutes = body
        .print_minutes
        .as_deref()
        .map(|m| print_minutes("print_minutes", m))
        .transpose()?;
    jaego_core::pickup::check_deadline_hours(body.deadline_hours)?;
    Ok(Json(
        state
            .store
            .set_pickup_settings(
                p.tenant_id,
                &key,
                minutes,
                body.print_whole_on_cancel,
                body.deadline_hours,
                now_us(),
            )
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/pickup-stores/{location}/print", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = PrintNowBody, description = "미출력분 바로 출력: every pending receipt, now"), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn print_now(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<PrintNowBody>> {
    let p = auth.require(Permission::WriteOrders, "print pickup receipts")?;
    let run = state
        .store
        .print_pending_pickups(p.tenant_id, &key, &p.actor())
        .await?;
    Ok(Json(PrintNowBody {
        run: run.map(PickupPrintRunBody::from),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// How many, newest first (default 20, at most 500).
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/pickup-stores/{location}/print-runs", tag = "pickups", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Store location id or code"), RunsQuery),
    responses((status = 200, body = Vec<PickupPrintRunBody>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_print_runs(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> ApiResult<Json<Vec<PickupPrintRunBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let limit = page(None, q.limit)?.limit.unwrap_or(20);
    let runs = state
        .store
        .pickup_print_runs(p.tenant_id, &key, limit)
        .await?;
    Ok(Json(
        runs.into_iter().map(PickupPrintRunBody::from).collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiredPromptBody {
    /// Ask the store "기한 종료 데이터가 존재합니다. 출력하시겠습니까?"
    /// (expired requests exist; print them?).
    pub ask: bool,
    pub pickups: Vec<PickupBody>,
}

#[utoipa::path(get, path = "/pickup-stores/{location}/expired-prompt", tag = "pickups", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Store location id or code")),
    responses((status = 200, body = ExpiredPromptBody, description = "What the pickup screen asks when it opens: expired requests not yet prompted for"), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn get_expired_prompt(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<ExpiredPromptBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let list = state.store.expired_prompt(p.tenant_id, &key).await?;
    Ok(Json(ExpiredPromptBody {
        ask: !list.is_empty(),
        pickups: list.into_iter().map(PickupBody::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerExpiredPrompt {
    /// The requests the prompt showed (`pickups[].id`).
    pub pickup_ids: Vec<String>,
    /// Yes: print their receipts now. No: never ask about them again.
    pub print: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiredAnswerBody {
    /// How many requests were taken off the prompt.
    pub acknowledged: usize,
    /// The print run of their receipts (`print: true`).
    pub run: Option<PickupPrintRunBody>,
}

#[utoipa::path(post, path = "/pickup-stores/{location}/expired-prompt", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("location" = String, Path, description = "Store location id or code")), request_body = AnswerExpiredPrompt,
    responses((status = 200, body = ExpiredAnswerBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn answer_expired_prompt(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<AnswerExpiredPrompt>,
) -> ApiResult<Json<ExpiredAnswerBody>> {
    let p = auth.require(Permission::WriteOrders, "print pickup receipts")?;
    if body.pickup_ids.len() > jaego_core::limits::PAGE_SIZE_MAX {
        return Err(ApiError::invalid(
            "pickup_ids",
            format!("at most {} ids", jaego_core::limits::PAGE_SIZE_MAX),
        ));
    }
    let ids: Vec<PickupId> = field_ids(
        body.pickup_ids.iter().map(String::as_str),
        "pickup_ids",
        "a pickup id",
    )?;
    let (n, run) = state
        .store
        .acknowledge_expired(p.tenant_id, &key, &ids, body.print, &p.actor())
        .await?;
    Ok(Json(ExpiredAnswerBody {
        acknowledged: n,
        run: run.map(PickupPrintRunBody::from),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PickupQuery {
    /// A store, by id or code.
    pub location: Option<String>,
    /// `requested`, `received`, `completed`, `unavailable`, `cancelled` or `expired`.
    pub status: Option<String>,
    /// Requested at or after (RFC 3339).
    pub from: Option<String>,
    /// Requested before (RFC 3339).
    pub to: Option<String>,
    /// Part of the customer's name or phone number, any case.
    pub customer: Option<String>,
    /// The order number, exactly.
    pub order_no: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/pickups", tag = "pickups", security(("bearer" = ["read"])), params(PickupQuery),
    responses((status = 200, body = PageBody<PickupBody>, description = "픽업 접수 내역: oldest first"), (status = 422, body = Problem)))]
pub async fn list_pickups(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PickupQuery>,
) -> ApiResult<Json<PageBody<PickupBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let status = q
        .status
        .as_deref()
        .map(|s| parse_enum("status", s))
        .transpose()?;
    let from = q
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?;
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let request = page(q.after, q.limit)?;
    let location = match &q.location {
        Some(key) => Some(
            state
                .store
                .find_location(p.tenant_id, key)
                .await
                .map_err(unknown("location", "location", key))?
                .id,
        ),
        None => None,
    };
    let filter = PickupFilter {
        location,
        status,
        from,
        to,
        customer: q.customer.filter(|c| !c.is_empty()),
        order_no: q.order_no.filter(|c| !c.is_empty()),
    };
    let list = state.store.pickups(p.tenant_id, &filter, &request).await?;
    Ok(Json(PageBody::from_page(list, PickupBody::from)))
}

#[utoipa::path(get, path = "/pickups/{pickup}", tag = "pickups", security(("bearer" = ["read"])),
    params(("pickup" = String, Path, description = "Pickup id, or the receipt code its barcode carries")),
    responses((status = 200, body = PickupBody), (status = 404, body = Problem)))]
pub async fn get_pickup(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<PickupBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(state.store.pickup(p.tenant_id, &key).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickupScanBody {
    /// What the scanner read.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanAnswer {
    /// `item`, `slip` or `receipt`.
    pub scanned: String,
    /// The SKU of a scanned item (a bundle item's component, or the
    /// bundle's own code for a whole bundle).
    pub sku_code: Option<String>,
    /// Units still to scan in this phase (into the hanger while
    /// `requested`, out of it while `received`); a bundle item counts its
    /// components' units.
    pub remaining: i64,
    pub pickup: PickupBody,
}

impl From<ScanOutcome> for ScanAnswer {
    fn from(s: ScanOutcome) -> Self {
        ScanAnswer {
            scanned: s.scanned.as_str().to_string(),
            sku_code: s.sku_code,
            remaining: s.remaining,
            pickup: s.pickup.into(),
        }
    }
}

#[utoipa::path(post, path = "/pickups/{pickup}/reception-scans", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("pickup" = String, Path, description = "Pickup id or receipt code")), request_body = PickupScanBody,
    responses((status = 200, body = ScanAnswer, description = "The unit is in the hanger; with the last one the pickup is `received` and its units held"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Nothing changed: `pickup_wrong_item`, `pickup_over_scan`, `pickup_already_received`, `pickup_closed`, `unknown_barcode`, `insufficient_stock`, `pickup_line_allocated`"),
        (status = 422, body = Problem)))]
pub async fn reception_scan(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<PickupScanBody>,
) -> ApiResult<Json<ScanAnswer>> {
    let p = auth.require(Permission::WriteOrders, "receive pickups")?;
    Ok(Json(
        state
            .store
            .pickup_reception_scan(p.tenant_id, &key, &body.code, &p.actor())
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/pickups/{pickup}/completion-scans", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("pickup" = String, Path, description = "Pickup id or receipt code")), request_body = PickupScanBody,
    responses((status = 200, body = ScanAnswer, description = "The customer's slip (the order number), the receipt, or a held unit"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Nothing changed: `pickup_not_received`, `pickup_slip_first`, `pickup_wrong_item`, `pickup_over_scan`, `pickup_closed`, `unknown_barcode`"),
        (status = 422, body = Problem)))]
pub async fn completion_scan(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<PickupScanBody>,
) -> ApiResult<Json<ScanAnswer>> {
    let p = auth.require(Permission::WriteOrders, "hand over pickups")?;
    Ok(Json(
        state
            .store
            .pickup_completion_scan(p.tenant_id, &key, &body.code, &p.actor())
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/pickups/{pickup}/complete", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("pickup" = String, Path, description = "Pickup id or receipt code")),
    responses((status = 200, body = PickupBody, description = "픽업 완료: the held units leave the store (on hand drops) and the order line counts them shipped"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Nothing changed: `pickup_not_received`, `pickup_slip_first`, `pickup_scan_incomplete`, `pickup_closed`")))]
pub async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<PickupBody>> {
    let p = auth.require(Permission::WriteOrders, "hand over pickups")?;
    Ok(Json(
        state
            .store
            .complete_pickup(p.tenant_id, &key, &p.actor())
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Required, at most 500 characters.
    pub reason: String,
}

#[utoipa::path(post, path = "/pickups/{pickup}/unavailable", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("pickup" = String, Path, description = "Pickup id or receipt code")), request_body = ReasonBody,
    responses((status = 200, body = PickupBody, description = "픽업 불가 (before reception): the order side hears `pickup.unavailable`"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Nothing changed: `pickup_already_received` (cancel it instead), `pickup_closed`"),
        (status = 422, body = Problem, description = "No reason")))]
pub async fn unavailable(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<PickupBody>> {
    let p = auth.require(Permission::WriteOrders, "refuse pickups")?;
    Ok(Json(
        state
            .store
            .pickup_unavailable(p.tenant_id, &key, &body.reason, &p.actor())
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/pickups/{pickup}/cancel", tag = "pickups", security(("bearer" = ["orders:write"])),
    params(("pickup" = String, Path, description = "Pickup id or receipt code")), request_body = ReasonBody,
    responses((status = 200, body = PickupBody, description = "픽업 취소 (after reception): the held units are sellable again; the order side hears `pickup.cancelled`"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Nothing changed: `pickup_not_received` (mark it unavailable instead), `pickup_closed`"),
        (status = 422, body = Problem, description = "No reason")))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<PickupBody>> {
    let p = auth.require(Permission::WriteOrders, "cancel pickups")?;
    Ok(Json(
        state
            .store
            .cancel_pickup(p.tenant_id, &key, &body.reason, &p.actor())
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReceiptQuery {
    /// `pdf` (default) or `svg`.
    pub format: Option<String>,
}

async fn zone_of(state: &AppState, tenant: TenantId, pickup: &Pickup) -> ApiResult<String> {
    Ok(state
        .store
        .find_location(tenant, &pickup.location_id.to_string())
        .await?
        .time_zone)
}

#[utoipa::path(get, path = "/pickups/{pickup}/receipt", tag = "pickups", security(("bearer" = ["read"])),
    params(("pickup" = String, Path, description = "Pickup id or receipt code"), ReceiptQuery),
    responses(
        (status = 200, content_type = "application/pdf", body = BinaryFile, description = "접수증 재출력: the receipt as it stands, with its scannable code (or `image/svg+xml` with `format=svg`). Changes nothing"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn receipt(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<ReceiptQuery>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let svg_wanted = match q.format.as_deref() {
        None | Some("pdf") => false,
        Some("svg") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                format!("{other:?}: expected pdf or svg"),
            ));
        }
    };
    let pickup = state.store.pickup(p.tenant_id, &key).await?;
    let zone = zone_of(&state, p.tenant_id, &pickup).await?;
    let lines: Vec<ReceiptLine> = pickup
        .items
        .iter()
        .filter(|i| i.units() > 0 || pickup.status == PickupStatus::Cancelled)
        .map(|i| ReceiptLine {
            sku_code: i.sku_code.clone(),
            name: i.sku_name.clone(),
            units: if i.units() > 0 {
                i.units()
            } else {
                i.cancelled
            },
        })
        .collect();
    let name = format!("pickup-{}", pickup.receipt_code);
    let drawing = receipt_drawing(None, &pickup, &lines, &zone);
    if svg_wanted {
        return Ok(document(
            "image/svg+xml",
            Some(&format!("{name}.svg")),
            svg::render(&drawing).into_bytes(),
        ));
    }
    let pdf = tokio::task::spawn_blocking(move || receipts_pdf("Pickup receipt", &[drawing]))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering a receipt: {e}")))?;
    Ok(document(
        "application/pdf",
        Some(&format!("{name}.pdf")),
        pdf,
    ))
}

#[utoipa::path(get, path = "/pickup-print-runs/{run}/document", tag = "pickups", security(("bearer" = ["read"])),
    params(("run" = String, Path, description = "Print run id")),
    responses(
        (status = 200, content_type = "application/pdf", body = BinaryFile, description = "The run's receipts, one page each, in print order. Changes nothing"),
        (status = 404, body = Problem)))]
pub async fn print_run_document(
    State(state): State<AppState>,
    auth: Auth,
    Path(run): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let run = path_id::<jaego_core::PickupPrintRunId>(&run, "print run")?;
    let run = state.store.pickup_print_run(p.tenant_id, run).await?;
    let zone = state
        .store
        .find_location(p.tenant_id, &run.location_id.to_string())
        .await?
        .time_zone;
    let drawings: Vec<_> = run
        .entries
        .iter()
        .map(|e| {
            let lines: Vec<ReceiptLine> = e
                .items
                .iter()
                .filter_map(|(id, units)| {
                    e.pickup
                        .items
                        .iter()
                        .find(|i| i.id == *id)
                        .map(|i| ReceiptLine {
                            sku_code: i.sku_code.clone(),
                            name: i.sku_name.clone(),
                            units: *units,
                        })
                })
                .collect();
            receipt_drawing(Some(e.kind), &e.pickup, &lines, &zone)
        })
        .collect();
    let name = format!("pickup-run-{}.pdf", run.id);
    let pdf = tokio::task::spawn_blocking(move || receipts_pdf("Pickup receipts", &drawings))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering receipts: {e}")))?;
    Ok(document("application/pdf", Some(&name), pdf))
}
