//! Table-order stock (seed 000): per store a menu of items with initial
//! counts, a reset mode and schedule, "show remaining count", the customer
//! display, and the ordering call a table-order tablet makes.
//!
//! A reset writes one `reset` movement per tracked menu item (setting
//! `on_hand` to the item's initial count or to 0; zero-difference resets
//! are recorded too, so the ledger shows every reset), in one transaction.
//! A scheduled reset claims its occurrence with `schedules::advance` in
//! that same transaction: it runs once across instances, and once, late,
//! after downtime.
//!
//! An order is a store sale: every line or none, judged on the locked
//! balance rows, and each line taken from `on_hand` at once (a `sale`
//! movement). A table order is served from the store's own stock the
//! moment it is accepted and never ships, so a reservation committed to
//! `allocated` would stay there with no shipment to clear it, and the next
//! reset (which sets `on_hand`) would leave those units counted twice.
//! Items without tracking sell freely and write no movement.
//!
//! A bundle may be on a menu, but it holds no stock: its figures are its
//! components' at the store (`bundle::balance`), it has no counts of its
//! own (setting one is refused like a count naming it), resets skip it,
//! and an order sells its components.

use std::collections::{BTreeMap, HashMap, HashSet};

use jaego_core::bundle;
use jaego_core::catalog::LocationKind;
use jaego_core::judge::{self, LineRequest, Outcome};
use jaego_core::limits::{MENU_ITEMS_MAX, QUANTITY_MAX, SCHEDULE_BATCH_MAX, TABLE_ORDER_LINES_MAX};
use jaego_core::schedule::Spec;
use jaego_core::table_order::{self, ResetMode, Shown};
use jaego_core::{
    Balance, Delta, InvalidInput, LocationId, MovementKind, Qty, SkuId, StockPolicy, TenantId,
    movement,
};
use serde_json::json;
use sqlx::{Any, Transaction};

use super::figures;
use super::sql::Sql;
use crate::catalog::sku_event;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds, time_text};
use crate::ledger::{
    Key, PendingMovement, apply_deltas, ensure_rows, insert_movements, location_policy, lock_rows,
};
use crate::places::Location;
use crate::rows::{flag, int, parsed, text};
use crate::schedules;
use crate::{Store, now_us};

/// The schedule job name of daily resets (scope: the location id).
pub const DAILY_RESET_JOB: &str = "daily_reset";

/// A store's table-order settings.
#[derive(Debug, Clone)]
pub struct TableOrderSettings {
    pub location_id: LocationId,
    pub location_code: String,
    pub time_zone: String,
    pub reset_mode: ResetMode,
    pub show_remaining: bool,
    /// `daily HH:MM` in the store's time zone; `None`: manual only.
    pub reset_schedule: Option<Spec>,
    pub next_reset_at: Option<i64>,
    pub last_reset_at: Option<i64>,
}

/// Changes to a menu item; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MenuItemChange {
    /// What a `to_initial` reset sets the count to (초기수량).
    pub initial_count: Option<i64>,
    /// Sets the count now (현재수량): a `count` movement to this on-hand.
    pub current_count: Option<i64>,
    /// The SKU's tracking (재고관리 사용여부); it is the SKU's own flag,
    /// so it applies wherever the SKU is sold.
    pub tracked: Option<bool>,
}

/// A menu item with its count.
#[derive(Debug, Clone)]
pub struct MenuItem {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub name: String,
    pub tracked: bool,
    /// A bundle: its counts are its components' (never set on it).
    pub bundle: bool,
    pub initial_count: i64,
    /// A bundle's by `bundle::balance` over its components at the store.
    pub balance: Balance,
    /// How a customer screen shows it.
    pub shown: Shown,
}

/// A store's menu as screens show it.
#[derive(Debug, Clone)]
pub struct Display {
    pub location_id: LocationId,
    pub location_code: String,
    pub location_name: String,
    pub show_remaining: bool,
    pub items: Vec<MenuItem>,
}

