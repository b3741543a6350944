//! The stock moves orders make: allocate, deallocate, ship, and taking
//! over a committed reservation's allocation. Each goes through the ledger
//! write shape in the caller's transaction: ensure the balance rows, lock
//! them, judge every move with `jaego_core::movement::check` on the locked
//! figures, apply the deltas with `apply_judged_deltas` (which re-checks
//! `strict` in SQL) and append the movements; then the order's allocation rows and
//! line quantities change in the same transaction.

use std::collections::{BTreeMap, HashMap};

use jaego_core::allocation::FastMap;
use jaego_core::movement::{self, Refusal};
use jaego_core::{
    Balance, Delta, LocationId, MovementKind, OrderId, OrderLineId, ReservationId, SkuId,
    StockPolicy, TenantId,
};
use serde_json::json;
use sqlx::{Any, Transaction};

use super::bundle_lines::{LineBundles, line_bundles, store_expansions};
use super::{
    IN_CHUNK, Order, Val, in_list, insert_many, load_locked, load_orders, order_event,
    refresh_status, update_many,
};
use crate::error::{StoreError, StoreResult};
use crate::events::kinds;
use crate::ledger::{self, Key, PendingMovement};
use crate::rows::{Placeholders, int, opt_parsed, parsed, text};
use crate::{Store, now_us};

/// One order line's units moving at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMove {
    pub order: OrderId,
    pub line: OrderLineId,
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: i64,
    pub kind: MovementKind,
    /// For `allocate`: judge against available (`strict`) or not.
    pub policy: StockPolicy,
}

/// How movements are written for a set of moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ledger {
    /// One movement per move (per order line and location).
    PerLine,
    /// One movement per (kind, SKU, location): an allocation run's moves
    /// are many and small; the order rows keep the per-line detail.
    PerRow,
}

/// Applies `moves` in the caller's transaction: ledger first (judged on
/// locked rows), then allocation rows and line quantities. A strict
/// allocation that does not fit is `StoreError::Shortage`; a deallocation
/// or shipment of more than the line has allocated there is refused.
pub(crate) async fn apply_moves(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    moves: &[OrderMove],
    ledger_mode: Ledger,
    reference: &str,
    actor: &str,
) -> StoreResult<()> {
    apply_moves_locked(tx, tenant, moves, ledger_mode, reference, actor, None, None).await
}

/// One ledger move: an order move, or one component of a bundle line's.
#[derive(Debug, Clone, Copy)]
struct LedgerMove {
    kind: MovementKind,
    policy: StockPolicy,
    key: Key,
    quantity: i64,
    bundle: Option<SkuId>,
}

/// The ledger's view of `moves`: a bundle line's move is one move per
/// component of its stored expansion (units × quantity per bundle), at the
/// same location, naming the bundle.
fn ledger_moves(moves: &[OrderMove], bundles: &LineBundles) -> StoreResult<Vec<LedgerMove>> {
    let mut out = Vec::with_capacity(moves.len());
    for m in moves {
        match bundles.get(&m.line) {
            Some(b) => {
                for &(component, per) in &b.parts {
                    let quantity = m.quantity.checked_mul(per).ok_or_else(|| {
                        StoreError::Conflict("bundle component units overflow".into())
                    })?;
                    out.push(LedgerMove {
                        kind: m.kind,
                        policy: m.policy,
                        key: (component, m.location),
                        quantity,
                        bundle: Some(b.bundle),
                    });
                }
            }
            None => out.push(LedgerMove {
                kind: m.kind,
                policy: m.policy,
                key: (m.sku, m.location),
                quantity: m.quantity,
                bundle: None,
            }),
        }
    }
    Ok(out)
}

