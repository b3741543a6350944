//! The ledger: movements, the balances they project to, and transfers.
//!
//! Every write here follows one shape, inside one transaction:
//! 1. make sure the balance rows exist ([`ensure_rows`]);
//! 2. lock them and read their figures in the same statement ([`lock_rows`]);
//! 3. let `jaego_core` judge the change;
//! 4. apply every row's delta in one conditional statement ([`apply_deltas`])
//!    and append the movements ([`insert_movements`]).
//!
//! Step 4 re-checks the `strict` rule in SQL, so even a wrong judgement in
//! step 3 cannot oversell: the batch fails instead.

use std::collections::HashMap;

use jaego_core::movement::{self, Refusal};
use jaego_core::{
    Balance, Delta, InvalidInput, LocationId, MovementId, MovementKind, ReservationId, SkuId,
    StockPolicy, TenantId, TransferId,
};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::events::{self, NewEvent, kinds};
use crate::orders::{Val, update_many};
use crate::page::{Page, PageRequest};
use crate::rows::{
    Arg, Placeholders, filter_eq, filter_value, int, opt_parsed, opt_text, padded, parsed, text,
    tuples, tuples_after,
};
use crate::{Store, now_us};

/// A balance row's key.
pub type Key = (SkuId, LocationId);

/// One ledger entry.
#[derive(Debug, Clone)]
pub struct Movement {
    pub id: MovementId,
    pub sku_id: SkuId,
    pub location_id: LocationId,
    pub kind: MovementKind,
    pub custom_type: Option<String>,
    /// The quantity as posted: signed for adjustments and counts (the
    /// difference recorded), positive otherwise.
    pub quantity: i64,
    pub delta: Delta,
    pub reason: String,
    pub reference: String,
    pub actor: String,
    pub idempotency_key: Option<String>,
    pub reservation_id: Option<ReservationId>,
    pub transfer_id: Option<TransferId>,
    /// The bundle it was made for, for a component of a bundle line.
    pub bundle_sku_id: Option<SkuId>,
    pub created_at: i64,
}

/// A movement a client posts.
#[derive(Debug, Clone)]
pub struct NewMovement {
    pub sku_id: SkuId,
    pub location_id: LocationId,
    pub kind: MovementKind,
    /// For `custom_in`/`custom_out`: the merchant's movement type code.
    pub custom_type: Option<String>,
    /// Units for most kinds; a signed change for `adjustment`; the target
    /// figure for `count` and `safety_stock`.
    pub quantity: i64,
    pub reason: String,
    pub reference: String,
    pub actor: String,
    pub idempotency_key: Option<String>,
}

/// A balance with the codes a person reads.
#[derive(Debug, Clone)]
pub struct BalanceRow {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub location_id: LocationId,
    pub location_code: String,
    pub balance: Balance,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct BalanceFilter {
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
}

#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    pub kind: Option<MovementKind>,
    pub reservation_id: Option<ReservationId>,
    /// Inclusive lower bound of `created_at`, microseconds.
    pub from: Option<i64>,
    /// Exclusive upper bound of `created_at`, microseconds.
    pub to: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: TransferId,
    pub sku_id: SkuId,
    pub from_location_id: LocationId,
    pub to_location_id: LocationId,
    pub quantity: i64,
    pub state: String,
    pub reference: String,
    pub created_at: i64,
    pub received_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub sku_id: SkuId,
    pub from_location_id: LocationId,
    pub to_location_id: LocationId,
    pub quantity: i64,
    pub reference: String,
    pub actor: String,
}

/// A movement about to be appended (the store fills in id and time).
pub(crate) struct PendingMovement<'a> {
    pub tenant: TenantId,
    pub key: Key,
    pub kind: MovementKind,
    pub custom_type: Option<&'a str>,
    pub quantity: i64,
    pub delta: Delta,
    pub reason: &'a str,
    pub reference: &'a str,
    pub actor: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub reservation_id: Option<ReservationId>,
    pub transfer_id: Option<TransferId>,
    /// The bundle the movement was made for (a component of a bundle line).
    pub bundle_sku_id: Option<SkuId>,
}

/// The event of a transfer sent or received.
fn transfer_event(tenant: TenantId, kind: &'static str, t: &Transfer) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": t.id.to_string(),
            "sku_id": t.sku_id.to_string(),
            "from_location_id": t.from_location_id.to_string(),
            "to_location_id": t.to_location_id.to_string(),
            "quantity": t.quantity,
            "state": t.state,
            "reference": t.reference,
            "received_at": t.received_at.map(events::time_text),
        }),
    )
    .sku(t.sku_id)
    .subject(t.id)
}

/// A refused movement as a store error.
fn refused(key: Key) -> impl Fn(Refusal) -> StoreError {
    move |refusal| match refusal {
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
    }
}

