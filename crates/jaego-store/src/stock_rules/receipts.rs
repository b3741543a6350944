//! Expected receipts with due dates, and availability estimates.
//!
//! An expected receipt is a record beside the ledger: creating one writes
//! an `expect` movement (`incoming +q`), receiving against it an
//! `expected_receipt` movement (`on_hand +q`, `incoming −q`), cancelling
//! its open rest an `expect_cancel` movement (`incoming −q`), each in the
//! same transaction as the record, through the ledger's write shape. The
//! record's `received` is raised by a conditional update, so two receipts
//! against the last units cannot both succeed.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use jaego_core::estimate::{self, Estimate, MerchantEstimate};
use jaego_core::schedule::zone;
use jaego_core::{
    Delta, ExpectedReceiptId, InvalidInput, LocationId, MovementKind, Qty, SkuId, TenantId,
};
use jiff::civil::Date;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds, time_text};
use crate::ledger::{
    PendingMovement, apply_deltas, ensure_rows, ensure_sku, insert_movements, location_policy,
    lock_rows,
};
use crate::orders::{TENANT_NO_INDEX, rows_in};
use crate::page::{Page, PageRequest};
use crate::rows::{filter_eq, filter_value, int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::{Store, now_us};

/// A receipt announced with a due date.
#[derive(Debug, Clone)]
pub struct ExpectedReceipt {
    pub id: ExpectedReceiptId,
    pub sku_id: SkuId,
    pub sku_code: String,
    pub location_id: LocationId,
    pub location_code: String,
    pub quantity: i64,
    pub received: i64,
    /// A calendar date in the location's time zone.
    pub due_on: Date,
    pub reference: String,
    /// `open`, `received` or `cancelled`.
    pub state: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    /// Days past the due date at the time of reading, for an open receipt
    /// (`D+N`); `None` when not late.
    pub overdue_days: Option<i64>,
}

impl ExpectedReceipt {
    /// Units still expected.
    pub fn open_quantity(&self) -> i64 {
        if self.state == "open" {
            self.quantity - self.received
        } else {
            0
        }
    }
}

/// A receipt to announce.
#[derive(Debug, Clone)]
pub struct NewExpectedReceipt {
    pub sku_id: SkuId,
    pub location_id: LocationId,
    pub quantity: i64,
    pub due_on: Date,
    pub reference: String,
    pub actor: String,
}

/// Filters of the expected-receipt list.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFilter {
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    /// `open`, `received` or `cancelled`.
    pub state: Option<String>,
    /// Only open receipts past their due date.
    pub overdue: bool,
}

/// A SKU's stock across locations and when it is expected back.
#[derive(Debug, Clone)]
pub struct Availability {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub on_hand: i64,
    pub available: i64,
    pub incoming: i64,
    /// The merchant's estimate, if set (shown only when out of stock).
    pub merchant: Option<MerchantEstimate>,
    /// What to tell customers now: `None` while in stock.
    pub estimate: Option<Estimate>,
    /// The earliest open expected receipt, if any.
    pub next_receipt: Option<ExpectedReceipt>,
}

const RECEIPT_COLUMNS: &str = "r.id, r.sku_id, s.code AS sku_code, r.location_id, l.code AS location_code, \
     l.time_zone, r.quantity, r.received, r.due_on, r.reference, r.state, r.created_at, r.closed_at";
const RECEIPT_FROM: &str =
    "expected_receipts r JOIN skus s ON s.id = r.sku_id JOIN locations l ON l.id = r.location_id";

fn receipt_from_row(row: &AnyRow, now: i64) -> StoreResult<ExpectedReceipt> {
    receipt_at(row, now).map(|(receipt, _)| receipt)
}

