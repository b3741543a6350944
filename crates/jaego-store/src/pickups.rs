//! Store pickup (click and collect, seed 001): requests made from online
//! order lines with a pickup store, their receipts printed on each store's
//! schedule, reception and completion by barcode scans, unavailable,
//! cancelled and expired requests, and the history.
//!
//! **Requests.** The pickup intake ([`Store::pickup_intake`], a job every
//! two seconds) turns every matched order line with a pickup store into an
//! item of a request at that store, one request per (order, store), once
//! per (line, store); allocation runs leave such lines alone. A batch of
//! new requests is one write transaction, its `pickup.requested` events
//! built from what it writes (`Store::write_requests`). It also
//! takes in cancellations made on the order since (a partial cancellation
//! cancels units of the item; cancelling every unit cancels the request).
//!
//! **Holding.** A request's units are held in the hanger from reception
//! on as the order's allocation at the store: reception writes `allocate`
//! movements there, so held units count in the store's `allocated` and not
//! in `available` (never sellable), and `jaego verify` accounts for them
//! like any order allocation. Completion ships them (`shipment`: on hand
//! and allocated drop); cancellation and expiry give them back
//! (`deallocate`: sellable again).
//!
//! **Every transition** runs in one write transaction: the request's row
//! is locked (a no-op `UPDATE`, which on PostgreSQL takes the row lock and
//! on SQLite runs under `BEGIN IMMEDIATE`), loaded, judged by
//! `jaego_core::pickup::apply`, and the new state, the stock moves and the
//! `pickup.*` events are written together. A refused action is answered
//! before anything is written. The new state and what goes with it
//! (reception time and deadline, closing time, reason, the expired
//! prompt) are one `UPDATE` of the request's row and one multi-row update
//! each for the changed items and components (`write_state`); the request
//! answered and put in the events is the judged one, not read back.
//!
//! **Bundle items are scanned as their components.** When an item's SKU
//! is a bundle, the intake stores the order line's expansion (as an
//! allocation would, `order_line_components`) and copies it into
//! `pickup_item_components` (migration 0016): each unit of the item is
//! scanned as its components' units, or whole by the bundle's own
//! barcode; the rules (`PickupState::parts`) keep the item's own scans at
//! the whole bundles those make, and reception allocates the stored
//! expansion. Plain items cost no extra query (the item query reads
//! `skus.bundle`).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use jaego_core::catalog::LocationKind;
use jaego_core::limits::{PAGE_SIZE_MAX, SCHEDULE_BATCH_MAX};
use jaego_core::pickup::{
    self, Action, Effect, ItemState, PICKUP_DEADLINE_HOURS_DEFAULT, PartState, PickupState,
    PickupStatus,
};
use jaego_core::schedule::{MinuteSet, Spec};
use jaego_core::{
    ChannelId, InvalidInput, LocationId, MovementKind, OrderId, OrderLineId, PickupId,
    PickupItemId, PickupPrintRunId, SkuId, StockPolicy, TenantId,
};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Transaction};

use crate::catalog::sku_for_barcode;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::ledger::location_policy;
use crate::orders::bundle_lines::{line_bundles, store_expansions};
use crate::orders::stock::{Ledger, OrderMove, apply_moves, ship_in};
use crate::orders::{
    TENANT_NO_INDEX, Val, execute_in, insert_many, insert_returning_ids, lock_orders,
    refresh_status, rows_in, update_many,
};
use crate::page::{Page, PageRequest};
use crate::places::Location;
use crate::rows::{Arg, flag, int, opt_int, parse_stored, parsed, text};
use crate::schedules;
use crate::{Store, now_us};

/// The schedule job of pickup receipt printing (scope: the store's
/// location id).
pub const PICKUP_PRINT_JOB: &str = "pickup_print";
/// Most order lines the intake turns into requests per call.
pub const PICKUP_INTAKE_BATCH_MAX: usize = 500;
/// Most requests the expiry job expires per call.
pub const PICKUP_EXPIRY_BATCH_MAX: usize = 100;
/// The reason recorded when every unit of a request was cancelled online.
pub const ORDER_CANCELLED_REASON: &str = "order cancelled";

/// Longest scanned code, in bytes.
pub const SCAN_LEN_MAX: usize = 128;

const MICROS_PER_HOUR: i64 = 3_600 * 1_000_000;

/// A store's pickup settings and where its printing stands.
#[derive(Debug, Clone)]
pub struct PickupSettings {
    pub location_id: LocationId,
    pub location_code: String,
    pub location_name: String,
    pub time_zone: String,
    /// Minutes of each hour at which receipts print; `None`: manual only.
    pub print_minutes: Option<MinuteSet>,
    /// A partial cancellation prints every cancelled unit of the request,
    /// not only the ones cancelled since the last print.
    pub print_whole_on_cancel: bool,
    pub deadline_hours: i64,
    pub next_print_at: Option<i64>,
    /// When receipts last printed (the last print run).
    pub last_print_at: Option<i64>,
    /// Receipts waiting for the next print (new requests and cancellations).
    pub pending_prints: i64,
    /// Units held in the hanger (every `received` request's units).
    pub held_units: i64,
    /// Expired requests the store has not yet been asked to print.
    pub expired_unprompted: i64,
}

/// One order line's units in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickupItem {
    pub id: PickupItemId,
    pub item_no: i64,
    pub line_id: OrderLineId,
    pub sku_id: SkuId,
    pub sku_code: String,
    pub sku_name: String,
    pub quantity: i64,
    pub cancelled: i64,
    /// Units scanned in (for a bundle item, the whole bundles its
    /// components' scans make).
    pub received_scans: i64,
    pub completion_scans: i64,
    /// A bundle item's components, what the scans count (empty for a
    /// plain item).
    pub components: Vec<PickupComponent>,
    cancel_printed: i64,
    line_cancelled_seen: i64,
}

/// One component of a bundle item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickupComponent {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub sku_name: String,
    /// Units of the component in one unit of the item.
    pub per_unit: i64,
    pub received_scans: i64,
    pub completion_scans: i64,
}

impl PickupItem {
    /// Units the customer still gets.
    pub fn units(&self) -> i64 {
        self.quantity - self.cancelled
    }
}

/// A pickup request with its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pickup {
    pub id: PickupId,
    pub tenant: TenantId,
    pub location_id: LocationId,
    pub location_code: String,
    pub location_name: String,
    pub order_id: OrderId,
    pub channel_id: ChannelId,
    pub external_no: String,
    pub customer_name: String,
    pub customer_phone: String,
    pub receipt_code: String,
    pub status: PickupStatus,
    pub reason: String,
    pub slip_scanned: bool,
    pub receipt_scanned: bool,
    pub requested_at: i64,
    pub received_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub printed_at: Option<i64>,
    pub items: Vec<PickupItem>,
}

impl Pickup {
    /// The request as the rules see it.
    pub fn state(&self) -> PickupState {
        PickupState {
            status: self.status,
            slip_scanned: self.slip_scanned,
            receipt_scanned: self.receipt_scanned,
            items: self
                .items
                .iter()
                .map(|i| ItemState {
                    quantity: i.quantity,
                    cancelled: i.cancelled,
                    received_scans: i.received_scans,
                    completion_scans: i.completion_scans,
                })
                .collect(),
            parts: self
                .items
                .iter()
                .enumerate()
                .flat_map(|(n, i)| {
                    i.components.iter().map(move |c| PartState {
                        item: n,
                        per_unit: c.per_unit,
                        received_scans: c.received_scans,
                        completion_scans: c.completion_scans,
                    })
                })
                .collect(),
        }
    }

    /// Units held in the hanger.
    pub fn held_units(&self) -> i64 {
        self.state().held().iter().sum()
    }
}

/// Which requests a history query wants; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct PickupFilter {
    pub location: Option<LocationId>,
    pub status: Option<PickupStatus>,
    /// Requested at or after (microseconds).
    pub from: Option<i64>,
    /// Requested before (microseconds).
    pub to: Option<i64>,
    /// Part of the customer's name or phone number, any case.
    pub customer: Option<String>,
    /// The order's number, exactly.
    pub order_no: Option<String>,
}

/// What a scan was taken as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    Item,
    Slip,
    Receipt,
}

impl Scanned {
    pub fn as_str(self) -> &'static str {
        match self {
            Scanned::Item => "item",
            Scanned::Slip => "slip",
            Scanned::Receipt => "receipt",
        }
    }
}

/// The answer to a scan: the request after it, what was scanned, and how
/// many units are still to scan in this phase.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub pickup: Pickup,
    pub scanned: Scanned,
    pub sku_code: Option<String>,
    pub remaining: i64,
}

/// Why a print run printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintCause {
    Schedule,
    Manual,
    Expired,
}

impl PrintCause {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintCause::Schedule => "schedule",
            PrintCause::Manual => "manual",
            PrintCause::Expired => "expired",
        }
    }

    fn parse(s: &str) -> StoreResult<PrintCause> {
        match s {
            "schedule" => Ok(PrintCause::Schedule),
            "manual" => Ok(PrintCause::Manual),
            "expired" => Ok(PrintCause::Expired),
            other => Err(StoreError::Corrupt(format!("print cause {other:?}"))),
        }
    }
}

/// What a printed receipt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    /// A new request (접수증).
    New,
    /// Units cancelled online (취소 접수증).
    Cancellation,
    /// Past the deadline (기한종료).
    Expired,
}

impl ReceiptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::New => "new",
            ReceiptKind::Cancellation => "cancellation",
            ReceiptKind::Expired => "expired",
        }
    }

    fn parse(s: &str) -> StoreResult<ReceiptKind> {
        match s {
            "new" => Ok(ReceiptKind::New),
            "cancellation" => Ok(ReceiptKind::Cancellation),
            "expired" => Ok(ReceiptKind::Expired),
            other => Err(StoreError::Corrupt(format!("receipt kind {other:?}"))),
        }
    }
}

/// One receipt of a print run: the request and the units it lists.
#[derive(Debug, Clone)]
pub struct PrintEntry {
    pub kind: ReceiptKind,
    pub pickup: Pickup,
    /// (item id, units) in item order.
    pub items: Vec<(PickupItemId, i64)>,
}

/// One print of receipts at a store.
#[derive(Debug, Clone)]
pub struct PrintRun {
    pub id: PickupPrintRunId,
    pub location_id: LocationId,
    pub cause: PrintCause,
    pub actor: String,
    pub created_at: i64,
    pub entries: Vec<PrintEntry>,
}

/// A receipt code: `P` and 12 digits from the id's random bits.
fn receipt_code(id: PickupId) -> String {
    let bytes = id.as_uuid().as_bytes()[8..].try_into().unwrap_or([0u8; 8]);
    format!("P{:012}", u64::from_be_bytes(bytes) % 1_000_000_000_000)
}

