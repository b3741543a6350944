//! Shipping: couriers, shipments packed from allocated order lines,
//! tracking numbers (one at a time or from a courier's CSV), the scan
//! station, confirmation, the print order setting and storage bins. See
//! `docs/fulfilment.md`.
//!
//! A shipment is allocated units of one order leaving one location. It
//! does not hold stock of its own: its units stay `allocated` until it is
//! confirmed, when [`crate::orders::stock::ship_in`] writes the `shipment`
//! movements in the same transaction that marks it confirmed. Units are
//! "packed" while an open shipment carries them, and creation packs only
//! what no open shipment carries yet.
//!
//! **Scans never overcount.** A scan locks its shipment's row (a no-op
//! `UPDATE … RETURNING`, which PostgreSQL holds until commit and SQLite's
//! `BEGIN IMMEDIATE` already serialises), judges the scan in
//! `jaego_core::shipment::judge_scan`, and counts the unit with
//! `UPDATE shipment_lines SET scanned = scanned + 1 … AND scanned <
//! quantity`; the table's `CHECK (scanned <= quantity)` is the last word.
//!
//! **Bundle lines are scanned as their components.** Packing a line of a
//! bundle copies the order line's stored expansion into
//! `shipment_line_components` (migration 0015), one row per component
//! with `quantity` = bundle units × units per bundle. A component's
//! barcode counts one unit of its row, the bundle's own barcode one whole
//! bundle (every row `+ per_bundle`, only if all of it fits), with the same
//! lock, conditional updates and `CHECK`; progress and confirmation count
//! component units. Plain lines have no rows and cost no extra query: the
//! line query reads `skus.bundle` and components are read only when a
//! line is a bundle.

use std::collections::{BTreeMap, HashMap, HashSet};

use jaego_core::error::Validator;
use jaego_core::limits::{
    BIN_LEN_MAX, CODE_LEN_MAX, COURIERS_MAX, NAME_LEN_MAX, ORDER_NO_LEN_MAX, QUANTITY_MAX,
    SHIPMENT_LINES_MAX, SHIPMENT_ORDERS_PER_REQUEST_MAX, SHIPMENTS_PER_PRINT_MAX,
};
use jaego_core::order::OrderStatus;
use jaego_core::shipment::{
    ConfirmRefusal, PrintKey, PrintOrder, ScanLine, ScanPart, ScanVerdict, ShipmentState,
    check_override_reason, check_tracking_no, judge_scan, may_confirm, print_sequence,
    slip_line_order, whole_bundles,
};
use jaego_core::{
    ChannelId, CourierId, InvalidInput, LocationId, OrderId, OrderLineId, ShipmentId, SkuId,
    TenantId,
};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::catalog::sku_for_barcode;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::orders::{
    Customer, Order, Val, execute_in, insert_many, load_locked, rows_in, update_returning_ids,
};
use crate::page::{Page, PageRequest};
use crate::rows::{flag, int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::{Store, now_us};

// ---- types ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Courier {
    pub id: CourierId,
    pub code: String,
    pub name: String,
    /// Inactive couriers keep their shipments but take no new tracking numbers.
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CourierPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// One line of a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentLine {
    /// 1-based within the shipment.
    pub line_no: i64,
    pub order_line_id: OrderLineId,
    /// The order line's own number (1-based within the order).
    pub order_line_no: i64,
    pub sku_id: SkuId,
    pub sku_code: String,
    pub sku_name: String,
    /// The SKU's bin at the shipment's location, if it has one.
    pub bin: Option<String>,
    pub quantity: i64,
    /// Units scanned; for a bundle line, the whole bundles its components'
    /// counts make.
    pub scanned: i64,
    /// A bundle line's components, what the scan station checks (empty
    /// for a plain line).
    pub components: Vec<ShipmentComponent>,
}

/// One component of a bundle line at the scan station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentComponent {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub sku_name: String,
    /// Units of this component in one bundle (the line's stored expansion).
    pub per_bundle: i64,
    /// Units to scan: the line's bundle units × `per_bundle`.
    pub quantity: i64,
    pub scanned: i64,
}

impl ShipmentLine {
    /// A bundle line's scanned count: the whole bundles its components'
    /// counts make up. Nothing for a plain line (its count is stored).
    fn refresh_scanned(&mut self) {
        if !self.components.is_empty() {
            self.scanned = whole_bundles(self.components.iter().map(|c| (c.per_bundle, c.scanned)));
        }
    }

    fn scan_line(&self) -> ScanLine {
        ScanLine {
            sku: self.sku_id,
            quantity: self.quantity,
            scanned: self.scanned,
            parts: self
                .components
                .iter()
                .map(|c| ScanPart {
                    sku: c.sku_id,
                    per_bundle: c.per_bundle,
                    quantity: c.quantity,
                    scanned: c.scanned,
                })
                .collect(),
        }
    }

    /// Units to scan: the line's, or for a bundle line its components'.
    pub fn units(&self) -> i64 {
        self.scan_line().units()
    }

    /// Units still to scan (for a bundle line, component units).
    pub fn remaining(&self) -> i64 {
        self.scan_line().remaining()
    }
}

/// A shipment with what the scan station and the printed documents need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub id: ShipmentId,
    /// The packing slip's barcode.
    pub code: String,
    pub order_id: OrderId,
    pub order_no: String,
    pub channel_id: ChannelId,
    pub customer: Customer,
    /// When the order was collected (µs).
    pub collected_at: i64,
    pub location_id: LocationId,
    pub location_code: String,
    pub state: ShipmentState,
    pub courier: Option<Courier>,
    pub tracking_no: Option<String>,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    pub confirmed_at: Option<i64>,
    pub confirmed_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub lines: Vec<ShipmentLine>,
}

impl Shipment {
    /// Units to scan (a bundle line counts its components' units).
    pub fn units(&self) -> i64 {
        self.lines.iter().map(ShipmentLine::units).sum()
    }

    /// Units scanned so far, counted like [`Shipment::units`].
    pub fn scanned(&self) -> i64 {
        self.units() - self.lines.iter().map(ShipmentLine::remaining).sum::<i64>()
    }

    fn scan_lines(&self) -> Vec<ScanLine> {
        self.lines.iter().map(ShipmentLine::scan_line).collect()
    }
}

/// A shipment of chosen units, instead of everything unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    pub location: LocationId,
    /// (order line, units); each at most what is allocated there and not
    /// yet packed.
    pub lines: Vec<(OrderLineId, i64)>,
}

/// Which shipments a list shows; all given must match.
#[derive(Debug, Clone, Default)]
pub struct ShipmentFilter {
    pub state: Option<ShipmentState>,
    pub order_id: Option<OrderId>,
    pub location_id: Option<LocationId>,
}

/// What a scan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    pub verdict: ScanVerdict,
    /// The SKU the barcode named, if any, and its code.
    pub sku_id: Option<SkuId>,
    pub sku_code: Option<String>,
    /// The shipment line that took the unit (accepted only).
    pub line_no: Option<i64>,
    /// The component of that (bundle) line that took the unit; `None` for
    /// a plain line or a whole bundle.
    pub component: Option<SkuId>,
    /// The shipment after the scan.
    pub shipment: Shipment,
}

/// One row of a tracking-number CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingRow {
    /// The row's line in the file (the header is line 1).
    pub line: usize,
    pub order_no: String,
    /// A channel id or code, for order numbers used on several channels.
    pub channel: Option<String>,
    pub courier: String,
    pub tracking_no: String,
}

/// Why one CSV row changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub field: String,
    pub reason: String,
}

/// What a tracking-number import did, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingReport {
    pub rows: usize,
    /// Rows whose tracking number was registered now.
    pub registered: Vec<(usize, ShipmentId, String)>,
    /// Rows whose tracking number was already on a shipment of that order.
    pub unchanged: usize,
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShippingSettings {
    pub print_order: PrintOrder,
}