/// A receipt row at `now`, with the date it is then where its goods
/// arrive (the location's time zone).
fn receipt_at(row: &AnyRow, now: i64) -> StoreResult<(ExpectedReceipt, Date)> {
    let due_text = text(row, "due_on")?;
    let due_on: Date = due_text
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("due_on = {due_text:?}")))?;
    let state = text(row, "state")?;
    let tz = zone(&text(row, "time_zone")?).map_err(StoreError::Corrupt)?;
    let today = estimate::today(&tz, now);
    let overdue_days = if state == "open" {
        estimate::overdue_days(due_on, today)
    } else {
        None
    };
    let receipt = ExpectedReceipt {
        id: parsed(row, "id")?,
        sku_id: parsed(row, "sku_id")?,
        sku_code: text(row, "sku_code")?,
        location_id: parsed(row, "location_id")?,
        location_code: text(row, "location_code")?,
        quantity: int(row, "quantity")?,
        received: int(row, "received")?,
        due_on,
        reference: text(row, "reference")?,
        state,
        created_at: int(row, "created_at")?,
        closed_at: opt_int(row, "closed_at")?,
        overdue_days,
    };
    Ok((receipt, today))
}

fn receipt_event(
    tenant: TenantId,
    kind: &'static str,
    r: &ExpectedReceipt,
    quantity: i64,
) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": r.id.to_string(),
            "sku_id": r.sku_id.to_string(),
            "location_id": r.location_id.to_string(),
            "quantity": r.quantity,
            "received": r.received,
            "moved": quantity,
            "due_on": r.due_on.to_string(),
            "reference": r.reference,
            "state": r.state,
            "closed_at": r.closed_at.map(time_text),
        }),
    )
    .sku(r.sku_id)
    .location(r.location_id)
    .subject(r.id)
}

/// One movement the receipts make.
struct Move<'a> {
    sku: SkuId,
    location: LocationId,
    kind: MovementKind,
    quantity: i64,
    reason: &'a str,
    reference: &'a str,
    actor: &'a str,
}

/// Applies one movement in `tx`, through the ledger's write shape, judged
/// by `jaego_core` on the locked row.
async fn move_stock(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    m: &Move<'_>,
) -> StoreResult<()> {
    let policy = location_policy(tx, tenant, m.location).await?;
    let key = (m.sku, m.location);
    ensure_rows(tx, tenant, &[key]).await?;
    let before = lock_rows(tx, &[key])
        .await?
        .remove(&key)
        .unwrap_or_default();
    let delta: Delta = m.kind.delta(m.quantity);
    jaego_core::movement::check(m.kind, policy, &before, &delta)
        .map_err(|e| StoreError::Conflict(e.to_string()))?;
    apply_deltas(tx, &[(key, delta, false)]).await?;
    insert_movements(
        tx,
        &[PendingMovement {
            tenant,
            key,
            kind: m.kind,
            custom_type: None,
            quantity: m.quantity,
            delta,
            reason: m.reason,
            reference: m.reference,
            actor: m.actor,
            idempotency_key: None,
            reservation_id: None,
            transfer_id: None,
            bundle_sku_id: None,
        }],
    )
    .await?;
    Ok(())
}

/// The list's query. A SKU filter is a plain equality, so that
/// `expected_receipts_sku_id` (tenant, SKU, id) finds the SKU's receipts in
/// page order, instead of a read of the tenant's receipts in id order until
/// a page of the SKU's turned up.
fn list_sql(by_sku: bool) -> String {
    let sku = filter_eq("r.sku_id", "$3", by_sku);
    format!(
        "SELECT {RECEIPT_COLUMNS} FROM {RECEIPT_FROM} WHERE r.tenant_id = $1 AND r.id > $2 \
           AND {sku} AND ($4 = '' OR r.location_id = $4) AND ($5 = '' OR r.state = $5) \
         ORDER BY r.id LIMIT $6"
    )
}