/// Whether `code` has the shape of every [`receipt_code`]: a code of any
/// other shape is no request's receipt.
fn receipt_shaped(code: &str) -> bool {
    code.strip_prefix('P')
        .is_some_and(|d| d.len() == 12 && d.bytes().all(|b| b.is_ascii_digit()))
}

fn require_store(location: &Location) -> StoreResult<()> {
    if location.kind != LocationKind::Store {
        return Err(InvalidInput::one(
            "location",
            format!(
                "{:?} is a {}; pickups are made at stores",
                location.code,
                location.kind.as_str()
            ),
        )
        .into());
    }
    Ok(())
}

fn refused(r: &pickup::Refusal) -> StoreError {
    StoreError::refused(r.code(), r.to_string())
}

const PICKUP_COLUMNS: &str = "p.id, p.tenant_id, p.location_id, loc.code AS location_code, loc.name AS location_name, \
     p.order_id, o.channel_id, o.external_no, o.customer_name, o.customer_phone, p.receipt_code, p.status, \
     p.reason, p.slip_scanned, p.receipt_scanned, p.requested_at, p.received_at, p.deadline_at, p.closed_at, p.printed_at";

const PICKUP_FROM: &str =
    "pickups p JOIN orders o ON o.id = p.order_id JOIN locations loc ON loc.id = p.location_id";

fn pickup_from_row(row: &AnyRow) -> StoreResult<Pickup> {
    Ok(Pickup {
        id: parsed(row, "id")?,
        tenant: parsed(row, "tenant_id")?,
        location_id: parsed(row, "location_id")?,
        location_code: text(row, "location_code")?,
        location_name: text(row, "location_name")?,
        order_id: parsed(row, "order_id")?,
        channel_id: parsed(row, "channel_id")?,
        external_no: text(row, "external_no")?,
        customer_name: text(row, "customer_name")?,
        customer_phone: text(row, "customer_phone")?,
        receipt_code: text(row, "receipt_code")?,
        status: text(row, "status")?.parse().map_err(StoreError::Corrupt)?,
        reason: text(row, "reason")?,
        slip_scanned: flag(row, "slip_scanned")?,
        receipt_scanned: flag(row, "receipt_scanned")?,
        requested_at: int(row, "requested_at")?,
        received_at: opt_int(row, "received_at")?,
        deadline_at: opt_int(row, "deadline_at")?,
        closed_at: opt_int(row, "closed_at")?,
        printed_at: opt_int(row, "printed_at")?,
        items: Vec::new(),
    })
}

/// Fills in the items of `pickups`, read in `conn`: one query per 1,000
/// requests of a tenant, and one more for the components of those with a
/// bundle item.
async fn with_items(
    conn: &mut AnyConnection,
    mut pickups: Vec<Pickup>,
) -> StoreResult<Vec<Pickup>> {
    let index: HashMap<PickupId, usize> =
        pickups.iter().enumerate().map(|(n, p)| (p.id, n)).collect();
    let mut by_tenant: BTreeMap<TenantId, Vec<PickupId>> = BTreeMap::new();
    for p in &pickups {
        by_tenant.entry(p.tenant).or_default().push(p.id);
    }
    for (tenant, ids) in by_tenant {
        let rows = rows_in(conn, tenant, &ids, |t, list| {
            format!(
                "SELECT i.pickup_id, i.id, i.item_no, i.line_id, i.sku_id, s.code AS sku_code, s.name AS sku_name, \
                 s.bundle, i.quantity, i.cancelled, i.received_scans, i.completion_scans, i.cancel_printed, \
                 i.line_cancelled_seen FROM pickup_items i JOIN skus s ON s.id = i.sku_id \
                 WHERE i.tenant_id = {t} AND i.pickup_id IN {list} ORDER BY i.pickup_id, i.item_no"
            )
        })
        .await?;
        let mut bundled: Vec<PickupId> = Vec::new();
        for r in &rows {
            let pickup: PickupId = parsed(r, "pickup_id")?;
            if flag(r, "bundle")? && bundled.last() != Some(&pickup) {
                bundled.push(pickup);
            }
            pickups[index[&pickup]].items.push(PickupItem {
                id: parsed(r, "id")?,
                item_no: int(r, "item_no")?,
                line_id: parsed(r, "line_id")?,
                sku_id: parsed(r, "sku_id")?,
                sku_code: text(r, "sku_code")?,
                sku_name: text(r, "sku_name")?,
                quantity: int(r, "quantity")?,
                cancelled: int(r, "cancelled")?,
                received_scans: int(r, "received_scans")?,
                completion_scans: int(r, "completion_scans")?,
                components: Vec::new(),
                cancel_printed: int(r, "cancel_printed")?,
                line_cancelled_seen: int(r, "line_cancelled_seen")?,
            });
        }
        if bundled.is_empty() {
            continue;
        }
        let rows = rows_in(conn, tenant, &bundled, |t, list| {
            format!(
                "SELECT i.pickup_id, c.item_id, c.component_sku_id, s.code, s.name, c.per_unit, c.received_scans, \
                 c.completion_scans FROM pickup_item_components c JOIN pickup_items i ON i.id = c.item_id \
                 JOIN skus s ON s.id = c.component_sku_id \
                 WHERE c.tenant_id = {t} AND i.pickup_id IN {list} ORDER BY i.pickup_id, i.item_no, c.position"
            )
        })
        .await?;
        for r in &rows {
            let pickup: PickupId = parsed(r, "pickup_id")?;
            let item: PickupItemId = parsed(r, "item_id")?;
            let c = PickupComponent {
                sku_id: parsed(r, "component_sku_id")?,
                sku_code: text(r, "code")?,
                sku_name: text(r, "name")?,
                per_unit: int(r, "per_unit")?,
                received_scans: int(r, "received_scans")?,
                completion_scans: int(r, "completion_scans")?,
            };
            if let Some(i) = pickups[index[&pickup]]
                .items
                .iter_mut()
                .find(|i| i.id == item)
            {
                i.components.push(c);
            }
        }
    }
    for p in &pickups {
        if !p.state().holds_invariants() {
            return Err(StoreError::Corrupt(format!(
                "pickup {} breaks its invariants",
                p.id
            )));
        }
    }
    Ok(pickups)
}

/// One request of the tenant by id or receipt code, read in `conn`.
async fn find_in(conn: &mut AnyConnection, tenant: TenantId, key: &str) -> StoreResult<Pickup> {
    let column = if key.parse::<PickupId>().is_ok() {
        "p.id"
    } else {
        "p.receipt_code"
    };
    let sql = format!(
        "SELECT {PICKUP_COLUMNS} FROM {PICKUP_FROM} WHERE p.tenant_id = $1 AND {column} = $2"
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("pickup", key))?;
    let p = pickup_from_row(&row)?;
    Ok(with_items(conn, vec![p]).await?.remove(0))
}

/// The requests `ids` of the tenant, read in `conn`, in id order; ids of
/// no request are left out.
async fn pickups_in(
    conn: &mut AnyConnection,
    tenant: TenantId,
    ids: &[PickupId],
) -> StoreResult<Vec<Pickup>> {
    let rows = rows_in(conn, tenant, ids, |t, list| {
        format!(
            "SELECT {PICKUP_COLUMNS} FROM {PICKUP_FROM} WHERE p.{TENANT_NO_INDEX} = {t} AND p.id IN {list} ORDER BY p.id"
        )
    })
    .await?;
    let pickups = rows
        .iter()
        .map(pickup_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let mut pickups = with_items(conn, pickups).await?;
    pickups.sort_by_key(|p| p.id);
    Ok(pickups)
}

/// What a request's order lines say now, read in the caller's
/// transaction.
struct LineNow {
    line_no: i64,
    cancelled: i64,
    /// Units neither allocated, shipped nor cancelled.
    open: i64,
}

/// The order lines of `p`'s items, by id, in one look-up; every item's
/// line is there (a line is never deleted while a request names it).
async fn order_lines_of(
    conn: &mut AnyConnection,
    p: &Pickup,
) -> StoreResult<HashMap<OrderLineId, LineNow>> {
    let ids: Vec<OrderLineId> = p.items.iter().map(|i| i.line_id).collect();
    let rows = rows_in(conn, p.tenant, &ids, |t, list| {
        format!(
            "SELECT id, line_no, cancelled, quantity - allocated - shipped - cancelled AS open \
             FROM order_lines WHERE {TENANT_NO_INDEX} = {t} AND id IN {list}"
        )
    })
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        out.insert(
            parsed(r, "id")?,
            LineNow {
                line_no: int(r, "line_no")?,
                cancelled: int(r, "cancelled")?,
                open: int(r, "open")?,
            },
        );
    }
    if let Some(item) = p.items.iter().find(|i| !out.contains_key(&i.line_id)) {
        return Err(StoreError::not_found("order line", item.line_id));
    }
    Ok(out)
}

/// Locks a request's row for the transaction and reads it.
async fn lock_pickup(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    key: &str,
) -> StoreResult<Pickup> {
    let column = if key.parse::<PickupId>().is_ok() {
        "id"
    } else {
        "receipt_code"
    };
    sqlx::query(&format!(
        "UPDATE pickups SET updated_at = updated_at WHERE tenant_id = $1 AND {column} = $2"
    ))
    .bind(tenant.to_string())
    .bind(key)
    .execute(&mut **tx)
    .await?;
    find_in(tx, tenant, key).await
}

/// What a `pickup.*` event tells of its request: a [`Pickup`]'s fields,
/// or, in the intake, the rows it has just written (nothing read back).
struct EventFacts<'a> {
    id: PickupId,
    tenant: TenantId,
    location_id: LocationId,
    order_id: OrderId,
    channel_id: ChannelId,
    external_no: &'a str,
    receipt_code: &'a str,
    status: PickupStatus,
    reason: &'a str,
    /// (line, SKU, quantity, cancelled) of each item, in item order.
    items: Vec<(OrderLineId, SkuId, i64, i64)>,
}

impl<'a> EventFacts<'a> {
    fn of(p: &'a Pickup) -> Self {
        EventFacts {
            id: p.id,
            tenant: p.tenant,
            location_id: p.location_id,
            order_id: p.order_id,
            channel_id: p.channel_id,
            external_no: &p.external_no,
            receipt_code: &p.receipt_code,
            status: p.status,
            reason: &p.reason,
            items: p
                .items
                .iter()
                .map(|i| (i.line_id, i.sku_id, i.quantity, i.cancelled))
                .collect(),
        }
    }