/// The balance rows `moves` change (a bundle line's: its components').
pub(crate) fn ledger_keys(moves: &[OrderMove], bundles: &LineBundles) -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::with_capacity(moves.len());
    for m in moves {
        match bundles.get(&m.line) {
            Some(b) => keys.extend(b.parts.iter().map(|&(c, _)| (c, m.location))),
            None => keys.push((m.sku, m.location)),
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// [`apply_moves`] with the rows' figures already locked by the caller in
/// this transaction (`locked`), or locked here (`None`), and the bundle
/// lines among `moves` already read (`bundles`), or read here. A bundle
/// line's rows count bundle units; its ledger moves are its components'
/// (see `bundle_lines`), and its first allocation stores its expansion.
#[expect(
    clippy::too_many_arguments,
    reason = "the run passes what it already locked and read; other callers use `apply_moves`"
)]
pub(crate) async fn apply_moves_locked(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    moves: &[OrderMove],
    ledger_mode: Ledger,
    reference: &str,
    actor: &str,
    locked: Option<HashMap<Key, Balance>>,
    bundles: Option<&LineBundles>,
) -> StoreResult<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let loaded;
    let bundles = match bundles {
        Some(b) => b,
        None => {
            loaded = line_bundles(tx, tenant, moves.iter().map(|m| (m.line, m.sku))).await?;
            &loaded
        }
    };
    let clock = std::time::Instant::now();
    // What each line has allocated at each location, locked by the write.
    check_allocation_rows(tx, moves).await?;
    let lmoves = ledger_moves(moves, bundles)?;
    let keys = ledger_keys(moves, bundles);
    let mut balances: HashMap<Key, Balance> = match locked {
        Some(b) => b,
        None => {
            ledger::ensure_rows(tx, tenant, &keys).await?;
            ledger::lock_rows(tx, &keys).await?
        }
    };
    let mut totals: FastMap<Key, (Delta, bool)> = FastMap::default();
    let mut per_row: FastMap<(MovementKind, Key, Option<SkuId>), i64> = FastMap::default();
    for m in &lmoves {
        let key = m.key;
        let delta = m.kind.delta(m.quantity);
        // Every row was locked above, so its figures are the database's:
        // `apply_judged_deltas` writes the events from what this loop makes
        // of them.
        let before = balances.get(&key).copied().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "balance row of SKU {} at location {} was not locked",
                key.0, key.1
            ))
        })?;
        let after = movement::check(m.kind, m.policy, &before, &delta).map_err(|r| match r {
            Refusal::Short {
                available,
                requested,
            } => StoreError::Shortage(vec![jaego_core::judge::Shortage {
                line: 0,
                sku: key.0,
                location: Some(key.1),
                requested,
                available,
            }]),
            other => StoreError::Conflict(other.to_string()),
        })?;
        balances.insert(key, after);
        let entry = totals.entry(key).or_insert((Delta::default(), false));
        entry.0 = entry
            .0
            .checked_add(&delta)
            .ok_or_else(|| StoreError::Conflict("figure overflow".into()))?;
        entry.1 |= m.kind == MovementKind::Allocate && m.policy == StockPolicy::Strict;
        *per_row.entry((m.kind, key, m.bundle)).or_default() += m.quantity;
    }
    let rows: Vec<(Key, Delta, bool)> = keys
        .iter()
        .map(|k| (*k, totals[k].0, totals[k].1))
        .collect();
    let judged = clock.elapsed();
    // `balances` now holds every row's figures after its moves: read
    // under the write lock and judged above.
    ledger::apply_judged_deltas(tx, tenant, &rows, &balances).await?;
    let deltas = clock.elapsed();
    let pending: Vec<PendingMovement<'_>> = match ledger_mode {
        Ledger::PerLine => lmoves
            .iter()
            .map(|m| {
                pending(
                    tenant, m.kind, m.key, m.quantity, reference, actor, m.bundle,
                )
            })
            .collect(),
        Ledger::PerRow => {
            let mut v: Vec<_> = per_row.into_iter().collect();
            v.sort_by_key(|((k, key, bundle), _)| (k.as_str(), *key, *bundle));
            v.into_iter()
                .map(|((kind, key, bundle), q)| {
                    pending(tenant, kind, key, q, reference, actor, bundle)
                })
                .collect()
        }
    };
    ledger::insert_movements(tx, &pending).await?;
    let inserted = clock.elapsed();
    if !bundles.is_empty() {
        let allocated = moves
            .iter()
            .filter(|m| m.kind == MovementKind::Allocate)
            .map(|m| m.line);
        store_expansions(tx, tenant, bundles, allocated).await?;
    }
    write_order_rows(tx, moves).await?;
    tracing::debug!(
        movements = pending.len(),
        judge_ms = judged.as_millis(),
        deltas_ms = (deltas - judged).as_millis(),
        movements_ms = (inserted - deltas).as_millis(),
        order_rows_ms = (clock.elapsed() - inserted).as_millis(),
        "order moves applied"
    );
    Ok(())
}

