//! Customer service on orders (고객CS): flags and notes, updates of a
//! re-sent order, cancellations, exchanges, returns with restock per
//! reason, split, merge, the stock view of an order, and the owner's reset.
//! Every operation is one transaction; every stock change goes through
//! [`super::stock::apply_moves`] or the ledger shape directly.

use std::collections::HashMap;

use jaego_core::error::Validator;
use jaego_core::limits::{
    EXCHANGE_FEE_MAX, ORDER_LINES_MAX, ORDER_TEXT_LEN_MAX, ORDERS_PER_SELECTION_MAX, QUANTITY_MAX,
};
use jaego_core::movement;
use jaego_core::order::{OrderStatus, PostalRange, Restock, is_remote};
use jaego_core::{
    ExchangeId, InvalidInput, LocationId, MovementKind, OrderId, OrderLineId, ProductId, ReturnId,
    SkuId, StockPolicy, TenantId,
};
use serde_json::{Value, json};
use sqlx::{Any, Transaction};

use super::bundle_lines::line_bundles;
use super::stock::{Ledger, OrderMove, apply_moves, deallocate_some};
use super::{
    ExcludedLine, NewOrder, NewOrderLine, Order, TENANT_NO_INDEX, Val, insert_many, load_locked,
    load_orders, lock_orders, order_event, refresh_status, rows_in, update_many,
};
use crate::db::{Gate, order_gate};
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::ledger::{self, BALANCE_ROWS, BalanceRow, PendingMovement};
use crate::rows::{int, opt_int, opt_parsed, parsed, text};
use crate::{Store, now_us};

/// Changes to an order's flags; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OrderPatch {
    pub hold: Option<bool>,
    pub flag: Option<bool>,
    pub priority: Option<bool>,
    pub never_merge: Option<bool>,
    pub note: Option<String>,
    /// `Some(None)` clears the pickup store.
    pub pickup_location: Option<Option<LocationId>>,
}

/// A return of shipped units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReturn {
    pub id: ReturnId,
    pub order_id: OrderId,
    pub line_id: OrderLineId,
    pub quantity: i64,
    pub reason: String,
    /// `requested` or `collected`.
    pub state: String,
    pub exchange_id: Option<ExchangeId>,
    /// Where the goods went back on hand; `None`: not restocked (or not yet).
    pub restocked_at: Option<LocationId>,
    pub created_at: i64,
    pub collected_at: Option<i64>,
}

/// One line exchanged for a replacement.
#[derive(Debug, Clone)]
pub struct ExchangeLine {
    pub line: OrderLineId,
    pub quantity: i64,
    /// The replacement SKU.
    pub sku: SkuId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub id: ExchangeId,
    pub order_id: OrderId,
    /// `open` or `resolved`.
    pub state: String,
    pub after_shipment: bool,
    pub fee: i64,
    pub reason: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

/// What the reset removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetReport {
    pub orders: u64,
    pub runs: u64,
    pub deallocated_units: i64,
}

/// The words an owner types to confirm a reset.
pub const RESET_CONFIRMATION: &str = "DELETE ALL ORDERS";

/// Applies a re-sent order under the duplicate policy `update`: changed
/// quantities (giving back allocation a lower quantity no longer needs),
/// lines no longer sent cancelled, new lines added, the customer and
/// exclusions replaced.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, the collection transaction"
)]
pub(crate) async fn apply_update(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: OrderId,
    new: &NewOrder,
    lines: Vec<(NewOrderLine, Option<SkuId>, Option<LocationId>)>,
    excluded: Vec<ExcludedLine>,
    pickup: Option<LocationId>,
    ranges: &[PostalRange],
    actor: &str,
    now: i64,
) -> StoreResult<()> {
    // Locked by the collection, with every order it updates, before any
    // balance row.
    let order = load_orders(tx, tenant, &[id])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("order", id))?;
    if order.status == OrderStatus::Merged {
        return Err(StoreError::refused(
            "order_merged",
            format!(
                "order {} was merged into another; update that one",
                order.external_no
            ),
        ));
    }
    let key_of = |code: &str, option: &str, sku: Option<SkuId>| {
        if code.is_empty() {
            format!(
                "sku\u{1f}{}",
                sku.map(|s| s.to_string()).unwrap_or_default()
            )
        } else {
            format!("{code}\u{1f}{option}")
        }
    };
    let mut wanted: HashMap<String, (NewOrderLine, Option<SkuId>, Option<LocationId>)> =
        HashMap::new();
    let mut order_of_new = Vec::new();
    for (l, sku, p) in lines {
        let k = key_of(&l.item_code, &l.item_option, sku);
        order_of_new.push(k.clone());
        wanted.insert(k, (l, sku, p));
    }
    let mut moves = Vec::new();
    let mut line_updates: Vec<(OrderLineId, i64, i64, Option<SkuId>)> = Vec::new();
    for l in &order.lines {
        let k = key_of(&l.item_code, &l.item_option, l.sku_id);
        let q = l.qty;
        let target = match wanted.remove(&k) {
            Some((n, _, _)) => n.quantity,
            None => q.shipped,
        };
        if target < q.shipped {
            return Err(StoreError::refused(
                "order_already_shipped",
                format!(
                    "line {} has {} shipped; its quantity cannot drop to {target}",
                    l.line_no, q.shipped
                ),
            ));
        }
        let cancelled = q.cancelled.min(target - q.shipped);
        let room = target - q.shipped - cancelled;
        if q.allocated > room {
            moves.extend(deallocate_some(&order, l.id, q.allocated - room));
        }
        let keep_cancelled = if target == q.shipped && !order_of_new.contains(&k) {
            q.quantity - q.shipped
        } else {
            cancelled
        };
        // A line no longer sent keeps its quantity, cancelled.
        let (quantity, cancelled) = if order_of_new.contains(&k) {
            (target, cancelled)
        } else {
            (q.quantity, keep_cancelled)
        };
        line_updates.push((l.id, quantity, cancelled, None));
    }
    apply_moves(
        tx,
        tenant,
        &moves,
        Ledger::PerLine,
        &order.external_no,
        actor,
    )
    .await?;
    for (line, quantity, cancelled, _) in &line_updates {
        sqlx::query(
            "UPDATE order_lines SET quantity = $1, cancelled = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(*quantity)
        .bind(*cancelled)
        .bind(tenant.to_string())
        .bind(line.to_string())
        .execute(&mut **tx)
        .await?;
    }
    let mut next = order.lines.iter().map(|l| l.line_no).max().unwrap_or(0);
    let mut rows = Vec::new();
    for k in order_of_new {
        if let Some((l, sku, p)) = wanted.remove(&k) {
            next += 1;
            rows.push(vec![
                Val::T(OrderLineId::new().to_string()),
                Val::T(tenant.to_string()),
                Val::T(id.to_string()),
                Val::T(order.channel_id.to_string()),
                Val::I(next),
                Val::T(l.item_code),
                Val::T(l.item_option),
                Val::T(l.product_name),
                Val::T(l.option_text),
                Val::OT(sku.map(|s| s.to_string())),
                Val::I(l.quantity),
                Val::I(i64::from(l.gift)),
                Val::OT(p.map(|x| x.to_string())),
                Val::I(now),
            ]);
        }
    }
    if next as usize > ORDER_LINES_MAX * 2 {
        return Err(InvalidInput::one("lines", "the order has had too many lines").into());
    }
    insert_many(
        tx,
        "order_lines (id, tenant_id, order_id, channel_id, line_no, item_code, item_option, product_name, option_text, \
         sku_id, quantity, gift, pickup_location_id, created_at)",
        14,
        rows,
        "",
    )
    .await?;
    let excluded_json = Value::Array(
        excluded
            .iter()
            .map(|x| json!({"item_code": x.item_code, "product_name": x.product_name, "quantity": x.quantity, "pattern": x.pattern}))
            .collect(),
    );
    sqlx::query(
        "UPDATE orders SET customer_name = $1, customer_phone = $2, address = $3, postal_code = $4, remote_area = $5, \
         batch_key = $6, pickup_location_id = $7, excluded = $8, ordered_at = $9, updated_at = $10 WHERE tenant_id = $11 AND id = $12",
    )
    .bind(&new.customer.name)
    .bind(&new.customer.phone)
    .bind(&new.customer.address)
    .bind(&new.customer.postal_code)
    .bind(i64::from(is_remote(&new.customer.postal_code, ranges)))
    .bind(new.customer.batch_key())
    .bind(pickup.map(|l| l.to_string()))
    .bind(excluded_json.to_string())
    .bind(new.ordered_at)
    .bind(now)
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn check_quantity(v: &mut Validator, field: &str, q: i64) {
    if q <= 0 || q > QUANTITY_MAX {
        v.push(field, format!("must be between 1 and {QUANTITY_MAX}"));
    }
}

/// Loads one order in the transaction, refusing merged ones.
async fn live_order(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: OrderId,
) -> StoreResult<Order> {
    let o = load_locked(tx, tenant, &[id])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("order", id))?;
    if o.status == OrderStatus::Merged {
        return Err(StoreError::refused(
            "order_merged",
            format!("order {} was merged into another", o.external_no),
        ));
    }
    Ok(o)
}