    /// The body of every `pickup.*` event, with `extra`'s fields after.
    fn event(self, kind: &'static str, extra: Value) -> NewEvent {
        let mut data = json!({
            "id": self.id.to_string(),
            "order_id": self.order_id.to_string(),
            "external_no": self.external_no,
            "location_id": self.location_id.to_string(),
            "receipt_code": self.receipt_code,
            "status": self.status.as_str(),
            "reason": self.reason,
            "items": self.items.iter().map(|(line, sku, quantity, cancelled)| json!({
                "line_id": line.to_string(),
                "sku_id": sku.to_string(),
                "quantity": quantity,
                "cancelled": cancelled,
            })).collect::<Vec<_>>(),
        });
        if let (Some(map), Value::Object(more)) = (data.as_object_mut(), extra) {
            map.extend(more);
        }
        NewEvent::new(self.tenant, kind, data)
            .location(self.location_id)
            .channel(self.channel_id)
            .subject(self.id)
    }
}

/// The `pickup.*` event `kind` of request `p`.
fn pickup_event(kind: &'static str, p: &Pickup, extra: Value) -> NewEvent {
    EventFacts::of(p).event(kind, extra)
}

/// A line about to become a request item.
#[derive(Debug, Clone)]
struct NewItem {
    line: OrderLineId,
    sku: SkuId,
    /// The line's units neither cancelled nor shipped: the item's quantity.
    units: i64,
    /// The line's cancelled units now: the item's `line_cancelled_seen`.
    cancelled: i64,
}

/// A request the intake is about to make: an order's new lines at one
/// store, in line order, and what its event tells of the order.
#[derive(Debug, Clone)]
struct NewRequest {
    tenant: TenantId,
    order: OrderId,
    location: LocationId,
    channel: ChannelId,
    external_no: String,
    items: Vec<NewItem>,
}

/// Stock moves for `units` per item of `p` at its store.
fn moves(p: &Pickup, units: &[i64], kind: MovementKind, policy: StockPolicy) -> Vec<OrderMove> {
    p.items
        .iter()
        .zip(units)
        .filter(|(_, u)| **u > 0)
        .map(|(i, &u)| OrderMove {
            order: p.order_id,
            line: i.line_id,
            sku: i.sku_id,
            location: p.location_id,
            quantity: u,
            kind,
            policy,
        })
        .collect()
}

/// Gives the new items of bundle lines their components: the line's
/// expansion, stored now if no allocation stored it yet (so reception
/// allocates exactly what is scanned, whatever the recipe becomes).
/// `items` are (tenant, line, SKU, item) of new items of any requests:
/// the bundles are looked up per tenant (one query when no line is a
/// bundle), and every component of every item is one insert.
async fn bundle_items(
    tx: &mut Transaction<'_, Any>,
    items: &[(TenantId, OrderLineId, SkuId, PickupItemId)],
) -> StoreResult<()> {
    let mut by_tenant: BTreeMap<TenantId, Vec<(OrderLineId, SkuId, PickupItemId)>> =
        BTreeMap::new();
    for &(tenant, line, sku, item) in items {
        by_tenant.entry(tenant).or_default().push((line, sku, item));
    }
    let mut rows: Vec<Vec<Val>> = Vec::new();
    for (tenant, items) in by_tenant {
        let bundles =
            line_bundles(tx, tenant, items.iter().map(|&(line, sku, _)| (line, sku))).await?;
        if bundles.is_empty() {
            continue;
        }
        store_expansions(tx, tenant, &bundles, bundles.keys().copied()).await?;
        for (line, _, item) in &items {
            let Some(b) = bundles.get(line) else {
                continue;
            };
            for (position, &(component, per_unit)) in b.parts.iter().enumerate() {
                rows.push(vec![
                    Val::T(item.to_string()),
                    Val::T(component.to_string()),
                    Val::T(tenant.to_string()),
                    Val::I(position as i64),
                    Val::I(per_unit),
                ]);
            }
        }
    }
    insert_many(
        tx,
        "pickup_item_components (item_id, component_sku_id, tenant_id, position, per_unit)",
        5,
        rows,
        "",
    )
    .await
}

/// What a transition sets on a request beside its judged state, written
/// by [`write_state`] in the same statements.
#[derive(Debug, Default)]
struct Stamps {
    /// Reception: `received_at` and `deadline_at`.
    received: Option<(i64, i64)>,
    /// A final status reached: `closed_at`.
    closed_at: Option<i64>,
    /// Why it is unavailable or cancelled (already trimmed).
    reason: Option<String>,
    /// Expired: the request waits for the store's expired-receipts prompt.
    expired_prompt: bool,
    /// The intake's `line_cancelled_seen` of every item, in item order.
    line_cancelled_seen: Option<Vec<i64>>,
}

/// The stamps of `effect` taking `p` to `after` at `now`: a reception's
/// time and deadline (the store's deadline hours, read in `tx`), and the
/// closing time when `after` closes the request.
async fn effect_stamps(
    tx: &mut Transaction<'_, Any>,
    p: &Pickup,
    effect: Option<&Effect>,
    after: &PickupState,
    now: i64,
) -> StoreResult<Stamps> {
    let mut stamps = Stamps::default();
    if let Some(Effect::Hold(_)) = effect {
        let hours =
            sqlx::query("SELECT deadline_hours FROM pickup_settings WHERE location_id = $1")
                .bind(p.location_id.to_string())
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| int(&r, "deadline_hours"))
                .transpose()?
                .unwrap_or(PICKUP_DEADLINE_HOURS_DEFAULT);
        stamps.received = Some((now, now + hours * MICROS_PER_HOUR));
    }
    if after.status.is_final() && !p.status.is_final() {
        stamps.closed_at = Some(now);
    }
    Ok(stamps)
}

impl Pickup {
    /// Every bundle item's components with their item, in item order
    /// (the order of [`PickupState::parts`]).
    fn components(&self) -> impl Iterator<Item = (PickupItemId, &PickupComponent)> {
        self.items
            .iter()
            .flat_map(|i| i.components.iter().map(move |c| (i.id, c)))
    }

    /// The request as `state` and `stamps` leave it: what reading it back
    /// after [`write_state`] gives.
    fn judged(&self, state: &PickupState, stamps: &Stamps) -> Pickup {
        let mut p = self.clone();
        p.status = state.status;
        p.slip_scanned = state.slip_scanned;
        p.receipt_scanned = state.receipt_scanned;
        for (item, s) in p.items.iter_mut().zip(&state.items) {
            item.cancelled = s.cancelled;
            item.received_scans = s.received_scans;
            item.completion_scans = s.completion_scans;
        }
        let components = p.items.iter_mut().flat_map(|i| i.components.iter_mut());
        for (c, s) in components.zip(&state.parts) {
            c.received_scans = s.received_scans;
            c.completion_scans = s.completion_scans;
        }
        if let Some(seen) = &stamps.line_cancelled_seen {
            for (item, &seen) in p.items.iter_mut().zip(seen) {
                item.line_cancelled_seen = seen;
            }
        }
        if let Some((at, deadline)) = stamps.received {
            p.received_at = Some(at);
            p.deadline_at = Some(deadline);
        }
        if let Some(at) = stamps.closed_at {
            p.closed_at = Some(at);
        }
        if let Some(reason) = &stamps.reason {
            p.reason.clone_from(reason);
        }
        p
    }
}

/// Writes a request's judged state and its stamps: one `UPDATE` of the
/// request's row, and one `update_many` each for the items and the
/// components that changed. Returns the request as written, so the caller
/// need not read it back.
async fn write_state(
    tx: &mut Transaction<'_, Any>,
    p: &Pickup,
    state: &PickupState,
    stamps: &Stamps,
    now: i64,
) -> StoreResult<Pickup> {
    let after = p.judged(state, stamps);
    // What reading the request back would check (`with_items`).
    if !after.state().holds_invariants() {
        return Err(StoreError::Corrupt(format!(
            "pickup {} breaks its invariants",
            p.id
        )));
    }
    let mut set =
        String::from("status = $1, slip_scanned = $2, receipt_scanned = $3, updated_at = $4");
    let mut args = vec![
        Arg::Text(after.status.as_str().to_string()),
        Arg::Int(i64::from(after.slip_scanned)),
        Arg::Int(i64::from(after.receipt_scanned)),
        Arg::Int(now),
    ];
    let mut stamp = |column: &str, arg: Arg| {
        args.push(arg);
        set.push_str(&format!(", {column} = ${}", args.len()));
    };
    if let Some(reason) = &stamps.reason {
        stamp("reason", Arg::Text(reason.clone()));
    }
    if let Some((at, deadline)) = stamps.received {
        stamp("received_at", Arg::Int(at));
        stamp("deadline_at", Arg::Int(deadline));
    }
    if let Some(at) = stamps.closed_at {
        stamp("closed_at", Arg::Int(at));
    }
    if stamps.expired_prompt {
        stamp("expired_prompt", Arg::Int(1));
    }
    args.push(Arg::Text(p.id.to_string()));
    let sql = format!("UPDATE pickups SET {set} WHERE id = ${}", args.len());
    let mut q = sqlx::query(&sql);
    for a in args {
        q = a.bind(q);
    }
    q.execute(&mut **tx).await?;
    let counts = |i: &PickupItem| {
        (
            i.cancelled,
            i.received_scans,
            i.completion_scans,
            i.line_cancelled_seen,
        )
    };
    let items: Vec<Vec<Val>> = p
        .items
        .iter()
        .zip(&after.items)
        .filter(|(was, is)| counts(was) != counts(is))
        .map(|(_, i)| {
            vec![
                Val::T(i.id.to_string()),
                Val::I(i.cancelled),
                Val::I(i.received_scans),
                Val::I(i.completion_scans),
                Val::I(i.line_cancelled_seen),
            ]
        })
        .collect();
    update_many(
        tx,
        "pickup_items",
        "cancelled = v.column2, received_scans = v.column3, completion_scans = v.column4, \
         line_cancelled_seen = v.column5",
        "pickup_items.id = v.column1",
        5,
        items,
    )
    .await?;
    let parts: Vec<Vec<Val>> = p
        .components()
        .zip(after.components())
        .filter(|((_, was), (_, is))| {
            (was.received_scans, was.completion_scans) != (is.received_scans, is.completion_scans)
        })
        .map(|(_, (item, c))| {
            vec![
                Val::T(item.to_string()),
                Val::T(c.sku_id.to_string()),
                Val::I(c.received_scans),
                Val::I(c.completion_scans),
            ]
        })
        .collect();
    update_many(
        tx,
        "pickup_item_components",
        "received_scans = v.column3, completion_scans = v.column4",
        "pickup_item_components.item_id = v.column1 AND pickup_item_components.component_sku_id = v.column2",
        4,
        parts,
    )
    .await?;
    Ok(after)
}