fn pending<'a>(
    tenant: TenantId,
    kind: MovementKind,
    key: Key,
    quantity: i64,
    reference: &'a str,
    actor: &'a str,
    bundle: Option<SkuId>,
) -> PendingMovement<'a> {
    PendingMovement {
        tenant,
        key,
        kind,
        custom_type: None,
        quantity,
        delta: kind.delta(quantity),
        reason: "",
        reference,
        actor,
        idempotency_key: None,
        reservation_id: None,
        transfer_id: None,
        bundle_sku_id: bundle,
    }
}

/// Refuses a deallocation or shipment of more than the line has
/// allocated at that location (read in the writing transaction, one query
/// per 1,000 lines).
async fn check_allocation_rows(
    tx: &mut Transaction<'_, Any>,
    moves: &[OrderMove],
) -> StoreResult<()> {
    let mut need: HashMap<(OrderLineId, LocationId), i64> = HashMap::new();
    for m in moves {
        if matches!(m.kind, MovementKind::Deallocate | MovementKind::Shipment) {
            *need.entry((m.line, m.location)).or_default() += m.quantity;
        }
    }
    let mut lines: Vec<OrderLineId> = need.keys().map(|&(l, _)| l).collect();
    lines.sort_unstable();
    lines.dedup();
    let style = Placeholders::of(tx);
    let mut have: HashMap<(OrderLineId, LocationId), i64> = HashMap::new();
    for chunk in lines.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT line_id, location_id, quantity FROM order_allocations WHERE line_id IN {}",
            in_list(style, 0, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for line in chunk {
            q = q.bind(line.to_string());
        }
        for row in q.fetch_all(&mut **tx).await? {
            have.insert(
                (parsed(&row, "line_id")?, parsed(&row, "location_id")?),
                int(&row, "quantity")?,
            );
        }
    }
    for ((line, location), q) in need {
        let have = have.get(&(line, location)).copied().unwrap_or(0);
        if have < q {
            return Err(StoreError::refused(
                "not_allocated",
                format!("line {line} has {have} allocated at location {location}, {q} asked for"),
            ));
        }
    }
    Ok(())
}