/// Where a SKU is kept at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockBin {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub location_id: LocationId,
    pub bin: String,
    pub updated_at: i64,
}

/// Which shipments a print run takes.
#[derive(Debug, Clone, Default)]
pub struct PrintSelection {
    /// These shipments (any state); otherwise every open one.
    pub shipments: Option<Vec<ShipmentId>>,
    /// Only shipments leaving this location.
    pub location: Option<LocationId>,
    /// The order to print in; otherwise the tenant's setting.
    pub order: Option<PrintOrder>,
}

// ---- rows ----

const COURIER_COLUMNS: &str = "id, code, name, active, created_at, updated_at";

fn courier_from_row(row: &AnyRow) -> StoreResult<Courier> {
    Ok(Courier {
        id: parsed(row, "id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        active: flag(row, "active")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

fn courier_event(tenant: TenantId, kind: &'static str, c: &Courier) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({"id": c.id.to_string(), "code": c.code, "name": c.name, "active": c.active}),
    )
    .subject(c.id)
}

const SHIPMENT_SELECT: &str = "SELECT s.id, s.code, s.order_id, s.location_id, s.state, s.courier_id, s.tracking_no, \
     s.override_reason, s.override_by, s.confirmed_at, s.confirmed_by, s.created_at, s.updated_at, \
     o.external_no, o.channel_id, o.customer_name, o.customer_phone, o.address, o.postal_code, o.collected_at, \
     l.code AS location_code, c.code AS courier_code, c.name AS courier_name, \
     c.active AS courier_active, c.created_at AS courier_created_at, c.updated_at AS courier_updated_at \
     FROM shipments s JOIN orders o ON o.id = s.order_id JOIN locations l ON l.id = s.location_id \
     LEFT JOIN couriers c ON c.id = s.courier_id";

fn shipment_from_row(row: &AnyRow) -> StoreResult<Shipment> {
    let courier = match opt_parsed::<CourierId>(row, "courier_id")? {
        Some(id) => Some(Courier {
            id,
            code: text(row, "courier_code")?,
            name: text(row, "courier_name")?,
            active: flag(row, "courier_active")?,
            created_at: int(row, "courier_created_at")?,
            updated_at: int(row, "courier_updated_at")?,
        }),
        None => None,
    };
    Ok(Shipment {
        id: parsed(row, "id")?,
        code: text(row, "code")?,
        order_id: parsed(row, "order_id")?,
        order_no: text(row, "external_no")?,
        channel_id: parsed(row, "channel_id")?,
        customer: Customer {
            name: text(row, "customer_name")?,
            phone: text(row, "customer_phone")?,
            address: text(row, "address")?,
            postal_code: text(row, "postal_code")?,
        },
        collected_at: int(row, "collected_at")?,
        location_id: parsed(row, "location_id")?,
        location_code: text(row, "location_code")?,
        state: parsed(row, "state")?,
        courier,
        tracking_no: opt_text(row, "tracking_no")?,
        override_reason: opt_text(row, "override_reason")?,
        override_by: opt_text(row, "override_by")?,
        confirmed_at: opt_int(row, "confirmed_at")?,
        confirmed_by: opt_text(row, "confirmed_by")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
        lines: Vec::new(),
    })
}

/// Reads whole shipments (lines, courier, bins) by id, in the order of
/// `ids`; ids not found (or of another tenant) are left out.
async fn load_shipments(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    ids: &[ShipmentId],
) -> StoreResult<Vec<Shipment>> {
    let mut found: HashMap<ShipmentId, Shipment> = HashMap::with_capacity(ids.len());
    for row in rows_in(conn, tenant, ids, |t, list| {
        format!("{SHIPMENT_SELECT} WHERE s.tenant_id = {t} AND s.id IN {list}")
    })
    .await?
    {
        let s = shipment_from_row(&row)?;
        found.insert(s.id, s);
    }
    let rows = rows_in(conn, tenant, ids, |t, list| {
        format!(
            "SELECT sl.shipment_id, sl.line_no, sl.order_line_id, ol.line_no AS order_line_no, sl.sku_id, \
             k.code AS sku_code, k.name AS sku_name, k.bundle, b.bin, sl.quantity, sl.scanned \
             FROM shipment_lines sl \
             JOIN shipments s ON s.id = sl.shipment_id \
             JOIN order_lines ol ON ol.id = sl.order_line_id \
             JOIN skus k ON k.id = sl.sku_id \
             LEFT JOIN stock_bins b ON b.sku_id = sl.sku_id AND b.location_id = s.location_id \
             WHERE sl.tenant_id = {t} AND sl.shipment_id IN {list} ORDER BY sl.shipment_id, sl.line_no"
        )
    })
    .await?;
    let mut bundled: Vec<ShipmentId> = Vec::new();
    for row in rows {
        let id: ShipmentId = parsed(&row, "shipment_id")?;
        if flag(&row, "bundle")? && bundled.last() != Some(&id) {
            bundled.push(id);
        }
        let line = ShipmentLine {
            line_no: int(&row, "line_no")?,
            order_line_id: parsed(&row, "order_line_id")?,
            order_line_no: int(&row, "order_line_no")?,
            sku_id: parsed(&row, "sku_id")?,
            sku_code: text(&row, "sku_code")?,
            sku_name: text(&row, "sku_name")?,
            bin: opt_text(&row, "bin")?,
            quantity: int(&row, "quantity")?,
            scanned: int(&row, "scanned")?,
            components: Vec::new(),
        };
        if !(0..=line.quantity).contains(&line.scanned) {
            return Err(StoreError::Corrupt(format!(
                "shipment line {id}/{} scanned {} of {}",
                line.line_no, line.scanned, line.quantity
            )));
        }
        if let Some(s) = found.get_mut(&id) {
            s.lines.push(line);
        }
    }
    if !bundled.is_empty() {
        with_components(conn, tenant, &bundled, &mut found).await?;
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// Fills in the components of the bundle lines of `ids` (shipments that
/// have one), and their lines' whole bundles scanned.
async fn with_components(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    ids: &[ShipmentId],
    found: &mut HashMap<ShipmentId, Shipment>,
) -> StoreResult<()> {
    let rows = rows_in(conn, tenant, ids, |t, list| {
        format!(
            "SELECT c.shipment_id, c.line_no, c.component_sku_id, k.code, k.name, c.per_bundle, c.quantity, c.scanned \
             FROM shipment_line_components c JOIN skus k ON k.id = c.component_sku_id \
             WHERE c.tenant_id = {t} AND c.shipment_id IN {list} ORDER BY c.shipment_id, c.line_no, c.position"
        )
    })
    .await?;
    for row in rows {
        let id: ShipmentId = parsed(&row, "shipment_id")?;
        let line_no = int(&row, "line_no")?;
        let c = ShipmentComponent {
            sku_id: parsed(&row, "component_sku_id")?,
            sku_code: text(&row, "code")?,
            sku_name: text(&row, "name")?,
            per_bundle: int(&row, "per_bundle")?,
            quantity: int(&row, "quantity")?,
            scanned: int(&row, "scanned")?,
        };
        if let Some(line) = found
            .get_mut(&id)
            .and_then(|s| s.lines.iter_mut().find(|l| l.line_no == line_no))
        {
            line.components.push(c);
        }
    }
    for s in found.values_mut() {
        s.lines.iter_mut().for_each(ShipmentLine::refresh_scanned);
    }
    Ok(())
}

async fn load_one(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    id: ShipmentId,
) -> StoreResult<Shipment> {
    load_shipments(conn, tenant, &[id])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("shipment", id))
}

fn shipment_event(
    tenant: TenantId,
    kind: &'static str,
    s: &Shipment,
    extra: serde_json::Value,
) -> NewEvent {
    let mut data = json!({
        "id": s.id.to_string(),
        "code": s.code,
        "order_id": s.order_id.to_string(),
        "order_no": s.order_no,
        "location_id": s.location_id.to_string(),
        "state": s.state.as_str(),
        "courier": s.courier.as_ref().map(|c| c.code.clone()),
        "tracking_no": s.tracking_no,
        "units": s.units(),
        "scanned": s.scanned(),
    });
    if let (Some(map), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    NewEvent::new(tenant, kind, data)
        .channel(s.channel_id)
        .location(s.location_id)
        .subject(s.id)
}

/// Locks an open shipment's row for the rest of the transaction
/// (PostgreSQL holds the row lock of an `UPDATE` until commit; SQLite's
/// write transaction is exclusive already). A confirmed or cancelled one
/// is refused: only an open shipment changes.
async fn lock_open_shipment(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: ShipmentId,
    now: i64,
) -> StoreResult<()> {
    let row = sqlx::query(
        "UPDATE shipments SET updated_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING state",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    require_open(row.as_ref(), id)
}

/// A shipment read as `row` (its `state`, or none): open, else not found
/// or `shipment_not_open`.
fn require_open(row: Option<&AnyRow>, id: ShipmentId) -> StoreResult<()> {
    let row = row.ok_or_else(|| StoreError::not_found("shipment", id))?;
    match parsed(row, "state")? {
        ShipmentState::Open => Ok(()),
        state => Err(not_open(id, state)),
    }
}

/// Why a write to an open shipment (`… WHERE … AND state = 'open'`)
/// changed no row: there is no such shipment, or it is not open; the
/// answers of [`require_open`], read in the same transaction.
async fn not_written(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: ShipmentId,
) -> StoreError {
    let row = sqlx::query("SELECT state FROM shipments WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await;
    match row
        .map_err(StoreError::from)
        .and_then(|r| require_open(r.as_ref(), id))
    {
        Err(e) => e,
        Ok(()) => StoreError::Corrupt(format!(
            "shipment {id} is open but its open-only write found nothing"
        )),
    }
}

fn not_open(id: ShipmentId, state: ShipmentState) -> StoreError {
    StoreError::refused(
        "shipment_not_open",
        format!("shipment {id} is {state}; only an open shipment can be changed"),
    )
}

/// Units of (order line, location) carried by open shipments of `orders`.
async fn packed_units(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    orders: &[OrderId],
) -> StoreResult<HashMap<(OrderLineId, LocationId), i64>> {
    let rows = rows_in(tx, tenant, orders, |t, list| {
        format!(
            "SELECT sl.order_line_id, s.location_id, CAST(SUM(sl.quantity) AS BIGINT) AS packed \
             FROM shipments s JOIN shipment_lines sl ON sl.shipment_id = s.id \
             WHERE s.tenant_id = {t} AND s.state = 'open' AND s.order_id IN {list} \
             GROUP BY sl.order_line_id, s.location_id"
        )
    })
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                (parsed(row, "order_line_id")?, parsed(row, "location_id")?),
                int(row, "packed")?,
            ))
        })
        .collect()
}

/// Why an order cannot be shipped at all now, if it cannot.
fn unshippable(o: &Order) -> Option<StoreError> {
    if o.hold {
        return Some(StoreError::refused(
            "order_on_hold",
            format!(
                "order {} is on hold (출고보류); release the hold first",
                o.external_no
            ),
        ));
    }
    if matches!(o.status, OrderStatus::Merged | OrderStatus::Cancelled) {
        return Some(StoreError::refused(
            "order_not_shippable",
            format!("order {} is {}", o.external_no, o.status.as_str()),
        ));
    }
    None
}

/// A shipment about to be written.
struct Planned {
    order: OrderId,
    location: LocationId,
    lines: Vec<(OrderLineId, SkuId, i64)>,
}

/// Everything of `o` that is allocated, not for pickup, and not yet packed,
/// one shipment per location (in the order the line's allocations list
/// them).
fn plan_unpacked(o: &Order, packed: &HashMap<(OrderLineId, LocationId), i64>) -> Vec<Planned> {
    let mut by_location: BTreeMap<String, Planned> = BTreeMap::new();
    for l in &o.lines {
        let Some(sku) = l.sku_id else { continue };
        if l.pickup_location_id.is_some() {
            // A pickup request leaves through the store, not a courier.
            continue;
        }
        for a in &l.allocations {
            let left = a.quantity - packed.get(&(l.id, a.location_id)).copied().unwrap_or(0);
            if left > 0 {
                by_location
                    .entry(a.location_id.to_string())
                    .or_insert_with(|| Planned {
                        order: o.id,
                        location: a.location_id,
                        lines: Vec::new(),
                    })
                    .lines
                    .push((l.id, sku, left));
            }
        }
    }
    by_location.into_values().collect()
}

/// Hands out `n` packing-slip codes of the tenant.
async fn next_codes(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    n: usize,
) -> StoreResult<Vec<String>> {
    let row = sqlx::query(
        "INSERT INTO shipment_counters (tenant_id, last_no) VALUES ($1, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET last_no = shipment_counters.last_no + excluded.last_no \
         RETURNING last_no",
    )
    .bind(tenant.to_string())
    .bind(n as i64)
    .fetch_one(&mut **tx)
    .await?;
    let last = int(&row, "last_no")?;
    let first_no = last - n as i64 + 1;
    Ok((first_no..=last).map(|k| format!("SH{k:08}")).collect())
}

/// Writes `planned` shipments; returns their ids.
async fn write_planned(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    planned: &[Planned],
    now: i64,
) -> StoreResult<Vec<ShipmentId>> {
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let codes = next_codes(tx, tenant, planned.len()).await?;
    let ids: Vec<ShipmentId> = planned.iter().map(|_| ShipmentId::new()).collect();
    let mut heads = Vec::with_capacity(planned.len());
    let mut lines = Vec::new();
    for ((p, id), code) in planned.iter().zip(&ids).zip(codes) {
        heads.push(vec![
            Val::T(id.to_string()),
            Val::T(tenant.to_string()),
            Val::T(code),
            Val::T(p.order.to_string()),
            Val::T(p.location.to_string()),
            Val::T("open".into()),
            Val::I(now),
            Val::I(now),
        ]);
        for (n, (line, sku, q)) in p.lines.iter().enumerate() {
            lines.push(vec![
                Val::T(id.to_string()),
                Val::I(n as i64 + 1),
                Val::T(tenant.to_string()),
                Val::T(line.to_string()),
                Val::T(sku.to_string()),
                Val::I(*q),
            ]);
        }
    }
    insert_many(
        tx,
        "shipments (id, tenant_id, code, order_id, location_id, state, created_at, updated_at)",
        8,
        heads,
        "",
    )
    .await?;
    insert_many(
        tx,
        "shipment_lines (shipment_id, line_no, tenant_id, order_line_id, sku_id, quantity)",
        6,
        lines,
        "",
    )
    .await?;
    // A bundle line is checked as its components: the order line's stored
    // expansion (written with its first allocation, so every packed bundle
    // line has one). One statement per chunk; plain lines match no row.
    execute_in(tx, tenant, &ids, |t, list| {
        format!(
            "INSERT INTO shipment_line_components \
             (shipment_id, line_no, component_sku_id, tenant_id, position, per_bundle, quantity, scanned) \
             SELECT sl.shipment_id, sl.line_no, c.component_sku_id, sl.tenant_id, c.position, c.quantity, \
             sl.quantity * c.quantity, 0 \
             FROM shipment_lines sl JOIN order_line_components c ON c.line_id = sl.order_line_id \
             WHERE sl.tenant_id = {t} AND sl.shipment_id IN {list}"
        )
    })
    .await?;
    Ok(ids)
}

fn check_courier(code: Option<&str>, name: Option<&str>) -> Result<(), InvalidInput> {
    let mut v = Validator::new();
    if let Some(code) = code {
        v.code("code", code, CODE_LEN_MAX);
    }
    if let Some(name) = name {
        v.text("name", name, NAME_LEN_MAX);
    }
    v.finish()
}

impl Store {
    // ---- couriers ----

    pub async fn create_courier(
        &self,
        tenant: TenantId,
        code: &str,
        name: &str,
    ) -> StoreResult<Courier> {
        check_courier(Some(code), Some(name))?;
        let now = now_us();
        let c = Courier {
            id: CourierId::new(),
            code: code.to_string(),
            name: name.to_string(),
            active: true,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_write().await?;
        let count = sqlx::query("SELECT COUNT(*) AS n FROM couriers WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if int(&count, "n")? >= COURIERS_MAX as i64 {
            return Err(InvalidInput::one(
                "code",
                format!("the tenant has {COURIERS_MAX} couriers, the limit; delete one first"),
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO couriers (id, tenant_id, code, name, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $5)",
        )
        .bind(c.id.to_string())
        .bind(tenant.to_string())
        .bind(&c.code)
        .bind(&c.name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_unique(e, "courier code", code))?;
        self.commit_with(tx, &[courier_event(tenant, kinds::COURIER_CREATED, &c)])
            .await?;
        Ok(c)
    }

    /// Every courier of the tenant, by code.
    pub async fn list_couriers(&self, tenant: TenantId) -> StoreResult<Vec<Courier>> {
        let rows = sqlx::query(&format!(
            "SELECT {COURIER_COLUMNS} FROM couriers WHERE tenant_id = $1 ORDER BY code"
        ))
        .bind(tenant.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(courier_from_row).collect()
    }

    /// A courier by id or code.
    pub async fn find_courier(&self, tenant: TenantId, id_or_code: &str) -> StoreResult<Courier> {
        let row = sqlx::query(&format!(
            "SELECT {COURIER_COLUMNS} FROM couriers WHERE tenant_id = $1 AND (id = $2 OR code = $2)"
        ))
        .bind(tenant.to_string())
        .bind(id_or_code)
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("courier", id_or_code))?;
        courier_from_row(&row)
    }

    pub async fn update_courier(
        &self,
        tenant: TenantId,
        id_or_code: &str,
        patch: &CourierPatch,
    ) -> StoreResult<Courier> {
        check_courier(None, patch.name.as_deref())?;
        let mut c = self.find_courier(tenant, id_or_code).await?;
        if let Some(name) = &patch.name {
            c.name = name.clone();
        }
        if let Some(active) = patch.active {
            c.active = active;
        }
        c.updated_at = now_us();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE couriers SET name = $3, active = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(c.id.to_string())
        .bind(&c.name)
        .bind(i64::from(c.active))
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await?;
        self.commit_with(tx, &[courier_event(tenant, kinds::COURIER_UPDATED, &c)])
            .await?;
        Ok(c)
    }

    /// Deletes a courier no shipment names; one in use is refused
    /// (`courier_in_use`: deactivate it instead).
    pub async fn delete_courier(&self, tenant: TenantId, id_or_code: &str) -> StoreResult<()> {
        let c = self.find_courier(tenant, id_or_code).await?;
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "SELECT COUNT(*) AS n FROM shipments WHERE tenant_id = $1 AND courier_id = $2",
        )
        .bind(tenant.to_string())
        .bind(c.id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let n = int(&used, "n")?;
        if n > 0 {
            return Err(StoreError::refused(
                "courier_in_use",
                format!(
                    "{n} shipments name courier {}; deactivate it instead",
                    c.code
                ),
            ));
        }
        sqlx::query("DELETE FROM couriers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(c.id.to_string())
            .execute(&mut *tx)
            .await?;
        self.commit_with(tx, &[courier_event(tenant, kinds::COURIER_DELETED, &c)])
            .await
    }

    // ---- shipments ----

    /// Packs shipments for one order: by default everything allocated and
    /// not yet packed, one shipment per location; with `pack`, one
    /// shipment of the chosen units. Refused when nothing is left to pack
    /// (`nothing_to_ship`), the order is on hold or not shippable.
    pub async fn create_order_shipments(
        &self,
        tenant: TenantId,
        order: OrderId,
        pack: Option<&Pack>,
        actor: &str,
    ) -> StoreResult<Vec<Shipment>> {
        if let Some(p) = pack {
            let mut v = Validator::new();
            if p.lines.is_empty() {
                v.push("lines", "name at least one line");
            }
            if p.lines.len() > SHIPMENT_LINES_MAX {
                v.push("lines", format!("the limit is {SHIPMENT_LINES_MAX} lines"));
            }
            for (i, (_, q)) in p.lines.iter().enumerate() {
                if !(1..=QUANTITY_MAX).contains(q) {
                    v.push(
                        format!("lines[{i}].quantity"),
                        format!("must be 1 to {QUANTITY_MAX}"),
                    );
                }
            }
            v.finish()?;
        }
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = load_locked(&mut tx, tenant, &[order])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("order", order))?;
        if let Some(e) = unshippable(&o) {
            return Err(e);
        }
        let packed = packed_units(&mut tx, tenant, &[order]).await?;
        let planned = match pack {
            None => plan_unpacked(&o, &packed),
            Some(p) => vec![plan_chosen(&o, &packed, p)?],
        };
        if planned.is_empty() {
            return Err(StoreError::refused(
                "nothing_to_ship",
                format!(
                    "order {} has no allocated units that an open shipment does not already carry",
                    o.external_no
                ),
            ));
        }
        let ids = write_planned(&mut tx, tenant, &planned, now).await?;
        let made = load_shipments(&mut tx, tenant, &ids).await?;
        let events: Vec<NewEvent> = made
            .iter()
            .map(|s| shipment_event(tenant, kinds::SHIPMENT_CREATED, s, json!({"actor": actor})))
            .collect();
        self.commit_with(tx, &events).await?;
        Ok(made)
    }

    /// Packs every order (or each of `orders`) that has allocated units no
    /// open shipment carries: one shipment per order and location. Orders
    /// on hold, merged or cancelled, and pickup lines, are left out. At
    /// most [`SHIPMENT_ORDERS_PER_REQUEST_MAX`] orders per call; the
    /// `bool` says whether more are waiting.
    pub async fn create_shipments(
        &self,
        tenant: TenantId,
        orders: Option<&[OrderId]>,
        actor: &str,
    ) -> StoreResult<(Vec<Shipment>, bool)> {
        if let Some(o) = orders
            && o.len() > SHIPMENT_ORDERS_PER_REQUEST_MAX
        {
            return Err(InvalidInput::one(
                "orders",
                format!("the limit is {SHIPMENT_ORDERS_PER_REQUEST_MAX} orders per request"),
            )
            .into());
        }
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let (candidates, more) = match orders {
            Some(o) => (o.to_vec(), false),
            None => {
                let rows = sqlx::query(
                    "SELECT ol.order_id FROM order_allocations a \
                     JOIN order_lines ol ON ol.id = a.line_id \
                     JOIN orders o ON o.id = ol.order_id \
                     WHERE ol.tenant_id = $1 AND a.quantity > 0 AND ol.pickup_location_id IS NULL \
                       AND o.hold = 0 AND o.status NOT IN ('merged', 'cancelled') \
                       AND a.quantity > COALESCE((SELECT SUM(sl.quantity) FROM shipment_lines sl \
                           JOIN shipments s ON s.id = sl.shipment_id \
                           WHERE sl.order_line_id = a.line_id AND s.location_id = a.location_id AND s.state = 'open'), 0) \
                     GROUP BY ol.order_id ORDER BY ol.order_id LIMIT $2",
                )
                .bind(tenant.to_string())
                .bind(SHIPMENT_ORDERS_PER_REQUEST_MAX as i64 + 1)
                .fetch_all(&mut *tx)
                .await?;
                let mut ids = rows
                    .iter()
                    .map(|r| parsed(r, "order_id"))
                    .collect::<StoreResult<Vec<OrderId>>>()?;
                let more = ids.len() > SHIPMENT_ORDERS_PER_REQUEST_MAX;
                ids.truncate(SHIPMENT_ORDERS_PER_REQUEST_MAX);
                (ids, more)
            }
        };
        let mut ids = candidates;
        ids.sort();
        ids.dedup();
        let loaded = load_locked(&mut tx, tenant, &ids).await?;
        if orders.is_some() && loaded.len() < ids.len() {
            let known: HashSet<OrderId> = loaded.iter().map(|o| o.id).collect();
            let missing = ids
                .iter()
                .find(|id| !known.contains(id))
                .expect("one is missing");
            return Err(StoreError::not_found("order", missing));
        }
        let packed = packed_units(&mut tx, tenant, &ids).await?;
        let mut planned = Vec::new();
        for o in &loaded {
            if unshippable(o).is_none() {
                planned.extend(plan_unpacked(o, &packed));
            }
        }
        let made_ids = write_planned(&mut tx, tenant, &planned, now).await?;
        let made = load_shipments(&mut tx, tenant, &made_ids).await?;
        let events: Vec<NewEvent> = made
            .iter()
            .map(|s| shipment_event(tenant, kinds::SHIPMENT_CREATED, s, json!({"actor": actor})))
            .collect();
        self.commit_with(tx, &events).await?;
        Ok((made, more))
    }

    pub async fn get_shipment(&self, tenant: TenantId, id: ShipmentId) -> StoreResult<Shipment> {
        let mut conn = self.reader().acquire().await?;
        load_one(&mut conn, tenant, id).await
    }

    /// The shipment whose packing-slip code or tracking number is `code`
    /// (what the scan station reads first).
    pub async fn find_shipment_by_code(
        &self,
        tenant: TenantId,
        code: &str,
    ) -> StoreResult<Shipment> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(
            "SELECT id FROM shipments WHERE tenant_id = $1 AND (code = $2 OR tracking_no = $2) ORDER BY id",
        )
        .bind(tenant.to_string())
        .bind(code)
        .fetch_all(&mut *conn)
        .await?;
        // A slip code and another shipment's tracking number could be the
        // same text; the slip code wins.
        let ids = rows
            .iter()
            .map(|r| parsed(r, "id"))
            .collect::<StoreResult<Vec<ShipmentId>>>()?;
        let found = load_shipments(&mut conn, tenant, &ids).await?;
        found
            .iter()
            .find(|s| s.code == code)
            .or_else(|| found.first())
            .cloned()
            .ok_or_else(|| StoreError::not_found("shipment", code))
    }

    pub async fn list_shipments(
        &self,
        tenant: TenantId,
        filter: &ShipmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Shipment>> {
        let mut sql = String::from("SELECT id FROM shipments WHERE tenant_id = $1 AND id > $2");
        let mut args: Vec<String> = vec![tenant.to_string(), page.cursor().to_string()];
        if let Some(s) = filter.state {
            args.push(s.as_str().to_string());
            sql.push_str(&format!(" AND state = ${}", args.len()));
        }
        if let Some(o) = filter.order_id {
            args.push(o.to_string());
            sql.push_str(&format!(" AND order_id = ${}", args.len()));
        }
        if let Some(l) = filter.location_id {
            args.push(l.to_string());
            sql.push_str(&format!(" AND location_id = ${}", args.len()));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", page.size() + 1));
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        let mut conn = self.reader().acquire().await?;
        let ids = q
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| parsed(r, "id"))
            .collect::<StoreResult<Vec<ShipmentId>>>()?;
        let items = load_shipments(&mut conn, tenant, &ids).await?;
        Ok(Page::from_rows(items, page.size(), |s| s.id.to_string()))
    }

    /// Registers a shipment's courier and tracking number (replacing any
    /// earlier one) while it is open.
    pub async fn set_tracking(
        &self,
        tenant: TenantId,
        id: ShipmentId,
        courier: &str,
        tracking_no: &str,
        actor: &str,
    ) -> StoreResult<Shipment> {
        let mut v = Validator::new();
        check_tracking_no(&mut v, "tracking_no", tracking_no);
        v.finish()?;
        let c = match self.find_courier(tenant, courier).await {
            Ok(c) => c,
            Err(StoreError::NotFound { .. }) => {
                return Err(InvalidInput::one(
                    "courier",
                    format!("no courier has the id or code {courier:?}"),
                )
                .into());
            }
            Err(e) => return Err(e),
        };
        if !c.active {
            return Err(
                InvalidInput::one("courier", format!("courier {} is inactive", c.code)).into(),
            );
        }
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        // One write, only to an open shipment: it locks the row as it
        // changes it. A shipment that is not open is not written, so its
        // state answers before any clash of tracking numbers could.
        let written = sqlx::query(
            "UPDATE shipments SET courier_id = $3, tracking_no = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(c.id.to_string())
        .bind(tracking_no)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_unique(e, "tracking number", tracking_no))?
        .rows_affected();
        if written == 0 {
            return Err(not_written(&mut tx, tenant, id).await);
        }
        let s = load_one(&mut tx, tenant, id).await?;
        self.commit_with(
            tx,
            &[shipment_event(
                tenant,
                kinds::SHIPMENT_TRACKING_REGISTERED,
                &s,
                json!({"actor": actor}),
            )],
        )
        .await?;
        Ok(s)
    }

    /// Registers tracking numbers from a courier's file, each row on its
    /// own: a bad row changes nothing and is reported with what was
    /// wrong; good rows are registered, all in one transaction.
    ///
    /// A row's order number (and channel, where the number is used on
    /// several) names an order; the row's tracking number goes to the
    /// order's oldest open shipment that has none yet. A row whose
    /// tracking number is already on a shipment of that order is
    /// `unchanged`, so a file can be imported twice.
    pub async fn import_tracking(
        &self,
        tenant: TenantId,
        rows: &[TrackingRow],
        actor: &str,
    ) -> StoreResult<TrackingReport> {
        let mut report = TrackingReport {
            rows: rows.len(),
            ..TrackingReport::default()
        };
        let couriers: HashMap<String, Courier> = self
            .list_couriers(tenant)
            .await?
            .into_iter()
            .flat_map(|c| [(c.code.clone(), c.clone()), (c.id.to_string(), c)])
            .collect();
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        // Orders by number, with their channel's code.
        let numbers: Vec<&str> = {
            let mut n: Vec<&str> = rows.iter().map(|r| r.order_no.as_str()).collect();
            n.sort_unstable();
            n.dedup();
            n
        };
        let mut orders_by_no: HashMap<String, Vec<(OrderId, ChannelId, String)>> = HashMap::new();
        let found = rows_in(&mut tx, tenant, &numbers, |t, list| {
            format!(
                "SELECT o.id, o.external_no, o.channel_id, c.code AS channel_code FROM orders o \
                 JOIN channels c ON c.id = o.channel_id \
                 WHERE o.tenant_id = {t} AND o.status <> 'merged' AND o.external_no IN {list} ORDER BY o.id"
            )
        })
        .await?;
        for row in found {
            orders_by_no
                .entry(text(&row, "external_no")?)
                .or_default()
                .push((
                    parsed(&row, "id")?,
                    parsed(&row, "channel_id")?,
                    text(&row, "channel_code")?,
                ));
        }
        let order_ids: Vec<OrderId> = orders_by_no
            .values()
            .flatten()
            .map(|(id, _, _)| *id)
            .collect();
        // No order locks here: confirming a shipment locks the shipment
        // and then its order, so taking them the other way round could
        // deadlock. Each write below is conditional instead.
        // Open shipments of those orders, oldest first, and every
        // tracking number already registered that the file names.
        let mut open: HashMap<OrderId, Vec<(ShipmentId, Option<String>)>> = HashMap::new();
        let found = rows_in(&mut tx, tenant, &order_ids, |t, list| {
            format!(
                "SELECT id, order_id, tracking_no FROM shipments WHERE tenant_id = {t} AND state = 'open' AND order_id IN {list} ORDER BY id"
            )
        })
        .await?;
        for row in found {
            open.entry(parsed(&row, "order_id")?)
                .or_default()
                .push((parsed(&row, "id")?, opt_text(&row, "tracking_no")?));
        }
        let mut taken: HashMap<String, (ShipmentId, OrderId, String)> = HashMap::new();
        let tracking: Vec<&str> = rows.iter().map(|r| r.tracking_no.as_str()).collect();
        let found = rows_in(&mut tx, tenant, &tracking, |t, list| {
            format!(
                "SELECT id, order_id, code, tracking_no FROM shipments WHERE tenant_id = {t} AND tracking_no IN {list}"
            )
        })
        .await?;
        for row in found {
            taken.insert(
                text(&row, "tracking_no")?,
                (
                    parsed(&row, "id")?,
                    parsed(&row, "order_id")?,
                    text(&row, "code")?,
                ),
            );
        }
        let mut seen_in_file: HashMap<&str, usize> = HashMap::new();
        let mut writes: Vec<(usize, ShipmentId, CourierId, String)> = Vec::new();
        let mut events = Vec::new();
        for r in rows {
            let fail = |field: &str, reason: String| RowError {
                line: r.line,
                field: field.to_string(),
                reason,
            };
            let mut v = Validator::new();
            v.text("order_no", &r.order_no, ORDER_NO_LEN_MAX);
            check_tracking_no(&mut v, "tracking_no", &r.tracking_no);
            if let Err(e) = v.finish() {
                for violation in e.violations {
                    report.errors.push(fail(&violation.field, violation.reason));
                }
                continue;
            }
            let Some(courier) = couriers.get(&r.courier) else {
                report.errors.push(fail(
                    "courier",
                    format!("no courier has the id or code {:?}", r.courier),
                ));
                continue;
            };
            if !courier.active {
                report.errors.push(fail(
                    "courier",
                    format!("courier {} is inactive", courier.code),
                ));
                continue;
            }
            if let Some(first_line) = seen_in_file.get(r.tracking_no.as_str()) {
                report.errors.push(fail(
                    "tracking_no",
                    format!("the file already gives this tracking number on line {first_line}"),
                ));
                continue;
            }
            let candidates: Vec<&(OrderId, ChannelId, String)> = orders_by_no
                .get(&r.order_no)
                .map(|v| {
                    v.iter()
                        .filter(|(_, id, code)| {
                            r.channel
                                .as_deref()
                                .is_none_or(|c| c == code || c == id.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let order = match candidates.as_slice() {
                [] => {
                    let (field, reason) = match &r.channel {
                        Some(c) => (
                            "channel",
                            format!("no order {:?} on channel {c:?}", r.order_no),
                        ),
                        None => (
                            "order_no",
                            format!("no order has the number {:?}", r.order_no),
                        ),
                    };
                    report.errors.push(fail(field, reason));
                    continue;
                }
                [one] => one.0,
                many => {
                    let channels: HashSet<&str> = many.iter().map(|(_, _, c)| c.as_str()).collect();
                    if channels.len() > 1 {
                        let mut names: Vec<&str> = channels.into_iter().collect();
                        names.sort_unstable();
                        report.errors.push(fail(
                            "order_no",
                            format!(
                                "order number {:?} is used on channels {}; add a channel column",
                                r.order_no,
                                names.join(", ")
                            ),
                        ));
                        continue;
                    }
                    // Copies of one number on one channel: the oldest
                    // with an open shipment lacking a tracking number.
                    many.iter()
                        .map(|(id, _, _)| *id)
                        .find(|id| {
                            open.get(id)
                                .is_some_and(|s| s.iter().any(|(_, t)| t.is_none()))
                        })
                        .unwrap_or(many[0].0)
                }
            };
            if let Some((shipment, on_order, code)) = taken.get(&r.tracking_no) {
                if *on_order == order {
                    report.unchanged += 1;
                    seen_in_file.insert(&r.tracking_no, r.line);
                } else {
                    report.errors.push(fail(
                        "tracking_no",
                        format!(
                            "already registered to shipment {code} ({shipment}) of another order"
                        ),
                    ));
                }
                continue;
            }
            let Some(target) = open
                .get_mut(&order)
                .and_then(|s| s.iter_mut().find(|(_, t)| t.is_none()))
            else {
                let reason = if open.get(&order).is_some_and(|s| !s.is_empty()) {
                    format!(
                        "every open shipment of order {:?} has a tracking number already",
                        r.order_no
                    )
                } else {
                    format!(
                        "order {:?} has no open shipment; create its shipments first",
                        r.order_no
                    )
                };
                report.errors.push(fail("order_no", reason));
                continue;
            };
            target.1 = Some(r.tracking_no.clone());
            seen_in_file.insert(&r.tracking_no, r.line);
            writes.push((r.line, target.0, courier.id, r.tracking_no.clone()));
        }
        // One statement per 10,000 rows; a shipment confirmed, cancelled or
        // given a number since it was read is not changed, and its row is
        // reported. Numbers were checked against the file and the stored
        // ones above; a unique violation here is a number registered
        // meanwhile by another request.
        let changed: HashSet<ShipmentId> = update_returning_ids(
            &mut tx,
            "shipments",
            "courier_id = v.column2, tracking_no = v.column3, updated_at = v.column5",
            "shipments.id = v.column1 AND shipments.tenant_id = v.column4 \
             AND shipments.state = 'open' AND shipments.tracking_no IS NULL",
            5,
            writes
                .iter()
                .map(|(_, id, courier, tracking_no)| {
                    vec![
                        Val::T(id.to_string()),
                        Val::T(courier.to_string()),
                        Val::T(tracking_no.clone()),
                        Val::T(tenant.to_string()),
                        Val::I(now),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                StoreError::Conflict(
                    "a tracking number of the file was registered by another request meanwhile; import the file again".into(),
                )
            }
            other => other,
        })?;
        let mut written_rows = Vec::with_capacity(writes.len());
        for (line, id, _, _) in &writes {
            if changed.contains(id) {
                written_rows.push((*line, *id));
            } else {
                // Confirmed, cancelled or given a number since it was read.
                report.errors.push(RowError {
                    line: *line,
                    field: "order_no".into(),
                    reason: "the shipment changed while the file was read; import the row again"
                        .into(),
                });
            }
        }
        let ids: Vec<ShipmentId> = written_rows.iter().map(|w| w.1).collect();
        let written = load_shipments(&mut tx, tenant, &ids).await?;
        for s in &written {
            events.push(shipment_event(
                tenant,
                kinds::SHIPMENT_TRACKING_REGISTERED,
                s,
                json!({"actor": actor}),
            ));
        }
        self.commit_with(tx, &events).await?;
        report.errors.sort_by_key(|e| e.line);
        report.registered = written_rows
            .iter()
            .zip(&written)
            .map(|((line, _), s)| (*line, s.id, s.code.clone()))
            .collect();
        Ok(report)
    }

    /// One scan at the scan station. Every scan is recorded with its
    /// answer; only `accepted` counts a unit.
    pub async fn scan_shipment(
        &self,
        tenant: TenantId,
        id: ShipmentId,
        barcode: &str,
        actor: &str,
    ) -> StoreResult<ScanOutcome> {
        let mut v = Validator::new();
        v.text("barcode", barcode, jaego_core::limits::BARCODE_LEN_MAX);
        v.finish()?;
        let scanned = {
            let mut conn = self.reader().acquire().await?;
            sku_for_barcode(&mut conn, tenant, barcode).await?
        };
        let sku = scanned.as_ref().map(|(id, _)| *id);
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        lock_open_shipment(&mut tx, tenant, id, now).await?;
        let before = load_one(&mut tx, tenant, id).await?;
        let mut verdict = judge_scan(&before.scan_lines(), sku);
        let mut line_no = None;
        let mut component = None;
        // Each count is conditional on room left; a count that finds none
        // cannot happen under the row lock, and the condition is the guard
        // if it ever does.
        let (index, counted, expected) = match verdict {
            ScanVerdict::Accept { index, part: None } => {
                let counted = sqlx::query(
                    "UPDATE shipment_lines SET scanned = scanned + 1 \
                     WHERE shipment_id = $1 AND line_no = $2 AND scanned < quantity",
                )
                .bind(id.to_string())
                .bind(before.lines[index].line_no)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (Some(index), counted, 1)
            }
            ScanVerdict::Accept {
                index,
                part: Some(part),
            } => {
                let c = before.lines[index].components[part].sku_id;
                let counted = sqlx::query(
                    "UPDATE shipment_line_components SET scanned = scanned + 1 \
                     WHERE shipment_id = $1 AND line_no = $2 AND component_sku_id = $3 AND scanned < quantity",
                )
                .bind(id.to_string())
                .bind(before.lines[index].line_no)
                .bind(c.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                component = Some(c);
                (Some(index), counted, 1)
            }
            ScanVerdict::AcceptBundle { index } => {
                // Every component at once, or none: only if no component
                // of the line lacks room for a whole bundle.
                let counted = sqlx::query(
                    "UPDATE shipment_line_components SET scanned = scanned + per_bundle \
                     WHERE shipment_id = $1 AND line_no = $2 AND NOT EXISTS (\
                     SELECT 1 FROM shipment_line_components f WHERE f.shipment_id = $1 AND f.line_no = $2 \
                     AND f.scanned + f.per_bundle > f.quantity)",
                )
                .bind(id.to_string())
                .bind(before.lines[index].line_no)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let parts = before.lines[index].components.len() as u64;
                (Some(index), counted, parts)
            }
            _ => (None, 0, 0),
        };
        if let Some(index) = index {
            if counted == expected {
                line_no = Some(before.lines[index].line_no);
            } else {
                if counted != 0 {
                    return Err(StoreError::Conflict(format!(
                        "shipment {id} changed while it was scanned"
                    )));
                }
                verdict = ScanVerdict::TooMany;
                component = None;
            }
        }
        sqlx::query(
            "INSERT INTO shipment_scans (id, tenant_id, shipment_id, barcode, result, sku_id, line_no, actor, scanned_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(barcode)
        .bind(verdict.as_str())
        .bind(sku.map(|s| s.to_string()))
        .bind(line_no)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The shipment as the counts above left it, without reading it again.
        let mut after = before;
        if let Some(index) = index.filter(|_| line_no.is_some()) {
            let line = &mut after.lines[index];
            match verdict {
                ScanVerdict::Accept { part: None, .. } => line.scanned += 1,
                ScanVerdict::Accept {
                    part: Some(part), ..
                } => line.components[part].scanned += 1,
                ScanVerdict::AcceptBundle { .. } => {
                    for c in &mut line.components {
                        c.scanned += c.per_bundle;
                    }
                }
                _ => {}
            }
            line.refresh_scanned();
        }
        let event = shipment_event(
            tenant,
            kinds::SHIPMENT_SCANNED,
            &after,
            json!({"result": verdict.as_str(), "barcode": barcode,
                   "sku_id": sku.map(|s| s.to_string()), "line": line_no,
                   "component_sku_id": component.map(|s| s.to_string()), "actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(ScanOutcome {
            verdict,
            sku_id: sku,
            sku_code: scanned.map(|(_, code)| code),
            line_no,
            component,
            shipment: after,
        })
    }

    /// Confirms a shipment: every unit leaves stock with `shipment`
    /// movements (on hand and allocated drop), the order's lines and
    /// status change, and `order.shipped` and `shipment.confirmed` are
    /// written, in one transaction. An incomplete scan is refused
    /// (`scan_incomplete`) unless `override_reason` is given; the caller
    /// checks that its actor may override, and the reason is recorded.
    pub async fn confirm_shipment(
        &self,
        tenant: TenantId,
        id: ShipmentId,
        override_reason: Option<&str>,
        actor: &str,
    ) -> StoreResult<(Shipment, Order)> {
        if let Some(reason) = override_reason {
            let mut v = Validator::new();
            check_override_reason(&mut v, "override_reason", reason);
            v.finish()?;
        }
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        lock_open_shipment(&mut tx, tenant, id, now).await?;
        let s = load_one(&mut tx, tenant, id).await?;
        if let Err(ConfirmRefusal::Incomplete { scanned, total }) =
            may_confirm(&s.scan_lines(), override_reason.is_some())
        {
            return Err(StoreError::refused(
                "scan_incomplete",
                format!(
                    "{scanned} of {total} units of shipment {} are scanned; scan the rest, or a manager confirms with a reason",
                    s.code
                ),
            ));
        }
        let o = load_locked(&mut tx, tenant, &[s.order_id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("order", s.order_id))?;
        if let Some(e) = unshippable(&o) {
            return Err(e);
        }
        let mut items: BTreeMap<String, (OrderLineId, i64)> = BTreeMap::new();
        for l in &s.lines {
            items
                .entry(l.order_line_id.to_string())
                .or_insert((l.order_line_id, 0))
                .1 += l.quantity;
        }
        let items: Vec<(OrderLineId, LocationId, i64)> = items
            .into_values()
            .map(|(line, q)| (line, s.location_id, q))
            .collect();
        let reference = s.tracking_no.clone().unwrap_or_else(|| s.code.clone());
        let (order, order_event) =
            crate::orders::stock::ship_loaded(&mut tx, tenant, o, &items, &reference, actor, now)
                .await?;
        let overridden = override_reason.is_some() && s.scanned() < s.units();
        let done = sqlx::query(
            "UPDATE shipments SET state = 'confirmed', confirmed_at = $3, confirmed_by = $4, \
             override_reason = $5, override_by = $6, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .bind(actor)
        .bind(overridden.then(|| override_reason.unwrap_or_default().to_string()))
        .bind(overridden.then(|| actor.to_string()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            return Err(StoreError::Conflict(format!(
                "shipment {id} changed while it was confirmed"
            )));
        }
        let after = load_one(&mut tx, tenant, id).await?;
        let event = shipment_event(
            tenant,
            kinds::SHIPMENT_CONFIRMED,
            &after,
            json!({"actor": actor, "override_reason": after.override_reason,
                   "order_status": order.status.as_str()}),
        );
        self.commit_with(tx, &[order_event, event]).await?;
        Ok((after, order))
    }

    /// Cancels an open shipment: its units may be packed again; nothing in
    /// stock changes.
    pub async fn cancel_shipment(
        &self,
        tenant: TenantId,
        id: ShipmentId,
        actor: &str,
    ) -> StoreResult<Shipment> {
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        // One write, only to an open shipment: it locks the row as it
        // changes it.
        let written = sqlx::query(
            "UPDATE shipments SET state = 'cancelled', updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written == 0 {
            return Err(not_written(&mut tx, tenant, id).await);
        }
        let after = load_one(&mut tx, tenant, id).await?;
        let event = shipment_event(
            tenant,
            kinds::SHIPMENT_CANCELLED,
            &after,
            json!({"actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(after)
    }

    // ---- settings, bins and the print run ----

    pub async fn shipping_settings(&self, tenant: TenantId) -> StoreResult<ShippingSettings> {
        let row = sqlx::query("SELECT print_order FROM shipping_settings WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(r) => ShippingSettings {
                print_order: text(&r, "print_order")?
                    .parse()
                    .map_err(StoreError::Corrupt)?,
            },
            None => ShippingSettings::default(),
        })
    }

    pub async fn set_shipping_settings(
        &self,
        tenant: TenantId,
        settings: ShippingSettings,
    ) -> StoreResult<ShippingSettings> {
        let now = now_us();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO shipping_settings (tenant_id, print_order, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET print_order = excluded.print_order, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(settings.print_order.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::SHIPPING_SETTINGS_UPDATED,
            json!({"print_order": settings.print_order.as_str()}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(settings)
    }

    /// Sets (or, with `None`, clears) the bin of a SKU at a location.
    pub async fn set_bin(
        &self,
        tenant: TenantId,
        location: LocationId,
        sku: SkuId,
        bin: Option<&str>,
    ) -> StoreResult<()> {
        if let Some(b) = bin {
            let mut v = Validator::new();
            v.code("bin", b, BIN_LEN_MAX);
            v.finish()?;
        }
        let now = now_us();
        let mut tx = self.begin_write().await?;
        match bin {
            Some(b) => {
                sqlx::query(
                    "INSERT INTO stock_bins (sku_id, location_id, tenant_id, bin, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sku_id, location_id) DO UPDATE SET bin = excluded.bin, updated_at = excluded.updated_at",
                )
                .bind(sku.to_string())
                .bind(location.to_string())
                .bind(tenant.to_string())
                .bind(b)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM stock_bins WHERE tenant_id = $1 AND sku_id = $2 AND location_id = $3",
                )
                .bind(tenant.to_string())
                .bind(sku.to_string())
                .bind(location.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        let event = NewEvent::new(tenant, kinds::STOCK_BIN_UPDATED, json!({"bin": bin}))
            .sku(sku)
            .location(location);
        self.commit_with(tx, &[event]).await
    }

    /// The bins of a location, by bin then SKU code.
    pub async fn list_bins(
        &self,
        tenant: TenantId,
        location: LocationId,
    ) -> StoreResult<Vec<StockBin>> {
        let rows = sqlx::query(
            "SELECT b.sku_id, k.code, b.location_id, b.bin, b.updated_at FROM stock_bins b \
             JOIN skus k ON k.id = b.sku_id \
             WHERE b.tenant_id = $1 AND b.location_id = $2 ORDER BY b.bin, k.code",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StockBin {
                    sku_id: parsed(r, "sku_id")?,
                    sku_code: text(r, "code")?,
                    location_id: parsed(r, "location_id")?,
                    bin: text(r, "bin")?,
                    updated_at: int(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// The shipments of a print run, in print order, each with its lines
    /// in slip order; and the order used. Refused (`invalid_input`) when
    /// more than [`SHIPMENTS_PER_PRINT_MAX`] shipments match.
    pub async fn print_run(
        &self,
        tenant: TenantId,
        selection: &PrintSelection,
    ) -> StoreResult<(PrintOrder, Vec<Shipment>)> {
        let order = match selection.order {
            Some(o) => o,
            None => self.shipping_settings(tenant).await?.print_order,
        };
        let mut conn = self.reader().acquire().await?;
        let ids: Vec<ShipmentId> = match &selection.shipments {
            Some(ids) => {
                if ids.len() > SHIPMENTS_PER_PRINT_MAX {
                    return Err(InvalidInput::one(
                        "shipments",
                        format!("the limit is {SHIPMENTS_PER_PRINT_MAX} shipments per print"),
                    )
                    .into());
                }
                let mut ids = ids.clone();
                ids.sort();
                ids.dedup();
                ids
            }
            None => {
                let mut sql = String::from(
                    "SELECT id FROM shipments WHERE tenant_id = $1 AND state = 'open'",
                );
                if selection.location.is_some() {
                    sql.push_str(" AND location_id = $3");
                }
                sql.push_str(" ORDER BY id LIMIT $2");
                let mut q = sqlx::query(&sql)
                    .bind(tenant.to_string())
                    .bind(SHIPMENTS_PER_PRINT_MAX as i64 + 1);
                if let Some(l) = selection.location {
                    q = q.bind(l.to_string());
                }
                let ids = q
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| parsed(r, "id"))
                    .collect::<StoreResult<Vec<ShipmentId>>>()?;
                if ids.len() > SHIPMENTS_PER_PRINT_MAX {
                    return Err(InvalidInput::one(
                        "shipments",
                        format!(
                            "more than {SHIPMENTS_PER_PRINT_MAX} open shipments match; choose a location or list the shipments"
                        ),
                    )
                    .into());
                }
                ids
            }
        };
        let mut found = load_shipments(&mut conn, tenant, &ids).await?;
        if selection.shipments.is_some() && found.len() < ids.len() {
            let known: HashSet<ShipmentId> = found.iter().map(|s| s.id).collect();
            let missing = ids
                .iter()
                .find(|id| !known.contains(id))
                .expect("one is missing");
            return Err(StoreError::not_found("shipment", missing));
        }
        if let Some(l) = selection.location {
            found.retain(|s| s.location_id == l);
        }
        let keys: Vec<PrintKey> = found
            .iter()
            .map(|s| PrintKey {
                collected_at: s.collected_at,
                order_no: s.order_no.clone(),
                code: s.code.clone(),
                skus: s.lines.iter().map(|l| l.sku_code.clone()).collect(),
                bins: s.lines.iter().map(|l| l.bin.clone()).collect(),
            })
            .collect();
        let sequence = print_sequence(&keys, order);
        let mut slots: Vec<Option<Shipment>> = found.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(slots.len());
        for i in sequence {
            let mut s = slots[i].take().expect("each index once");
            let keyed: Vec<(String, Option<String>)> = s
                .lines
                .iter()
                .map(|l| (l.sku_code.clone(), l.bin.clone()))
                .collect();
            let mut lines: Vec<Option<ShipmentLine>> = s.lines.drain(..).map(Some).collect();
            s.lines = slip_line_order(&keyed, order)
                .into_iter()
                .map(|j| lines[j].take().expect("each line once"))
                .collect();
            out.push(s);
        }
        Ok((order, out))
    }
}

/// One shipment of the units `pack` names, each checked against what is
/// allocated at its location and not yet packed.
fn plan_chosen(
    o: &Order,
    packed: &HashMap<(OrderLineId, LocationId), i64>,
    pack: &Pack,
) -> StoreResult<Planned> {
    let mut lines: Vec<(OrderLineId, SkuId, i64)> = Vec::new();
    let mut asked: HashMap<OrderLineId, i64> = HashMap::new();
    for (i, &(line, q)) in pack.lines.iter().enumerate() {
        let l = o
            .lines
            .iter()
            .find(|l| l.id == line)
            .ok_or_else(|| StoreError::not_found("order line", line))?;
        let sku = l.sku_id.ok_or_else(|| {
            StoreError::refused("not_allocated", "the line is not matched to a SKU")
        })?;
        if l.pickup_location_id.is_some() {
            return Err(InvalidInput::one(
                format!("lines[{i}].line"),
                "is a pickup request; it leaves through the store",
            )
            .into());
        }
        let allocated = l
            .allocations
            .iter()
            .find(|a| a.location_id == pack.location)
            .map_or(0, |a| a.quantity);
        let free = allocated - packed.get(&(line, pack.location)).copied().unwrap_or(0);
        let total = asked.entry(line).or_default();
        *total += q;
        if *total > free {
            return Err(StoreError::refused(
                "not_allocated",
                format!(
                    "order line {} has {free} units allocated at this location and not yet in a shipment; {} asked for",
                    l.line_no, *total
                ),
            ));
        }
        lines.push((line, sku, q));
    }
    Ok(Planned {
        order: o.id,
        location: pack.location,
        lines,
    })
}