/// Applies a judged effect on stock in the caller's transaction (the
/// request's own row is [`write_state`]'s). Returns the order events it
/// wrote.
async fn apply_effect(
    tx: &mut Transaction<'_, Any>,
    p: &Pickup,
    effect: Option<&Effect>,
    actor: &str,
    now: i64,
) -> StoreResult<Vec<NewEvent>> {
    let tenant = p.tenant;
    let reference = format!("pickup {}", p.receipt_code);
    let mut events = Vec::new();
    // The request's row first (the caller's), then its order, then
    // balances: the writers' one lock order. (`ship_in` locks the order
    // itself.)
    if matches!(effect, Some(Effect::Hold(_) | Effect::Release(_))) {
        lock_orders(tx, tenant, &[p.order_id]).await?;
    }
    match effect {
        Some(Effect::Hold(units)) => {
            // The units must not be allocated elsewhere: reception is the
            // line's allocation, at the store.
            let lines = order_lines_of(tx, p).await?;
            for (item, &u) in p.items.iter().zip(units) {
                let line = &lines[&item.line_id];
                if u > 0 && line.open < u {
                    return Err(StoreError::refused(
                        "pickup_line_allocated",
                        format!(
                            "order line {} has {} units not yet allocated or shipped; the pickup holds {u}. Deallocate the line first",
                            line.line_no, line.open
                        ),
                    ));
                }
            }
            let policy = location_policy(tx, tenant, p.location_id).await?;
            let m = moves(p, units, MovementKind::Allocate, policy);
            apply_moves(tx, tenant, &m, Ledger::PerLine, &reference, actor).await?;
        }
        Some(Effect::Ship(units)) => {
            // Collected: shipped from the store as any shipment is.
            let items: Vec<_> = moves(p, units, MovementKind::Shipment, StockPolicy::Unlimited)
                .iter()
                .map(|m| (m.line, m.location, m.quantity))
                .collect();
            let (_, mut event) =
                ship_in(tx, tenant, p.order_id, &items, &reference, actor, now).await?;
            if let Some(data) = event.data.as_object_mut() {
                data.insert("pickup_id".into(), json!(p.id.to_string()));
            }
            events.push(event);
        }
        Some(Effect::Release(units)) => {
            let m = moves(p, units, MovementKind::Deallocate, StockPolicy::Unlimited);
            apply_moves(tx, tenant, &m, Ledger::PerLine, &reference, actor).await?;
        }
        None => {}
    }
    if matches!(effect, Some(Effect::Hold(_) | Effect::Release(_))) {
        refresh_status(tx, tenant, &[p.order_id], now).await?;
    }
    Ok(events)
}

/// The event kind of a status reached by a transition.
fn status_event(status: PickupStatus) -> Option<&'static str> {
    match status {
        PickupStatus::Requested => None,
        PickupStatus::Received => Some(kinds::PICKUP_RECEIVED),
        PickupStatus::Completed => Some(kinds::PICKUP_COMPLETED),
        PickupStatus::Unavailable => Some(kinds::PICKUP_UNAVAILABLE),
        PickupStatus::Cancelled => Some(kinds::PICKUP_CANCELLED),
        PickupStatus::Expired => Some(kinds::PICKUP_EXPIRED),
    }
}

impl Store {
    /// The store location `key` (id or code), refused if it is not a store.
    async fn pickup_store(&self, tenant: TenantId, key: &str) -> StoreResult<Location> {
        let location = self.find_location(tenant, key).await?;
        require_store(&location)?;
        Ok(location)
    }

    /// A store's pickup settings and where its printing stands.
    pub async fn pickup_settings(
        &self,
        tenant: TenantId,
        location: &str,
    ) -> StoreResult<PickupSettings> {
        let loc = self.pickup_store(tenant, location).await?;
        let id = loc.id.to_string();
        let mut conn = self.reader().acquire().await?;
        let row = sqlx::query(
            "SELECT print_whole_on_cancel, deadline_hours FROM pickup_settings WHERE tenant_id = $1 AND location_id = $2",
        )
        .bind(tenant.to_string())
        .bind(&id)
        .fetch_optional(&mut *conn)
        .await?;
        let (whole, hours) = match row {
            Some(r) => (
                flag(&r, "print_whole_on_cancel")?,
                int(&r, "deadline_hours")?,
            ),
            None => (false, PICKUP_DEADLINE_HOURS_DEFAULT),
        };
        let schedule = self.schedule(tenant, PICKUP_PRINT_JOB, &id).await?;
        let minutes = match schedule.as_ref().and_then(|s| s.spec) {
            Some(Spec::MinutesPast(set)) => Some(set),
            _ => None,
        };
        let one = |sql: &'static str| sqlx::query(sql).bind(tenant.to_string()).bind(id.clone());
        let last_print_at = one(
            "SELECT MAX(created_at) AS at FROM pickup_print_runs WHERE tenant_id = $1 AND location_id = $2",
        )
        .fetch_one(&mut *conn)
        .await
        .map(|r| opt_int(&r, "at"))??;
        let unprinted = one(
            "SELECT COUNT(*) AS n FROM pickups WHERE tenant_id = $1 AND location_id = $2 AND printed_at IS NULL AND status <> 'cancelled'",
        )
        .fetch_one(&mut *conn)
        .await
        .map(|r| int(&r, "n"))??;
        let cancellations = one(
            "SELECT COUNT(DISTINCT i.pickup_id) AS n FROM pickup_items i JOIN pickups p ON p.id = i.pickup_id \
             WHERE p.tenant_id = $1 AND p.location_id = $2 AND p.printed_at IS NOT NULL AND i.cancelled > i.cancel_printed",
        )
        .fetch_one(&mut *conn)
        .await
        .map(|r| int(&r, "n"))??;
        let held = one(
            "SELECT CAST(COALESCE(SUM(i.quantity - i.cancelled), 0) AS BIGINT) AS n FROM pickup_items i JOIN pickups p ON p.id = i.pickup_id \
             WHERE p.tenant_id = $1 AND p.location_id = $2 AND p.status = 'received'",
        )
        .fetch_one(&mut *conn)
        .await
        .map(|r| int(&r, "n"))??;
        let expired = one(
            "SELECT COUNT(*) AS n FROM pickups WHERE tenant_id = $1 AND location_id = $2 AND expired_prompt = 1",
        )
        .fetch_one(&mut *conn)
        .await
        .map(|r| int(&r, "n"))??;
        Ok(PickupSettings {
            location_id: loc.id,
            location_code: loc.code,
            location_name: loc.name,
            time_zone: loc.time_zone,
            print_minutes: minutes,
            print_whole_on_cancel: whole,
            deadline_hours: hours,
            next_print_at: schedule.as_ref().and_then(|s| s.next_run_at),
            last_print_at,
            pending_prints: unprinted + cancellations,
            held_units: held,
            expired_unprompted: expired,
        })
    }