/// Allocation rows and line quantities after `moves`.
async fn write_order_rows(tx: &mut Transaction<'_, Any>, moves: &[OrderMove]) -> StoreResult<()> {
    // Hashed with foldhash: an allocation run's chunk passes 150,000 moves.
    let mut alloc_up: FastMap<(OrderLineId, LocationId), i64> = FastMap::default();
    let mut alloc_down: FastMap<(OrderLineId, LocationId), (i64, i64)> = FastMap::default();
    let mut lines: FastMap<OrderLineId, (i64, i64)> = FastMap::default();
    for m in moves {
        let key = (m.line, m.location);
        let line = lines.entry(m.line).or_default();
        match m.kind {
            MovementKind::Allocate => {
                *alloc_up.entry(key).or_default() += m.quantity;
                line.0 += m.quantity;
            }
            MovementKind::Deallocate => {
                alloc_down.entry(key).or_default().0 += m.quantity;
                line.0 -= m.quantity;
            }
            MovementKind::Shipment => {
                let e = alloc_down.entry(key).or_default();
                e.0 += m.quantity;
                e.1 += m.quantity;
                line.0 -= m.quantity;
                line.1 += m.quantity;
            }
            other => return Err(StoreError::Corrupt(format!("{other} is not an order move"))),
        }
    }
    // Every multi-row write goes in key order: the b-tree pages are then
    // visited once each, in order, instead of at random (which, over a
    // large allocation run, spills SQLite's page cache mid-transaction).
    let mut alloc_up: Vec<_> = alloc_up.into_iter().collect();
    alloc_up.sort_unstable_by_key(|(k, _)| *k);
    let mut alloc_down: Vec<_> = alloc_down.into_iter().collect();
    alloc_down.sort_unstable_by_key(|(k, _)| *k);
    let mut lines: Vec<_> = lines.into_iter().collect();
    lines.sort_unstable_by_key(|(k, _)| *k);
    if !alloc_up.is_empty() {
        let rows = alloc_up.into_iter().map(|((line, location), q)| {
            vec![
                Val::T(line.to_string()),
                Val::T(location.to_string()),
                Val::I(q),
            ]
        });
        insert_many(
            tx,
            "order_allocations (line_id, location_id, quantity)",
            3,
            rows,
            "ON CONFLICT (line_id, location_id) DO UPDATE SET quantity = order_allocations.quantity + excluded.quantity",
        )
        .await?;
    }
    if !alloc_down.is_empty() {
        let rows = alloc_down
            .into_iter()
            .map(|((line, location), (q, shipped))| {
                vec![
                    Val::T(line.to_string()),
                    Val::T(location.to_string()),
                    Val::I(q),
                    Val::I(shipped),
                ]
            });
        update_many(
            tx,
            "order_allocations",
            "quantity = order_allocations.quantity - v.column3, shipped = order_allocations.shipped + v.column4",
            "order_allocations.line_id = v.column1 AND order_allocations.location_id = v.column2",
            4,
            rows,
        )
        .await?;
    }
    let rows = lines.into_iter().map(|(line, (allocated, shipped))| {
        vec![Val::T(line.to_string()), Val::I(allocated), Val::I(shipped)]
    });
    update_many(
        tx,
        "order_lines",
        "allocated = order_lines.allocated + v.column2, shipped = order_lines.shipped + v.column3",
        "order_lines.id = v.column1",
        3,
        rows,
    )
    .await?;
    Ok(())
}

/// Moves that give back every allocated unit of `orders` (or of `line`).
pub(crate) fn deallocations(orders: &[Order], line: Option<OrderLineId>) -> Vec<OrderMove> {
    let mut out = Vec::new();
    for o in orders {
        for l in &o.lines {
            if line.is_some_and(|id| id != l.id) {
                continue;
            }
            let Some(sku) = l.sku_id else { continue };
            for a in &l.allocations {
                if a.quantity > 0 {
                    out.push(OrderMove {
                        order: o.id,
                        line: l.id,
                        sku,
                        location: a.location_id,
                        quantity: a.quantity,
                        kind: MovementKind::Deallocate,
                        policy: StockPolicy::Unlimited,
                    });
                }
            }
        }
    }
    out
}

/// Gives back up to `quantity` allocated units of a line, the last
/// allocated locations first.
pub(crate) fn deallocate_some(
    order: &Order,
    line: OrderLineId,
    mut quantity: i64,
) -> Vec<OrderMove> {
    let mut out = Vec::new();
    let Some(l) = order.lines.iter().find(|l| l.id == line) else {
        return out;
    };
    let Some(sku) = l.sku_id else { return out };
    for a in l.allocations.iter().rev() {
        if quantity == 0 {
            break;
        }
        let q = a.quantity.min(quantity);
        if q > 0 {
            out.push(OrderMove {
                order: order.id,
                line: l.id,
                sku,
                location: a.location_id,
                quantity: q,
                kind: MovementKind::Deallocate,
                policy: StockPolicy::Unlimited,
            });
            quantity -= q;
        }
    }
    out
}