/// One item of a reset.
#[derive(Debug, Clone)]
pub struct ResetLine {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub before: i64,
    pub after: i64,
}

/// What a reset did.
#[derive(Debug, Clone)]
pub struct ResetReport {
    pub location_id: LocationId,
    pub mode: ResetMode,
    /// `schedule` or `manual`.
    pub trigger: &'static str,
    pub items: Vec<ResetLine>,
    pub at: i64,
}

/// A line of an order, as sold.
#[derive(Debug, Clone)]
pub struct SoldLine {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub name: String,
    pub quantity: i64,
    pub tracked: bool,
    /// Available after the order, for a tracked item.
    pub remaining: Option<i64>,
}

/// An order accepted.
#[derive(Debug, Clone)]
pub struct TableOrder {
    pub location_id: LocationId,
    pub reference: String,
    pub lines: Vec<SoldLine>,
    pub created_at: i64,
}

fn require_store(location: &Location) -> StoreResult<()> {
    if location.kind != LocationKind::Store {
        return Err(InvalidInput::one(
            "location",
            format!(
                "{:?} is a {}; table-order stock is kept per store",
                location.code,
                location.kind.as_str()
            ),
        )
        .into());
    }
    Ok(())
}

fn check_count(field: &str, value: Option<i64>) -> Result<(), InvalidInput> {
    match value {
        Some(n) if !(0..=QUANTITY_MAX).contains(&n) => Err(InvalidInput::one(
            field,
            format!("must be between 0 and {QUANTITY_MAX}"),
        )),
        _ => Ok(()),
    }
}

const MENU_SQL: &str = "SELECT i.sku_id, s.code, s.name, s.tracked, s.bundle, i.initial_count, \
       COALESCE(b.on_hand, 0) AS on_hand, COALESCE(b.reserved, 0) AS reserved, \
       COALESCE(b.allocated, 0) AS allocated, COALESCE(b.incoming, 0) AS incoming, \
       COALESCE(b.in_transit, 0) AS in_transit, COALESCE(b.safety_stock, 0) AS safety_stock \
     FROM table_order_items i JOIN skus s ON s.id = i.sku_id \
     LEFT JOIN balances b ON b.sku_id = i.sku_id AND b.location_id = i.location_id \
     WHERE i.tenant_id = $1 AND i.location_id = $2";

/// Reads menu items in `tx` (every item by code, or only `sku`), each with
/// its balance at the store. A bundle has no balance row of its own: its
/// figures are its components' there, by `bundle::balance` (through
/// `figures::balances_at`, as channel figures are), so its remaining count
/// and sold-out follow its components' stock.
async fn menu_items(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    location: LocationId,
    sku: Option<SkuId>,
    show_remaining: bool,
) -> StoreResult<Vec<MenuItem>> {
    let sql = match sku {
        Some(_) => format!("{MENU_SQL} AND i.sku_id = $3"),
        None => format!("{MENU_SQL} ORDER BY s.code"),
    };
    let mut query = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(location.to_string());
    if let Some(sku) = sku {
        query = query.bind(sku.to_string());
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut bundles = Vec::new();
    for row in &rows {
        if flag(row, "bundle")? {
            bundles.push(parsed::<SkuId>(row, "sku_id")?);
        }
    }
    let (recipes, stock) = if bundles.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        let recipes = figures::recipes(tx, tenant, &bundles).await?;
        let components: Vec<SkuId> = recipes
            .values()
            .flat_map(|r| r.components().iter().map(|&(c, _)| c))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let stock = figures::balances(tx, tenant, &components).await?;
        (recipes, stock)
    };
    rows.iter()
        .map(|row| {
            let sku_id: SkuId = parsed(row, "sku_id")?;
            let bundle = flag(row, "bundle")?;
            let balance = if bundle {
                figures::balances_at(sku_id, &[location], &stock, &recipes)
                    .pop()
                    .unwrap_or_default()
            } else {
                crate::ledger::figures(row)?
            };
            let tracked = flag(row, "tracked")?;
            Ok(MenuItem {
                sku_id,
                sku_code: text(row, "code")?,
                name: text(row, "name")?,
                tracked,
                bundle,
                initial_count: int(row, "initial_count")?,
                shown: table_order::shown(tracked, balance.available(), show_remaining),
                balance,
            })
        })
        .collect()
}