    /// Sets a store's pickup settings; the print schedule runs at
    /// `print_minutes` of every hour in the store's time zone (`None`:
    /// manual printing only). A new deadline applies to requests received
    /// from now on.
    pub async fn set_pickup_settings(
        &self,
        tenant: TenantId,
        location: &str,
        print_minutes: Option<MinuteSet>,
        print_whole_on_cancel: bool,
        deadline_hours: i64,
        now: i64,
    ) -> StoreResult<PickupSettings> {
        pickup::check_deadline_hours(deadline_hours)?;
        let loc = self.pickup_store(tenant, location).await?;
        let id = loc.id.to_string();
        self.set_schedule(
            tenant,
            PICKUP_PRINT_JOB,
            &id,
            print_minutes.map(Spec::MinutesPast),
            &loc.time_zone,
            now,
        )
        .await?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO pickup_settings (location_id, tenant_id, print_whole_on_cancel, deadline_hours, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (location_id) DO UPDATE SET \
             print_whole_on_cancel = excluded.print_whole_on_cancel, deadline_hours = excluded.deadline_hours, updated_at = excluded.updated_at",
        )
        .bind(&id)
        .bind(tenant.to_string())
        .bind(i64::from(print_whole_on_cancel))
        .bind(deadline_hours)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::PICKUP_SETTINGS_UPDATED,
            json!({
                "location_id": id,
                "print_minutes": print_minutes.map(|m| m.minutes().collect::<Vec<_>>()),
                "print_whole_on_cancel": print_whole_on_cancel,
                "deadline_hours": deadline_hours,
            }),
        )
        .location(loc.id);
        self.commit_with(tx, &[event]).await?;
        self.pickup_settings(tenant, &id).await
    }

    /// One request by id or receipt code (what the receipt's barcode
    /// carries).
    pub async fn pickup(&self, tenant: TenantId, key: &str) -> StoreResult<Pickup> {
        let mut conn = self.reader().acquire().await?;
        find_in(&mut conn, tenant, key).await
    }

    /// Requests matching `filter`, oldest first, a page at a time.
    pub async fn pickups(
        &self,
        tenant: TenantId,
        filter: &PickupFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Pickup>> {
        let size = page.size().min(PAGE_SIZE_MAX);
        let mut binds: Vec<Value> = vec![json!(tenant.to_string()), json!(page.cursor())];
        let mut sql = format!(
            "SELECT {PICKUP_COLUMNS} FROM {PICKUP_FROM} WHERE p.tenant_id = $1 AND p.id > $2"
        );
        let mut push = |cond: &str, v: Value, sql: &mut String| {
            binds.push(v);
            sql.push_str(&cond.replace('?', &format!("${}", binds.len())));
        };
        if let Some(l) = filter.location {
            push(" AND p.location_id = ?", json!(l.to_string()), &mut sql);
        }
        if let Some(s) = filter.status {
            push(" AND p.status = ?", json!(s.as_str()), &mut sql);
        }
        if let Some(f) = filter.from {
            push(" AND p.requested_at >= ?", json!(f), &mut sql);
        }
        if let Some(t) = filter.to {
            push(" AND p.requested_at < ?", json!(t), &mut sql);
        }
        if let Some(c) = &filter.customer {
            let pattern = format!("%{}%", c.to_lowercase());
            push(
                " AND (LOWER(o.customer_name) LIKE ? OR o.customer_phone LIKE ?)",
                json!(pattern),
                &mut sql,
            );
        }
        if let Some(n) = &filter.order_no {
            push(" AND o.external_no = ?", json!(n), &mut sql);
        }
        binds.push(json!(size as i64 + 1));
        sql.push_str(&format!(" ORDER BY p.id LIMIT ${}", binds.len()));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Value::Number(n) => q.bind(n.as_i64().unwrap_or_default()),
                Value::String(s) => q.bind(s),
                _ => q,
            };
        }
        let mut conn = self.reader().acquire().await?;
        let rows = q.fetch_all(&mut *conn).await?;
        let list = rows
            .iter()
            .map(pickup_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let list = with_items(&mut conn, list).await?;
        Ok(Page::from_rows(list, size, |p| p.id.to_string()))
    }

    /// Turns new pickup lines into requests and takes in cancellations made
    /// on their orders since. Returns how many requests it made or changed,
    /// or [`PICKUP_INTAKE_BATCH_MAX`] when either look-up filled its batch,
    /// so the job runs again at once rather than after its interval.
    pub async fn pickup_intake(&self, now: i64) -> StoreResult<usize> {
        let (made, more_lines) = self.make_requests(now).await?;
        let (changed, more_cancellations) = self.take_in_cancellations(now).await?;
        Ok(if more_lines || more_cancellations {
            PICKUP_INTAKE_BATCH_MAX
        } else {
            made + changed
        })
    }

    /// Makes requests of new pickup lines: [`Store::new_requests`], then
    /// [`Store::write_requests`].
    async fn make_requests(&self, now: i64) -> StoreResult<(usize, bool)> {
        let (requests, full) = self.new_requests().await?;
        let made = self.write_requests(&requests, now).await?;
        Ok((made, full))
    }

    /// New pickup lines as the requests to make, one per (tenant, order,
    /// store) in that order, and whether the look-up filled its batch.
    /// The lines are found through the partial index of pickup lines with
    /// open units (migration 0017); the order key is written so that
    /// SQLite does not walk every order line in order instead. The look-up
    /// also reads what the requests' events tell of their orders.
    async fn new_requests(&self) -> StoreResult<(Vec<NewRequest>, bool)> {
        let rows = sqlx::query(
            "SELECT l.id, l.tenant_id, l.order_id, l.pickup_location_id, l.sku_id, l.quantity - l.cancelled - l.shipped AS units, l.cancelled, \
             o.channel_id, o.external_no \
             FROM order_lines l JOIN orders o ON o.id = l.order_id \
             WHERE l.pickup_location_id IS NOT NULL AND l.sku_id IS NOT NULL \
             AND o.status IN ('open','partially_allocated','allocated','partially_shipped') \
             AND l.quantity - l.cancelled - l.shipped > 0 \
             AND NOT EXISTS (SELECT 1 FROM pickup_items i WHERE i.line_id = l.id AND i.location_id = l.pickup_location_id) \
             ORDER BY l.order_id || '', l.line_no LIMIT $1",
        )
        .bind(PICKUP_INTAKE_BATCH_MAX as i64 + 1)
        .fetch_all(self.reader())
        .await?;
        let full = rows.len() > PICKUP_INTAKE_BATCH_MAX;
        let mut groups: BTreeMap<(TenantId, OrderId, LocationId), NewRequest> = BTreeMap::new();
        for r in rows.iter().take(PICKUP_INTAKE_BATCH_MAX) {
            let (tenant, order, location) = (
                parsed(r, "tenant_id")?,
                parsed(r, "order_id")?,
                parsed(r, "pickup_location_id")?,
            );
            let request = match groups.entry((tenant, order, location)) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(NewRequest {
                    tenant,
                    order,
                    location,
                    channel: parsed(r, "channel_id")?,
                    external_no: text(r, "external_no")?,
                    items: Vec::new(),
                }),
            };
            request.items.push(NewItem {
                line: parsed(r, "id")?,
                sku: parsed(r, "sku_id")?,
                units: int(r, "units")?,
                cancelled: int(r, "cancelled")?,
            });
        }
        if full {
            // The last order read may go on past the batch: it waits for
            // the next call, at every store it has lines for, so that its
            // lines make one request per store. The lines come in order
            // of their order's id, whatever the tenant, so it is the
            // order of the batch's last line, which is not always the
            // last group (tenants come first in the groups' key).
            let last: OrderId = parsed(&rows[PICKUP_INTAKE_BATCH_MAX - 1], "order_id")?;
            groups.retain(|&(_, order, _), _| order != last);
        }
        Ok((groups.into_values().collect(), full))
    }

    /// Makes `requests` (status `requested`, at `now`) in one write
    /// transaction, with their `pickup.requested` events built from what
    /// it writes; answers how many it made. Whatever the batch, that is
    /// one insert each of the requests, their items and the bundle items'
    /// components, the bundle look-ups per tenant, and the events.
    ///
    /// Another instance may have made a request of some of these lines
    /// since they were read: `pickup_items_line_key UNIQUE (line_id,
    /// location_id)` lets a line into one request per store. The items go
    /// in with `ON CONFLICT (line_id, location_id) DO NOTHING RETURNING
    /// id`, so a taken line is left out without an error, which on
    /// PostgreSQL would abort the whole transaction. On PostgreSQL (read
    /// committed) an insert meeting a line the other instance has written
    /// but not committed waits for it: if it commits, the line is left
    /// out; if it rolls back, the line goes in. On SQLite the write
    /// transaction (`BEGIN IMMEDIATE`) runs alone and sees whatever was
    /// committed before it. A request that did not get every one of its
    /// lines is not made: its rows and the items that did go in are
    /// deleted in this transaction (what rolling back that request alone
    /// would leave), and lines nobody took are found again by the next
    /// intake. The
    /// items are written in the order of the batch (tenant, order, store,
    /// line), which every instance computes alike, so two intakes wait
    /// for each other's lines in one order and never deadlock.
    async fn write_requests(&self, requests: &[NewRequest], now: i64) -> StoreResult<usize> {
        if requests.is_empty() {
            return Ok(0);
        }
        let status = PickupStatus::Requested;
        // A new request's reason (none yet) and items' cancelled units;
        // written, and told in the events, as these values.
        let (reason, cancelled) = ("", 0);
        let ids: Vec<PickupId> = requests.iter().map(|_| PickupId::new()).collect();
        let receipts: Vec<String> = ids.iter().map(|&id| receipt_code(id)).collect();
        let item_ids: Vec<Vec<PickupItemId>> = requests
            .iter()
            .map(|r| r.items.iter().map(|_| PickupItemId::new()).collect())
            .collect();
        let tenants: Vec<TenantId> = requests.iter().map(|r| r.tenant).collect();
        let mut tx = self.begin_order_write(&tenants).await?;
        let rows: Vec<Vec<Val>> = requests
            .iter()
            .zip(&ids)
            .zip(&receipts)
            .map(|((r, id), receipt)| {
                vec![
                    Val::T(id.to_string()),
                    Val::T(r.tenant.to_string()),
                    Val::T(r.location.to_string()),
                    Val::T(r.order.to_string()),
                    Val::T(receipt.clone()),
                    Val::T(status.as_str().to_string()),
                    Val::T(reason.to_string()),
                    Val::I(now),
                    Val::I(now),
                ]
            })
            .collect();
        insert_many(
            &mut tx,
            "pickups (id, tenant_id, location_id, order_id, receipt_code, status, reason, requested_at, updated_at)",
            9,
            rows,
            "",
        )
        .await?;
        let rows: Vec<Vec<Val>> = requests
            .iter()
            .zip(&ids)
            .zip(&item_ids)
            .flat_map(|((r, id), items)| {
                r.items
                    .iter()
                    .zip(items)
                    .enumerate()
                    .map(move |(n, (i, item))| {
                        vec![
                            Val::T(item.to_string()),
                            Val::T(id.to_string()),
                            Val::T(r.tenant.to_string()),
                            Val::T(i.line.to_string()),
                            Val::T(r.location.to_string()),
                            Val::T(i.sku.to_string()),
                            Val::I(n as i64 + 1),
                            Val::I(i.units),
                            Val::I(cancelled),
                            Val::I(i.cancelled),
                        ]
                    })
            })
            .collect();
        let inserted: HashSet<PickupItemId> = insert_returning_ids(
            &mut tx,
            "pickup_items (id, pickup_id, tenant_id, line_id, location_id, sku_id, item_no, quantity, cancelled, line_cancelled_seen)",
            10,
            rows,
            "ON CONFLICT (line_id, location_id) DO NOTHING RETURNING id",
        )
        .await?;
        let (made, lost): (Vec<usize>, Vec<usize>) =
            (0..requests.len()).partition(|&n| item_ids[n].iter().all(|i| inserted.contains(i)));
        if !lost.is_empty() {
            // Lines another instance took first: those requests are not
            // made (see above).
            let mut by_tenant: BTreeMap<TenantId, (Vec<PickupId>, Vec<PickupItemId>)> =
                BTreeMap::new();
            for &n in &lost {
                let (pickups, items) = by_tenant.entry(requests[n].tenant).or_default();
                pickups.push(ids[n]);
                items.extend(item_ids[n].iter().filter(|i| inserted.contains(i)));
            }
            for (tenant, (pickups, items)) in by_tenant {
                execute_in(&mut tx, tenant, &items, |t, list| {
                    format!(
                        "DELETE FROM pickup_items WHERE {TENANT_NO_INDEX} = {t} AND id IN {list}"
                    )
                })
                .await?;
                execute_in(&mut tx, tenant, &pickups, |t, list| {
                    format!("DELETE FROM pickups WHERE {TENANT_NO_INDEX} = {t} AND id IN {list}")
                })
                .await?;
            }
        }
        let new_items: Vec<(TenantId, OrderLineId, SkuId, PickupItemId)> = made
            .iter()
            .flat_map(|&n| {
                let r = &requests[n];
                r.items
                    .iter()
                    .zip(&item_ids[n])
                    .map(|(i, &item)| (r.tenant, i.line, i.sku, item))
            })
            .collect();
        bundle_items(&mut tx, &new_items).await?;
        let events: Vec<NewEvent> = made
            .iter()
            .map(|&n| {
                let r = &requests[n];
                EventFacts {
                    id: ids[n],
                    tenant: r.tenant,
                    location_id: r.location,
                    order_id: r.order,
                    channel_id: r.channel,
                    external_no: &r.external_no,
                    receipt_code: &receipts[n],
                    status,
                    reason,
                    items: r
                        .items
                        .iter()
                        .map(|i| (i.line, i.sku, i.units, cancelled))
                        .collect(),
                }
                .event(kinds::PICKUP_REQUESTED, json!({}))
            })
            .collect();
        self.commit_with(tx, &events).await?;
        Ok(made.len())
    }

    /// Cancellations on open requests' lines: from the open requests (a
    /// partial index, migration 0017; `CROSS JOIN` keeps SQLite's join
    /// order), never every pickup item ever made.
    async fn take_in_cancellations(&self, now: i64) -> StoreResult<(usize, bool)> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.id, p.tenant_id FROM pickups p CROSS JOIN pickup_items i CROSS JOIN order_lines l \
             WHERE i.pickup_id = p.id AND l.id = i.line_id \
             AND p.status IN ('requested','received') AND l.cancelled > i.line_cancelled_seen LIMIT $1",
        )
        .bind(PICKUP_INTAKE_BATCH_MAX as i64)
        .fetch_all(self.reader())
        .await?;
        let full = rows.len() == PICKUP_INTAKE_BATCH_MAX;
        let mut changed = 0;
        for r in rows {
            let tenant: TenantId = parsed(&r, "tenant_id")?;
            let id = text(&r, "id")?;
            let mut tx = self.begin_order_write(&[tenant]).await?;
            let p = lock_pickup(&mut tx, tenant, &id).await?;
            let mut state = p.state();
            let mut effects = Vec::new();
            let mut cancelled_units = false;
            let lines = order_lines_of(&mut tx, &p).await?;
            let mut seen = Vec::with_capacity(p.items.len());
            for (n, item) in p.items.iter().enumerate() {
                let line_cancelled = lines[&item.line_id].cancelled;
                seen.push(line_cancelled);
                if line_cancelled == item.line_cancelled_seen {
                    continue;
                }
                let new = (line_cancelled - item.line_cancelled_seen).min(state.items[n].units());
                if new > 0 && !state.status.is_final() {
                    let outcome = pickup::apply(
                        &state,
                        Action::CancelUnits {
                            item: n,
                            units: new,
                        },
                    )
                    .map_err(|e| refused(&e))?;
                    state = outcome.state;
                    effects.extend(outcome.effect);
                    cancelled_units = true;
                }
            }
            // Units cancelled on the order were given back by the order's
            // cancellation itself (it deallocates them); only a reception
            // that the cancellation completed holds stock here.
            let held: Vec<&Effect> = effects
                .iter()
                .filter(|e| matches!(e, Effect::Hold(_)))
                .collect();
            let mut stamps = effect_stamps(&mut tx, &p, held.first().copied(), &state, now).await?;
            stamps.line_cancelled_seen = Some(seen);
            // Only a request this intake cancels gets the order's reason; one
            // cancelled at the counter since it was read keeps the clerk's.
            if state.status == PickupStatus::Cancelled && p.status != PickupStatus::Cancelled {
                stamps.reason = Some(ORDER_CANCELLED_REASON.to_string());
            }
            let after = write_state(&mut tx, &p, &state, &stamps, now).await?;
            if !cancelled_units {
                // A request closed since it was read, or whose items had no
                // units left to cancel: the cancellation is only noted seen.
                self.commit_with(tx, &[]).await?;
                continue;
            }
            let mut events = Vec::new();
            for effect in held {
                events.extend(
                    apply_effect(&mut tx, &p, Some(effect), "system:pickup_intake", now).await?,
                );
            }
            let kind = if after.status == p.status {
                kinds::PICKUP_ITEMS_CANCELLED
            } else {
                status_event(after.status).unwrap_or(kinds::PICKUP_ITEMS_CANCELLED)
            };
            events.insert(
                0,
                pickup_event(kind, &after, json!({"actor": "system:pickup_intake"})),
            );
            self.commit_with(tx, &events).await?;
            changed += 1;
        }
        Ok((changed, full))
    }
    /// Runs `decide` on the locked request and writes what it returns:
    /// the state, the stock effect, the events. `decide` gets the request
    /// and answers the action to apply (or a refusal).
    async fn transition(
        &self,
        tenant: TenantId,
        key: &str,
        actor: &str,
        reason: Option<&str>,
        decide: impl FnOnce(&Pickup) -> StoreResult<Action>,
    ) -> StoreResult<(Pickup, Pickup)> {
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let p = lock_pickup(&mut tx, tenant, key).await?;
        let action = decide(&p)?;
        let outcome = pickup::apply(&p.state(), action).map_err(|e| refused(&e))?;
        let effect = outcome.effect.as_ref();
        let mut stamps = effect_stamps(&mut tx, &p, effect, &outcome.state, now).await?;
        stamps.reason = reason.map(|r| r.trim().to_string());
        stamps.expired_prompt = outcome.state.status == PickupStatus::Expired;
        let after = write_state(&mut tx, &p, &outcome.state, &stamps, now).await?;
        let mut events = apply_effect(&mut tx, &p, effect, actor, now).await?;
        if after.status != p.status
            && let Some(kind) = status_event(after.status)
        {
            events.insert(0, pickup_event(kind, &after, json!({"actor": actor})));
        }
        // Every accepted scan, so a second device at the counter follows
        // the count without a reload.
        if matches!(
            action,
            Action::ReceptionScan(_)
                | Action::ReceptionPartScan(_)
                | Action::SlipScan
                | Action::ReceiptScan
                | Action::CompletionScan(_)
                | Action::CompletionPartScan(_)
        ) {
            events.push(pickup_event(
                kinds::PICKUP_SCANNED,
                &after,
                json!({"actor": actor, "scan": action.name(), "remaining": after.state().remaining_scans()}),
            ));
        }
        self.commit_with(tx, &events).await?;
        Ok((p, after))
    }

    /// Reception (픽업 접수): one unit scanned into the hanger by its
    /// barcode or SKU code. When every unit is in, the request is
    /// `received` and its units are held at once. The receipt's own code
    /// is taken as a no-op (scanning it is how the screen found the
    /// request).
    pub async fn pickup_reception_scan(
        &self,
        tenant: TenantId,
        key: &str,
        code: &str,
        actor: &str,
    ) -> StoreResult<ScanOutcome> {
        self.scan(tenant, key, code, actor, false).await
    }

    /// Completion (픽업 등록): the customer's slip (the order number), the
    /// receipt, then every held unit. Each is recognised by what it
    /// carries.
    pub async fn pickup_completion_scan(
        &self,
        tenant: TenantId,
        key: &str,
        code: &str,
        actor: &str,
    ) -> StoreResult<ScanOutcome> {
        self.scan(tenant, key, code, actor, true).await
    }

    async fn scan(
        &self,
        tenant: TenantId,
        key: &str,
        code: &str,
        actor: &str,
        completion: bool,
    ) -> StoreResult<ScanOutcome> {
        let code = code.trim();
        if code.is_empty() || code.len() > SCAN_LEN_MAX {
            return Err(InvalidInput::one("code", "must be a scanned barcode").into());
        }
        if !completion && receipt_shaped(code) {
            // The receipt scanned at reception is how the screen found the
            // request: nothing changes, but a request past reception says so.
            // (Only a code shaped like a receipt can be its receipt, so an
            // item's scan does not read the request before the transition
            // reads it again under the lock.)
            let p = self.pickup(tenant, key).await?;
            if code == p.receipt_code {
                if p.status != PickupStatus::Requested {
                    let refusal = pickup::apply(&p.state(), Action::ReceptionScan(0))
                        .err()
                        .unwrap_or(pickup::Refusal::AlreadyReceived);
                    return Err(refused(&refusal));
                }
                return Ok(ScanOutcome {
                    remaining: p.state().remaining_scans(),
                    pickup: p,
                    scanned: Scanned::Receipt,
                    sku_code: None,
                });
            }
        }
        let sku = {
            let mut conn = self.reader().acquire().await?;
            sku_for_barcode(&mut conn, tenant, code)
                .await?
                .map(|(id, _)| id)
        };
        let mut scanned = Scanned::Item;
        let mut sku_code = None;
        let (_, after) = self
            .transition(tenant, key, actor, None, |p| {
                if completion && code == p.receipt_code {
                    scanned = Scanned::Receipt;
                    return Ok(Action::ReceiptScan);
                }
                if completion && code == p.external_no {
                    scanned = Scanned::Slip;
                    return Ok(Action::SlipScan);
                }
                let Some(sku) = sku else {
                    return Err(StoreError::refused(
                        "unknown_barcode",
                        format!("{code:?} is no SKU's barcode or code, nor this pickup's receipt or order number"),
                    ));
                };
                // What the SKU can count, in item order: a plain item's
                // unit, a bundle item's whole bundle (its own barcode), or
                // a unit of a bundle item's component. The first the rules
                // accept takes the scan; if none does, the first answers
                // why (every unit scanned, slip first, …).
                let state = p.state();
                let scans: [fn(usize) -> Action; 2] = if completion {
                    [Action::CompletionScan, Action::CompletionPartScan]
                } else {
                    [Action::ReceptionScan, Action::ReceptionPartScan]
                };
                let [item_scan, part_scan] = scans;
                let mut candidates: Vec<(Action, &str)> = Vec::new();
                let mut part_no = 0;
                for (n, i) in p.items.iter().enumerate() {
                    let parts = part_no..part_no + i.components.len();
                    part_no = parts.end;
                    if i.units() == 0 {
                        continue;
                    }
                    if i.sku_id == sku {
                        candidates.push((item_scan(n), &i.sku_code));
                    }
                    for (k, c) in parts.zip(&i.components) {
                        if c.sku_id == sku {
                            candidates.push((part_scan(k), &c.sku_code));
                        }
                    }
                }
                let Some(&first) = candidates.first() else {
                    return Err(StoreError::refused(
                        "pickup_wrong_item",
                        format!("{code:?} is not an item of pickup {}", p.receipt_code),
                    ));
                };
                let (action, code) = candidates
                    .into_iter()
                    .find(|(a, _)| pickup::apply(&state, *a).is_ok())
                    .unwrap_or(first);
                sku_code = Some(code.to_string());
                Ok(action)
            })
            .await?;
        Ok(ScanOutcome {
            remaining: after.state().remaining_scans(),
            pickup: after,
            scanned,
            sku_code,
        })
    }
}