async fn reload(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: OrderId,
) -> StoreResult<Order> {
    load_orders(tx, tenant, &[id])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("order", id))
}

/// Units of a line already asked back (requested, not collected) or returned.
async fn pending_returns(tx: &mut Transaction<'_, Any>, line: OrderLineId) -> StoreResult<i64> {
    let row = sqlx::query("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS q FROM order_returns WHERE line_id = $1 AND state = 'requested'")
        .bind(line.to_string())
        .fetch_one(&mut **tx)
        .await?;
    int(&row, "q")
}

#[expect(
    clippy::too_many_arguments,
    reason = "a private helper of three call sites"
)]
async fn insert_return(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    order: OrderId,
    line: OrderLineId,
    quantity: i64,
    reason: &str,
    exchange: Option<ExchangeId>,
    now: i64,
) -> StoreResult<OrderReturn> {
    let id = ReturnId::new();
    sqlx::query(
        "INSERT INTO order_returns (id, tenant_id, order_id, line_id, quantity, reason, state, exchange_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(order.to_string())
    .bind(line.to_string())
    .bind(quantity)
    .bind(reason)
    .bind(exchange.map(|e| e.to_string()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(OrderReturn {
        id,
        order_id: order,
        line_id: line,
        quantity,
        reason: reason.to_string(),
        state: "requested".into(),
        exchange_id: exchange,
        restocked_at: None,
        created_at: now,
        collected_at: None,
    })
}

fn return_event(
    tenant: TenantId,
    kind: &'static str,
    o: &Order,
    r: &OrderReturn,
    actor: &str,
) -> NewEvent {
    order_event(
        tenant,
        kind,
        o,
        json!({"return": {
            "id": r.id.to_string(), "line_id": r.line_id.to_string(), "quantity": r.quantity, "reason": r.reason,
            "state": r.state, "restocked_at": r.restocked_at.map(|l| l.to_string()),
        }, "actor": actor}),
    )
}

impl Store {
    /// Sets an order's flags, note, never-merge mark or pickup store.
    pub async fn update_order(
        &self,
        tenant: TenantId,
        id: OrderId,
        patch: &OrderPatch,
        actor: &str,
    ) -> StoreResult<Order> {
        let mut v = Validator::new();
        if let Some(note) = &patch.note {
            v.optional_text("note", note, ORDER_TEXT_LEN_MAX);
        }
        v.finish()?;
        if let Some(Some(l)) = patch.pickup_location {
            self.find_location(tenant, &l.to_string()).await?;
        }
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = live_order(&mut tx, tenant, id).await?;
        let pickup = match patch.pickup_location {
            Some(p) => p,
            None => o.pickup_location_id,
        };
        sqlx::query(
            "UPDATE orders SET hold = $1, flag = $2, priority = $3, never_merge = $4, note = $5, pickup_location_id = $6, updated_at = $7 \
             WHERE tenant_id = $8 AND id = $9",
        )
        .bind(i64::from(patch.hold.unwrap_or(o.hold)))
        .bind(i64::from(patch.flag.unwrap_or(o.flag)))
        .bind(i64::from(patch.priority.unwrap_or(o.priority)))
        .bind(i64::from(patch.never_merge.unwrap_or(o.never_merge)))
        .bind(patch.note.clone().unwrap_or(o.note.clone()))
        .bind(pickup.map(|l| l.to_string()))
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let after = reload(&mut tx, tenant, id).await?;
        let event = order_event(
            tenant,
            kinds::ORDER_UPDATED,
            &after,
            json!({"note": after.note, "never_merge": after.never_merge, "actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(after)
    }

    /// Cancels units of an order: `lines` names (line, units), `None` all
    /// of every line. Units not shipped are cancelled (their allocation
    /// given back); units already shipped become return requests with
    /// `reason`. Returns the order and the returns it opened.
    pub async fn cancel_order(
        &self,
        tenant: TenantId,
        id: OrderId,
        lines: Option<&[(OrderLineId, Option<i64>)]>,
        reason: &str,
        actor: &str,
    ) -> StoreResult<(Order, Vec<OrderReturn>)> {
        let mut v = Validator::new();
        v.optional_text("reason", reason, ORDER_TEXT_LEN_MAX);
        for (i, (_, q)) in lines.unwrap_or(&[]).iter().enumerate() {
            if let Some(q) = q {
                check_quantity(&mut v, &format!("lines[{i}].quantity"), *q);
            }
        }
        v.finish()?;
        let return_reason = self
            .return_reason(
                tenant,
                if reason.is_empty() {
                    "sellable"
                } else {
                    reason
                },
            )
            .await
            .map_or_else(|_| "sellable".to_string(), |r| r.0);
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = live_order(&mut tx, tenant, id).await?;
        let targets: Vec<(OrderLineId, Option<i64>)> = match lines {
            Some(l) => l.to_vec(),
            None => o.lines.iter().map(|l| (l.id, None)).collect(),
        };
        let mut moves = Vec::new();
        let mut cancels: Vec<(OrderLineId, i64)> = Vec::new();
        let mut returns = Vec::new();
        for (line_id, q) in targets {
            let l = o
                .lines
                .iter()
                .find(|l| l.id == line_id)
                .ok_or_else(|| StoreError::not_found("order line", line_id))?;
            let unshipped = l.qty.quantity - l.qty.shipped - l.qty.cancelled;
            let returnable =
                l.qty.shipped - l.qty.returned - pending_returns(&mut tx, l.id).await?;
            let want = q.unwrap_or(unshipped + if lines.is_some() { returnable } else { 0 });
            if want > unshipped + returnable {
                return Err(StoreError::refused(
                    "quantity_exceeds_order",
                    format!(
                        "line {} has {unshipped} units to cancel and {returnable} shipped units to return; {want} asked for",
                        l.line_no
                    ),
                ));
            }
            let cancel = want.min(unshipped);
            let from_allocated = (cancel - l.qty.open()).max(0);
            moves.extend(deallocate_some(&o, l.id, from_allocated));
            if cancel > 0 {
                cancels.push((l.id, cancel));
            }
            let back = want - cancel;
            if back > 0 {
                returns.push((l.id, back));
            }
        }
        if cancels.is_empty() && returns.is_empty() {
            return Err(StoreError::refused(
                "nothing_to_cancel",
                "the order has nothing left to cancel",
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
        update_many(
            &mut tx,
            "order_lines",
            "cancelled = order_lines.cancelled + v.column2",
            "order_lines.id = v.column1",
            2,
            cancels
                .iter()
                .map(|(l, q)| vec![Val::T(l.to_string()), Val::I(*q)])
                .collect::<Vec<_>>(),
        )
        .await?;
        let mut opened = Vec::new();
        for (line, q) in returns {
            opened.push(
                insert_return(&mut tx, tenant, id, line, q, &return_reason, None, now).await?,
            );
        }
        refresh_status(&mut tx, tenant, &[id], now).await?;
        let after = reload(&mut tx, tenant, id).await?;
        let units: i64 = cancels.iter().map(|c| c.1).sum();
        let mut events = vec![order_event(
            tenant,
            kinds::ORDER_CANCELLED,
            &after,
            json!({"units": units, "reason": reason, "actor": actor}),
        )];
        for r in &opened {
            events.push(return_event(
                tenant,
                kinds::ORDER_RETURN_REQUESTED,
                &after,
                r,
                actor,
            ));
        }
        self.commit_with(tx, &events).await?;
        Ok((after, opened))
    }

    /// The stored or built-in return reason `code`: (code, restock, location).
    async fn return_reason(
        &self,
        tenant: TenantId,
        code: &str,
    ) -> StoreResult<(String, Restock, Option<LocationId>)> {
        let row = sqlx::query(
            "SELECT restock, location_id FROM return_reasons WHERE tenant_id = $1 AND code = $2",
        )
        .bind(tenant.to_string())
        .bind(code)
        .fetch_optional(self.reader())
        .await?;
        match row {
            Some(r) => Ok((
                code.to_string(),
                text(&r, "restock")?.parse().map_err(StoreError::Corrupt)?,
                opt_parsed(&r, "location_id")?,
            )),
            None => match jaego_core::order::builtin_reason(code) {
                Some(restock) => Ok((code.to_string(), restock, None)),
                None => Err(InvalidInput::one(
                    "reason",
                    format!("no return reason {code:?}; see /return-reasons"),
                )
                .into()),
            },
        }
    }

    /// Asks for shipped units of a line back.
    pub async fn request_return(
        &self,
        tenant: TenantId,
        id: OrderId,
        line: OrderLineId,
        quantity: i64,
        reason: &str,
        actor: &str,
    ) -> StoreResult<OrderReturn> {
        let mut v = Validator::new();
        check_quantity(&mut v, "quantity", quantity);
        v.finish()?;
        let (reason, _, _) = self.return_reason(tenant, reason).await?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = live_order(&mut tx, tenant, id).await?;
        let l = o
            .lines
            .iter()
            .find(|l| l.id == line)
            .ok_or_else(|| StoreError::not_found("order line", line))?;
        let returnable = l.qty.shipped - l.qty.returned - pending_returns(&mut tx, line).await?;
        if quantity > returnable {
            return Err(StoreError::refused(
                "quantity_exceeds_order",
                format!(
                    "line {} has {returnable} shipped units that can be returned; {quantity} asked for",
                    l.line_no
                ),
            ));
        }
        let r = insert_return(&mut tx, tenant, id, line, quantity, &reason, None, now).await?;
        let event = return_event(tenant, kinds::ORDER_RETURN_REQUESTED, &o, &r, actor);
        self.commit_with(tx, &[event]).await?;
        Ok(r)
    }

    /// The goods of a return were collected: restock per its reason
    /// (`origin`: on hand again where they shipped from; `location`: on hand
    /// at the reason's location; `none`: not at all) with `return`
    /// movements, and count them returned on the line.
    pub async fn collect_return(
        &self,
        tenant: TenantId,
        id: ReturnId,
        actor: &str,
    ) -> StoreResult<OrderReturn> {
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let row = sqlx::query(
            "UPDATE order_returns SET state = 'collected', collected_at = $1 WHERE tenant_id = $2 AND id = $3 AND state = 'requested' \
             RETURNING order_id, line_id, quantity, reason, exchange_id, created_at",
        )
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            let exists =
                sqlx::query("SELECT id FROM order_returns WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
            return Err(match exists {
                Some(_) => StoreError::refused(
                    "return_already_collected",
                    "the return was already collected",
                ),
                None => StoreError::not_found("return", id),
            });
        };
        let order: OrderId = parsed(&row, "order_id")?;
        let line: OrderLineId = parsed(&row, "line_id")?;
        let quantity = int(&row, "quantity")?;
        let reason = text(&row, "reason")?;
        let (_, restock, reason_location) = self.return_reason(tenant, &reason).await?;
        lock_orders(&mut tx, tenant, &[order]).await?;
        let o = reload(&mut tx, tenant, order).await?;
        let l = o
            .lines
            .iter()
            .find(|l| l.id == line)
            .ok_or_else(|| StoreError::not_found("order line", line))?;
        let sku = l
            .sku_id
            .ok_or_else(|| StoreError::Corrupt("a shipped line without a SKU".into()))?;
        // Which shipment rows the units came back from, in order.
        let mut left = quantity;
        let mut from: Vec<(LocationId, i64)> = Vec::new();
        for a in &l.allocations {
            let q = (a.shipped - a.returned).min(left);
            if q > 0 {
                from.push((a.location_id, q));
                left -= q;
            }
        }
        if left > 0 {
            return Err(StoreError::Conflict(format!(
                "line {} has fewer shipped units than the return",
                l.line_no
            )));
        }
        update_many(
            &mut tx,
            "order_allocations",
            "returned = order_allocations.returned + v.column3",
            "order_allocations.line_id = v.column1 AND order_allocations.location_id = v.column2",
            3,
            from.iter()
                .map(|(loc, q)| {
                    vec![
                        Val::T(line.to_string()),
                        Val::T(loc.to_string()),
                        Val::I(*q),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .await?;
        sqlx::query(
            "UPDATE order_lines SET returned = returned + $1 WHERE tenant_id = $2 AND id = $3",
        )
        .bind(quantity)
        .bind(tenant.to_string())
        .bind(line.to_string())
        .execute(&mut *tx)
        .await?;
        let restock_to: Vec<(LocationId, i64)> = match restock {
            Restock::Origin => from,
            Restock::Location => vec![(
                reason_location.ok_or_else(|| {
                    StoreError::Corrupt("a location restock without a location".into())
                })?,
                quantity,
            )],
            Restock::None => Vec::new(),
        };
        if !restock_to.is_empty() {
            // A bundle line comes back as the components it shipped as
            // (its stored expansion), each movement naming the bundle.
            let bundles = line_bundles(&mut tx, tenant, [(line, sku)]).await?;
            let parts: Vec<(SkuId, i64, Option<SkuId>)> = match bundles.get(&line) {
                Some(b) => b
                    .parts
                    .iter()
                    .map(|&(c, per)| (c, per, Some(b.bundle)))
                    .collect(),
                None => vec![(sku, 1, None)],
            };
            let mut keys: Vec<_> = restock_to
                .iter()
                .flat_map(|(loc, _)| parts.iter().map(|&(c, _, _)| (c, *loc)))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            ledger::ensure_rows(&mut tx, tenant, &keys).await?;
            let mut before = ledger::lock_rows(&mut tx, &keys).await?;
            let reference = format!("return {id}");
            let mut rows = Vec::new();
            let mut pend = Vec::new();
            for &(loc, units) in &restock_to {
                for &(c, per, bundle) in &parts {
                    let q = units * per;
                    let delta = MovementKind::Return.delta(q);
                    let b = before.get(&(c, loc)).copied().unwrap_or_default();
                    let after =
                        movement::check(MovementKind::Return, StockPolicy::Unlimited, &b, &delta)
                            .map_err(|e| StoreError::Conflict(e.to_string()))?;
                    before.insert((c, loc), after);
                    rows.push(((c, loc), delta, false));
                    pend.push(PendingMovement {
                        tenant,
                        key: (c, loc),
                        kind: MovementKind::Return,
                        custom_type: None,
                        quantity: q,
                        delta,
                        reason: &reason,
                        reference: &reference,
                        actor,
                        idempotency_key: None,
                        reservation_id: None,
                        transfer_id: None,
                        bundle_sku_id: bundle,
                    });
                }
            }
            ledger::apply_deltas(&mut tx, &rows).await?;
            ledger::insert_movements(&mut tx, &pend).await?;
        }
        let restocked_at = restock_to.first().map(|(l, _)| *l);
        sqlx::query("UPDATE order_returns SET restocked_at_location = $1 WHERE id = $2")
            .bind(restocked_at.map(|l| l.to_string()))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let r = OrderReturn {
            id,
            order_id: order,
            line_id: line,
            quantity,
            reason,
            state: "collected".into(),
            exchange_id: opt_parsed(&row, "exchange_id")?,
            restocked_at,
            created_at: int(&row, "created_at")?,
            collected_at: Some(now),
        };
        let after = reload(&mut tx, tenant, order).await?;
        let event = return_event(tenant, kinds::ORDER_RETURNED, &after, &r, actor);
        self.commit_with(tx, &[event]).await?;
        Ok(r)
    }

    /// The returns of an order, oldest first.
    pub async fn order_returns(
        &self,
        tenant: TenantId,
        order: OrderId,
    ) -> StoreResult<Vec<OrderReturn>> {
        let rows = sqlx::query(
            "SELECT id, order_id, line_id, quantity, reason, state, exchange_id, restocked_at_location, created_at, collected_at \
             FROM order_returns WHERE tenant_id = $1 AND order_id = $2 ORDER BY id",
        )
        .bind(tenant.to_string())
        .bind(order.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrderReturn {
                    id: parsed(r, "id")?,
                    order_id: parsed(r, "order_id")?,
                    line_id: parsed(r, "line_id")?,
                    quantity: int(r, "quantity")?,
                    reason: text(r, "reason")?,
                    state: text(r, "state")?,
                    exchange_id: opt_parsed(r, "exchange_id")?,
                    restocked_at: opt_parsed(r, "restocked_at_location")?,
                    created_at: int(r, "created_at")?,
                    collected_at: opt_int(r, "collected_at")?,
                })
            })
            .collect()
    }

    /// Exchanges units of lines for replacement SKUs. Before shipment the
    /// old units are cancelled (their allocation given back); after, they
    /// become a return request (`return_reason`). The replacements are new
    /// lines, allocated by the next run like any other. The exchange fee is
    /// recorded, and the order is held until the exchange is resolved when
    /// the settings say so.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a field of the exchange request"
    )]
    pub async fn exchange_order(
        &self,
        tenant: TenantId,
        id: OrderId,
        lines: &[ExchangeLine],
        fee: Option<i64>,
        reason: &str,
        return_reason: &str,
        actor: &str,
    ) -> StoreResult<(Order, Exchange)> {
        let settings = self.order_settings(tenant).await?;
        let fee = fee.unwrap_or(settings.exchange_fee);
        let mut v = Validator::new();
        if lines.is_empty() {
            v.push("lines", "name at least one line to exchange");
        }
        for (i, l) in lines.iter().enumerate() {
            check_quantity(&mut v, &format!("lines[{i}].quantity"), l.quantity);
        }
        if !(0..=EXCHANGE_FEE_MAX).contains(&fee) {
            v.push("fee", format!("must be between 0 and {EXCHANGE_FEE_MAX}"));
        }
        v.optional_text("reason", reason, ORDER_TEXT_LEN_MAX);
        v.finish()?;
        let (return_reason, _, _) = self.return_reason(tenant, return_reason).await?;
        let now = now_us();
        let exchange_id = ExchangeId::new();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = live_order(&mut tx, tenant, id).await?;
        let mut moves = Vec::new();
        let mut cancels = Vec::new();
        let mut returns = Vec::new();
        let mut after_shipment = false;
        let mut next = o.lines.iter().map(|l| l.line_no).max().unwrap_or(0);
        let mut new_lines = Vec::new();
        for x in lines {
            let l = o
                .lines
                .iter()
                .find(|l| l.id == x.line)
                .ok_or_else(|| StoreError::not_found("order line", x.line))?;
            let unshipped = l.qty.quantity - l.qty.shipped - l.qty.cancelled;
            if x.quantity <= unshipped {
                let from_allocated = (x.quantity - l.qty.open()).max(0);
                moves.extend(deallocate_some(&o, l.id, from_allocated));
                cancels.push((l.id, x.quantity));
            } else {
                let returnable =
                    l.qty.shipped - l.qty.returned - pending_returns(&mut tx, l.id).await?;
                if x.quantity > returnable {
                    return Err(StoreError::refused(
                        "quantity_exceeds_order",
                        format!(
                            "line {} has {unshipped} unshipped and {returnable} returnable units; {} asked for",
                            l.line_no, x.quantity
                        ),
                    ));
                }
                after_shipment = true;
                returns.push((l.id, x.quantity));
            }
            next += 1;
            new_lines.push(vec![
                Val::T(OrderLineId::new().to_string()),
                Val::T(tenant.to_string()),
                Val::T(id.to_string()),
                Val::T(o.channel_id.to_string()),
                Val::I(next),
                Val::T(String::new()),
                Val::T(String::new()),
                Val::T(format!("exchange for line {}", l.line_no)),
                Val::T(String::new()),
                Val::OT(Some(x.sku.to_string())),
                Val::I(x.quantity),
                Val::I(0),
                Val::OT(l.pickup_location_id.map(|p| p.to_string())),
                Val::I(now),
            ]);
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
        update_many(
            &mut tx,
            "order_lines",
            "cancelled = order_lines.cancelled + v.column2",
            "order_lines.id = v.column1",
            2,
            cancels
                .iter()
                .map(|(l, q): &(OrderLineId, i64)| vec![Val::T(l.to_string()), Val::I(*q)])
                .collect::<Vec<_>>(),
        )
        .await?;
        insert_many(
            &mut tx,
            "order_lines (id, tenant_id, order_id, channel_id, line_no, item_code, item_option, product_name, option_text, \
             sku_id, quantity, gift, pickup_location_id, created_at)",
            14,
            new_lines,
            "",
        )
        .await?;
        sqlx::query(
            "INSERT INTO order_exchanges (id, tenant_id, order_id, state, after_shipment, fee, reason, created_at) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, $7)",
        )
        .bind(exchange_id.to_string())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(i64::from(after_shipment))
        .bind(fee)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut opened = Vec::new();
        for (line, q) in returns {
            opened.push(
                insert_return(
                    &mut tx,
                    tenant,
                    id,
                    line,
                    q,
                    &return_reason,
                    Some(exchange_id),
                    now,
                )
                .await?,
            );
        }
        sqlx::query("UPDATE orders SET exchange_fee = exchange_fee + $1, hold = CASE WHEN $2 = 1 THEN 1 ELSE hold END, updated_at = $3 WHERE tenant_id = $4 AND id = $5")
            .bind(fee)
            .bind(i64::from(settings.exchange_hold))
            .bind(now)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        refresh_status(&mut tx, tenant, &[id], now).await?;
        let after = reload(&mut tx, tenant, id).await?;
        let exchange = Exchange {
            id: exchange_id,
            order_id: id,
            state: "open".into(),
            after_shipment,
            fee,
            reason: reason.to_string(),
            created_at: now,
            resolved_at: None,
        };
        let mut events = vec![order_event(
            tenant,
            kinds::ORDER_EXCHANGED,
            &after,
            json!({"exchange_id": exchange_id.to_string(), "after_shipment": after_shipment, "fee": fee, "actor": actor}),
        )];
        for r in &opened {
            events.push(return_event(
                tenant,
                kinds::ORDER_RETURN_REQUESTED,
                &after,
                r,
                actor,
            ));
        }
        self.commit_with(tx, &events).await?;
        Ok((after, exchange))
    }

    /// Resolves an exchange; the order's hold is lifted when no other
    /// exchange of it is open and the settings hold orders for exchanges.
    pub async fn resolve_exchange(
        &self,
        tenant: TenantId,
        id: ExchangeId,
        actor: &str,
    ) -> StoreResult<(Order, Exchange)> {
        let settings = self.order_settings(tenant).await?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let row = sqlx::query(
            "UPDATE order_exchanges SET state = 'resolved', resolved_at = $1 WHERE tenant_id = $2 AND id = $3 AND state = 'open' \
             RETURNING order_id, after_shipment, fee, reason, created_at",
        )
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            let exists =
                sqlx::query("SELECT id FROM order_exchanges WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
            return Err(match exists {
                Some(_) => StoreError::refused(
                    "exchange_already_resolved",
                    "the exchange was already resolved",
                ),
                None => StoreError::not_found("exchange", id),
            });
        };
        let order: OrderId = parsed(&row, "order_id")?;
        // Under the order's lock: of two exchanges of one order resolved at
        // once, the second to take it sees the first resolved and lifts
        // the hold.
        lock_orders(&mut tx, tenant, &[order]).await?;
        let open = sqlx::query("SELECT id FROM order_exchanges WHERE tenant_id = $1 AND order_id = $2 AND state = 'open'")
            .bind(tenant.to_string())
            .bind(order.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if open.is_none() && settings.exchange_hold {
            sqlx::query(
                "UPDATE orders SET hold = 0, updated_at = $1 WHERE tenant_id = $2 AND id = $3",
            )
            .bind(now)
            .bind(tenant.to_string())
            .bind(order.to_string())
            .execute(&mut *tx)
            .await?;
        }
        let after = reload(&mut tx, tenant, order).await?;
        let exchange = Exchange {
            id,
            order_id: order,
            state: "resolved".into(),
            after_shipment: int(&row, "after_shipment")? != 0,
            fee: int(&row, "fee")?,
            reason: text(&row, "reason")?,
            created_at: int(&row, "created_at")?,
            resolved_at: Some(now),
        };
        let event = order_event(
            tenant,
            kinds::ORDER_EXCHANGE_RESOLVED,
            &after,
            json!({"exchange_id": id.to_string(), "actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok((after, exchange))
    }

    /// Moves chosen lines (whole, with their allocation) or unallocated
    /// units of lines into a new order of the same customer. An unallocated
    /// split is marked "never merge" on both halves (`never_merge`, or the
    /// setting when `None`). Returns (the original, the new order).
    pub async fn split_order(
        &self,
        tenant: TenantId,
        id: OrderId,
        lines: &[(OrderLineId, Option<i64>)],
        never_merge: Option<bool>,
        actor: &str,
    ) -> StoreResult<(Order, Order)> {
        let settings = self.order_settings(tenant).await?;
        let mut v = Validator::new();
        if lines.is_empty() {
            v.push("lines", "name at least one line to split off");
        }
        for (i, (l, q)) in lines.iter().enumerate() {
            if let Some(q) = q {
                check_quantity(&mut v, &format!("lines[{i}].quantity"), *q);
            }
            if lines[..i].iter().any(|(x, _)| x == l) {
                v.push(format!("lines[{i}].line"), "is named twice");
            }
        }
        v.finish()?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let o = live_order(&mut tx, tenant, id).await?;
        if matches!(o.status, OrderStatus::Cancelled) {
            return Err(StoreError::refused(
                "order_cancelled",
                "a cancelled order cannot be split",
            ));
        }
        let new_id = OrderId::new();
        let mut whole = Vec::new();
        let mut parts = Vec::new();
        let mut moved_allocated = 0;
        let mut moved_units = 0;
        for &(line, q) in lines {
            let l = o
                .lines
                .iter()
                .find(|l| l.id == line)
                .ok_or_else(|| StoreError::not_found("order line", line))?;
            if l.qty.shipped > 0 {
                return Err(StoreError::refused(
                    "order_already_shipped",
                    format!(
                        "line {} has shipped units and stays with its order",
                        l.line_no
                    ),
                ));
            }
            let live = l.qty.quantity - l.qty.cancelled;
            match q {
                None => {
                    whole.push(l.clone());
                    moved_allocated += l.qty.allocated;
                    moved_units += live;
                }
                Some(q) if q == live && l.qty.cancelled == 0 => {
                    whole.push(l.clone());
                    moved_allocated += l.qty.allocated;
                    moved_units += live;
                }
                Some(q) if q <= l.qty.open() => {
                    parts.push((l.clone(), q));
                    moved_units += q;
                }
                Some(q) => {
                    return Err(StoreError::refused(
                        "split_allocated_part",
                        format!(
                            "line {} has {} unallocated units; split a whole line, or deallocate first, to move {q}",
                            l.line_no,
                            l.qty.open()
                        ),
                    ));
                }
            }
        }
        let live_left: i64 = o
            .lines
            .iter()
            .map(|l| {
                let live = l.qty.quantity - l.qty.cancelled;
                if whole.iter().any(|w| w.id == l.id) {
                    0
                } else {
                    live - parts
                        .iter()
                        .filter(|(p, _)| p.id == l.id)
                        .map(|(_, q)| q)
                        .sum::<i64>()
                }
            })
            .sum();
        if live_left <= 0 || moved_units <= 0 {
            return Err(InvalidInput::one("lines", "a split leaves units in both orders").into());
        }
        let unallocated = moved_allocated == 0;
        let mark = never_merge.unwrap_or(settings.split_never_merge && unallocated);
        if mark && !unallocated {
            return Err(InvalidInput::one(
                "never_merge",
                "only an unallocated split may be marked never merge",
            )
            .into());
        }
        let copy = sqlx::query("SELECT CAST(MAX(copy_no) AS BIGINT) AS m FROM orders WHERE tenant_id = $1 AND channel_id = $2 AND external_no = $3")
            .bind(tenant.to_string())
            .bind(o.channel_id.to_string())
            .bind(&o.external_no)
            .fetch_one(&mut *tx)
            .await?;
        let copy_no = opt_int(&copy, "m")?.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO orders (id, tenant_id, channel_id, external_no, copy_no, status, hold, flag, priority, never_merge, note, \
               customer_name, customer_phone, address, postal_code, remote_area, batch_key, pickup_location_id, excluded, \
               split_from, ordered_at, collected_at, updated_at) \
             SELECT $1, tenant_id, channel_id, external_no, $2, 'open', hold, flag, priority, $3, note, customer_name, customer_phone, \
               address, postal_code, remote_area, batch_key, pickup_location_id, '[]', id, ordered_at, collected_at, $4 \
             FROM orders WHERE tenant_id = $5 AND id = $6",
        )
        .bind(new_id.to_string())
        .bind(copy_no)
        .bind(i64::from(mark))
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let mut n = 0;
        for l in &whole {
            n += 1;
            sqlx::query("UPDATE order_lines SET order_id = $1, line_no = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(new_id.to_string())
                .bind(n)
                .bind(tenant.to_string())
                .bind(l.id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        for (l, q) in &parts {
            n += 1;
            sqlx::query(
                "UPDATE order_lines SET quantity = quantity - $1 WHERE tenant_id = $2 AND id = $3",
            )
            .bind(*q)
            .bind(tenant.to_string())
            .bind(l.id.to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO order_lines (id, tenant_id, order_id, channel_id, line_no, item_code, item_option, product_name, option_text, \
                   sku_id, quantity, gift, pickup_location_id, created_at) \
                 SELECT $1, tenant_id, $2, channel_id, $3, item_code, item_option, product_name, option_text, sku_id, $4, gift, \
                   pickup_location_id, $5 FROM order_lines WHERE tenant_id = $6 AND id = $7",
            )
            .bind(OrderLineId::new().to_string())
            .bind(new_id.to_string())
            .bind(n)
            .bind(*q)
            .bind(now)
            .bind(tenant.to_string())
            .bind(l.id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        if mark {
            sqlx::query("UPDATE orders SET never_merge = 1 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        refresh_status(&mut tx, tenant, &[id, new_id], now).await?;
        let original = reload(&mut tx, tenant, id).await?;
        let split = reload(&mut tx, tenant, new_id).await?;
        let event = order_event(
            tenant,
            kinds::ORDER_SPLIT,
            &original,
            json!({"new_order_id": new_id.to_string(), "never_merge": mark, "actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok((original, split))
    }

    /// Merges `sources` into `target`: same channel, same customer and
    /// address, none marked never-merge, none shipped or cancelled. Their
    /// lines move (with their allocation) to the target; they become
    /// `merged`.
    pub async fn merge_orders(
        &self,
        tenant: TenantId,
        target: OrderId,
        sources: &[OrderId],
        actor: &str,
    ) -> StoreResult<Order> {
        let mut v = Validator::new();
        if sources.is_empty() {
            v.push("orders", "name at least one order to merge in");
        }
        if sources.len() > ORDERS_PER_SELECTION_MAX {
            v.push(
                "orders",
                format!("at most {ORDERS_PER_SELECTION_MAX} orders"),
            );
        }
        for (i, s) in sources.iter().enumerate() {
            if *s == target || sources[..i].contains(s) {
                v.push(format!("orders[{i}]"), "is named twice");
            }
        }
        v.finish()?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let mut ids = vec![target];
        ids.extend_from_slice(sources);
        let orders = load_locked(&mut tx, tenant, &ids).await?;
        if orders.len() != ids.len() {
            let missing = ids
                .iter()
                .find(|id| !orders.iter().any(|o| o.id == **id))
                .copied()
                .unwrap_or(target);
            return Err(StoreError::not_found("order", missing));
        }
        let t = &orders[0];
        for o in &orders {
            if matches!(
                o.status,
                OrderStatus::Merged
                    | OrderStatus::Cancelled
                    | OrderStatus::Shipped
                    | OrderStatus::PartiallyShipped
            ) {
                return Err(StoreError::refused(
                    "order_not_mergeable",
                    format!("order {} is {}", o.external_no, o.status),
                ));
            }
            if o.never_merge {
                return Err(StoreError::refused(
                    "order_never_merge",
                    format!("order {} is marked never merge", o.external_no),
                ));
            }
            if o.channel_id != t.channel_id || o.batch_key.is_empty() || o.batch_key != t.batch_key
            {
                return Err(StoreError::refused(
                    "order_not_mergeable",
                    format!(
                        "order {} is not of the same channel, customer and address",
                        o.external_no
                    ),
                ));
            }
        }
        let mut next = t.lines.iter().map(|l| l.line_no).max().unwrap_or(0);
        let mut line_rows = Vec::new();
        for o in &orders[1..] {
            for l in &o.lines {
                next += 1;
                line_rows.push(vec![
                    Val::T(l.id.to_string()),
                    Val::I(next),
                    Val::T(target.to_string()),
                ]);
            }
        }
        update_many(
            &mut tx,
            "order_lines",
            "order_id = v.column3, line_no = v.column2",
            "order_lines.id = v.column1",
            3,
            line_rows,
        )
        .await?;
        let any_priority = orders.iter().any(|o| o.priority);
        update_many(
            &mut tx,
            "orders",
            "status = 'merged', merged_into = v.column2, updated_at = v.column3",
            "orders.id = v.column1",
            3,
            sources
                .iter()
                .map(|s| {
                    vec![
                        Val::T(s.to_string()),
                        Val::T(target.to_string()),
                        Val::I(now),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .await?;
        sqlx::query("UPDATE orders SET priority = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(i64::from(any_priority))
            .bind(tenant.to_string())
            .bind(target.to_string())
            .execute(&mut *tx)
            .await?;
        refresh_status(&mut tx, tenant, &[target], now).await?;
        let after = reload(&mut tx, tenant, target).await?;
        let mut events = vec![order_event(
            tenant,
            kinds::ORDER_MERGED,
            &after,
            json!({"merged": sources.iter().map(ToString::to_string).collect::<Vec<_>>(), "actor": actor}),
        )];
        for o in &orders[1..] {
            let mut merged = o.clone();
            merged.status = OrderStatus::Merged;
            events.push(order_event(
                tenant,
                kinds::ORDER_UPDATED,
                &merged,
                json!({"merged_into": target.to_string(), "actor": actor}),
            ));
        }
        self.commit_with(tx, &events).await?;
        Ok(after)
    }

    /// Every location's balance of every SKU of an order (or of a product,
    /// or of a page of the stock grid), by SKU code then location code
    /// within each 1,000 SKUs.
    pub async fn stock_of(&self, tenant: TenantId, skus: &[SkuId]) -> StoreResult<Vec<BalanceRow>> {
        let mut conn = self.reader().acquire().await?;
        rows_in(&mut conn, tenant, skus, |t, list| {
            format!(
                "{BALANCE_ROWS} WHERE b.{TENANT_NO_INDEX} = {t} AND b.sku_id IN {list} ORDER BY s.code, l.code"
            )
        })
        .await?
        .iter()
        .map(ledger::balance_row)
        .collect()
    }

    /// The SKUs of a product (style).
    pub async fn product_sku_ids(
        &self,
        tenant: TenantId,
        product: ProductId,
    ) -> StoreResult<Vec<SkuId>> {
        self.get_product(tenant, product).await?;
        sqlx::query("SELECT id FROM skus WHERE tenant_id = $1 AND product_id = $2 ORDER BY code")
            .bind(tenant.to_string())
            .bind(product.to_string())
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| parsed(r, "id"))
            .collect()
    }

    /// Deletes every order of the tenant with its lines, allocations,
    /// returns, exchanges, shipments, pickups and allocation runs (the
    /// statistics), after giving back every allocated unit with
    /// `deallocate` movements so the ledger still explains every balance.
    /// Settings and links stay.
    pub async fn reset_orders(&self, tenant: TenantId, actor: &str) -> StoreResult<ResetReport> {
        let mut tx = self.begin_write().await?;
        // The tenant's order gate alone, before the allocations are read:
        // every order transaction in progress (a run's chunk, a change, a
        // collection) is waited for and its allocations given back; one
        // that starts later waits for the reset and finds its orders gone.
        // No order row needs a lock of its own: every writer of them holds
        // the gate.
        order_gate(&mut tx, &[tenant], Gate::Exclusive).await?;
        let rows = sqlx::query("SELECT l.order_id, a.line_id, a.location_id, l.sku_id, a.quantity FROM order_allocations a \
             JOIN order_lines l ON l.id = a.line_id WHERE l.tenant_id = $1 AND a.quantity > 0")
            .bind(tenant.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let moves: Vec<OrderMove> = rows
            .iter()
            .map(|r| {
                Ok(OrderMove {
                    order: parsed(r, "order_id")?,
                    line: parsed(r, "line_id")?,
                    sku: parsed(r, "sku_id")?,
                    location: parsed(r, "location_id")?,
                    quantity: int(r, "quantity")?,
                    kind: MovementKind::Deallocate,
                    policy: StockPolicy::Unlimited,
                })
            })
            .collect::<StoreResult<_>>()?;
        let units: i64 = moves.iter().map(|m| m.quantity).sum();
        apply_moves(
            &mut tx,
            tenant,
            &moves,
            Ledger::PerRow,
            "order reset",
            actor,
        )
        .await?;
        let mut deleted = HashMap::new();
        for (table, tenant_rows) in RESET_TABLES {
            let done = sqlx::query(&format!("DELETE FROM {table} WHERE {tenant_rows}"))
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
            deleted.insert(table, done.rows_affected());
        }
        let report = ResetReport {
            orders: deleted["orders"],
            runs: deleted["allocation_runs"],
            deallocated_units: units,
        };
        let event = NewEvent::new(
            tenant,
            kinds::ORDERS_RESET,
            json!({"orders": report.orders, "allocation_runs": report.runs, "deallocated_units": units, "actor": actor}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(report)
    }
}

/// What the order reset deletes, in order: each table with the condition
/// that picks the tenant's rows. Children come before their parents (the
/// foreign keys); allocation rows and pickup print entries are the
/// tenant's through their line and their print run. The test
/// `the_reset_deletes_every_table_that_names_its_tables_first` checks the
/// list against the schema's foreign keys.
pub(crate) const RESET_TABLES: [(&str, &str); 17] = [
    ("shipment_scans", "tenant_id = $1"),
    ("shipment_line_components", "tenant_id = $1"),
    ("shipment_lines", "tenant_id = $1"),
    ("shipments", "tenant_id = $1"),
    (
        "pickup_print_entries",
        "run_id IN (SELECT id FROM pickup_print_runs WHERE tenant_id = $1)",
    ),
    ("pickup_print_runs", "tenant_id = $1"),
    ("pickup_item_components", "tenant_id = $1"),
    ("pickup_items", "tenant_id = $1"),
    ("pickups", "tenant_id = $1"),
    ("order_line_components", "tenant_id = $1"),
    ("allocation_results", "tenant_id = $1"),
    ("allocation_runs", "tenant_id = $1"),
    ("order_returns", "tenant_id = $1"),
    ("order_exchanges", "tenant_id = $1"),
    (
        "order_allocations",
        "line_id IN (SELECT id FROM order_lines WHERE tenant_id = $1)",
    ),
    ("order_lines", "tenant_id = $1"),
    ("orders", "tenant_id = $1"),
];

impl Store {
    /// The exchanges of an order, oldest first.
    pub async fn order_exchanges(
        &self,
        tenant: TenantId,
        order: OrderId,
    ) -> StoreResult<Vec<Exchange>> {
        let rows = sqlx::query(
            "SELECT id, order_id, state, after_shipment, fee, reason, created_at, resolved_at FROM order_exchanges \
             WHERE tenant_id = $1 AND order_id = $2 ORDER BY id",
        )
        .bind(tenant.to_string())
        .bind(order.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Exchange {
                    id: parsed(r, "id")?,
                    order_id: parsed(r, "order_id")?,
                    state: text(r, "state")?,
                    after_shipment: int(r, "after_shipment")? != 0,
                    fee: int(r, "fee")?,
                    reason: text(r, "reason")?,
                    created_at: int(r, "created_at")?,
                    resolved_at: opt_int(r, "resolved_at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::RESET_TABLES;
    use crate::{Store, StoreOptions};

    /// Every table with a foreign key to a table the order reset deletes is
    /// deleted too, before it: a table added later that names an order, a
    /// line, a shipment or a pickup would otherwise make the reset fail on
    /// its foreign key. Read from the schema itself (the migrations are
    /// the same on both engines; SQLite lists its foreign keys in SQL).
    #[tokio::test]
    async fn the_reset_deletes_every_table_that_names_its_tables_first() {
        let db = crate::testing::fresh_sqlite();
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let references: Vec<(String, String)> = sqlx::query(
            "SELECT m.name AS child, f.\"table\" AS parent \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
        )
        .fetch_all(store.reader())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("child"), r.get("parent")))
        .collect();
        assert!(
            references
                .iter()
                .any(|(c, p)| c == "order_lines" && p == "orders"),
            "the schema's foreign keys are read: {references:?}"
        );
        let at = |table: &str| RESET_TABLES.iter().position(|(t, _)| *t == table);
        for (child, parent) in &references {
            let Some(parent_at) = at(parent) else {
                continue;
            };
            match at(child) {
                Some(child_at) => assert!(
                    child_at < parent_at,
                    "{child} names {parent}, so the reset must delete it first"
                ),
                None => panic!(
                    "{child} names {parent}, which the reset deletes, so it must delete {child} too"
                ),
            }
        }
        store.close().await;
    }

    /// On PostgreSQL a change to an order locks the order before it reads
    /// it: set while another transaction holds the order and changes its
    /// note, a flag waits for that transaction and keeps the note it wrote.
    /// (Reading first and waiting only at its own `UPDATE`, it would write
    /// back the note it had read.) On SQLite the write lock does the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_to_an_order_waits_for_one_in_progress_and_keeps_it_on_postgresql() {
        use super::OrderPatch;
        use crate::testing::{
            OneOrder, fresh_postgres_if_set, one_order_world, until_a_session_waits_for_a_lock,
        };

        if let Some(db) = fresh_postgres_if_set("order_row_lock").await {
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let OneOrder {
                tenant, order: id, ..
            } = one_order_world(&store, "lock", 0).await;
            let mut other = store.reader().begin().await.unwrap();
            sqlx::query("UPDATE orders SET note = 'from the other', updated_at = updated_at + 1 WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *other)
                .await
                .unwrap();
            let flagging = tokio::spawn({
                let store = store.clone();
                async move {
                    let hold = OrderPatch {
                        hold: Some(true),
                        ..Default::default()
                    };
                    store.update_order(tenant, id, &hold, "t").await
                }
            });
            // Until the flag waits on the order's row.
            until_a_session_waits_for_a_lock(&db.url).await;
            other.commit().await.unwrap();
            let after = flagging.await.unwrap().unwrap();
            assert!(after.hold);
            assert_eq!(after.note, "from the other");
            let stored = store.get_order(tenant, id).await.unwrap();
            assert_eq!(
                (stored.hold, stored.note.as_str()),
                (true, "from the other")
            );
            store.close().await;
        }
    }

    /// An order collected (with a reservation taken over) while the reset
    /// runs waits for it, and is kept whole after it: the reset holds the
    /// tenant's order gate. Without the gate, the collection committed
    /// between the reset's read of the allocations and its deletes, and
    /// the reset deleted the new order's allocation without giving it back
    /// (its units stayed `allocated` with no order holding them).
    #[tokio::test]
    async fn an_order_collected_during_a_reset_waits_for_it_on_postgresql() {
        use crate::orders::{NewOrder, NewOrderLine};
        use crate::reservations::{ReserveInput, Source};
        use crate::testing::{
            OneOrder, fresh_postgres_if_set, new_sku, one_order_world, receipt,
            until_a_session_waits_for_a_lock, until_sessions_wait_for_locks,
        };

        if let Some(db) = fresh_postgres_if_set("order_gate").await {
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let OneOrder {
                tenant,
                channel,
                sku: s1,
                location,
                ..
            } = one_order_world(&store, "gate", 10).await;
            let run = store
                .allocation_run(tenant, &Default::default(), "t")
                .await
                .unwrap();
            assert_eq!(run.allocated, 1);
            let s2 = store.create_sku(tenant, &new_sku("S2")).await.unwrap().id;
            store
                .record_movement(tenant, &receipt(s2, location, 5))
                .await
                .unwrap();
            let held = ReserveInput {
                source: Source::Location("L1".into()),
                lines: vec![("S2".into(), 1)],
                ttl_secs: 60,
                reference: String::new(),
                actor: "t".into(),
            };
            let request = store.prepare_reservation(tenant, &held).await.unwrap();
            let reservation = store.reserve(request).await.unwrap().id;
            store
                .commit_reservation(tenant, reservation, None, "t")
                .await
                .unwrap();

            // S1's balance held, so the reset stops after reading the
            // allocations, at the deallocation of order A's unit.
            let mut other = store.reader().begin().await.unwrap();
            sqlx::query("SELECT on_hand FROM balances WHERE sku_id = $1 FOR UPDATE")
                .bind(s1.to_string())
                .fetch_all(&mut *other)
                .await
                .unwrap();
            let reset = tokio::spawn({
                let store = store.clone();
                async move { store.reset_orders(tenant, "owner").await }
            });
            until_a_session_waits_for_a_lock(&db.url).await;
            let collecting = tokio::spawn({
                let store = store.clone();
                async move {
                    let b = NewOrder {
                        external_no: "B".into(),
                        reservation: Some(reservation),
                        lines: vec![NewOrderLine {
                            item_code: "S2".into(),
                            quantity: 1,
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    store.collect_orders(tenant, channel, &[b], "t").await
                }
            });
            // Until the collection waits too (or, were there no gate, is done).
            until_sessions_wait_for_locks(&db.url, 2, || collecting.is_finished()).await;
            other.commit().await.unwrap();
            let report = reset.await.unwrap().unwrap();
            assert_eq!((report.orders, report.deallocated_units), (1, 1));
            let b = collecting.await.unwrap().unwrap()[0].1.id;
            let b = store.get_order(tenant, b).await.unwrap();
            let held_by_b: i64 = b.lines[0].allocations.iter().map(|a| a.quantity).sum();
            assert_eq!(held_by_b, 1, "order B keeps its allocation");
            assert_eq!(
                store.balance(tenant, s2, location).await.unwrap().allocated,
                1
            );
            assert_eq!(
                store.balance(tenant, s1, location).await.unwrap().allocated,
                0
            );
            assert!(store.verify().await.unwrap().is_empty());
            store.close().await;
        }
    }
}