impl Store {
    /// Appends one movement a client posted and updates its balance, in one
    /// transaction. Returns the movement with the difference it recorded.
    pub async fn record_movement(
        &self,
        tenant: TenantId,
        new: &NewMovement,
    ) -> StoreResult<Movement> {
        if !new.kind.is_direct() {
            return Err(InvalidInput::one(
                "kind",
                format!(
                    "{} movements are made by reservations and transfers",
                    new.kind
                ),
            )
            .into());
        }
        if let Some(code) = &new.custom_type {
            let ty = self.find_movement_type(tenant, code).await?;
            let kind = ty.direction.kind();
            if kind != new.kind {
                return Err(InvalidInput::one(
                    "kind",
                    format!("movement type {code:?} is {}", kind.as_str()),
                )
                .into());
            }
        } else if matches!(new.kind, MovementKind::CustomIn | MovementKind::CustomOut) {
            return Err(
                InvalidInput::one("type", "custom movements name their movement type").into(),
            );
        }
        let key = (new.sku_id, new.location_id);
        let mut tx = self.begin_write().await?;
        let policy = location_policy(&mut tx, tenant, new.location_id).await?;
        ensure_stock_sku(&mut tx, tenant, new.sku_id).await?;
        ensure_rows(&mut tx, tenant, &[key]).await?;
        let before = lock_rows(&mut tx, &[key])
            .await?
            .remove(&key)
            .unwrap_or_default();
        let quantity = match new.kind {
            MovementKind::Count | MovementKind::SafetyStock => {
                movement::set_to(new.kind, &before, new.quantity)
            }
            _ => new.quantity,
        };
        let delta = new.kind.delta(quantity);
        movement::check(new.kind, policy, &before, &delta).map_err(refused(key))?;
        apply_deltas(&mut tx, &[(key, delta, false)]).await?;
        let pending = PendingMovement {
            tenant,
            key,
            kind: new.kind,
            custom_type: new.custom_type.as_deref(),
            quantity,
            delta,
            reason: &new.reason,
            reference: &new.reference,
            actor: &new.actor,
            idempotency_key: new.idempotency_key.as_deref(),
            reservation_id: None,
            transfer_id: None,
            bundle_sku_id: None,
        };
        let ids = insert_movements(&mut tx, &[pending]).await?;
        // `apply_deltas` wrote the balance's `stock.changed` event.
        self.commit_with(tx, &[]).await?;
        self.get_movement(tenant, ids[0]).await
    }