impl Store {
    /// "픽업 완료": the customer takes the goods. Needs the slip, the
    /// receipt and every held unit scanned; the units are shipped from the
    /// store (`shipment` movements: on hand and allocated drop) and the
    /// order's lines count them shipped.
    pub async fn complete_pickup(
        &self,
        tenant: TenantId,
        key: &str,
        actor: &str,
    ) -> StoreResult<Pickup> {
        Ok(self
            .transition(tenant, key, actor, None, |_| Ok(Action::Complete))
            .await?
            .1)
    }

    /// "픽업 불가", before reception, with a required reason. Nothing was
    /// held, so no stock moves; the order side hears `pickup.unavailable`.
    pub async fn pickup_unavailable(
        &self,
        tenant: TenantId,
        key: &str,
        reason: &str,
        actor: &str,
    ) -> StoreResult<Pickup> {
        pickup::check_reason(reason)?;
        Ok(self
            .transition(tenant, key, actor, Some(reason), |_| {
                Ok(Action::MarkUnavailable)
            })
            .await?
            .1)
    }

    /// "픽업 취소", after reception, with a required reason: the held units
    /// go back to sellable stock (`deallocate` movements at the store).
    pub async fn cancel_pickup(
        &self,
        tenant: TenantId,
        key: &str,
        reason: &str,
        actor: &str,
    ) -> StoreResult<Pickup> {
        pickup::check_reason(reason)?;
        Ok(self
            .transition(tenant, key, actor, Some(reason), |_| Ok(Action::Cancel))
            .await?
            .1)
    }