/// A bundle line of a reservation: the bundle, its location, and its
/// components as (SKU, units per bundle, committed units).
type HeldBundle = (SkuId, LocationId, Vec<(SkuId, i64, i64)>);

/// Makes the allocation of a committed reservation the order's own: each
/// reservation line's committed units go to the order's lines of the same
/// SKU, at the reservation's location; units no line needs are
/// deallocated. A reservation's bundle line (its component lines, made
/// together) goes to the order's lines of that bundle in whole bundles,
/// when the line is expanded with the recipe the reservation was made with
/// (stored, or else the current recipe; the first allocation stores it).
/// The unique index on `orders.reservation_id` lets only one order take a
/// reservation.
pub(crate) async fn take_over_reservation(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    order: OrderId,
    reservation: ReservationId,
    actor: &str,
) -> StoreResult<()> {
    let row = sqlx::query("SELECT state FROM reservations WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(reservation.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("reservation", reservation))?;
    let state = text(&row, "state")?;
    if state != "committed" {
        return Err(StoreError::refused(
            "reservation_not_committed",
            format!(
                "reservation {reservation} is {state}; an order takes over only a committed reservation"
            ),
        ));
    }
    let rows = sqlx::query(
        "SELECT sku_id, location_id, quantity, committed, bundle_sku_id, bundle_line, bundle_quantity \
         FROM reservation_lines WHERE reservation_id = $1 AND committed > 0 ORDER BY line_no",
    )
    .bind(reservation.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let loaded = load_orders(tx, tenant, &[order]).await?;
    let o = loaded
        .first()
        .ok_or_else(|| StoreError::not_found("order", order))?;
    let mut open: HashMap<OrderLineId, i64> =
        o.lines.iter().map(|l| (l.id, l.qty.open())).collect();
    let mut taken: HashMap<(OrderLineId, LocationId), i64> = HashMap::new();
    // (SKU, location, units, the bundle they were held for).
    let mut leftover: Vec<(SkuId, LocationId, i64, Option<SkuId>)> = Vec::new();
    let mut held: BTreeMap<i64, HeldBundle> = BTreeMap::new();
    for r in &rows {
        let sku: SkuId = parsed(r, "sku_id")?;
        let location: LocationId = parsed(r, "location_id")?;
        let mut units = int(r, "committed")?;
        if let Some(bundle) = opt_parsed::<SkuId>(r, "bundle_sku_id")? {
            let bundles = int(r, "bundle_quantity")?.max(1);
            let per = int(r, "quantity")? / bundles;
            // By the client's line: its component lines were made together.
            held.entry(int(r, "bundle_line")?)
                .or_insert((bundle, location, Vec::new()))
                .2
                .push((sku, per, units));
            continue;
        }
        for l in o.lines.iter().filter(|l| l.sku_id == Some(sku)) {
            let room = open.get_mut(&l.id).expect("every line has an entry");
            let q = units.min(*room);
            if q > 0 {
                *room -= q;
                units -= q;
                *taken.entry((l.id, location)).or_default() += q;
            }
        }
        if units > 0 {
            leftover.push((sku, location, units, None));
        }
    }
    let bundles = if held.is_empty() {
        LineBundles::new()
    } else {
        line_bundles(
            tx,
            tenant,
            o.lines.iter().filter_map(|l| l.sku_id.map(|s| (l.id, s))),
        )
        .await?
    };
    let mut expanded = Vec::new();
    for (bundle, location, parts) in held.into_values() {
        let recipe: Vec<(SkuId, i64)> = parts.iter().map(|&(c, per, _)| (c, per)).collect();
        let mut whole = parts
            .iter()
            .map(|&(_, per, committed)| committed / per.max(1))
            .min()
            .unwrap_or(0);
        let mut used = 0;
        for l in o.lines.iter().filter(|l| l.sku_id == Some(bundle)) {
            // Only a line expanded as the reservation was made takes it.
            if bundles.get(&l.id).is_none_or(|b| b.parts != recipe) {
                continue;
            }
            let room = open.get_mut(&l.id).expect("every line has an entry");
            let q = whole.min(*room);
            if q > 0 {
                *room -= q;
                whole -= q;
                used += q;
                *taken.entry((l.id, location)).or_default() += q;
                expanded.push(l.id);
            }
        }
        for (component, per, committed) in parts {
            let rest = committed - used * per;
            if rest > 0 {
                leftover.push((component, location, rest, Some(bundle)));
            }
        }
    }
    store_expansions(tx, tenant, &bundles, expanded).await?;
    // The units an order line takes over are already allocated: only the
    // order rows change, no movement.
    let mut line_totals: HashMap<OrderLineId, i64> = HashMap::new();
    let mut rows_up = Vec::new();
    for ((line, location), q) in &taken {
        *line_totals.entry(*line).or_default() += q;
        rows_up.push(vec![
            Val::T(line.to_string()),
            Val::T(location.to_string()),
            Val::I(*q),
        ]);
    }
    insert_many(
        tx,
        "order_allocations (line_id, location_id, quantity)",
        3,
        rows_up,
        "ON CONFLICT (line_id, location_id) DO UPDATE SET quantity = order_allocations.quantity + excluded.quantity",
    )
    .await?;
    update_many(
        tx,
        "order_lines",
        "allocated = order_lines.allocated + v.column2",
        "order_lines.id = v.column1",
        2,
        line_totals
            .into_iter()
            .map(|(l, q)| vec![Val::T(l.to_string()), Val::I(q)]),
    )
    .await?;
    if !leftover.is_empty() {
        // Units the order does not need go back to available.
        let keys: Vec<Key> = leftover.iter().map(|&(s, l, _, _)| (s, l)).collect();
        let before = ledger::lock_rows(tx, &keys).await?;
        let reference = format!("reservation {reservation}");
        let mut rows = Vec::new();
        let mut pend = Vec::new();
        for &(sku, location, q, bundle) in &leftover {
            let delta = MovementKind::Deallocate.delta(q);
            let b = before.get(&(sku, location)).copied().unwrap_or_default();
            movement::check(MovementKind::Deallocate, StockPolicy::Unlimited, &b, &delta)
                .map_err(|e| StoreError::Conflict(e.to_string()))?;
            rows.push(((sku, location), delta, false));
            pend.push(pending(
                tenant,
                MovementKind::Deallocate,
                (sku, location),
                q,
                &reference,
                actor,
                bundle,
            ));
        }
        ledger::apply_deltas(tx, &rows).await?;
        ledger::insert_movements(tx, &pend).await?;
    }
    Ok(())
}

/// The body of [`Store::ship_order_lines`] in the caller's transaction:
/// the movements, order rows and status, and the `order.shipped` event to
/// commit with them. A shipment's confirmation calls it beside its own
/// writes, so the shipment, the ledger and the order change together.
pub(crate) async fn ship_in(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    order: OrderId,
    items: &[(OrderLineId, LocationId, i64)],
    reference: &str,
    actor: &str,
    now: i64,
) -> StoreResult<(Order, crate::events::NewEvent)> {
    let o = load_locked(tx, tenant, &[order])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("order", order))?;
    ship_loaded(tx, tenant, o, items, reference, actor, now).await
}

/// [`ship_in`] for an order the caller has just loaded in `tx`.
pub(crate) async fn ship_loaded(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    o: Order,
    items: &[(OrderLineId, LocationId, i64)],
    reference: &str,
    actor: &str,
    now: i64,
) -> StoreResult<(Order, crate::events::NewEvent)> {
    let order = o.id;
    if o.status == jaego_core::order::OrderStatus::Merged {
        return Err(StoreError::refused(
            "order_merged",
            "the order was merged into another",
        ));
    }
    let mut moves = Vec::with_capacity(items.len());
    for &(line, location, quantity) in items {
        if quantity <= 0 {
            return Err(jaego_core::InvalidInput::one("quantity", "must be positive").into());
        }
        let l = o
            .lines
            .iter()
            .find(|l| l.id == line)
            .ok_or_else(|| StoreError::not_found("order line", line))?;
        let sku = l.sku_id.ok_or_else(|| {
            StoreError::refused("not_allocated", "the line is not matched to a SKU")
        })?;
        moves.push(OrderMove {
            order,
            line,
            sku,
            location,
            quantity,
            kind: MovementKind::Shipment,
            policy: StockPolicy::Unlimited,
        });
    }
    let reference = if reference.is_empty() {
        o.external_no.clone()
    } else {
        reference.to_string()
    };
    apply_moves(tx, tenant, &moves, Ledger::PerLine, &reference, actor).await?;
    refresh_status(tx, tenant, &[order], now).await?;
    let after = load_orders(tx, tenant, &[order])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("order", order))?;
    let shipped: Vec<_> = items
        .iter()
        .map(|(l, loc, q)| json!({"line_id": l.to_string(), "location_id": loc.to_string(), "quantity": q}))
        .collect();
    let event = order_event(
        tenant,
        kinds::ORDER_SHIPPED,
        &after,
        json!({"shipped": shipped, "reference": reference, "actor": actor}),
    );
    Ok((after, event))
}