impl Store {
    /// A store's table-order settings (defaults if never set: reset to
    /// initial counts, manual only, counts not shown).
    pub async fn table_order_settings(
        &self,
        tenant: TenantId,
        location: LocationId,
    ) -> StoreResult<TableOrderSettings> {
        let place = self.find_location(tenant, &location.to_string()).await?;
        require_store(&place)?;
        let row = sqlx::query(
            "SELECT reset_mode, show_remaining FROM table_order_settings WHERE tenant_id = $1 AND location_id = $2",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .fetch_optional(self.reader())
        .await?;
        let (reset_mode, show_remaining) = match row {
            Some(r) => (parsed(&r, "reset_mode")?, flag(&r, "show_remaining")?),
            None => (ResetMode::default(), false),
        };
        let schedule = self
            .schedule(tenant, DAILY_RESET_JOB, &location.to_string())
            .await?;
        Ok(TableOrderSettings {
            location_id: place.id,
            location_code: place.code,
            time_zone: place.time_zone,
            reset_mode,
            show_remaining,
            reset_schedule: schedule.as_ref().and_then(|s| s.spec),
            next_reset_at: schedule.as_ref().and_then(|s| s.next_run_at),
            last_reset_at: schedule.as_ref().and_then(|s| s.last_run_at),
        })
    }

    /// Replaces a store's reset mode, "show remaining count" and reset
    /// schedule (`daily HH:MM` in the store's time zone, or `None`).
    pub async fn set_table_order_settings(
        &self,
        tenant: TenantId,
        location: LocationId,
        reset_mode: ResetMode,
        show_remaining: bool,
        reset_schedule: Option<Spec>,
        now: i64,
    ) -> StoreResult<TableOrderSettings> {
        let place = self.find_location(tenant, &location.to_string()).await?;
        require_store(&place)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO table_order_settings (tenant_id, location_id, reset_mode, show_remaining, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (location_id) DO UPDATE SET reset_mode = excluded.reset_mode, \
               show_remaining = excluded.show_remaining, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .bind(reset_mode.as_str())
        .bind(i64::from(show_remaining))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::TABLE_ORDER_SETTINGS_UPDATED,
            json!({
                "location_id": location.to_string(),
                "reset_mode": reset_mode.as_str(),
                "show_remaining": show_remaining,
                "reset_schedule": reset_schedule.map(|s| s.to_string()),
                "time_zone": place.time_zone,
            }),
        )
        .location(location)
        .subject(location);
        self.commit_with(tx, &[event]).await?;
        // The schedule is its own row (the schedules table's writer);
        // setting it again with the same spec keeps the next due time.
        let current = self
            .schedule(tenant, DAILY_RESET_JOB, &location.to_string())
            .await?;
        if current.as_ref().and_then(|s| s.spec) != reset_schedule || current.is_none() {
            self.set_schedule(
                tenant,
                DAILY_RESET_JOB,
                &location.to_string(),
                reset_schedule,
                &place.time_zone,
                now,
            )
            .await?;
        }
        self.table_order_settings(tenant, location).await
    }

    /// A store's menu with counts, by SKU code.
    pub async fn table_order_menu(
        &self,
        tenant: TenantId,
        location: LocationId,
    ) -> StoreResult<Display> {
        let settings = self.table_order_settings(tenant, location).await?;
        let place = self.find_location(tenant, &location.to_string()).await?;
        let mut tx = self.reader().begin().await?;
        let items = menu_items(&mut tx, tenant, location, None, settings.show_remaining).await?;
        tx.rollback().await?;
        Ok(Display {
            location_id: place.id,
            location_code: place.code,
            location_name: place.name,
            show_remaining: settings.show_remaining,
            items,
        })
    }

    /// Adds a SKU to a store's menu or changes it: its initial count, its
    /// current count (a `count` movement), its tracking.
    pub async fn set_menu_item(
        &self,
        tenant: TenantId,
        location: LocationId,
        sku: SkuId,
        change: &MenuItemChange,
        actor: &str,
    ) -> StoreResult<MenuItem> {
        check_count("initial_count", change.initial_count)?;
        check_count("current_count", change.current_count)?;
        let place = self.find_location(tenant, &location.to_string()).await?;
        require_store(&place)?;
        let mut catalog = self.get_sku(tenant, sku).await?;
        // A bundle's count is its components': like a count naming it, an
        // initial or current count for it is refused before anything is
        // written.
        if catalog.bundle && (change.initial_count.is_some() || change.current_count.is_some()) {
            return Err(StoreError::refused(
                "bundle_holds_no_stock",
                format!(
                    "SKU {} is a bundle: it holds no stock; set its components' counts instead",
                    catalog.code
                ),
            ));
        }
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(
            "SELECT initial_count FROM table_order_items WHERE tenant_id = $1 AND location_id = $2 AND sku_id = $3",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .bind(sku.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if existing.is_none() {
            let n = sqlx::query(
                "SELECT COUNT(*) AS n FROM table_order_items WHERE tenant_id = $1 AND location_id = $2",
            )
            .bind(tenant.to_string())
            .bind(location.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if int(&n, "n")? >= MENU_ITEMS_MAX as i64 {
                return Err(InvalidInput::one(
                    "sku",
                    format!("a store's menu may have at most {MENU_ITEMS_MAX} items"),
                )
                .into());
            }
        }
        let initial = match (change.initial_count, &existing) {
            (Some(n), _) => n,
            (None, Some(row)) => int(row, "initial_count")?,
            (None, None) => 0,
        };
        sqlx::query(
            "INSERT INTO table_order_items (tenant_id, location_id, sku_id, initial_count, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (location_id, sku_id) DO UPDATE SET \
               initial_count = excluded.initial_count, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .bind(sku.to_string())
        .bind(initial)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut events = Vec::new();
        if let Some(tracked) = change.tracked
            && tracked != catalog.tracked
        {
            sqlx::query(
                "UPDATE skus SET tracked = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
            )
            .bind(i64::from(tracked))
            .bind(now)
            .bind(tenant.to_string())
            .bind(sku.to_string())
            .execute(&mut *tx)
            .await?;
            catalog.tracked = tracked;
            events.push(sku_event(tenant, kinds::SKU_UPDATED, &catalog));
        }
        if let Some(count) = change.current_count {
            let key = (sku, location);
            ensure_rows(&mut tx, tenant, &[key]).await?;
            let before = lock_rows(&mut tx, &[key])
                .await?
                .remove(&key)
                .unwrap_or_default();
            let diff = movement::set_to(MovementKind::Count, &before, count);
            let delta = MovementKind::Count.delta(diff);
            if !delta.is_zero() {
                apply_deltas(&mut tx, &[(key, delta, false)]).await?;
            }
            insert_movements(
                &mut tx,
                &[PendingMovement {
                    tenant,
                    key,
                    kind: MovementKind::Count,
                    custom_type: None,
                    quantity: diff,
                    delta,
                    reason: "table-order current count",
                    reference: "",
                    actor,
                    idempotency_key: None,
                    reservation_id: None,
                    transfer_id: None,
                    bundle_sku_id: None,
                }],
            )
            .await?;
        }
        events.push(
            NewEvent::new(
                tenant,
                kinds::TABLE_ORDER_ITEM_UPDATED,
                json!({
                    "location_id": location.to_string(),
                    "sku_id": sku.to_string(),
                    "initial_count": initial,
                    "current_count": change.current_count,
                    "tracked": catalog.tracked,
                }),
            )
            .location(location)
            .sku(sku),
        );
        self.commit_with(tx, &events).await?;
        let settings = self.table_order_settings(tenant, location).await?;
        let mut tx = self.reader().begin().await?;
        let item = menu_items(
            &mut tx,
            tenant,
            location,
            Some(sku),
            settings.show_remaining,
        )
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("menu item", sku))?;
        tx.rollback().await?;
        Ok(item)
    }

    /// Takes a SKU off a store's menu (its stock is left as it is).
    pub async fn remove_menu_item(
        &self,
        tenant: TenantId,
        location: LocationId,
        sku: SkuId,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM table_order_items WHERE tenant_id = $1 AND location_id = $2 AND sku_id = $3",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .bind(sku.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("menu item", sku));
        }
        let event = NewEvent::new(
            tenant,
            kinds::TABLE_ORDER_ITEM_REMOVED,
            json!({"location_id": location.to_string(), "sku_id": sku.to_string()}),
        )
        .location(location)
        .sku(sku);
        self.commit_with(tx, &[event]).await
    }

    /// Turns tracking on for every item of a store's menu (전체사용).
    /// Returns how many SKUs changed.
    pub async fn track_whole_menu(
        &self,
        tenant: TenantId,
        location: LocationId,
    ) -> StoreResult<usize> {
        let place = self.find_location(tenant, &location.to_string()).await?;
        require_store(&place)?;
        let untracked: Vec<SkuId> = sqlx::query(
            "SELECT i.sku_id FROM table_order_items i JOIN skus s ON s.id = i.sku_id \
             WHERE i.tenant_id = $1 AND i.location_id = $2 AND s.tracked = 0 ORDER BY i.sku_id",
        )
        .bind(tenant.to_string())
        .bind(location.to_string())
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| parsed(r, "sku_id"))
        .collect::<StoreResult<_>>()?;
        let mut skus = Vec::with_capacity(untracked.len());
        for id in untracked {
            skus.push(self.get_sku(tenant, id).await?);
        }
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let mut events = Vec::new();
        for mut sku in skus {
            let done = sqlx::query(
                "UPDATE skus SET tracked = 1, updated_at = $1 WHERE tenant_id = $2 AND id = $3 AND tracked = 0",
            )
            .bind(now)
            .bind(tenant.to_string())
            .bind(sku.id.to_string())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                sku.tracked = true;
                events.push(sku_event(tenant, kinds::SKU_UPDATED, &sku));
            }
        }
        let changed = events.len();
        self.commit_with(tx, &events).await?;
        Ok(changed)
    }

    /// Resets a store's counts now ("reset now"), in its reset mode.
    pub async fn reset_now(
        &self,
        tenant: TenantId,
        location: LocationId,
        actor: &str,
        now: i64,
    ) -> StoreResult<ResetReport> {
        let settings = self.table_order_settings(tenant, location).await?;
        let mut tx = self.begin_write().await?;
        let (report, events) = reset_in(
            &mut tx,
            tenant,
            location,
            settings.reset_mode,
            "manual",
            None,
            actor,
            now,
        )
        .await?;
        self.commit_with(tx, &events).await?;
        Ok(report)
    }

    /// Runs every daily reset due at `now`. Returns how many this instance
    /// ran (an occurrence another instance ran is skipped).
    pub async fn run_daily_resets(&self, now: i64) -> StoreResult<usize> {
        let mut ran = 0;
        for schedule in self
            .due_schedules(DAILY_RESET_JOB, now, SCHEDULE_BATCH_MAX)
            .await?
        {
            let Ok(location) = schedule.scope.parse::<LocationId>() else {
                tracing::warn!(scope = %schedule.scope, "daily reset: the scope is not a location id");
                continue;
            };
            let tenant = schedule.tenant;
            let mode = sqlx::query(
                "SELECT reset_mode FROM table_order_settings WHERE tenant_id = $1 AND location_id = $2",
            )
            .bind(tenant.to_string())
            .bind(location.to_string())
            .fetch_optional(self.reader())
            .await?
            .map(|r| parsed::<ResetMode>(&r, "reset_mode"))
            .transpose()?
            .unwrap_or_default();
            let mut tx = self.begin_write().await?;
            if !schedules::advance(&mut tx, &schedule, now).await? {
                continue;
            }
            let (_, events) = reset_in(
                &mut tx,
                tenant,
                location,
                mode,
                "schedule",
                schedule.next_run_at,
                "system:daily_reset",
                now,
            )
            .await?;
            self.commit_with(tx, &events).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Places a table order at a store: every line or none. Tracked items
    /// are judged on the locked balances under the store's policy and taken
    /// from `on_hand` at once (`sale` movements); a short line refuses the
    /// whole order with `insufficient_stock` naming every short line.
    ///
    /// A tracked bundle line is sold as its components (the recipe as it is
    /// now): joined lines the judge places together, counted with every
    /// other line that needs the same component (the sum per component, as
    /// for reservations), and sold with `sale` movements naming the bundle.
    /// A component without tracking is judged as `unlimited`, as the
    /// reservation batch judges it, and still sold, so its ledger shows
    /// what the bundle used.
    pub async fn place_table_order(
        &self,
        tenant: TenantId,
        location: LocationId,
        lines: &[(String, i64)],
        reference: &str,
        actor: &str,
    ) -> StoreResult<TableOrder> {
        if lines.is_empty() || lines.len() > TABLE_ORDER_LINES_MAX {
            return Err(InvalidInput::one(
                "lines",
                format!("must have 1 to {TABLE_ORDER_LINES_MAX} lines"),
            )
            .into());
        }
        for (i, (_, q)) in lines.iter().enumerate() {
            Qty::parse(&format!("lines[{i}].quantity"), *q)?;
        }
        let place = self.find_location(tenant, &location.to_string()).await?;
        require_store(&place)?;
        // (SKU, whether it is a bundle) per line.
        let mut ids = Vec::with_capacity(lines.len());
        for (i, (key, _)) in lines.iter().enumerate() {
            ids.push(self.sku_ref(tenant, key).await.map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::NotFound {
                    entity: "sku",
                    key: format!("{key} (lines[{i}])"),
                },
                other => other,
            })?);
        }
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let policy = location_policy(&mut tx, tenant, location).await?;
        let bundles: Vec<SkuId> = ids.iter().filter(|s| s.1).map(|s| s.0).collect();
        let recipes = if bundles.is_empty() {
            HashMap::new()
        } else {
            figures::recipes(&mut tx, tenant, &bundles).await?
        };
        let mut sql = Sql::new("SELECT id, code, name, tracked FROM skus WHERE tenant_id = ");
        let t = sql.text(tenant);
        let list = sql.list(
            ids.iter()
                .map(|s| s.0)
                .chain(
                    recipes
                        .values()
                        .flat_map(|r| r.components().iter().map(|&(c, _)| c)),
                )
                .collect::<HashSet<_>>(),
        );
        sql.push(&format!("{t} AND id IN {list}"));
        let mut facts: HashMap<SkuId, (String, String, bool)> = HashMap::new();
        for row in sql.fetch_all(&mut tx).await? {
            facts.insert(
                parsed(&row, "id")?,
                (
                    text(&row, "code")?,
                    text(&row, "name")?,
                    flag(&row, "tracked")?,
                ),
            );
        }
        let tracked = |sku: SkuId| facts.get(&sku).is_some_and(|f| f.2);
        // Only tracked lines are judged, a bundle line as its components;
        // `origins` maps each judged line back to the client's line and the
        // bundle it was made for.
        let mut origins: Vec<(usize, Option<SkuId>)> = Vec::new();
        let mut request = Vec::new();
        for (i, (&(sku, is_bundle), (_, q))) in ids.iter().zip(lines).enumerate() {
            if !tracked(sku) {
                continue;
            }
            if !is_bundle {
                origins.push((i, None));
                request.push(LineRequest {
                    sku,
                    candidates: vec![(location, policy)],
                    quantity: *q,
                    joined: false,
                });
                continue;
            }
            let recipe = recipes
                .get(&sku)
                .ok_or_else(|| StoreError::Corrupt(format!("bundle {sku} has no recipe")))?;
            let parts = bundle::expand(recipe, *q).ok_or_else(|| {
                InvalidInput::one(
                    format!("lines[{i}].quantity"),
                    format!("{q} bundles need more than {QUANTITY_MAX} of a component"),
                )
            })?;
            for (k, (component, units)) in parts.into_iter().enumerate() {
                origins.push((i, Some(sku)));
                request.push(LineRequest {
                    sku: component,
                    candidates: vec![(
                        location,
                        if tracked(component) {
                            policy
                        } else {
                            StockPolicy::Unlimited
                        },
                    )],
                    quantity: units,
                    joined: k > 0,
                });
            }
        }
        let keys: Vec<Key> = request.iter().map(|l| (l.sku, location)).collect();
        ensure_rows(&mut tx, tenant, &keys).await?;
        let rows = lock_rows(&mut tx, &keys).await?;
        let judgement = judge::judge(&rows, std::slice::from_ref(&request));
        if let Some(Outcome::Short(short)) = judgement.outcomes.first() {
            // Named by the client's line (a bundle's components share it).
            let short = short
                .iter()
                .cloned()
                .map(|mut s| {
                    s.line = origins[s.line].0;
                    s
                })
                .collect();
            return Err(StoreError::Shortage(short));
        }
        let mut totals: BTreeMap<SkuId, i64> = BTreeMap::new();
        for line in &request {
            *totals.entry(line.sku).or_insert(0) += line.quantity;
        }
        // A row is guarded as strict unless it sells freely.
        let deltas: Vec<(Key, Delta, bool)> = totals
            .iter()
            .map(|(&sku, &q)| {
                let strict = policy == StockPolicy::Strict && tracked(sku);
                ((sku, location), MovementKind::Sale.delta(q), strict)
            })
            .collect();
        let movements: Vec<PendingMovement<'_>> = request
            .iter()
            .zip(&origins)
            .map(|(line, &(_, bundle_sku_id))| PendingMovement {
                tenant,
                key: (line.sku, location),
                kind: MovementKind::Sale,
                custom_type: None,
                quantity: line.quantity,
                delta: MovementKind::Sale.delta(line.quantity),
                reason: "table order",
                reference,
                actor,
                idempotency_key: None,
                reservation_id: None,
                transfer_id: None,
                bundle_sku_id,
            })
            .collect();
        if !deltas.is_empty() {
            apply_deltas(&mut tx, &deltas).await?;
            insert_movements(&mut tx, &movements).await?;
        }
        // The figures after the order; a bundle's by the bundle rule over
        // its components'.
        let mut after: HashMap<Key, Balance> = HashMap::with_capacity(rows.len());
        for (&key, balance) in &rows {
            let sold = totals.get(&key.0).copied().unwrap_or(0);
            let balance = balance
                .apply(&MovementKind::Sale.delta(sold))
                .ok_or_else(|| StoreError::Corrupt(format!("balance of {} overflows", key.0)))?;
            after.insert(key, balance);
        }
        let sold: Vec<SoldLine> = ids
            .iter()
            .zip(lines)
            .map(|(&(sku, _), (_, q))| {
                let (code, name, tracked) = facts.get(&sku).cloned().unwrap_or_default();
                SoldLine {
                    sku_id: sku,
                    sku_code: code,
                    name,
                    quantity: *q,
                    tracked,
                    remaining: tracked.then(|| {
                        figures::balances_at(sku, &[location], &after, &recipes)
                            .first()
                            .map_or(0, Balance::available)
                    }),
                }
            })
            .collect();
        let event = NewEvent::new(
            tenant,
            kinds::TABLE_ORDER_ORDERED,
            json!({
                "location_id": location.to_string(),
                "reference": reference,
                "lines": sold.iter().map(|l| json!({
                    "sku_id": l.sku_id.to_string(),
                    "sku_code": l.sku_code,
                    "quantity": l.quantity,
                    "tracked": l.tracked,
                    "remaining": l.remaining,
                })).collect::<Vec<_>>(),
            }),
        )
        .location(location);
        self.commit_with(tx, &[event]).await?;
        Ok(TableOrder {
            location_id: location,
            reference: reference.to_string(),
            lines: sold,
            created_at: now,
        })
    }
}

/// Resets every tracked menu item of `location` in `tx`; returns the report
/// and the `table_order.reset` event (the balances' `stock.changed` events
/// are written by `apply_deltas`). Bundles are skipped: they hold no stock,
/// so a reset never gives one a balance row or a movement (their figures
/// follow their components, reset as menu items of their own).
#[expect(
    clippy::too_many_arguments,
    reason = "the reset's context: who, why and when, for its movements and event"
)]
async fn reset_in(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    location: LocationId,
    mode: ResetMode,
    trigger: &'static str,
    due_at: Option<i64>,
    actor: &str,
    now: i64,
) -> StoreResult<(ResetReport, Vec<NewEvent>)> {
    let items = sqlx::query(
        "SELECT i.sku_id, s.code, i.initial_count FROM table_order_items i JOIN skus s ON s.id = i.sku_id \
         WHERE i.tenant_id = $1 AND i.location_id = $2 AND s.tracked = 1 AND s.bundle = 0 ORDER BY i.sku_id",
    )
    .bind(tenant.to_string())
    .bind(location.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let mut plan = Vec::with_capacity(items.len());
    for row in &items {
        plan.push((
            parsed::<SkuId>(row, "sku_id")?,
            text(row, "code")?,
            int(row, "initial_count")?,
        ));
    }
    let keys: Vec<Key> = plan.iter().map(|(s, _, _)| (*s, location)).collect();
    ensure_rows(tx, tenant, &keys).await?;
    let before = lock_rows(tx, &keys).await?;
    let reason = format!("{trigger} reset ({})", mode.as_str());
    let mut deltas = Vec::new();
    let mut lines = Vec::with_capacity(plan.len());
    for (sku, code, initial) in &plan {
        let current = before.get(&(*sku, location)).copied().unwrap_or_default();
        let target = mode.target(*initial);
        let diff = movement::set_to(MovementKind::Reset, &current, target);
        let delta = MovementKind::Reset.delta(diff);
        if !delta.is_zero() {
            deltas.push(((*sku, location), delta, false));
        }
        lines.push(ResetLine {
            sku_id: *sku,
            sku_code: code.clone(),
            before: current.on_hand,
            after: target,
        });
    }
    if !deltas.is_empty() {
        apply_deltas(tx, &deltas).await?;
    }
    let movements: Vec<PendingMovement<'_>> = lines
        .iter()
        .map(|l| {
            let quantity = l.after - l.before;
            PendingMovement {
                tenant,
                key: (l.sku_id, location),
                kind: MovementKind::Reset,
                custom_type: None,
                quantity,
                delta: MovementKind::Reset.delta(quantity),
                reason: &reason,
                reference: "",
                actor,
                idempotency_key: None,
                reservation_id: None,
                transfer_id: None,
                bundle_sku_id: None,
            }
        })
        .collect();
    insert_movements(tx, &movements).await?;
    let event = NewEvent::new(
        tenant,
        kinds::TABLE_ORDER_RESET,
        json!({
            "location_id": location.to_string(),
            "mode": mode.as_str(),
            "trigger": trigger,
            "due_at": due_at.map(time_text),
            "items": lines.iter().map(|l| json!({
                "sku_id": l.sku_id.to_string(),
                "sku_code": l.sku_code,
                "before": l.before,
                "after": l.after,
            })).collect::<Vec<_>>(),
        }),
    )
    .location(location)
    .subject(location);
    Ok((
        ResetReport {
            location_id: location,
            mode,
            trigger,
            items: lines,
            at: now,
        },
        vec![event],
    ))
}