    /// Expires up to `limit` received requests past their deadline at
    /// `now`: the held units go back to sellable stock, and each waits for
    /// the store's expired-receipts prompt. Returns how many expired.
    pub async fn expire_pickups(&self, now: i64, limit: usize) -> StoreResult<usize> {
        let rows = sqlx::query(
            "SELECT id, tenant_id FROM pickups WHERE status = 'received' AND deadline_at <= $1 ORDER BY deadline_at LIMIT $2",
        )
        .bind(now)
        .bind(limit.max(1) as i64)
        .fetch_all(self.reader())
        .await?;
        let mut expired = 0;
        for r in rows {
            let tenant: TenantId = parsed(&r, "tenant_id")?;
            let id = text(&r, "id")?;
            let result = self
                .transition(tenant, &id, "system:pickup_expiry", None, |p| {
                    // Received again meanwhile, or completed: not due.
                    if p.deadline_at.is_none_or(|d| d > now) {
                        return Err(StoreError::refused("pickup_not_due", ""));
                    }
                    Ok(Action::Expire)
                })
                .await;
            match result {
                Ok(_) => expired += 1,
                // Another instance (or the customer) was first.
                Err(StoreError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// The expired requests the store has not yet been asked to print
    /// (the prompt its pickup screen shows once, when it opens).
    pub async fn expired_prompt(
        &self,
        tenant: TenantId,
        location: &str,
    ) -> StoreResult<Vec<Pickup>> {
        let loc = self.pickup_store(tenant, location).await?;
        let sql = format!(
            "SELECT {PICKUP_COLUMNS} FROM {PICKUP_FROM} WHERE p.tenant_id = $1 AND p.location_id = $2 AND p.expired_prompt = 1 ORDER BY p.id LIMIT $3"
        );
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(loc.id.to_string())
            .bind(PAGE_SIZE_MAX as i64)
            .fetch_all(&mut *conn)
            .await?;
        let list = rows
            .iter()
            .map(pickup_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        with_items(&mut conn, list).await
    }

    /// Answers the expired-receipts prompt: `print` makes a print run of
    /// the receipts of `ids` (the requests the prompt showed); either way
    /// they are never asked about again. Ids no longer waiting are skipped.
    pub async fn acknowledge_expired(
        &self,
        tenant: TenantId,
        location: &str,
        ids: &[PickupId],
        print: bool,
        actor: &str,
    ) -> StoreResult<(usize, Option<PrintRun>)> {
        let loc = self.pickup_store(tenant, location).await?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        // The store's location is the tenant's (`pickup_store`), so the
        // location scopes the ids.
        let taken = rows_in(&mut tx, loc.id, ids, |l, list| {
            format!(
                "UPDATE pickups SET expired_prompt = 0 WHERE location_id = {l} AND id IN {list} AND expired_prompt = 1 RETURNING id"
            )
        })
        .await?
        .iter()
        .map(|r| parsed(r, "id"))
        .collect::<StoreResult<Vec<PickupId>>>()?;
        let count = taken.len();
        let mut run = None;
        let mut events = Vec::new();
        if print && count > 0 {
            // Receipts in the order the clerk gave the ids.
            let mut taken = pickups_in(&mut tx, tenant, &taken).await?;
            taken.sort_by_key(|p| ids.iter().position(|id| *id == p.id));
            let entries = taken
                .into_iter()
                .map(|p| PrintEntry {
                    kind: ReceiptKind::Expired,
                    items: p
                        .items
                        .iter()
                        .filter(|i| i.units() > 0)
                        .map(|i| (i.id, i.units()))
                        .collect(),
                    pickup: p,
                })
                .collect();
            let (r, e) = write_run(
                &mut tx,
                tenant,
                loc.id,
                PrintCause::Expired,
                actor,
                now,
                entries,
            )
            .await?;
            run = Some(r);
            events.push(e);
        }
        self.commit_with(tx, &events).await?;
        Ok((count, run))
    }

    /// "미출력분 바로 출력": prints every pending receipt of the store now.
    /// `None` when nothing was pending.
    pub async fn print_pending_pickups(
        &self,
        tenant: TenantId,
        location: &str,
        actor: &str,
    ) -> StoreResult<Option<PrintRun>> {
        let loc = self.pickup_store(tenant, location).await?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let (run, events) =
            print_in(&mut tx, tenant, loc.id, PrintCause::Manual, actor, now).await?;
        self.commit_with(tx, &events).await?;
        Ok(run)
    }

    /// Runs every store's print occurrence due at `now`. Returns how many
    /// this instance ran.
    pub async fn run_pickup_prints(&self, now: i64) -> StoreResult<usize> {
        let mut ran = 0;
        for schedule in self
            .due_schedules(PICKUP_PRINT_JOB, now, SCHEDULE_BATCH_MAX)
            .await?
        {
            let Ok(location) = schedule.scope.parse::<LocationId>() else {
                tracing::warn!(scope = %schedule.scope, "pickup print: the scope is not a location id");
                continue;
            };
            let mut tx = self.begin_order_write(&[schedule.tenant]).await?;
            if !schedules::advance(&mut tx, &schedule, now).await? {
                continue;
            }
            let (_, events) = print_in(
                &mut tx,
                schedule.tenant,
                location,
                PrintCause::Schedule,
                "system:pickup_print",
                now,
            )
            .await?;
            self.commit_with(tx, &events).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// A store's print runs, newest first.
    pub async fn pickup_print_runs(
        &self,
        tenant: TenantId,
        location: &str,
        limit: usize,
    ) -> StoreResult<Vec<PrintRun>> {
        let loc = self.pickup_store(tenant, location).await?;
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM pickup_print_runs WHERE tenant_id = $1 AND location_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(loc.id.to_string())
        .bind(limit.clamp(1, PAGE_SIZE_MAX) as i64)
        .fetch_all(&mut *conn)
        .await?;
        print_runs_in(&mut conn, tenant, &rows).await
    }

    /// One print run with its receipts, as printed.
    pub async fn pickup_print_run(
        &self,
        tenant: TenantId,
        id: PickupPrintRunId,
    ) -> StoreResult<PrintRun> {
        let mut conn = self.reader().acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM pickup_print_runs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("print run", id))?;
        Ok(print_runs_in(&mut conn, tenant, &[row]).await?.remove(0))
    }
}

const RUN_COLUMNS: &str = "id, location_id, cause, actor, created_at";

/// The print runs of `rows` (read with [`RUN_COLUMNS`]) with their
/// receipts, in the order of `rows`: one look-up for all their entries and
/// one for the requests they name.
async fn print_runs_in(
    conn: &mut AnyConnection,
    tenant: TenantId,
    rows: &[AnyRow],
) -> StoreResult<Vec<PrintRun>> {
    let run_ids = rows
        .iter()
        .map(|r| parsed(r, "id"))
        .collect::<StoreResult<Vec<PickupPrintRunId>>>()?;
    let entries = rows_in(conn, tenant, &run_ids, |t, list| {
        format!(
            "SELECT e.run_id, e.pickup_id, e.kind, e.items FROM pickup_print_entries e \
             JOIN pickup_print_runs r ON r.id = e.run_id \
             WHERE r.tenant_id = {t} AND e.run_id IN {list} ORDER BY e.run_id, e.entry_no"
        )
    })
    .await?;
    let mut pickup_ids = entries
        .iter()
        .map(|e| parsed(e, "pickup_id"))
        .collect::<StoreResult<Vec<PickupId>>>()?;
    pickup_ids.sort_unstable();
    pickup_ids.dedup();
    let pickups: HashMap<PickupId, Pickup> = pickups_in(conn, tenant, &pickup_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut by_run: HashMap<PickupPrintRunId, Vec<PrintEntry>> = HashMap::new();
    for e in &entries {
        let pickup_id: PickupId = parsed(e, "pickup_id")?;
        let pickup = pickups
            .get(&pickup_id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("pickup", pickup_id))?;
        let items = text(e, "items")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (item, units) = pair
                    .split_once(':')
                    .ok_or_else(|| StoreError::Corrupt(format!("print entry item {pair:?}")))?;
                Ok((parse_stored(item)?, parse_stored(units)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        by_run
            .entry(parsed(e, "run_id")?)
            .or_default()
            .push(PrintEntry {
                kind: ReceiptKind::parse(&text(e, "kind")?)?,
                pickup,
                items,
            });
    }
    rows.iter()
        .zip(run_ids)
        .map(|(row, id)| {
            Ok(PrintRun {
                id,
                location_id: parsed(row, "location_id")?,
                cause: PrintCause::parse(&text(row, "cause")?)?,
                actor: text(row, "actor")?,
                created_at: int(row, "created_at")?,
                entries: by_run.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Collects a store's pending receipts and records them as one print run,
/// in the caller's transaction: new requests not yet printed, and units
/// cancelled online since the last print (only those, or every cancelled
/// unit when the store prints whole receipts). A request cancelled whole
/// before its first print is never printed.
async fn print_in(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    location: LocationId,
    cause: PrintCause,
    actor: &str,
    now: i64,
) -> StoreResult<(Option<PrintRun>, Vec<NewEvent>)> {
    let whole =
        sqlx::query("SELECT print_whole_on_cancel FROM pickup_settings WHERE location_id = $1")
            .bind(location.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| flag(&r, "print_whole_on_cancel"))
            .transpose()?
            .unwrap_or(false);
    let rows = sqlx::query(
        "SELECT DISTINCT p.id FROM pickups p LEFT JOIN pickup_items i ON i.pickup_id = p.id \
         WHERE p.tenant_id = $1 AND p.location_id = $2 AND (p.printed_at IS NULL OR i.cancelled > i.cancel_printed) \
         ORDER BY p.id",
    )
    .bind(tenant.to_string())
    .bind(location.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let ids = rows
        .iter()
        .map(|r| parsed(r, "id"))
        .collect::<StoreResult<Vec<PickupId>>>()?;
    let mut entries = Vec::new();
    for p in pickups_in(tx, tenant, &ids).await? {
        let fully_cancelled = p.items.iter().all(|i| i.units() == 0);
        if p.printed_at.is_none() {
            // A request closed before its first print (cancelled whole,
            // declared unavailable) has nothing left to put in the hanger.
            if !fully_cancelled && !p.status.is_final() {
                entries.push(PrintEntry {
                    kind: ReceiptKind::New,
                    items: p
                        .items
                        .iter()
                        .filter(|i| i.units() > 0)
                        .map(|i| (i.id, i.units()))
                        .collect(),
                    pickup: p.clone(),
                });
            }
        } else {
            let items = p
                .items
                .iter()
                .filter(|i| i.cancelled > 0)
                .filter_map(|i| {
                    let units = if whole || fully_cancelled {
                        i.cancelled
                    } else {
                        i.cancelled - i.cancel_printed
                    };
                    (units > 0).then_some((i.id, units))
                })
                .collect();
            entries.push(PrintEntry {
                kind: ReceiptKind::Cancellation,
                items,
                pickup: p.clone(),
            });
        }
    }
    execute_in(tx, tenant, &ids, |t, list| {
        format!(
            "UPDATE pickups SET printed_at = COALESCE(printed_at, {now}) WHERE {TENANT_NO_INDEX} = {t} AND id IN {list}"
        )
    })
    .await?;
    execute_in(tx, tenant, &ids, |t, list| {
        format!(
            "UPDATE pickup_items SET cancel_printed = cancelled WHERE {TENANT_NO_INDEX} = {t} AND pickup_id IN {list}"
        )
    })
    .await?;
    if entries.is_empty() {
        return Ok((None, Vec::new()));
    }
    let (run, event) = write_run(tx, tenant, location, cause, actor, now, entries).await?;
    Ok((Some(run), vec![event]))
}

/// Records a print run and its entries; returns it with its
/// `pickup.printed` event.
async fn write_run(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    location: LocationId,
    cause: PrintCause,
    actor: &str,
    now: i64,
    entries: Vec<PrintEntry>,
) -> StoreResult<(PrintRun, NewEvent)> {
    let id = PickupPrintRunId::new();
    sqlx::query(
        "INSERT INTO pickup_print_runs (id, tenant_id, location_id, cause, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(location.to_string())
    .bind(cause.as_str())
    .bind(actor)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let rows: Vec<Vec<Val>> = entries
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let items: Vec<String> = e.items.iter().map(|(i, u)| format!("{i}:{u}")).collect();
            vec![
                Val::T(id.to_string()),
                Val::I(n as i64 + 1),
                Val::T(e.pickup.id.to_string()),
                Val::T(e.kind.as_str().to_string()),
                Val::T(items.join(",")),
            ]
        })
        .collect();
    insert_many(
        tx,
        "pickup_print_entries (run_id, entry_no, pickup_id, kind, items)",
        5,
        rows,
        "",
    )
    .await?;
    let counts: HashMap<&str, usize> = entries.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e.kind.as_str()).or_default() += 1;
        m
    });
    let event = NewEvent::new(
        tenant,
        kinds::PICKUP_PRINTED,
        json!({
            "run_id": id.to_string(),
            "location_id": location.to_string(),
            "cause": cause.as_str(),
            "receipts": entries.len(),
            "new": counts.get("new").copied().unwrap_or(0),
            "cancellation": counts.get("cancellation").copied().unwrap_or(0),
            "expired": counts.get("expired").copied().unwrap_or(0),
            "pickup_ids": entries.iter().map(|e| e.pickup.id.to_string()).collect::<Vec<_>>(),
        }),
    )
    .location(location)
    .subject(id);
    Ok((
        PrintRun {
            id,
            location_id: location,
            cause,
            actor: actor.to_string(),
            created_at: now,
            entries,
        },
        event,
    ))
}

#[cfg(test)]
mod tests {
    use jaego_core::catalog::LocationKind;
    use jaego_core::limits::ORDER_LINES_MAX;
    use jaego_core::{ChannelId, PickupId, TenantId};
    use serde_json::json;

    use super::{
        PICKUP_INTAKE_BATCH_MAX, PickupFilter, pickup_event, receipt_code, receipt_shaped,
    };
    use crate::events::{EventFilter, kinds};
    use crate::orders::{NewOrder, NewOrderLine};
    use crate::page::PageRequest;
    use crate::testing::{fresh_databases, new_location, new_mall, new_sku};
    use crate::{Store, StoreOptions, now_us};

    #[test]
    fn every_receipt_code_is_receipt_shaped_and_item_codes_are_not() {
        for _ in 0..1_000 {
            let code = receipt_code(PickupId::new());
            assert!(receipt_shaped(&code), "{code}");
        }
        for code in [
            "TEE",
            "8801234567893",
            "P12345678901",
            "P1234567890123",
            "p123456789012",
            "P12345678901a",
            "Q123456789012",
            "P１２３４５６７８９０１２",
        ] {
            assert!(!receipt_shaped(code), "{code}");
        }
    }

    /// A tenant with store GN, SKUs TEE and CAP, and channel MALL.
    async fn shop(store: &Store, name: &str) -> (TenantId, ChannelId) {
        let tenant = store.create_tenant(name).await.unwrap();
        store
            .create_location(tenant, &new_location("GN", LocationKind::Store))
            .await
            .unwrap();
        for code in ["TEE", "CAP"] {
            store.create_sku(tenant, &new_sku(code)).await.unwrap();
        }
        let channel = store
            .create_channel(tenant, &new_mall(vec![]))
            .await
            .unwrap()
            .id;
        (tenant, channel)
    }

    /// Collects order `no` to pick up at GN, one unit a line: (item code,
    /// SKU code) of each line.
    async fn collect(
        store: &Store,
        (tenant, channel): (TenantId, ChannelId),
        no: &str,
        lines: &[(String, &str)],
    ) {
        let order = NewOrder {
            external_no: no.into(),
            pickup_location: Some("GN".into()),
            lines: lines
                .iter()
                .map(|(code, sku)| NewOrderLine {
                    item_code: code.clone(),
                    sku: Some((*sku).into()),
                    quantity: 1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        store
            .collect_orders(tenant, channel, &[order], "t")
            .await
            .unwrap();
    }

    /// A shop with orders A, B and C of one TEE and one CAP each.
    async fn three_orders(store: &Store) -> TenantId {
        let shop = shop(store, "pickup").await;
        for no in ["A", "B", "C"] {
            let lines = [("TEE".to_string(), "TEE"), ("CAP".to_string(), "CAP")];
            collect(store, shop, no, &lines).await;
        }
        shop.0
    }

    /// Another instance made requests of some of the lines between this
    /// intake's look-up and its write (B's lines, and C's first line
    /// only): the write makes A's request, leaves B's and C's lines to
    /// the requests already made, and a `pickup.requested` event goes
    /// with each request made, as a read of it tells. C's line nobody
    /// took makes a request at the next intake, as before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_taken_meanwhile_leave_the_other_requests_made() {
        for db in fresh_databases("pickup_lines_taken_meanwhile").await {
            let e = db.engine;
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let tenant = three_orders(&store).await;
            let now = now_us();
            let (requests, full) = store.new_requests().await.unwrap();
            assert!(!full, "{e}");
            let numbers: Vec<&str> = requests.iter().map(|r| r.external_no.as_str()).collect();
            assert_eq!(numbers, ["A", "B", "C"], "{e}");
            let mut c_first = requests[2].clone();
            c_first.items.truncate(1);
            let other = store
                .write_requests(&[requests[1].clone(), c_first], now)
                .await
                .unwrap();
            assert_eq!(other, 2, "{e}: the other instance's requests");
            let made = store.write_requests(&requests, now).await.unwrap();
            assert_eq!(made, 1, "{e}: only A's request is made");
            let (made, full) = store.make_requests(now).await.unwrap();
            assert_eq!((made, full), (1, false), "{e}: C's line left over");
            assert_eq!(store.make_requests(now).await.unwrap(), (0, false), "{e}");

            let list = store
                .pickups(tenant, &PickupFilter::default(), &PageRequest::default())
                .await
                .unwrap()
                .items;
            let mut got: Vec<(String, Vec<String>)> = list
                .iter()
                .map(|p| {
                    let skus = p.items.iter().map(|i| i.sku_code.clone()).collect();
                    (p.external_no.clone(), skus)
                })
                .collect();
            got.sort();
            let want = |no: &str, skus: &[&str]| {
                (
                    no.to_string(),
                    skus.iter().map(ToString::to_string).collect(),
                )
            };
            assert_eq!(
                got,
                [
                    want("A", &["TEE", "CAP"]),
                    want("B", &["TEE", "CAP"]),
                    want("C", &["CAP"]),
                    want("C", &["TEE"]),
                ],
                "{e}"
            );
            let events = store
                .events_after(tenant, 0, &EventFilter::default(), 1_000)
                .await
                .unwrap();
            let requested: Vec<_> = events
                .iter()
                .filter(|ev| ev.kind == kinds::PICKUP_REQUESTED)
                .collect();
            assert_eq!(requested.len(), list.len(), "{e}: one event per request");
            for p in &list {
                let ev = requested
                    .iter()
                    .find(|ev| ev.subject_id.as_deref() == Some(p.id.to_string().as_str()))
                    .unwrap_or_else(|| panic!("{e}: no event of {}", p.id));
                let read = pickup_event(kinds::PICKUP_REQUESTED, p, json!({}));
                assert_eq!(ev.data, read.data.to_string(), "{e}: {}", p.external_no);
                assert_eq!(ev.location_id, Some(p.location_id), "{e}");
                assert_eq!(ev.channel_id, Some(p.channel_id), "{e}");
            }
        }
    }

    /// A full batch of two tenants' lines ends inside an order of the
    /// tenant that comes first in tenant order: that order waits whole for
    /// the next call (not the other tenant's order, complete, which comes
    /// last among the batch's requests), so every order makes one request
    /// with every line.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_order_a_full_batch_cuts_waits_whatever_its_tenant() {
        for db in fresh_databases("pickup_full_batch_tenants").await {
            let e = db.engine;
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let (a, b) = (shop(&store, "a").await, shop(&store, "b").await);
            let (high, low) = if a.0 > b.0 { (a, b) } else { (b, a) };
            let lines: Vec<(String, &str)> = (0..ORDER_LINES_MAX)
                .map(|n| (format!("I{n}"), "TEE"))
                .collect();
            // The batch ends inside the third order.
            const {
                assert!(2 * ORDER_LINES_MAX < PICKUP_INTAKE_BATCH_MAX);
                assert!(3 * ORDER_LINES_MAX > PICKUP_INTAKE_BATCH_MAX);
            }
            // Lines are read in order of their order's id (by time).
            collect(&store, high, "H", &lines).await;
            collect(&store, low, "L1", &lines).await;
            collect(&store, low, "L2", &lines).await;
            let now = now_us();
            assert_eq!(store.make_requests(now).await.unwrap(), (2, true), "{e}");
            assert_eq!(store.make_requests(now).await.unwrap(), (1, false), "{e}");
            for (tenant, no) in [(high.0, "H"), (low.0, "L1"), (low.0, "L2")] {
                let filter = PickupFilter {
                    order_no: Some(no.into()),
                    ..Default::default()
                };
                let items: Vec<usize> = store
                    .pickups(tenant, &filter, &PageRequest::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(|p| p.items.len())
                    .collect();
                assert_eq!(items, [ORDER_LINES_MAX], "{e}: {no}");
            }
        }
    }
}