impl Store {
    /// Announces a receipt: records it and raises `incoming` at the
    /// location (an `expect` movement), in one transaction.
    pub async fn create_expected_receipt(
        &self,
        tenant: TenantId,
        new: &NewExpectedReceipt,
    ) -> StoreResult<ExpectedReceipt> {
        Qty::parse("quantity", new.quantity)?;
        let id = ExpectedReceiptId::new();
        let mut tx = self.begin_write().await?;
        crate::ledger::ensure_stock_sku(&mut tx, tenant, new.sku_id).await?;
        sqlx::query(
            "INSERT INTO expected_receipts (id, tenant_id, sku_id, location_id, quantity, received, due_on, reference, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, 'open', $8)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(new.sku_id.to_string())
        .bind(new.location_id.to_string())
        .bind(new.quantity)
        .bind(new.due_on.to_string())
        .bind(&new.reference)
        .bind(now_us())
        .execute(&mut *tx)
        .await?;
        let reason = format!("expected receipt {id}");
        let m = Move {
            sku: new.sku_id,
            location: new.location_id,
            kind: MovementKind::Expect,
            quantity: new.quantity,
            reason: &reason,
            reference: &new.reference,
            actor: &new.actor,
        };
        move_stock(&mut tx, tenant, &m).await?;
        let receipt = read_receipt(&mut tx, tenant, id, now_us()).await?;
        self.commit_with(
            tx,
            &[receipt_event(
                tenant,
                kinds::EXPECTED_RECEIPT_CREATED,
                &receipt,
                new.quantity,
            )],
        )
        .await?;
        Ok(receipt)
    }

    pub async fn get_expected_receipt(
        &self,
        tenant: TenantId,
        id: ExpectedReceiptId,
        now: i64,
    ) -> StoreResult<ExpectedReceipt> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM {RECEIPT_FROM} WHERE r.tenant_id = $1 AND r.id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("expected receipt", id))?;
        receipt_from_row(&row, now)
    }

    /// Expected receipts, oldest first, filtered; `overdue` keeps only open
    /// ones past their due date at `now`.
    pub async fn list_expected_receipts(
        &self,
        tenant: TenantId,
        filter: &ReceiptFilter,
        page: &PageRequest,
        now: i64,
    ) -> StoreResult<Page<ExpectedReceipt>> {
        if let Some(state) = &filter.state
            && !["open", "received", "cancelled"].contains(&state.as_str())
        {
            return Err(InvalidInput::one("state", "must be open, received or cancelled").into());
        }
        let size = page.size();
        let mut items = Vec::new();
        let mut cursor = page.cursor().to_string();
        // Overdue is decided per location zone, so it filters after the
        // read; keep reading until the page is full or the list ends.
        let sql = list_sql(filter.sku_id.is_some());
        loop {
            let state = if filter.overdue {
                "open".to_string()
            } else {
                filter.state.clone().unwrap_or_default()
            };
            let rows = sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(&cursor)
                .bind(filter_value(filter.sku_id))
                .bind(filter_value(filter.location_id))
                .bind(state)
                .bind((size + 1) as i64)
                .fetch_all(self.reader())
                .await?;
            let ended = rows.len() <= size;
            for row in &rows {
                let receipt = receipt_from_row(row, now)?;
                cursor = receipt.id.to_string();
                if !filter.overdue || receipt.overdue_days.is_some() {
                    items.push(receipt);
                }
            }
            if ended || items.len() > size {
                break;
            }
        }
        Ok(Page::from_rows(items, size, |r| r.id.to_string()))
    }

    /// Receives `quantity` (default: everything still expected) against an
    /// open receipt: `on_hand` rises and `incoming` falls (an
    /// `expected_receipt` movement). Fully received, it closes.
    pub async fn receive_expected_receipt(
        &self,
        tenant: TenantId,
        id: ExpectedReceiptId,
        quantity: Option<i64>,
        actor: &str,
    ) -> StoreResult<ExpectedReceipt> {
        let now = now_us();
        let current = self.get_expected_receipt(tenant, id, now).await?;
        if current.state != "open" {
            return Err(StoreError::refused(
                "expected_receipt_closed",
                format!("the expected receipt is already {}", current.state),
            ));
        }
        let quantity = match quantity {
            Some(q) => Qty::parse("quantity", q)?.get(),
            None => current.open_quantity(),
        };
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE expected_receipts SET received = received + $1, \
               state = CASE WHEN received + $1 = quantity THEN 'received' ELSE state END, \
               closed_at = CASE WHEN received + $1 = quantity THEN $2 ELSE closed_at END \
             WHERE tenant_id = $3 AND id = $4 AND state = 'open' AND received + $1 <= quantity",
        )
        .bind(quantity)
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            drop(tx);
            let now_state = self.get_expected_receipt(tenant, id, now).await?;
            if now_state.state != "open" {
                return Err(StoreError::refused(
                    "expected_receipt_closed",
                    format!("the expected receipt is already {}", now_state.state),
                ));
            }
            return Err(StoreError::refused(
                "expected_receipt_exceeded",
                format!(
                    "only {} of {} units are still expected; post a receipt movement for the rest",
                    now_state.open_quantity(),
                    now_state.quantity
                ),
            ));
        }
        let reason = format!("expected receipt {id}");
        let m = Move {
            sku: current.sku_id,
            location: current.location_id,
            kind: MovementKind::ExpectedReceipt,
            quantity,
            reason: &reason,
            reference: &current.reference,
            actor,
        };
        move_stock(&mut tx, tenant, &m).await?;
        let receipt = read_receipt(&mut tx, tenant, id, now).await?;
        self.commit_with(
            tx,
            &[receipt_event(
                tenant,
                kinds::EXPECTED_RECEIPT_RECEIVED,
                &receipt,
                quantity,
            )],
        )
        .await?;
        Ok(receipt)
    }

    /// Cancels what is still expected of an open receipt: `incoming` falls
    /// by it (an `expect_cancel` movement) and the receipt closes.
    pub async fn cancel_expected_receipt(
        &self,
        tenant: TenantId,
        id: ExpectedReceiptId,
        actor: &str,
    ) -> StoreResult<ExpectedReceipt> {
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE expected_receipts SET state = 'cancelled', closed_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND state = 'open' \
             RETURNING sku_id, location_id, quantity, received, reference",
        )
        .bind(now)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = claimed else {
            drop(tx);
            let current = self.get_expected_receipt(tenant, id, now).await?;
            return Err(StoreError::refused(
                "expected_receipt_closed",
                format!("the expected receipt is already {}", current.state),
            ));
        };
        let rest = int(&row, "quantity")? - int(&row, "received")?;
        if rest > 0 {
            let reason = format!("expected receipt {id} cancelled");
            let reference = text(&row, "reference")?;
            let m = Move {
                sku: parsed(&row, "sku_id")?,
                location: parsed(&row, "location_id")?,
                kind: MovementKind::ExpectCancel,
                quantity: rest,
                reason: &reason,
                reference: &reference,
                actor,
            };
            move_stock(&mut tx, tenant, &m).await?;
        }
        let receipt = read_receipt(&mut tx, tenant, id, now).await?;
        self.commit_with(
            tx,
            &[receipt_event(
                tenant,
                kinds::EXPECTED_RECEIPT_CANCELLED,
                &receipt,
                rest,
            )],
        )
        .await?;
        Ok(receipt)
    }

    /// Sets (`Some`) or clears (`None`) the merchant's estimate for a SKU.
    pub async fn set_availability_estimate(
        &self,
        tenant: TenantId,
        sku: SkuId,
        merchant: Option<&MerchantEstimate>,
    ) -> StoreResult<()> {
        if let Some(m) = merchant {
            m.validate()?;
        }
        let mut tx = self.begin_write().await?;
        ensure_sku(&mut tx, tenant, sku).await?;
        match merchant {
            Some(m) => {
                sqlx::query(
                    "INSERT INTO availability_estimates (tenant_id, sku_id, text, available_on, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sku_id) DO UPDATE SET text = excluded.text, \
                       available_on = excluded.available_on, updated_at = excluded.updated_at",
                )
                .bind(tenant.to_string())
                .bind(sku.to_string())
                .bind(&m.text)
                .bind(m.date.map(|d| d.to_string()))
                .bind(now_us())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM availability_estimates WHERE tenant_id = $1 AND sku_id = $2",
                )
                .bind(tenant.to_string())
                .bind(sku.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        let event = NewEvent::new(
            tenant,
            kinds::AVAILABILITY_ESTIMATE_UPDATED,
            json!({
                "sku_id": sku.to_string(),
                "text": merchant.map(|m| m.text.clone()),
                "date": merchant.and_then(|m| m.date).map(|d| d.to_string()),
            }),
        )
        .sku(sku)
        .subject(sku);
        self.commit_with(tx, &[event]).await
    }

    /// A SKU's stock over every location and, when it is out of stock, when
    /// it is expected back, judged at `now`.
    pub async fn availability(
        &self,
        tenant: TenantId,
        sku: SkuId,
        now: i64,
    ) -> StoreResult<Availability> {
        self.availabilities(tenant, &[sku], now)
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("sku", sku))
    }

    /// [`Store::availability`] of each of `skus`, in SKU id order within
    /// each 1,000 of them; SKUs not in the tenant are left out. Two queries
    /// per 1,000 SKUs: their figures with the merchant's estimate, and
    /// their open receipts.
    pub async fn availabilities(
        &self,
        tenant: TenantId,
        skus: &[SkuId],
        now: i64,
    ) -> StoreResult<Vec<Availability>> {
        let mut conn = self.reader().acquire().await?;
        let figures = rows_in(&mut conn, tenant, skus, |t, list| {
            format!(
                "SELECT s.id, s.code, \
                   CAST(COALESCE(SUM(b.on_hand), 0) AS BIGINT) AS on_hand, \
                   CAST(COALESCE(SUM(b.on_hand - b.reserved - b.allocated - b.safety_stock), 0) AS BIGINT) AS available, \
                   CAST(COALESCE(SUM(b.incoming), 0) AS BIGINT) AS incoming, \
                   e.text, e.available_on \
                 FROM skus s LEFT JOIN balances b ON b.sku_id = s.id \
                   LEFT JOIN availability_estimates e ON e.sku_id = s.id \
                 WHERE s.{TENANT_NO_INDEX} = {t} AND s.id IN {list} \
                 GROUP BY s.id, s.code, e.text, e.available_on ORDER BY s.id"
            )
        })
        .await?;
        // Every open receipt of those SKUs, the earliest due first per SKU.
        let receipts = rows_in(&mut conn, tenant, skus, |t, list| {
            format!(
                "SELECT {RECEIPT_COLUMNS} FROM {RECEIPT_FROM} \
                 WHERE r.{TENANT_NO_INDEX} = {t} AND r.sku_id IN {list} AND r.state = 'open' \
                 ORDER BY r.sku_id, r.due_on, r.id"
            )
        })
        .await?;
        let mut next: HashMap<SkuId, (ExpectedReceipt, Date)> = HashMap::new();
        for row in &receipts {
            if let Entry::Vacant(first) = next.entry(parsed(row, "sku_id")?) {
                first.insert(receipt_at(row, now)?);
            }
        }
        figures
            .iter()
            .map(|row| {
                let sku_id: SkuId = parsed(row, "id")?;
                let merchant = match opt_text(row, "text")? {
                    Some(text) => Some(MerchantEstimate {
                        text,
                        date: opt_parsed(row, "available_on")?,
                    }),
                    None => None,
                };
                let available = int(row, "available")?;
                let next_receipt = next.remove(&sku_id);
                let due = next_receipt.as_ref().map(|(r, today)| (r.due_on, *today));
                Ok(Availability {
                    sku_id,
                    sku_code: text(row, "code")?,
                    on_hand: int(row, "on_hand")?,
                    available,
                    incoming: int(row, "incoming")?,
                    estimate: estimate::estimate(available, merchant.as_ref(), due),
                    merchant,
                    next_receipt: next_receipt.map(|(r, _)| r),
                })
            })
            .collect()
    }
}

async fn read_receipt(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: ExpectedReceiptId,
    now: i64,
) -> StoreResult<ExpectedReceipt> {
    let sql = format!(
        "SELECT {RECEIPT_COLUMNS} FROM {RECEIPT_FROM} WHERE r.tenant_id = $1 AND r.id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("expected receipt", id))?;
    receipt_from_row(&row, now)
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::list_sql;
    use crate::testing::fresh_sqlite;
    use crate::{Store, StoreOptions};

    /// SQLite's plan for the list filtered by a SKU, without statistics
    /// (jaego gathers none): the SKU's receipts through
    /// `expected_receipts_sku_id`, not the tenant's in id order.
    #[tokio::test]
    async fn the_list_by_sku_reads_that_skus_receipts() {
        let db = fresh_sqlite();
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", list_sql(true)))
            .bind("tenant")
            .bind("")
            .bind("sku")
            .bind("")
            .bind("")
            .bind(51_i64)
            .fetch_all(store.reader())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter().any(|step| step
                .contains("expected_receipts_sku_id (tenant_id=? AND sku_id=? AND id>?)")),
            "{plan:?}"
        );
        store.close().await;
    }
}