impl Store {
    /// Ships allocated units of an order's lines: one `shipment` movement
    /// per (line, location) (`on_hand −q`, `allocated −q`), the allocation
    /// rows and line quantities updated, the order's status recomputed and
    /// an `order.shipped` event written, in one transaction. `items` are
    /// (line, location, units); each must be allocated there. This is what
    /// a shipment's scan confirmation calls.
    pub async fn ship_order_lines(
        &self,
        tenant: TenantId,
        order: OrderId,
        items: &[(OrderLineId, LocationId, i64)],
        reference: &str,
        actor: &str,
    ) -> StoreResult<Order> {
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let (after, event) = ship_in(&mut tx, tenant, order, items, reference, actor, now).await?;
        self.commit_with(tx, &[event]).await?;
        Ok(after)
    }

    /// Gives back the allocation of an order, or of one of its lines.
    pub async fn deallocate_order(
        &self,
        tenant: TenantId,
        order: OrderId,
        line: Option<OrderLineId>,
        actor: &str,
    ) -> StoreResult<Order> {
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = load_locked(&mut tx, tenant, &[order])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("order", order))?;
        if let Some(line) = line
            && !o.lines.iter().any(|l| l.id == line)
        {
            return Err(StoreError::not_found("order line", line));
        }
        let moves = deallocations(std::slice::from_ref(&o), line);
        if moves.is_empty() {
            return Err(StoreError::refused(
                "not_allocated",
                "nothing of this order (or line) is allocated",
            ));
        }
        apply_moves(
            &mut tx,
            tenant,
            &moves,
            Ledger::PerLine,
            &o.external_no,
            actor,
        )
        .await?;
        refresh_status(&mut tx, tenant, &[order], now).await?;
        let after = load_orders(&mut tx, tenant, &[order])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("order", order))?;
        let units: i64 = moves.iter().map(|m| m.quantity).sum();
        let event = order_event(
            tenant,
            kinds::ORDER_DEALLOCATED,
            &after,
            json!({"units": units, "line_id": line.map(|l| l.to_string()), "actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(after)
    }
}