    pub async fn get_movement(&self, tenant: TenantId, id: MovementId) -> StoreResult<Movement> {
        let sql =
            format!("SELECT {MOVEMENT_COLUMNS} FROM movements WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("movement", id))?;
        movement_from_row(&row)
    }

    /// The ledger, oldest first, filtered and paged.
    pub async fn list_movements(
        &self,
        tenant: TenantId,
        filter: &MovementFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Movement>> {
        let mut sql =
            format!("SELECT {MOVEMENT_COLUMNS} FROM movements WHERE tenant_id = $1 AND id > $2");
        let mut args = vec![
            Arg::Text(tenant.to_string()),
            Arg::Text(page.cursor().to_string()),
        ];
        let mut push = |sql: &mut String, cond: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&cond.replace('?', &format!("${}", args.len())));
        };
        if let Some(sku) = filter.sku_id {
            push(&mut sql, " AND sku_id = ?", Arg::Text(sku.to_string()));
        }
        if let Some(location) = filter.location_id {
            push(
                &mut sql,
                " AND location_id = ?",
                Arg::Text(location.to_string()),
            );
        }
        if let Some(kind) = filter.kind {
            push(
                &mut sql,
                " AND kind = ?",
                Arg::Text(kind.as_str().to_string()),
            );
        }
        if let Some(reservation) = filter.reservation_id {
            push(
                &mut sql,
                " AND reservation_id = ?",
                Arg::Text(reservation.to_string()),
            );
        }
        if let Some(from) = filter.from {
            push(&mut sql, " AND created_at >= ?", Arg::Int(from));
        }
        if let Some(to) = filter.to {
            push(&mut sql, " AND created_at < ?", Arg::Int(to));
        }
        push(
            &mut sql,
            " ORDER BY id LIMIT ?",
            Arg::Int((page.size() + 1) as i64),
        );
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = arg.bind(query);
        }
        let rows = query.fetch_all(self.reader()).await?;
        let items = rows
            .iter()
            .map(movement_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |m| m.id.to_string()))
    }

    /// Balances, filtered and paged by (sku, location).
    pub async fn list_balances(
        &self,
        tenant: TenantId,
        filter: &BalanceFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<BalanceRow>> {
        let (after_sku, after_location) = page.cursor().split_once('/').unwrap_or(("", ""));
        // A SKU filter is a plain equality, so the key's index finds the
        // SKU's rows. A location filter stays a filter on the key-order
        // read: with the `LIMIT`, it stops after a page's worth.
        let sku = filter_eq("b.sku_id", "$4", filter.sku_id.is_some());
        let sql = format!(
            "{BALANCE_ROWS} \
             WHERE b.tenant_id = $1 AND (b.sku_id > $2 OR (b.sku_id = $2 AND b.location_id > $3)) \
               AND {sku} AND ($5 = '' OR b.location_id = $5) \
             ORDER BY b.sku_id, b.location_id LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(after_sku)
            .bind(after_location)
            .bind(filter_value(filter.sku_id))
            .bind(filter_value(filter.location_id))
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .iter()
            .map(balance_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |b| {
            format!("{}/{}", b.sku_id, b.location_id)
        }))
    }

    /// One balance; all zeros if nothing ever moved there.
    pub async fn balance(
        &self,
        tenant: TenantId,
        sku: SkuId,
        location: LocationId,
    ) -> StoreResult<Balance> {
        let row = sqlx::query(
            "SELECT on_hand, reserved, allocated, incoming, in_transit, safety_stock FROM balances \
             WHERE tenant_id = $1 AND sku_id = $2 AND location_id = $3",
        )
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .bind(location.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map_or(Ok(Balance::default()), |r| balance_from_row(&r))
    }

    /// Sets the counted on-hand figures of many SKUs at one location in one
    /// transaction (a stock-count import): all or none.
    pub async fn record_counts(
        &self,
        tenant: TenantId,
        location: LocationId,
        counts: &[(SkuId, i64)],
        reason: &str,
        actor: &str,
    ) -> StoreResult<usize> {
        let mut tx = self.begin_write().await?;
        location_policy(&mut tx, tenant, location).await?;
        refuse_bundles(&mut tx, tenant, counts.iter().map(|&(s, _)| s)).await?;
        let keys: Vec<Key> = counts.iter().map(|&(sku, _)| (sku, location)).collect();
        ensure_rows(&mut tx, tenant, &keys).await?;
        let before = lock_rows(&mut tx, &keys).await?;
        let mut deltas = Vec::new();
        let mut pending = Vec::new();
        for &(sku, counted) in counts {
            let key = (sku, location);
            let current = before.get(&key).copied().unwrap_or_default();
            let diff = movement::set_to(MovementKind::Count, &current, counted);
            let delta = MovementKind::Count.delta(diff);
            deltas.push((key, delta, false));
            pending.push(PendingMovement {
                tenant,
                key,
                kind: MovementKind::Count,
                custom_type: None,
                quantity: diff,
                delta,
                reason,
                reference: "",
                actor,
                idempotency_key: None,
                reservation_id: None,
                transfer_id: None,
                bundle_sku_id: None,
            });
        }
        apply_deltas(&mut tx, &deltas).await?;
        insert_movements(&mut tx, &pending).await?;
        self.commit_with(tx, &[]).await?;
        Ok(counts.len())
    }

    /// Sends stock from one location to another: `on_hand` drops at the
    /// source and `in_transit` rises at the destination, in one transaction.
    pub async fn create_transfer(
        &self,
        tenant: TenantId,
        new: &NewTransfer,
    ) -> StoreResult<Transfer> {
        if new.from_location_id == new.to_location_id {
            return Err(InvalidInput::one("to_location", "must differ from from_location").into());
        }
        let id = TransferId::new();
        let now = now_us();
        let source = (new.sku_id, new.from_location_id);
        let destination = (new.sku_id, new.to_location_id);
        let mut tx = self.begin_write().await?;
        let policy = location_policy(&mut tx, tenant, new.from_location_id).await?;
        location_policy(&mut tx, tenant, new.to_location_id).await?;
        ensure_stock_sku(&mut tx, tenant, new.sku_id).await?;
        ensure_rows(&mut tx, tenant, &[source, destination]).await?;
        let before = lock_rows(&mut tx, &[source, destination]).await?;
        let out = MovementKind::TransferOut.delta(new.quantity);
        movement::check(
            MovementKind::TransferOut,
            policy,
            &before.get(&source).copied().unwrap_or_default(),
            &out,
        )
        .map_err(refused(source))?;
        let dispatched = MovementKind::TransferDispatched.delta(new.quantity);
        apply_deltas(
            &mut tx,
            &[(source, out, false), (destination, dispatched, false)],
        )
        .await?;
        sqlx::query(
            "INSERT INTO transfers (id, tenant_id, sku_id, from_location_id, to_location_id, quantity, state, reference, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'in_transit', $7, $8)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(new.sku_id.to_string())
        .bind(new.from_location_id.to_string())
        .bind(new.to_location_id.to_string())
        .bind(new.quantity)
        .bind(&new.reference)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let movement = |key, kind, delta| PendingMovement {
            tenant,
            key,
            kind,
            custom_type: None,
            quantity: new.quantity,
            delta,
            reason: "",
            reference: &new.reference,
            actor: &new.actor,
            idempotency_key: None,
            reservation_id: None,
            transfer_id: Some(id),
            bundle_sku_id: None,
        };
        insert_movements(
            &mut tx,
            &[
                movement(source, MovementKind::TransferOut, out),
                movement(destination, MovementKind::TransferDispatched, dispatched),
            ],
        )
        .await?;
        let transfer = Transfer {
            id,
            sku_id: new.sku_id,
            from_location_id: new.from_location_id,
            to_location_id: new.to_location_id,
            quantity: new.quantity,
            state: "in_transit".into(),
            reference: new.reference.clone(),
            created_at: now,
            received_at: None,
        };
        self.commit_with(
            tx,
            &[transfer_event(tenant, kinds::TRANSFER_CREATED, &transfer)],
        )
        .await?;
        Ok(transfer)
    }

    /// Receives a transfer at its destination: `in_transit` becomes
    /// `on_hand`. A transfer is received exactly once.
    pub async fn receive_transfer(
        &self,
        tenant: TenantId,
        id: TransferId,
        actor: &str,
    ) -> StoreResult<Transfer> {
        let transfer = self.get_transfer(tenant, id).await?;
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query("UPDATE transfers SET state = 'received', received_at = $1 WHERE tenant_id = $2 AND id = $3 AND state = 'in_transit'")
            .bind(now)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() == 0 {
            return Err(StoreError::TransferReceived);
        }
        let key = (transfer.sku_id, transfer.to_location_id);
        let delta = MovementKind::TransferIn.delta(transfer.quantity);
        lock_rows(&mut tx, &[key]).await?;
        apply_deltas(&mut tx, &[(key, delta, false)]).await?;
        let pending = PendingMovement {
            tenant,
            key,
            kind: MovementKind::TransferIn,
            custom_type: None,
            quantity: transfer.quantity,
            delta,
            reason: "",
            reference: &transfer.reference,
            actor,
            idempotency_key: None,
            reservation_id: None,
            transfer_id: Some(id),
            bundle_sku_id: None,
        };
        insert_movements(&mut tx, &[pending]).await?;
        let received = Transfer {
            state: "received".into(),
            received_at: Some(now),
            ..transfer
        };
        self.commit_with(
            tx,
            &[transfer_event(tenant, kinds::TRANSFER_RECEIVED, &received)],
        )
        .await?;
        Ok(received)
    }

    pub async fn get_transfer(&self, tenant: TenantId, id: TransferId) -> StoreResult<Transfer> {
        let row = sqlx::query(
            "SELECT id, sku_id, from_location_id, to_location_id, quantity, state, reference, created_at, received_at \
             FROM transfers WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("transfer", id))?;
        Ok(Transfer {
            id: parsed(&row, "id")?,
            sku_id: parsed(&row, "sku_id")?,
            from_location_id: parsed(&row, "from_location_id")?,
            to_location_id: parsed(&row, "to_location_id")?,
            quantity: int(&row, "quantity")?,
            state: text(&row, "state")?,
            reference: text(&row, "reference")?,
            created_at: int(&row, "created_at")?,
            received_at: crate::rows::opt_int(&row, "received_at")?,
        })
    }
}

const MOVEMENT_COLUMNS: &str = "id, sku_id, location_id, kind, custom_type, quantity, d_on_hand, d_reserved, d_allocated, \
     d_incoming, d_in_transit, d_safety_stock, reason, reference, actor, idempotency_key, reservation_id, transfer_id, bundle_sku_id, created_at";

fn movement_from_row(row: &AnyRow) -> StoreResult<Movement> {
    Ok(Movement {
        id: parsed(row, "id")?,
        sku_id: parsed(row, "sku_id")?,
        location_id: parsed(row, "location_id")?,
        kind: parsed(row, "kind")?,
        custom_type: opt_text(row, "custom_type")?,
        quantity: int(row, "quantity")?,
        delta: Delta {
            on_hand: int(row, "d_on_hand")?,
            reserved: int(row, "d_reserved")?,
            allocated: int(row, "d_allocated")?,
            incoming: int(row, "d_incoming")?,
            in_transit: int(row, "d_in_transit")?,
            safety_stock: int(row, "d_safety_stock")?,
        },
        reason: text(row, "reason")?,
        reference: text(row, "reference")?,
        actor: text(row, "actor")?,
        idempotency_key: opt_text(row, "idempotency_key")?,
        reservation_id: opt_parsed(row, "reservation_id")?,
        transfer_id: opt_parsed(row, "transfer_id")?,
        bundle_sku_id: opt_parsed(row, "bundle_sku_id")?,
        created_at: int(row, "created_at")?,
    })
}

/// What [`BalanceRow`]s are read from: a balance with its SKU's and
/// location's codes (`b`, `s`, `l`).
pub(crate) const BALANCE_ROWS: &str = "SELECT b.sku_id, s.code AS sku_code, b.location_id, l.code AS location_code, \
     b.on_hand, b.reserved, b.allocated, b.incoming, b.in_transit, b.safety_stock, b.updated_at \
     FROM balances b JOIN skus s ON s.id = b.sku_id JOIN locations l ON l.id = b.location_id";

pub(crate) fn balance_row(r: &AnyRow) -> StoreResult<BalanceRow> {
    Ok(BalanceRow {
        sku_id: parsed(r, "sku_id")?,
        sku_code: text(r, "sku_code")?,
        location_id: parsed(r, "location_id")?,
        location_code: text(r, "location_code")?,
        balance: balance_from_row(r)?,
        updated_at: int(r, "updated_at")?,
    })
}

pub(crate) fn balance_from_row(row: &AnyRow) -> StoreResult<Balance> {
    checked(figures(row)?)
}

/// `balance` if its figures hold the invariants. Asserted on the way in:
/// the schema's CHECKs make a failure impossible unless the database was
/// edited by hand.
pub(crate) fn checked(balance: Balance) -> StoreResult<Balance> {
    if !balance.holds_invariants() {
        return Err(StoreError::Corrupt(format!(
            "balance with a negative figure: {balance:?}"
        )));
    }
    Ok(balance)
}

/// The six figures of a row with the balance column names, unchecked
/// (`jaego verify` reads ledger sums with it, which may disagree).
pub(crate) fn figures(row: &AnyRow) -> StoreResult<Balance> {
    Ok(Balance {
        on_hand: int(row, "on_hand")?,
        reserved: int(row, "reserved")?,
        allocated: int(row, "allocated")?,
        incoming: int(row, "incoming")?,
        in_transit: int(row, "in_transit")?,
        safety_stock: int(row, "safety_stock")?,
    })
}

/// The policy of a location of the tenant; `NotFound` if it is not one.
pub(crate) async fn location_policy(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    location: LocationId,
) -> StoreResult<StockPolicy> {
    let row = sqlx::query("SELECT policy FROM locations WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(location.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("location", location))?;
    parsed(&row, "policy")
}

pub(crate) async fn ensure_sku(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    sku: SkuId,
) -> StoreResult<()> {
    sqlx::query("SELECT id FROM skus WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("sku", sku))?;
    Ok(())
}

/// Checks that `sku` is the tenant's and holds stock: a bundle holds none
/// (its components do), so no movement, transfer, count or receipt may
/// name it.
pub(crate) async fn ensure_stock_sku(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    sku: SkuId,
) -> StoreResult<()> {
    let row = sqlx::query("SELECT bundle FROM skus WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("sku", sku))?;
    if int(&row, "bundle")? != 0 {
        return Err(StoreError::refused(
            "bundle_holds_no_stock",
            format!("SKU {sku} is a bundle: it holds no stock; move its components instead"),
        ));
    }
    Ok(())
}

/// Refuses if any of `skus` is a bundle (one read for all of them).
async fn refuse_bundles(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    skus: impl Iterator<Item = SkuId>,
) -> StoreResult<()> {
    let ids: Vec<String> = skus.map(|s| s.to_string()).collect();
    for chunk in ids.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "SELECT code FROM skus WHERE tenant_id = {} AND bundle = 1 AND id IN (SELECT column1 FROM (VALUES {}) AS v)",
            crate::orders::first(Placeholders::of(tx)),
            tuples_after(Placeholders::of(tx), 1, rows, 1)
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>);
        }
        for id in chunk {
            query = query.bind(id.as_str());
        }
        if let Some(row) = query.fetch_optional(&mut **tx).await? {
            let code = text(&row, "code")?;
            return Err(StoreError::refused(
                "bundle_holds_no_stock",
                format!("SKU {code} is a bundle: it holds no stock; count its components instead"),
            ));
        }
    }
    Ok(())
}

/// Creates any missing balance rows for `keys` (all zeros). The caller has
/// checked that the SKUs and locations belong to `tenant`.
pub(crate) async fn ensure_rows(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    keys: &[Key],
) -> StoreResult<()> {
    let pairs: Vec<(TenantId, Key)> = keys.iter().map(|&k| (tenant, k)).collect();
    ensure_tenant_rows(tx, &pairs).await
}

/// [`ensure_rows`] for a batch that may span tenants.
pub(crate) async fn ensure_tenant_rows(
    tx: &mut Transaction<'_, Any>,
    keys: &[(TenantId, Key)],
) -> StoreResult<()> {
    let now = now_us();
    for chunk in keys.chunks(2_048) {
        let rows = padded(chunk.len());
        let sql = format!(
            "INSERT INTO balances (tenant_id, sku_id, location_id, updated_at) \
             SELECT column1, column2, column3, column4 FROM (VALUES {}) AS v WHERE column1 IS NOT NULL \
             ON CONFLICT DO NOTHING",
            tuples(Placeholders::of(tx), rows, 4)
        );
        let mut query = sqlx::query(&sql);
        for (tenant, (sku, location)) in chunk {
            query = query
                .bind(tenant.to_string())
                .bind(sku.to_string())
                .bind(location.to_string())
                .bind(now);
        }
        for _ in chunk.len()..rows {
            query = query
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<i64>);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Locks the rows of `keys` until the transaction ends and returns their
/// figures, in one statement. On PostgreSQL `SELECT … ORDER BY … FOR
/// UPDATE`: every transaction locks its rows in key order, so two
/// transactions that need some of the same rows cannot deadlock over them.
/// On SQLite a plain `SELECT`: the transaction holds the database's one
/// write lock from its start ([`crate::db::begin_write`]), so no other
/// writer can change the rows before commit. (In a deferred transaction a
/// write after this read fails with `SQLITE_BUSY_SNAPSHOT` if another
/// process wrote in between: an error, never a stale grant.)
pub(crate) async fn lock_rows(
    tx: &mut Transaction<'_, Any>,
    keys: &[Key],
) -> StoreResult<HashMap<Key, Balance>> {
    let mut out = HashMap::with_capacity(keys.len());
    // Chunks in key order too, so the order holds across statements.
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(2_048) {
        let rows = padded(chunk.len());
        let style = Placeholders::of(tx);
        let values = tuples(style, rows, 2);
        // Each form is the one its planner serves by primary-key lookups:
        // SQLite plans a row-value `IN` list as a scan of the whole table,
        // and PostgreSQL, on a table without statistics yet, plans a join
        // with `(VALUES …)` as one.
        let sql = match style {
            Placeholders::Anonymous => format!(
                "SELECT b.sku_id, b.location_id, b.on_hand, b.reserved, b.allocated, b.incoming, b.in_transit, b.safety_stock \
                 FROM (VALUES {values}) AS v JOIN balances b ON b.sku_id = v.column1 AND b.location_id = v.column2"
            ),
            Placeholders::Numbered => format!(
                "SELECT sku_id, location_id, on_hand, reserved, allocated, incoming, in_transit, safety_stock \
                 FROM balances WHERE (sku_id, location_id) IN (VALUES {values}) \
                 ORDER BY sku_id, location_id FOR UPDATE"
            ),
        };
        let mut query = sqlx::query(&sql);
        for (sku, location) in chunk {
            query = query.bind(sku.to_string()).bind(location.to_string());
        }
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>).bind(None::<String>);
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.insert(
                (parsed(&row, "sku_id")?, parsed(&row, "location_id")?),
                balance_from_row(&row)?,
            );
        }
    }
    Ok(out)
}

/// [`ensure_tenant_rows`] then [`lock_rows`], in one statement when every
/// row exists already (the usual case): locks what exists, then creates and
/// locks only the missing rows.
pub(crate) async fn lock_or_create_rows(
    tx: &mut Transaction<'_, Any>,
    keys: &[(TenantId, Key)],
) -> StoreResult<HashMap<Key, Balance>> {
    let all: Vec<Key> = keys.iter().map(|&(_, k)| k).collect();
    let mut rows = lock_rows(tx, &all).await?;
    let mut missing: Vec<(TenantId, Key)> = keys
        .iter()
        .filter(|(_, k)| !rows.contains_key(k))
        .copied()
        .collect();
    // Created in key order, like the locks.
    missing.sort_unstable_by_key(|&(_, key)| key);
    if !missing.is_empty() {
        ensure_tenant_rows(tx, &missing).await?;
        let keys: Vec<Key> = missing.iter().map(|&(_, k)| k).collect();
        rows.extend(lock_rows(tx, &keys).await?);
    }
    Ok(rows)
}

/// What [`apply_deltas`] and [`apply_judged_deltas`] do to a balance row,
/// given a row `v` of (SKU, location, the six deltas, strict, time): add
/// the deltas, unless the row is strict and its available would fall below
/// zero, in which case the row is left as it was.
const DELTA_SET: &str = "on_hand = on_hand + v.column3, reserved = reserved + v.column4, \
     allocated = allocated + v.column5, incoming = incoming + v.column6, \
     in_transit = in_transit + v.column7, safety_stock = safety_stock + v.column8, \
     updated_at = v.column10";
const DELTA_WHERE: &str = "balances.sku_id = v.column1 AND balances.location_id = v.column2 \
     AND (v.column9 = 0 OR (balances.on_hand + v.column3) - (balances.reserved + v.column4) \
          - (balances.allocated + v.column5) - (balances.safety_stock + v.column8) >= 0)";

/// Adds each row's delta in one statement and writes each changed row's
/// `stock.changed` event with its figures after the change, in the same
/// transaction: no balance changes without its event. Rows marked `strict`
/// are updated only if their available stays at or above zero; if any row
/// is not updated, the whole transaction is refused with a conflict, so a
/// wrong judgement upstream cannot oversell.
pub(crate) async fn apply_deltas(
    tx: &mut Transaction<'_, Any>,
    rows: &[(Key, Delta, bool)],
) -> StoreResult<()> {
    let mut changed = Vec::with_capacity(rows.len());
    apply_deltas_into(tx, rows, &mut changed).await?;
    events::append(tx, &changed).await
}

/// [`apply_deltas`], leaving the `stock.changed` events in `changed` for the
/// caller to append with its own in the same transaction (one sequence
/// update for all of them). The caller must append them.
pub(crate) async fn apply_deltas_into(
    tx: &mut Transaction<'_, Any>,
    rows: &[(Key, Delta, bool)],
    changed: &mut Vec<NewEvent>,
) -> StoreResult<()> {
    let now = now_us();
    for chunk in rows.chunks(1_024) {
        let padded_rows = padded(chunk.len());
        let sql = format!(
            "UPDATE balances SET {DELTA_SET} FROM (VALUES {}) AS v WHERE {DELTA_WHERE} \
             RETURNING tenant_id, sku_id, location_id, on_hand, reserved, allocated, incoming, in_transit, safety_stock",
            tuples(Placeholders::of(tx), padded_rows, 10)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..padded_rows {
            query = query.bind(None::<String>).bind(None::<String>);
            for _ in 0..8 {
                query = query.bind(None::<i64>);
            }
        }
        for ((sku, location), d, strict) in chunk {
            query = query
                .bind(sku.to_string())
                .bind(location.to_string())
                .bind(d.on_hand)
                .bind(d.reserved)
                .bind(d.allocated)
                .bind(d.incoming)
                .bind(d.in_transit)
                .bind(d.safety_stock)
                .bind(i64::from(*strict))
                .bind(now);
        }
        let updated = query.fetch_all(&mut **tx).await?;
        if updated.len() != chunk.len() {
            return Err(not_all_changed(chunk.len(), updated.len() as u64));
        }
        for row in &updated {
            changed.push(events::stock_changed(
                parsed(row, "tenant_id")?,
                parsed(row, "sku_id")?,
                parsed(row, "location_id")?,
                &balance_from_row(row)?,
            ));
        }
    }
    Ok(())
}

/// [`apply_deltas`] for a caller that read every row under the write lock
/// and judged the deltas against those figures: `after` holds each row's
/// figures with its delta added (what `RETURNING` would answer), so the
/// update answers nothing. The rows are bound as JSON ([`update_many`]);
/// if fewer rows change than were given (a strict row's re-check failed in
/// SQL), the transaction is refused with a conflict, as in
/// [`apply_deltas`]. An allocation run's chunk changes 50,000 rows, and
/// reading them back through the driver cost more than the update itself.
pub(crate) async fn apply_judged_deltas(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    rows: &[(Key, Delta, bool)],
    after: &HashMap<Key, Balance>,
) -> StoreResult<()> {
    let mut changed = Vec::with_capacity(rows.len());
    for ((sku, location), _, _) in rows {
        let figures = after.get(&(*sku, *location)).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "no locked figures for SKU {sku} at location {location}"
            ))
        })?;
        changed.push(events::stock_changed(tenant, *sku, *location, figures));
    }
    let now = now_us();
    let updated = update_many(
        tx,
        "balances",
        DELTA_SET,
        DELTA_WHERE,
        10,
        // Copied rows: a closure over references here makes the callers'
        // futures fail the `Send` check (a known limit of the compiler's
        // reasoning about higher-ranked lifetimes).
        rows.iter().copied().map(|((sku, location), d, strict)| {
            vec![
                Val::T(sku.to_string()),
                Val::T(location.to_string()),
                Val::I(d.on_hand),
                Val::I(d.reserved),
                Val::I(d.allocated),
                Val::I(d.incoming),
                Val::I(d.in_transit),
                Val::I(d.safety_stock),
                Val::I(i64::from(strict)),
                Val::I(now),
            ]
        }),
    )
    .await?;
    if updated != rows.len() as u64 {
        return Err(not_all_changed(rows.len(), updated));
    }
    events::append(tx, &changed).await
}

/// The refusal of a delta update that changed `changed` of `given` rows: a
/// `strict` row's re-check failed in SQL, so a judgement upstream was wrong
/// and the transaction must not commit.
fn not_all_changed(given: usize, changed: u64) -> StoreError {
    StoreError::Conflict(format!(
        "{} of {given} balance rows changed under the lock",
        (given as u64).saturating_sub(changed)
    ))
}

/// Appends movements with multi-row inserts; returns their ids in order.
pub(crate) async fn insert_movements(
    tx: &mut Transaction<'_, Any>,
    movements: &[PendingMovement<'_>],
) -> StoreResult<Vec<MovementId>> {
    const WIDTH: usize = 21;
    let now = now_us();
    let mut ids = Vec::with_capacity(movements.len());
    for chunk in movements.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "INSERT INTO movements (id, tenant_id, sku_id, location_id, kind, custom_type, quantity, d_on_hand, d_reserved, \
             d_allocated, d_incoming, d_in_transit, d_safety_stock, reason, reference, actor, idempotency_key, reservation_id, \
             transfer_id, created_at, bundle_sku_id) \
             SELECT {} FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
            (1..=WIDTH)
                .map(|c| format!("column{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            tuples(Placeholders::of(tx), rows, WIDTH)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            // Column types match the real rows' (PostgreSQL types VALUES
            // columns from all rows): 6 text, 7 integers, 6 text, 1 integer, 1 text.
            for _ in 0..6 {
                query = query.bind(None::<String>);
            }
            for _ in 0..7 {
                query = query.bind(None::<i64>);
            }
            for _ in 0..6 {
                query = query.bind(None::<String>);
            }
            query = query.bind(None::<i64>).bind(None::<String>);
        }
        for m in chunk {
            let id = MovementId::new();
            ids.push(id);
            query = query
                .bind(id.to_string())
                .bind(m.tenant.to_string())
                .bind(m.key.0.to_string())
                .bind(m.key.1.to_string())
                .bind(m.kind.as_str())
                .bind(m.custom_type.map(str::to_string))
                .bind(m.quantity)
                .bind(m.delta.on_hand)
                .bind(m.delta.reserved)
                .bind(m.delta.allocated)
                .bind(m.delta.incoming)
                .bind(m.delta.in_transit)
                .bind(m.delta.safety_stock)
                .bind(m.reason.to_string())
                .bind(m.reference.to_string())
                .bind(m.actor.to_string())
                .bind(m.idempotency_key.map(str::to_string))
                .bind(m.reservation_id.map(|r| r.to_string()))
                .bind(m.transfer_id.map(|t| t.to_string()))
                .bind(now)
                .bind(m.bundle_sku_id.map(|b| b.to_string()));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jaego_core::catalog::LocationKind;
    use jaego_core::{Balance, MovementKind};

    use super::apply_judged_deltas;
    use crate::events::EventFilter;
    use crate::testing::{fresh_databases, new_location, new_sku, receipt};
    use crate::{Store, StoreError, StoreOptions};

    /// A judged update still re-checks `strict` rows in SQL: a delta the
    /// row cannot take is refused and nothing changes; one it can take
    /// changes the row and writes its `stock.changed` event with the
    /// figures the caller judged.
    #[tokio::test]
    async fn judged_deltas_recheck_strict_rows_in_sql() {
        for db in fresh_databases("judged_deltas").await {
            let engine = db.engine;
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let tenant = store.create_tenant("t").await.unwrap();
            let location = store
                .create_location(tenant, &new_location("W1", LocationKind::Warehouse))
                .await
                .unwrap()
                .id;
            let sku = store.create_sku(tenant, &new_sku("A")).await.unwrap().id;
            store
                .record_movement(tenant, &receipt(sku, location, 1))
                .await
                .unwrap();
            let key = (sku, location);
            let before = store.balance(tenant, sku, location).await.unwrap();
            let events_before = store
                .events_after(tenant, 0, &EventFilter::default(), 100)
                .await
                .unwrap()
                .len();

            // Two allocated of one on hand, judged wrongly upstream.
            let wrong = Balance {
                allocated: 2,
                ..before
            };
            let mut tx = store.begin_write().await.unwrap();
            let refused = apply_judged_deltas(
                &mut tx,
                tenant,
                &[(key, MovementKind::Allocate.delta(2), true)],
                &HashMap::from([(key, wrong)]),
            )
            .await;
            assert!(
                matches!(refused, Err(StoreError::Conflict(_))),
                "{engine}: {refused:?}"
            );
            tx.rollback().await.unwrap();
            assert_eq!(
                store.balance(tenant, sku, location).await.unwrap(),
                before,
                "{engine}"
            );

            // One allocated: the row changes and its event says so.
            let right = Balance {
                allocated: 1,
                ..before
            };
            let mut tx = store.begin_write().await.unwrap();
            apply_judged_deltas(
                &mut tx,
                tenant,
                &[(key, MovementKind::Allocate.delta(1), true)],
                &HashMap::from([(key, right)]),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(
                store.balance(tenant, sku, location).await.unwrap(),
                right,
                "{engine}"
            );
            let events = store
                .events_after(tenant, 0, &EventFilter::default(), 100)
                .await
                .unwrap();
            assert_eq!(events.len(), events_before + 1, "{engine}");
            let last = events.last().unwrap();
            assert_eq!(last.kind, "stock.changed", "{engine}");
            let body: serde_json::Value = serde_json::from_str(&last.data).unwrap();
            assert_eq!(
                (&body["on_hand"], &body["allocated"], &body["available"]),
                (
                    &serde_json::json!(1),
                    &serde_json::json!(1),
                    &serde_json::json!(0)
                ),
                "{engine}: {body}"
            );
        }
    }
}
