//! Allocation runs (재고할당): set-based, so a run over a hundred thousand
//! open orders takes seconds.
//!
//! 1. One query reads every eligible order's lines (or a selection's); a
//!    whole run's read is two, one per half of the orders, side by side.
//! 2. The orders are ranked by the core planner's rule (priority, then
//!    collection time) and cut into chunks of [`RUN_CHUNK_ORDERS`],
//!    keeping each consolidated customer batch in one chunk.
//! 3. Each chunk is one transaction: the balance rows of every SKU the
//!    chunk needs at its channels' locations are created if missing and
//!    locked (`lock_rows`, which reads their figures), the core planner
//!    decides on those locked figures, and the placements are applied with
//!    multi-row statements through the ledger shape (`apply_judged_deltas`
//!    re-checks `strict` in SQL); the orders' statuses, the run's per-order
//!    results and the events are written in the same transaction. Orders
//!    changed since step 1 read them are skipped (reason `changed`,
//!    [`changed_orders`]).
//! 4. While a chunk is written, the next one is planned on a blocking
//!    thread on the figures the chunk leaves ([`Store::plan_ahead`]); the
//!    next transaction uses that plan only if its locked figures are the
//!    same ([`RunInputs::settle`]), else plans again.
//!
//! A preview (`dry_run`) plans the same way on figures read without locks
//! and writes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::TryStreamExt;
use jaego_core::allocation::{
    Available, ChannelRules, OrderPlan, PlanLine, PlanOrder, Reason, ShipmentMode, plan, rank,
};
use jaego_core::limits::ALLOCATION_RUN_ORDERS_MAX;
use jaego_core::order::{LineQty, OrderStatus, status_of};
use jaego_core::{
    AllocationRunId, ChannelId, InvalidInput, LocationId, MovementKind, OrderId, OrderLineId,
    SkuId, TenantId,
};
use serde_json::json;
use sqlx::any::AnyRow;
use tokio::task::JoinHandle;

use super::bundle_lines::line_bundles;
use super::stock::{Ledger, OrderMove, apply_moves_locked, ledger_keys};
use super::{
    IN_CHUNK, TENANT_NO_INDEX, Val, channel_settings_in, first, in_list, insert_many_same,
    json_chunks, update_many_same,
};
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::ledger::{self, Key};
use crate::page::{Page, PageRequest};
use crate::rows::{
    Placeholders, flag, int, json_rows, json_rows_sql, opt_text, parse_stored, parsed, text,
};
use crate::{Store, now_us};

/// Orders per run transaction.
/// Larger chunks mean fewer passes over the balance rows (each chunk reads
/// every (SKU, location) its orders may draw from) and fewer
/// `stock.changed` events; smaller ones hold PostgreSQL row locks for less
/// time.
pub const RUN_CHUNK_ORDERS: usize = 50_000;

/// A `running` run whose heartbeat (`finished_at`, bumped by every chunk's
/// commit) is older than this was cut off (the server stopped mid-run): it
/// reads as `interrupted` and no longer blocks a new run. Its committed
/// chunks stand; the next run continues with the orders it left.
pub const RUN_STALE_US: i64 = 10 * 60 * 1_000_000;

/// The body of a run's `order.allocated` event, fields in alphabetical
/// order as a `json!` object writes them (the other `order.allocated`
/// events are built that way), ids as text like the other typed bodies
/// (`events::stock_changed`).
#[derive(serde::Serialize)]
struct AllocatedBody<'a> {
    channel_id: String,
    complete: bool,
    external_no: &'a str,
    id: String,
    run_id: &'a str,
    status: &'static str,
    units: i64,
}

/// Where a stored run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Completed,
    Failed,
    /// Running, but no chunk committed for [`RUN_STALE_US`].
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Only these orders; `None`: every eligible order.
    pub orders: Option<Vec<OrderId>>,
    /// Overrides every channel's shipment mode.
    pub mode: Option<ShipmentMode>,
    /// Plan only; change nothing.
    pub dry_run: bool,
}

/// Units of one line from one location, as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlacement {
    pub line_id: OrderLineId,
    pub location_id: LocationId,
    pub quantity: i64,
    pub backorder: i64,
}

/// What a run did (or would do) with one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub order_id: OrderId,
    /// `allocated`, `partial` or `skipped`.
    pub outcome: &'static str,
    pub reason: Option<Reason>,
    pub units: i64,
    /// Filled for previews and for the run's own answer; empty when read back.
    pub placements: Vec<RunPlacement>,
}

#[derive(Debug, Clone)]
pub struct AllocationRun {
    pub id: AllocationRunId,
    pub mode: Option<ShipmentMode>,
    pub dry_run: bool,
    pub considered: i64,
    pub allocated: i64,
    pub partial: i64,
    pub skipped: i64,
    pub units: i64,
    pub started_at: i64,
    /// When it finished; while running, when its last chunk committed.
    pub finished_at: i64,
    pub state: RunState,
    /// Why a `failed` run failed.
    pub error: Option<String>,
    /// Per order, in allocation order (previews and fresh runs).
    pub results: Vec<RunResult>,
}

/// An order as read for a run.
struct Candidate {
    id: OrderId,
    /// The order's `updated_at` when read: every change to an order or its
    /// lines sets it, so the run's chunk can tell an order changed since.
    updated_at: i64,
    external_no: String,
    plan: PlanOrder,
    lines: Vec<(OrderLineId, LineQty)>,
}

fn outcome_of(p: &OrderPlan) -> &'static str {
    if p.placements.is_empty() {
        "skipped"
    } else if p.complete {
        "allocated"
    } else {
        "partial"
    }
}

impl Store {
    /// Runs (or previews) an allocation run and answers when it is done.
    pub async fn allocation_run(
        &self,
        tenant: TenantId,
        request: &RunRequest,
        actor: &str,
    ) -> StoreResult<AllocationRun> {
        if request.dry_run {
            return self.execute_run(tenant, request, actor, None).await;
        }
        let id = self.begin_allocation_run(tenant, request, actor).await?;
        self.finish_allocation_run(tenant, request, actor, id).await
    }

    /// Stores a new run as `running` and answers its id; the caller then
    /// runs it with [`Store::finish_allocation_run`] (a background task,
    /// for `POST /allocation-runs` with `background`). Refused with
    /// `run_in_progress` while another run of the tenant is running.
    pub async fn begin_allocation_run(
        &self,
        tenant: TenantId,
        request: &RunRequest,
        actor: &str,
    ) -> StoreResult<AllocationRunId> {
        if request.dry_run {
            return Err(InvalidInput::one(
                "dry_run",
                "a preview writes nothing and is not stored: use allocation_run",
            )
            .into());
        }
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        // Starts of a tenant's runs take turns on its row, so two instances
        // on PostgreSQL cannot both see no running run and both start one
        // (SQLite's one writer serialises them already).
        sqlx::query("UPDATE tenants SET name = name WHERE id = $1")
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        let running = sqlx::query(
            "SELECT id FROM allocation_runs WHERE tenant_id = $1 AND state = 'running' AND finished_at > $2 LIMIT 1",
        )
        .bind(tenant.to_string())
        .bind(now - RUN_STALE_US)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = running {
            return Err(StoreError::refused(
                "run_in_progress",
                format!(
                    "allocation run {} is still running; wait for it (GET /allocation-runs/{{id}})",
                    text(&row, "id")?
                ),
            ));
        }
        let id = AllocationRunId::new();
        sqlx::query(
            "INSERT INTO allocation_runs (id, tenant_id, mode, dry_run, considered, allocated, partial, skipped, units, actor, started_at, finished_at, state) \
             VALUES ($1, $2, $3, 0, 0, 0, 0, 0, 0, $4, $5, $5, 'running')",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(request.mode.map(ShipmentMode::as_str))
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Runs a run stored by [`Store::begin_allocation_run`] to its end and
    /// marks it `completed`, or `failed` with the error (the chunks
    /// committed before the failure stand).
    pub async fn finish_allocation_run(
        &self,
        tenant: TenantId,
        request: &RunRequest,
        actor: &str,
        id: AllocationRunId,
    ) -> StoreResult<AllocationRun> {
        let bulk = self.bulk_writes_begin().await;
        let outcome = self.execute_run(tenant, request, actor, Some(id)).await;
        bulk.end().await;
        if let Err(e) = &outcome {
            let marked = sqlx::query(
                "UPDATE allocation_runs SET state = 'failed', error = $1, finished_at = $2 WHERE id = $3",
            )
            .bind(e.to_string())
            .bind(now_us())
            .bind(id.to_string())
            .execute(self.writer())
            .await;
            if let Err(m) = marked {
                tracing::error!(run = %id, error = %m, "could not mark the allocation run failed");
            }
        }
        outcome
    }

    async fn execute_run(
        &self,
        tenant: TenantId,
        request: &RunRequest,
        actor: &str,
        stored: Option<AllocationRunId>,
    ) -> StoreResult<AllocationRun> {
        let started = now_us();
        let mut candidates = self
            .run_candidates(tenant, request.orders.as_deref())
            .await?;
        // Bundle lines: the planner judges their components (the line's
        // stored expansion, else the current recipe, stored with the
        // allocation). One query when no line is a bundle.
        let bundles = {
            let mut conn = self.reader().acquire().await?;
            // Collected first: a borrowing iterator held across the await
            // would keep the run's future from being `Send`.
            let lines: Vec<(OrderLineId, SkuId)> = candidates
                .iter()
                .flat_map(|c| c.lines.iter().zip(&c.plan.lines))
                .filter_map(|((id, _), l)| l.sku.map(|s| (*id, s)))
                .collect();
            line_bundles(&mut conn, tenant, lines).await?
        };
        if !bundles.is_empty() {
            for c in &mut candidates {
                for ((id, _), l) in c.lines.iter().zip(c.plan.lines.iter_mut()) {
                    if let Some(b) = bundles.get(id) {
                        l.parts.clone_from(&b.parts);
                    }
                }
            }
        }
        let channels = self.run_channels(tenant, &candidates).await?;
        let read_ms = (now_us() - started) / 1000;
        // Chunks in rank order, consolidated batches kept together.
        let plan_orders: Vec<PlanOrder> = candidates.iter().map(|c| c.plan.clone()).collect();
        let ranked = rank(&plan_orders);
        let mut members: HashMap<(ChannelId, &str), Vec<usize>> = HashMap::new();
        for &i in &ranked {
            let p = &plan_orders[i];
            if let (Some(b), Some(rules)) = (&p.batch, channels.get(&p.channel))
                && request.mode.unwrap_or(rules.mode) == ShipmentMode::Consolidated
            {
                members.entry((p.channel, b.as_str())).or_default().push(i);
            }
        }
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        let mut current = Vec::new();
        let mut placed: HashSet<usize> = HashSet::new();
        for &i in &ranked {
            if !placed.insert(i) {
                continue;
            }
            current.push(i);
            let p = &plan_orders[i];
            if let Some(batch) = p
                .batch
                .as_deref()
                .and_then(|b| members.get(&(p.channel, b)))
            {
                for &m in batch {
                    if placed.insert(m) {
                        current.push(m);
                    }
                }
            }
            if current.len() >= self.inner.run_chunk_orders {
                chunks.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            chunks.push(current);
        }

        let mut run = AllocationRun {
            id: stored.unwrap_or_default(),
            mode: request.mode,
            dry_run: request.dry_run,
            considered: candidates.len() as i64,
            allocated: 0,
            partial: 0,
            skipped: 0,
            units: 0,
            started_at: started,
            finished_at: started,
            state: RunState::Running,
            error: None,
            results: Vec::with_capacity(candidates.len()),
        };
        // A preview (no stored run) plans on figures read without locks
        // and writes nothing.
        let Some(id) = stored else {
            let keys = keys_of(&candidates, &channels, &ranked);
            let figures = self.read_available(tenant, &keys).await?;
            let mut available: Available = keys
                .iter()
                .map(|k| (*k, figures.get(k).copied().unwrap_or(0)))
                .collect();
            for chunk in &chunks {
                let orders: Vec<PlanOrder> =
                    chunk.iter().map(|&i| plan_orders[i].clone()).collect();
                let plans = plan(&orders, &channels, request.mode, &mut available);
                run.take(
                    plans
                        .iter()
                        .map(|p| result_of(&candidates[chunk[p.order]], p))
                        .collect(),
                );
            }
            run.finished_at = now_us();
            run.state = RunState::Completed;
            return Ok(run);
        };
        tracing::debug!(
            orders = candidates.len(),
            read_ms,
            ranked_ms = (now_us() - started) / 1000 - read_ms,
            "allocation run: candidates"
        );
        let reference = format!("allocation run {id}");
        let inputs = Arc::new(RunInputs {
            tenant,
            run_text: id.to_string(),
            mode: request.mode,
            candidates,
            plan_orders,
            channels,
        });
        let mut ahead: Option<JoinHandle<StoreResult<Prepared>>> = None;
        for (n, chunk) in chunks.iter().enumerate() {
            let now = now_us();
            let clock = std::time::Instant::now();
            let mut tx = self.begin_order_write(&[tenant]).await?;
            let keys = keys_of(&inputs.candidates, &inputs.channels, chunk);
            // The chunk's orders, then its balances: the writers' one lock
            // order (see `lock_orders`).
            let changed = changed_orders(&mut tx, &inputs, chunk).await?;
            let orders_time = clock.elapsed();
            let locked = lock_figures(&mut tx, tenant, &keys).await?;
            let lock_time = clock.elapsed();
            let available: Available = keys
                .iter()
                .map(|k| (*k, locked.get(k).map_or(0, jaego_core::Balance::available)))
                .collect();
            let made = match ahead.take() {
                Some(task) => Some(joined(task.await)??),
                None => None,
            };
            if !changed.is_empty() {
                tracing::info!(
                    run = %id,
                    orders = changed.len(),
                    "allocation run: orders changed since the run read them are left for the next run"
                );
            }
            let (prepared, ahead_used) = inputs.settle(chunk, &changed, made, available);
            // The next chunk is planned on the figures this one leaves,
            // while this one is written.
            if let Some(next) = chunks.get(n + 1) {
                ahead = Some(self.plan_ahead(Arc::clone(&inputs), next.clone(), &prepared.left));
            }
            let Prepared {
                results,
                moves,
                status_rows,
                events,
                ..
            } = prepared;
            // A strict placement is always on a row that exists (it had
            // stock); an unlimited one may be on a row never used before.
            let mut locked = locked;
            let missing: Vec<Key> = ledger_keys(&moves, &bundles)
                .into_iter()
                .filter(|k| !locked.contains_key(k))
                .collect();
            if !missing.is_empty() {
                ledger::ensure_rows(&mut tx, tenant, &missing).await?;
                locked.extend(ledger::lock_rows(&mut tx, &missing).await?);
            }
            let planned = clock.elapsed();
            apply_moves_locked(
                &mut tx,
                tenant,
                &moves,
                Ledger::PerRow,
                &reference,
                actor,
                Some(locked),
                Some(&bundles),
            )
            .await?;
            let applied = clock.elapsed();
            write_statuses(&mut tx, now, status_rows).await?;
            insert_many_same(
                &mut tx,
                "allocation_results (run_id, order_id, tenant_id, outcome, reason, units)",
                "$1, v.column1, $2, v.column2, v.column3, v.column4",
                &[Val::T(inputs.run_text.clone()), Val::T(tenant.to_string())],
                4,
                by_order(&results).into_iter().map(|k| {
                    let r = &results[k];
                    vec![
                        Val::T(r.order_id.to_string()),
                        Val::T(r.outcome.to_string()),
                        Val::OT(r.reason.map(|r| r.as_str().to_string())),
                        Val::I(r.units),
                    ]
                }),
                "",
            )
            .await?;
            run.take(results);
            // The run's progress, and its heartbeat, commit with the chunk.
            sqlx::query(
                "UPDATE allocation_runs SET considered = $1, allocated = $2, partial = $3, skipped = $4, units = $5, finished_at = $6 WHERE id = $7",
            )
            .bind(run.considered)
            .bind(run.allocated)
            .bind(run.partial)
            .bind(run.skipped)
            .bind(run.units)
            .bind(now_us())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            let recorded = clock.elapsed();
            crate::events::append(&mut tx, &events).await?;
            let evented = clock.elapsed();
            self.commit_with(tx, &[]).await?;
            tracing::debug!(
                orders = chunk.len(),
                keys = keys.len(),
                moves = moves.len(),
                ahead_used,
                orders_ms = orders_time.as_millis(),
                lock_ms = (lock_time - orders_time).as_millis(),
                plan_ms = (planned - lock_time).as_millis(),
                apply_ms = (applied - planned).as_millis(),
                record_ms = (recorded - applied).as_millis(),
                events_ms = (evented - recorded).as_millis(),
                commit_ms = (clock.elapsed() - evented).as_millis(),
                "allocation run: chunk"
            );
        }
        run.finished_at = now_us();
        run.state = RunState::Completed;
        let mut tx = self.begin_order_write(&[tenant]).await?;
        sqlx::query(
            "UPDATE allocation_runs SET considered = $1, allocated = $2, partial = $3, skipped = $4, units = $5, finished_at = $6, state = 'completed' WHERE id = $7",
        )
        .bind(run.considered)
        .bind(run.allocated)
        .bind(run.partial)
        .bind(run.skipped)
        .bind(run.units)
        .bind(run.finished_at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::ALLOCATION_RUN_COMPLETED,
            run_json(&run, actor),
        )
        .subject(id);
        self.commit_with(tx, &[event]).await?;
        Ok(run)
    }

    /// A run's summary (without results).
    pub async fn get_allocation_run(
        &self,
        tenant: TenantId,
        id: AllocationRunId,
    ) -> StoreResult<AllocationRun> {
        let row = sqlx::query(
            "SELECT id, mode, dry_run, considered, allocated, partial, skipped, units, started_at, finished_at, state, error \
             FROM allocation_runs WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("allocation run", id))?;
        run_from_row(&row)
    }

    pub async fn list_allocation_runs(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<AllocationRun>> {
        let rows = sqlx::query(
            "SELECT id, mode, dry_run, considered, allocated, partial, skipped, units, started_at, finished_at, state, error \
             FROM allocation_runs WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(page.cursor())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(run_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |r| r.id.to_string()))
    }

    /// A run's per-order results, paged by order id.
    pub async fn allocation_results(
        &self,
        tenant: TenantId,
        id: AllocationRunId,
        page: &PageRequest,
    ) -> StoreResult<Page<RunResult>> {
        self.get_allocation_run(tenant, id).await?;
        let rows = sqlx::query(
            "SELECT order_id, outcome, reason, units FROM allocation_results \
             WHERE tenant_id = $1 AND run_id = $2 AND order_id > $3 ORDER BY order_id LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(page.cursor())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                let outcome = match text(r, "outcome")?.as_str() {
                    "allocated" => "allocated",
                    "partial" => "partial",
                    _ => "skipped",
                };
                Ok(RunResult {
                    order_id: parsed(r, "order_id")?,
                    outcome,
                    reason: opt_text(r, "reason")?
                        .map(|t| t.parse().map_err(StoreError::Corrupt))
                        .transpose()?,
                    units: int(r, "units")?,
                    placements: Vec::new(),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |r| {
            r.order_id.to_string()
        }))
    }

    /// Every eligible order with its lines (or the selection's), oldest
    /// first.
    ///
    /// Each order comes back as one JSON text holding the order and its
    /// eligible lines, built by the database: a run over 100,000 orders
    /// reads some 300,000 lines, and the driver's cost is per row and per
    /// value (about 8 µs for a 15-column row through `sqlx::Any`), so one
    /// single-column row per order reads in about a third of the time of
    /// one row per line. Rows are streamed, not collected.
    ///
    /// A whole run's read is split in two at its middle order, read side by
    /// side on two reader connections: the database builds the texts on
    /// one core while the other parses, and each half's parse runs on its
    /// own task. Each order is read whole by one of the two statements.
    async fn run_candidates(
        &self,
        tenant: TenantId,
        selection: Option<&[OrderId]>,
    ) -> StoreResult<Vec<Candidate>> {
        let Some(ids) = selection else {
            let Some(middle) = self.middle_open_order(tenant).await? else {
                return self.candidates_between(tenant, None, None).await;
            };
            let store = self.clone();
            let upper = middle.clone();
            let second =
                tokio::spawn(
                    async move { store.candidates_between(tenant, Some(upper), None).await },
                );
            let mut out = match self.candidates_between(tenant, None, Some(middle)).await {
                Ok(out) => out,
                Err(e) => {
                    second.abort();
                    return Err(e);
                }
            };
            out.extend(joined(second.await)??);
            // Orders collected between the count and the reads may take
            // the two halves past the limit; the oldest stay.
            out.truncate(ALLOCATION_RUN_ORDERS_MAX);
            return Ok(out);
        };
        let mut conn = self.reader().acquire().await?;
        let style = Placeholders::of(&conn);
        let candidate = candidate_sql(style);
        let mut out: Vec<Candidate> = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {candidate} AS c FROM orders o \
                 WHERE o.{TENANT_NO_INDEX} = {} AND {OPEN} AND o.id IN {} ORDER BY o.id",
                first(style),
                in_list(style, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant.to_string());
            for id in chunk {
                q = q.bind(id.to_string());
            }
            if !push_all(&mut out, q.fetch(&mut *conn)).await? {
                break;
            }
        }
        Ok(out)
    }

    /// The id that splits the tenant's open orders in two halves, if there
    /// are at least two and no more than a run takes (beyond that, the run
    /// reads in one pass and stops at its limit).
    async fn middle_open_order(&self, tenant: TenantId) -> StoreResult<Option<String>> {
        let mut conn = self.reader().acquire().await?;
        let open: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM orders o WHERE o.tenant_id = $1 AND {OPEN}"
        ))
        .bind(tenant.to_string())
        .fetch_one(&mut *conn)
        .await?;
        if open < 2 || open > ALLOCATION_RUN_ORDERS_MAX as i64 {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(&format!(
            "SELECT o.id FROM orders o WHERE o.tenant_id = $1 AND {OPEN} ORDER BY o.id LIMIT 1 OFFSET $2"
        ))
        .bind(tenant.to_string())
        .bind(open / 2)
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// The candidates with ids from `from` (included) to `to` (excluded),
    /// each bound optional, oldest first, up to the run's limit.
    async fn candidates_between(
        &self,
        tenant: TenantId,
        from: Option<String>,
        to: Option<String>,
    ) -> StoreResult<Vec<Candidate>> {
        let mut conn = self.reader().acquire().await?;
        let candidate = candidate_sql(Placeholders::of(&conn));
        let mut sql =
            format!("SELECT {candidate} AS c FROM orders o WHERE o.tenant_id = $1 AND {OPEN}");
        let mut bounds = Vec::new();
        for (bound, op) in [(from, ">="), (to, "<")] {
            if let Some(id) = bound {
                bounds.push(id);
                sql.push_str(&format!(" AND o.id {op} ${}", bounds.len() + 1));
            }
        }
        sql.push_str(" ORDER BY o.id");
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for id in bounds {
            q = q.bind(id);
        }
        let mut out: Vec<Candidate> = Vec::new();
        push_all(&mut out, q.fetch(&mut *conn)).await?;
        Ok(out)
    }

    /// The rules of every channel among `candidates`.
    async fn run_channels(
        &self,
        tenant: TenantId,
        candidates: &[Candidate],
    ) -> StoreResult<HashMap<ChannelId, ChannelRules>> {
        let ids: HashSet<ChannelId> = candidates.iter().map(|c| c.plan.channel).collect();
        let mut out = HashMap::new();
        let mut conn = self.reader().acquire().await?;
        for channel in ids {
            let s = channel_settings_in(&mut conn, tenant, channel).await?;
            let locations = sqlx::query("SELECT location_id FROM channel_locations WHERE tenant_id = $1 AND channel_id = $2 ORDER BY priority")
                .bind(tenant.to_string())
                .bind(channel.to_string())
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| parsed(r, "location_id"))
                .collect::<StoreResult<Vec<LocationId>>>()?;
            out.insert(
                channel,
                ChannelRules {
                    mode: s.shipment_mode,
                    basis: s.basis,
                    gift_rule: s.gift_rule,
                    locations,
                },
            );
        }
        Ok(out)
    }

    /// Available figures of `keys`, read without locks (for previews).
    async fn read_available(
        &self,
        tenant: TenantId,
        keys: &[Key],
    ) -> StoreResult<HashMap<Key, i64>> {
        let mut out = HashMap::with_capacity(keys.len());
        let mut conn = self.reader().acquire().await?;
        for row in balance_figures(&mut conn, tenant, &skus_of(keys), Lock::Plain).await? {
            out.insert(row.key()?, row.balance()?.available());
        }
        Ok(out)
    }
}

/// What a run's chunks are planned from: shared by the run and the task
/// that plans its next chunk ahead.
struct RunInputs {
    tenant: TenantId,
    run_text: String,
    mode: Option<ShipmentMode>,
    candidates: Vec<Candidate>,
    plan_orders: Vec<PlanOrder>,
    channels: HashMap<ChannelId, ChannelRules>,
}

/// A chunk planned on given figures, and the rows it writes.
struct Prepared {
    /// The figures of the chunk's keys it was planned on.
    planned_on: Available,
    /// The same after its placements: what the next chunk is planned on
    /// ahead of its own locked read.
    left: Available,
    /// In rank order, then the orders found changed.
    results: Vec<RunResult>,
    moves: Vec<OrderMove>,
    /// Sorted by order (key order, as every multi-row write).
    /// With each order's `updated_at` as the run read it.
    status_rows: Vec<(OrderId, OrderStatus, i64)>,
    events: Vec<NewEvent>,
}

impl RunInputs {
    /// Plans the orders `chunk` on `available` (the figures of `keys_of`
    /// the chunk, kept as `planned_on`) and builds what the chunk writes; the orders
    /// `changed` (changed since they were read) get nothing and are
    /// recorded as skipped for that reason. Pure: the same figures give the
    /// same plan, which is what lets a plan made ahead stand once the
    /// locked figures are found equal.
    fn prepare(&self, chunk: &[usize], changed: &[usize], available: Available) -> Prepared {
        let planned_on = available.clone();
        let mut available = available;
        let orders: Vec<PlanOrder> = chunk.iter().map(|&i| self.plan_orders[i].clone()).collect();
        let plans = plan(&orders, &self.channels, self.mode, &mut available);
        let mut moves = Vec::new();
        let mut results = Vec::with_capacity(plans.len() + changed.len());
        let mut status_rows: Vec<(OrderId, OrderStatus, i64)> = Vec::new();
        let mut events = Vec::new();
        for p in &plans {
            let c = &self.candidates[chunk[p.order]];
            let policy = self.channels[&c.plan.channel].basis;
            let mut added = vec![0i64; c.lines.len()];
            for x in &p.placements {
                moves.push(OrderMove {
                    order: c.id,
                    line: c.lines[x.line].0,
                    sku: x.sku,
                    location: x.location,
                    quantity: x.quantity,
                    kind: MovementKind::Allocate,
                    policy,
                });
                added[x.line] += x.quantity;
            }
            let result = result_of(c, p);
            if !p.placements.is_empty() {
                let lines: Vec<LineQty> = c
                    .lines
                    .iter()
                    .zip(&added)
                    .map(|((_, q), a)| LineQty {
                        allocated: q.allocated + a,
                        ..*q
                    })
                    .collect();
                let status = status_of(&lines);
                status_rows.push((c.id, status, c.updated_at));
                // Serialized at once: a chunk holds 50,000 of these.
                let body = AllocatedBody {
                    channel_id: c.plan.channel.to_string(),
                    complete: p.complete,
                    external_no: &c.external_no,
                    id: c.id.to_string(),
                    run_id: &self.run_text,
                    status: status.as_str(),
                    units: result.units,
                };
                events.push(
                    NewEvent::serialized(self.tenant, kinds::ORDER_ALLOCATED, &body)
                        .channel(c.plan.channel)
                        .subject(c.id),
                );
            }
            results.push(result);
        }
        for &i in changed {
            let c = &self.candidates[i];
            let skipped = OrderPlan {
                order: i,
                placements: Vec::new(),
                complete: false,
                reason: Some(Reason::Changed),
            };
            results.push(result_of(c, &skipped));
        }
        status_rows.sort_unstable_by_key(|r| r.0);
        Prepared {
            planned_on,
            left: available,
            results,
            moves,
            status_rows,
            events,
        }
    }
}

impl RunInputs {
    /// The chunk's plan on its locked figures `available`: the plan made
    /// ahead if it was made on exactly these figures and no order of the
    /// chunk changed since it was read; else (another writer came between
    /// the chunks, or nothing was made ahead) one made now, without the
    /// `changed` orders. Also answers whether the plan made ahead stood.
    fn settle(
        &self,
        chunk: &[usize],
        changed: &[usize],
        made: Option<Prepared>,
        available: Available,
    ) -> (Prepared, bool) {
        match made {
            Some(made) if changed.is_empty() && made.planned_on == available => (made, true),
            _ => {
                let gone: HashSet<usize> = changed.iter().copied().collect();
                let kept: Vec<usize> = chunk
                    .iter()
                    .copied()
                    .filter(|i| !gone.contains(i))
                    .collect();
                (self.prepare(&kept, changed, available), false)
            }
        }
    }

    /// `changed` with every other order of `chunk` in a consolidated batch
    /// with one of them (a batch ships together, so it waits together), in
    /// chunk order.
    fn with_batch_mates(&self, chunk: &[usize], changed: &[usize]) -> Vec<usize> {
        if changed.is_empty() {
            return Vec::new();
        }
        let consolidated = |p: &PlanOrder| {
            self.channels
                .get(&p.channel)
                .is_some_and(|r| self.mode.unwrap_or(r.mode) == ShipmentMode::Consolidated)
        };
        let batch_of = |i: usize| {
            let p = &self.plan_orders[i];
            p.batch
                .as_deref()
                .filter(|_| consolidated(p))
                .map(|b| (p.channel, b))
        };
        let gone: HashSet<usize> = changed.iter().copied().collect();
        let batches: HashSet<(ChannelId, &str)> =
            changed.iter().filter_map(|&i| batch_of(i)).collect();
        chunk
            .iter()
            .copied()
            .filter(|&i| gone.contains(&i) || batch_of(i).is_some_and(|b| batches.contains(&b)))
            .collect()
    }
}

/// Sets the allocated orders' statuses, each only if its `updated_at` is
/// still the one the run read. It always is: the chunk's transaction holds
/// its orders from [`changed_orders`] on (SQLite's write lock; PostgreSQL's
/// row locks), and left out every order changed before. The condition
/// makes a lock that was ever missed an error instead of a change written
/// over (a merge moves lines without any line constraint failing): the
/// chunk is refused and rolls back whole, and the run ends `failed` with
/// the chunks before it standing.
async fn write_statuses(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    now: i64,
    rows: Vec<(OrderId, OrderStatus, i64)>,
) -> StoreResult<()> {
    let expected = rows.len() as u64;
    let changed = update_many_same(
        tx,
        "orders",
        "status = v.column2, updated_at = $1",
        "orders.id = v.column1 AND orders.updated_at = v.column3",
        &[Val::I(now)],
        3,
        rows.into_iter().map(|(order, status, read_at)| {
            vec![
                Val::T(order.to_string()),
                Val::T(status.as_str().to_string()),
                Val::I(read_at),
            ]
        }),
    )
    .await?;
    if changed != expected {
        return Err(StoreError::Conflict(format!(
            "{} of the chunk's {expected} orders changed while it was written; the chunk is not committed, and the next run takes them",
            expected - changed
        )));
    }
    Ok(())
}

/// Locks the orders of `chunk` for the chunk's transaction and answers
/// those changed (cancelled, updated, held, shipped, merged…) or gone
/// since the run read them, with their consolidated batch mates: the chunk
/// leaves them for the next run. On PostgreSQL each statement locks its
/// orders `FOR UPDATE` in id order, the statements in id order too, so
/// the figures it compares are the newest committed, and nothing changes
/// the orders it keeps before the chunk commits (a change waits for the
/// chunk; a change that took its lock first is waited for, and seen). On
/// SQLite the chunk's transaction holds the write lock already.
async fn changed_orders(
    conn: &mut sqlx::AnyConnection,
    inputs: &RunInputs,
    chunk: &[usize],
) -> StoreResult<Vec<usize>> {
    let style = Placeholders::of(conn);
    let mut sorted = chunk.to_vec();
    sorted.sort_unstable_by_key(|&i| inputs.candidates[i].id);
    // Copied indices: a closure taking borrowed items would make the run's
    // future fail the `Send` check (see `by_order`).
    let rows = sorted.iter().copied().map(|i| {
        let c = &inputs.candidates[i];
        vec![
            Val::T(c.id.to_string()),
            Val::I(c.updated_at),
            Val::I(i as i64),
        ]
    });
    let (values, texts) = json_chunks(style, 3, rows);
    // `FOR UPDATE` may not lock the nullable side of an outer join: on
    // PostgreSQL the orders found are read (and locked) and the rest are
    // gone.
    let sql = match style {
        Placeholders::Anonymous => format!(
            "SELECT v.column3 AS at, 1 AS changed FROM ({values}) v LEFT JOIN orders o ON o.id = v.column1 \
             WHERE o.id IS NULL OR o.updated_at <> v.column2"
        ),
        Placeholders::Numbered => format!(
            "SELECT v.column3 AS at, CAST(CASE WHEN o.updated_at <> v.column2 THEN 1 ELSE 0 END AS BIGINT) AS changed \
             FROM ({values}) v JOIN orders o ON o.id = v.column1 ORDER BY o.id FOR UPDATE OF o"
        ),
    };
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for text in texts {
        let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
            .bind(text?)
            .fetch_all(&mut *conn)
            .await?;
        for (at, changed) in rows {
            let at = usize::try_from(at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            seen.insert(at);
            if changed != 0 {
                found.push(at);
            }
        }
    }
    if style == Placeholders::Numbered {
        found.extend(chunk.iter().copied().filter(|i| !seen.contains(i)));
    }
    Ok(inputs.with_batch_mates(chunk, &found))
}

impl Store {
    /// Plans `chunk` on a background thread, on `left` (the figures the
    /// chunk before it leaves) and, for keys that chunk did not read, on
    /// figures read now without locks. The run checks them against its
    /// locked read before it uses the plan.
    fn plan_ahead(
        &self,
        inputs: Arc<RunInputs>,
        chunk: Vec<usize>,
        left: &Available,
    ) -> JoinHandle<StoreResult<Prepared>> {
        let store = self.clone();
        let left = left.clone();
        tokio::spawn(async move {
            let keys = keys_of(&inputs.candidates, &inputs.channels, &chunk);
            let unknown: Vec<Key> = keys
                .iter()
                .filter(|k| !left.contains_key(k))
                .copied()
                .collect();
            let read = if unknown.is_empty() {
                HashMap::new()
            } else {
                store.read_available(inputs.tenant, &unknown).await?
            };
            let available: Available = keys
                .iter()
                .map(|k| (*k, left.get(k).or(read.get(k)).copied().unwrap_or(0)))
                .collect();
            joined(
                tokio::task::spawn_blocking(move || inputs.prepare(&chunk, &[], available)).await,
            )
        })
    }
}

/// A task's result, as if it had run inline: its panic is re-raised; it is
/// cancelled only when the runtime shuts down.
fn joined<T>(r: Result<T, tokio::task::JoinError>) -> StoreResult<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::ShuttingDown),
    }
}

/// The orders a run considers. A line with a pickup store is served by
/// the store's pickup reception (jaego_store::pickups), never by a run.
const OPEN: &str = "o.status IN ('open','partially_allocated','partially_shipped')";

/// The expression that reads an order of `orders o` and its eligible lines
/// as one JSON text ([`CandidateJson`]).
fn candidate_sql(style: Placeholders) -> String {
    const LINE_FIELDS: &str =
        "l.id, l.sku_id, l.quantity, l.allocated, l.shipped, l.cancelled, l.returned, l.gift";
    const ORDER_FIELDS: &str = "o.id, o.external_no, o.channel_id, o.priority, o.hold, o.batch_key, o.collected_at, o.updated_at";
    const LINES_OF: &str =
        "FROM order_lines l WHERE l.order_id = o.id AND l.pickup_location_id IS NULL";
    match style {
        Placeholders::Anonymous => format!(
            "json_array({ORDER_FIELDS}, json((SELECT json_group_array(json_array({LINE_FIELDS}) ORDER BY l.line_no) {LINES_OF})))"
        ),
        Placeholders::Numbered => format!(
            "json_build_array({ORDER_FIELDS}, (SELECT COALESCE(json_agg(json_build_array({LINE_FIELDS}) ORDER BY l.line_no), '[]'::json) {LINES_OF}))::text"
        ),
    }
}

/// An order as `run_candidates` reads it: its fields, then its eligible
/// lines in line order.
#[derive(serde::Deserialize)]
struct CandidateJson(
    String,
    String,
    String,
    i64,
    i64,
    String,
    i64,
    i64,
    Vec<CandidateLineJson>,
);

/// id, SKU, quantity, allocated, shipped, cancelled, returned, gift.
#[derive(serde::Deserialize)]
struct CandidateLineJson(String, Option<String>, i64, i64, i64, i64, i64, i64);

/// Adds the orders of a candidate query's `rows` to `out`, streamed; false
/// once the run's limit of orders is reached (the rest are not read).
async fn push_all(
    out: &mut Vec<Candidate>,
    mut rows: impl futures_util::Stream<Item = Result<AnyRow, sqlx::Error>> + Unpin,
) -> StoreResult<bool> {
    while let Some(row) = rows.try_next().await? {
        if !push_candidate(out, &row)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Adds a row (one order and its lines) to the candidates; an order with
/// no eligible line (all of them pickup lines) is left out. False once the
/// run's limit of orders is reached.
fn push_candidate(out: &mut Vec<Candidate>, row: &AnyRow) -> StoreResult<bool> {
    let json = text(row, "c")?;
    let CandidateJson(
        id,
        external_no,
        channel,
        priority,
        hold,
        batch,
        collected_at,
        updated_at,
        lines,
    ) = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt(format!("run candidate: {e}")))?;
    if lines.is_empty() {
        return Ok(true);
    }
    if out.len() == ALLOCATION_RUN_ORDERS_MAX {
        return Ok(false);
    }
    let mut plan_lines = Vec::with_capacity(lines.len());
    let mut own = Vec::with_capacity(lines.len());
    for CandidateLineJson(line, sku, quantity, allocated, shipped, cancelled, returned, gift) in
        lines
    {
        let q = LineQty {
            quantity,
            allocated,
            shipped,
            cancelled,
            returned,
        };
        plan_lines.push(PlanLine {
            sku: sku.as_deref().map(parse_stored::<SkuId>).transpose()?,
            open: q.open(),
            gift: gift != 0,
            parts: Vec::new(),
        });
        own.push((parse_stored::<OrderLineId>(&line)?, q));
    }
    out.push(Candidate {
        id: parse_stored(&id)?,
        updated_at,
        external_no,
        plan: PlanOrder {
            channel: parse_stored(&channel)?,
            priority: priority != 0,
            collected_at,
            hold: hold != 0,
            batch: if batch.is_empty() { None } else { Some(batch) },
            lines: plan_lines,
        },
        lines: own,
    });
    Ok(true)
}

/// The figures of the existing balance rows among `keys`, locked until the
/// transaction ends. On PostgreSQL each row read is locked (`FOR UPDATE`,
/// in SKU and location order like every other locker, so no deadlock);
/// every location of a SKU is locked, a few rows more than `keys` may name,
/// and read as one JSON answer per [`IN_CHUNK`] SKUs: `lock_rows`, one driver
/// row per balance in statements of 2,048 keys, took 566-614 ms for 50,000
/// rows. On SQLite the transaction holds the database's write lock from
/// its `BEGIN IMMEDIATE` ([`crate::db::begin_write`]), so nothing else can
/// change a balance until it commits and a plain read gives locked
/// figures. A row that does not exist has nothing available; placements on
/// such rows (basis `unlimited`) are created and locked by the caller.
async fn lock_figures(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    keys: &[Key],
) -> StoreResult<HashMap<Key, jaego_core::Balance>> {
    let lock = match Placeholders::of(tx) {
        Placeholders::Numbered => Lock::Rows,
        Placeholders::Anonymous => Lock::Plain,
    };
    let wanted: std::collections::HashSet<Key> = keys.iter().copied().collect();
    let mut out = HashMap::with_capacity(keys.len());
    for row in balance_figures(tx, tenant, &skus_of(keys), lock).await? {
        let key = row.key()?;
        if wanted.contains(&key) {
            out.insert(key, row.balance()?);
        }
    }
    Ok(out)
}

/// A balance row as [`balance_figures`] reads it: SKU, location, then the
/// six figures.
#[derive(serde::Deserialize)]
struct BalanceJson(String, String, i64, i64, i64, i64, i64, i64);

impl BalanceJson {
    fn key(&self) -> StoreResult<Key> {
        Ok((parse_stored(&self.0)?, parse_stored(&self.1)?))
    }

    fn balance(&self) -> StoreResult<jaego_core::Balance> {
        ledger::checked(jaego_core::Balance {
            on_hand: self.2,
            reserved: self.3,
            allocated: self.4,
            incoming: self.5,
            in_transit: self.6,
            safety_stock: self.7,
        })
    }
}

/// The SKUs of `keys`, each once, in order (as [`balance_figures`] wants
/// them for [`Lock::Rows`]).
fn skus_of(keys: &[Key]) -> Vec<SkuId> {
    let mut skus: Vec<SkuId> = keys.iter().map(|k| k.0).collect();
    skus.sort_unstable();
    skus.dedup();
    skus
}

/// How [`balance_figures`] reads: plainly (a preview, or SQLite under its
/// write lock, which holds every balance already), or taking PostgreSQL's
/// row locks in key order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    Plain,
    Rows,
}

/// Every balance row of `skus` (at every location), one statement and one
/// JSON answer per [`IN_CHUNK`] SKUs: a run reads tens of thousands of
/// rows, which as driver rows cost several times the query itself. With
/// [`Lock::Rows`] `skus` must be in order, so that the rows are locked in
/// key order across the statements too.
async fn balance_figures(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    skus: &[SkuId],
    lock: Lock,
) -> StoreResult<Vec<BalanceJson>> {
    let style = Placeholders::of(conn);
    let locking = match lock {
        Lock::Plain => "",
        Lock::Rows => " ORDER BY sku_id, location_id FOR UPDATE",
    };
    let mut out = Vec::new();
    for chunk in skus.chunks(IN_CHUNK) {
        let sql = json_rows_sql(
            style,
            "sku_id, location_id, on_hand, reserved, allocated, incoming, in_transit, safety_stock",
            &format!(
                "SELECT sku_id, location_id, on_hand, reserved, allocated, incoming, in_transit, safety_stock FROM balances \
                 WHERE {TENANT_NO_INDEX} = {} AND sku_id IN {}{locking}",
                first(style),
                in_list(style, 1, chunk.len())
            ),
        );
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for s in chunk {
            q = q.bind(s.to_string());
        }
        out.extend(json_rows::<BalanceJson>(&q.fetch_one(&mut *conn).await?)?);
    }
    Ok(out)
}

/// Every (SKU, linked location) the orders `idx` may draw from.
fn keys_of(
    candidates: &[Candidate],
    channels: &HashMap<ChannelId, ChannelRules>,
    idx: &[usize],
) -> Vec<Key> {
    let mut keys: HashSet<Key> = HashSet::new();
    for &i in idx {
        let c = &candidates[i];
        let Some(rules) = channels.get(&c.plan.channel) else {
            continue;
        };
        for l in &c.plan.lines {
            if let (Some(sku), true) = (l.sku, l.open > 0) {
                for &loc in &rules.locations {
                    if l.parts.is_empty() {
                        keys.insert((sku, loc));
                    } else {
                        // A bundle line draws on its components.
                        keys.extend(l.parts.iter().map(|&(c, _)| (c, loc)));
                    }
                }
            }
        }
    }
    let mut keys: Vec<Key> = keys.into_iter().collect();
    keys.sort();
    keys
}

/// The indices of `results` in order id order, the key order every
/// multi-row write goes in. (Indices, not references: a closure taking
/// borrowed items makes the run's future fail the `Send` check, a known
/// limit of the compiler's reasoning about higher-ranked lifetimes.)
fn by_order(results: &[RunResult]) -> Vec<usize> {
    let mut sorted: Vec<usize> = (0..results.len()).collect();
    sorted.sort_unstable_by_key(|&k| results[k].order_id);
    sorted
}

/// What the run did with order `c` by plan `p`.
fn result_of(c: &Candidate, p: &OrderPlan) -> RunResult {
    RunResult {
        order_id: c.id,
        outcome: outcome_of(p),
        reason: p.reason,
        units: p.placements.iter().map(|x| x.quantity).sum(),
        placements: p
            .placements
            .iter()
            .map(|x| RunPlacement {
                line_id: c.lines[x.line].0,
                location_id: x.location,
                quantity: x.quantity,
                backorder: x.backorder,
            })
            .collect(),
    }
}

impl AllocationRun {
    /// Counts `results` in and keeps them, in order.
    fn take(&mut self, results: Vec<RunResult>) {
        for r in &results {
            match r.outcome {
                "allocated" => self.allocated += 1,
                "partial" => self.partial += 1,
                _ => self.skipped += 1,
            }
            self.units += r.units;
        }
        self.results.extend(results);
    }
}

fn run_json(run: &AllocationRun, actor: &str) -> serde_json::Value {
    json!({
        "id": run.id.to_string(),
        "mode": run.mode.map(ShipmentMode::as_str),
        "considered": run.considered,
        "allocated": run.allocated,
        "partial": run.partial,
        "skipped": run.skipped,
        "units": run.units,
        "actor": actor,
    })
}

fn run_from_row(row: &AnyRow) -> StoreResult<AllocationRun> {
    let finished_at = int(row, "finished_at")?;
    Ok(AllocationRun {
        id: parsed(row, "id")?,
        mode: opt_text(row, "mode")?
            .map(|m| m.parse().map_err(StoreError::Corrupt))
            .transpose()?,
        dry_run: flag(row, "dry_run")?,
        considered: int(row, "considered")?,
        allocated: int(row, "allocated")?,
        partial: int(row, "partial")?,
        skipped: int(row, "skipped")?,
        units: int(row, "units")?,
        started_at: int(row, "started_at")?,
        finished_at,
        state: match text(row, "state")?.as_str() {
            "running" if finished_at < now_us() - RUN_STALE_US => RunState::Interrupted,
            "running" => RunState::Running,
            "failed" => RunState::Failed,
            _ => RunState::Completed,
        },
        error: opt_text(row, "error")?,
        results: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::{
        Available, Candidate, ChannelRules, PlanLine, PlanOrder, RUN_STALE_US, Reason, RunInputs,
        RunRequest, RunState, ShipmentMode, changed_orders, lock_figures, write_statuses,
    };
    use crate::orders::service::OrderPatch;
    use crate::orders::{Customer, NewOrder, NewOrderLine};
    use crate::testing::fresh_databases;
    use crate::testing::{new_location, new_mall, new_sku};
    use crate::{Store, StoreError, StoreOptions, now_us};
    use jaego_core::allocation::GiftRule;
    use jaego_core::catalog::LocationKind;
    use jaego_core::order::{LineQty, OrderStatus};
    use jaego_core::{ChannelId, LocationId, OrderId, OrderLineId, SkuId, StockPolicy, TenantId};
    use std::collections::HashMap;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_run_at_a_time_and_a_cut_off_run_reads_as_interrupted() {
        for db in fresh_databases("one_run_at_a_time").await {
            let engine = db.engine;
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let tenant = store.create_tenant("runs").await.unwrap();
            let request = RunRequest::default();
            let first = store
                .begin_allocation_run(tenant, &request, "t")
                .await
                .unwrap();
            let run = store.get_allocation_run(tenant, first).await.unwrap();
            assert_eq!(run.state, RunState::Running, "{engine}");
            match store.begin_allocation_run(tenant, &request, "t").await {
                Err(StoreError::Refused { code, .. }) => {
                    assert_eq!(code, "run_in_progress", "{engine}");
                }
                other => panic!("{engine}: a second run while one runs: {other:?}"),
            }
            // Another tenant is not held up.
            let other = store.create_tenant("other").await.unwrap();
            store
                .begin_allocation_run(other, &request, "t")
                .await
                .unwrap();

            // The server stopped mid-run: no heartbeat for longer than the
            // limit. The run reads as interrupted and blocks nothing.
            sqlx::query("UPDATE allocation_runs SET finished_at = $1 WHERE id = $2")
                .bind(now_us() - RUN_STALE_US - 1_000_000)
                .bind(first.to_string())
                .execute(store.writer())
                .await
                .unwrap();
            let run = store.get_allocation_run(tenant, first).await.unwrap();
            assert_eq!(run.state, RunState::Interrupted, "{engine}");
            let second = store
                .begin_allocation_run(tenant, &request, "t")
                .await
                .unwrap();
            let done = store
                .finish_allocation_run(tenant, &request, "t", second)
                .await
                .unwrap();
            assert_eq!(done.state, RunState::Completed, "{engine}");
            let stored = store.get_allocation_run(tenant, second).await.unwrap();
            assert_eq!(stored.state, RunState::Completed, "{engine}");
            assert_eq!(stored.error, None, "{engine}");
        }
    }

    /// Two one-unit orders of one SKU, ranked in that order, each its own
    /// chunk, on a channel with one location.
    fn two_orders() -> (RunInputs, (SkuId, LocationId)) {
        let (channel, sku, location) = (ChannelId::new(), SkuId::new(), LocationId::new());
        let candidates: Vec<Candidate> = (0..2)
            .map(|n| Candidate {
                id: OrderId::new(),
                updated_at: 0,
                external_no: format!("A-{n}"),
                plan: PlanOrder {
                    channel,
                    priority: false,
                    collected_at: n,
                    hold: false,
                    batch: None,
                    lines: vec![PlanLine {
                        sku: Some(sku),
                        open: 1,
                        gift: false,
                        parts: Vec::new(),
                    }],
                },
                lines: vec![(
                    OrderLineId::new(),
                    LineQty {
                        quantity: 1,
                        allocated: 0,
                        shipped: 0,
                        cancelled: 0,
                        returned: 0,
                    },
                )],
            })
            .collect();
        let inputs = RunInputs {
            tenant: TenantId::new(),
            run_text: "run".into(),
            mode: None,
            plan_orders: candidates.iter().map(|c| c.plan.clone()).collect(),
            candidates,
            channels: HashMap::from([(
                channel,
                ChannelRules {
                    mode: ShipmentMode::Complete,
                    basis: StockPolicy::Strict,
                    gift_rule: GiftRule::Complete,
                    locations: vec![location],
                },
            )]),
        };
        (inputs, (sku, location))
    }

    #[test]
    fn a_plan_made_ahead_stands_only_on_the_figures_it_was_made_on() {
        let (inputs, key) = two_orders();
        let figures = |n: i64| -> Available { [(key, n)].into_iter().collect() };
        // Chunk 1 takes the only unit, so the second order is planned
        // ahead on nothing left.
        let first = inputs.prepare(&[0], &[], figures(1));
        assert_eq!(first.moves.len(), 1);
        assert_eq!(first.left, figures(0));
        let ahead = inputs.prepare(&[1], &[], first.left.clone());
        assert!(ahead.moves.is_empty());

        // Locked figures as predicted: the plan made ahead is used.
        let (used, stood) = inputs.settle(&[1], &[], Some(ahead), figures(0));
        assert!(stood);
        assert!(used.moves.is_empty());
        assert_eq!(used.results[0].outcome, "skipped");

        // A receipt came between the chunks: planned again on the locked
        // figures, and the order gets the unit.
        let ahead = inputs.prepare(&[1], &[], first.left.clone());
        let (used, stood) = inputs.settle(&[1], &[], Some(ahead), figures(1));
        assert!(!stood);
        assert_eq!(used.moves.len(), 1);
        assert_eq!(used.results[0].outcome, "allocated");
        assert_eq!(used.planned_on, figures(1));
        assert_eq!(used.left, figures(0));
        assert_eq!(used.events.len(), 1);
        assert_eq!(used.status_rows.len(), 1);

        // Nothing made ahead (the first chunk): planned here.
        let (used, stood) = inputs.settle(&[0], &[], None, figures(1));
        assert!(!stood);
        assert_eq!(used.moves.len(), 1);

        // The first order changed since the run read it: even on the
        // figures it was made on, the plan made ahead goes, and the
        // second order gets the unit the first would have taken.
        let ahead = inputs.prepare(&[0, 1], &[], figures(1));
        let (used, stood) = inputs.settle(&[0, 1], &[0], Some(ahead), figures(1));
        assert!(!stood);
        assert_eq!(used.moves.len(), 1);
        assert_eq!(used.moves[0].order, inputs.candidates[1].id);
        let outcomes: Vec<_> = used
            .results
            .iter()
            .map(|r| (r.order_id, r.outcome, r.reason))
            .collect();
        assert_eq!(
            outcomes,
            [
                (inputs.candidates[1].id, "allocated", None),
                (inputs.candidates[0].id, "skipped", Some(Reason::Changed)),
            ]
        );
        assert_eq!(used.results.len(), 2);
        assert_eq!(used.events.len(), 1);
    }

    /// What a consolidated run reads of `tenant`'s open orders now.
    async fn read_inputs(store: &Store, tenant: TenantId) -> RunInputs {
        let candidates = store.run_candidates(tenant, None).await.unwrap();
        let channels = store.run_channels(tenant, &candidates).await.unwrap();
        RunInputs {
            tenant,
            run_text: "run".into(),
            mode: Some(ShipmentMode::Consolidated),
            plan_orders: candidates.iter().map(|c| c.plan.clone()).collect(),
            candidates,
            channels,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_changed_since_the_read_are_found_with_their_batch_mates() {
        for db in fresh_databases("run_changed_orders").await {
            let engine = db.engine;
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let tenant = store.create_tenant("changed").await.unwrap();
            let location = store
                .create_location(tenant, &new_location("L1", LocationKind::Warehouse))
                .await
                .unwrap()
                .id;
            store.create_sku(tenant, &new_sku("S1")).await.unwrap();
            let channel = store
                .create_channel(tenant, &new_mall(vec![location]))
                .await
                .unwrap()
                .id;
            // A, D and E alone; B and C the same customer (one batch).
            let kim = Customer {
                name: "Kim".into(),
                phone: "010-1234-5678".into(),
                address: "Seoul".into(),
                postal_code: "04524".into(),
            };
            let orders: Vec<NewOrder> = [
                ("A", false),
                ("B", true),
                ("C", true),
                ("D", false),
                ("E", false),
            ]
            .into_iter()
            .map(|(no, batch)| NewOrder {
                external_no: no.into(),
                customer: if batch {
                    kim.clone()
                } else {
                    Customer::default()
                },
                lines: vec![NewOrderLine {
                    item_code: "S1".into(),
                    quantity: 1,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
            let ids: Vec<OrderId> = store
                .collect_orders(tenant, channel, &orders, "t")
                .await
                .unwrap()
                .iter()
                .map(|(_, o)| o.id)
                .collect();
            let inputs = read_inputs(&store, tenant).await;
            let at = |id: OrderId| inputs.candidates.iter().position(|c| c.id == id).unwrap();
            let chunk: Vec<usize> = (0..inputs.candidates.len()).collect();
            let changed = |store: Store, chunk: Vec<usize>| {
                let inputs = &inputs;
                async move {
                    let mut tx = store.begin_write().await.unwrap();
                    changed_orders(&mut tx, inputs, &chunk).await.unwrap()
                }
            };
            assert!(
                changed(store.clone(), chunk.clone()).await.is_empty(),
                "{engine}"
            );

            // A cancelled, B put on hold and E gone after the read; C waits
            // with B.
            for table in ["order_lines WHERE order_id", "orders WHERE id"] {
                sqlx::query(&format!("DELETE FROM {table} = $1"))
                    .bind(ids[4].to_string())
                    .execute(store.reader())
                    .await
                    .unwrap();
            }
            store
                .cancel_order(tenant, ids[0], None, "", "t")
                .await
                .unwrap();
            let hold = OrderPatch {
                hold: Some(true),
                ..Default::default()
            };
            store
                .update_order(tenant, ids[1], &hold, "t")
                .await
                .unwrap();
            let mut expected = vec![at(ids[0]), at(ids[1]), at(ids[2]), at(ids[4])];
            expected.sort_unstable();
            assert_eq!(
                changed(store.clone(), chunk.clone()).await,
                expected,
                "{engine}"
            );
            // Without the batch's orders in the chunk, only A.
            assert_eq!(
                changed(store.clone(), vec![at(ids[0]), at(ids[3])]).await,
                [at(ids[0])],
                "{engine}"
            );

            // A change the check did not see (were a lock ever missed): the
            // statuses are not written over it, and the chunk is refused.
            // D alone, unchanged, takes its status.
            let read = |id: OrderId| {
                let c = &inputs.candidates[at(id)];
                (c.id, OrderStatus::Allocated, c.updated_at)
            };
            let mut tx = store.begin_write().await.unwrap();
            let refused = write_statuses(&mut tx, now_us(), vec![read(ids[1]), read(ids[3])]).await;
            assert!(
                matches!(&refused, Err(StoreError::Conflict(m)) if m.starts_with("1 of the chunk's 2 orders")),
                "{engine}: {refused:?}"
            );
            tx.rollback().await.unwrap();
            for id in [ids[1], ids[3]] {
                let o = store.get_order(tenant, id).await.unwrap();
                assert_eq!(o.status, OrderStatus::Open, "{engine}");
            }
            let mut tx = store.begin_write().await.unwrap();
            write_statuses(&mut tx, now_us(), vec![read(ids[3])])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let d = store.get_order(tenant, ids[3]).await.unwrap();
            assert_eq!(d.status, OrderStatus::Allocated, "{engine}");
            assert!(
                store.get_order(tenant, ids[1]).await.unwrap().hold,
                "{engine}"
            );
        }
    }

    /// On PostgreSQL a chunk's transaction holds its orders (from the
    /// changed-order check) and the balance rows it read (one JSON answer,
    /// `FOR UPDATE` inside) until it ends: another transaction cannot lock
    /// one meanwhile, and can once it ends. (On SQLite the chunk's write
    /// lock holds the whole database.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chunk_holds_its_orders_and_balances_on_postgresql() {
        if let Some(db) = crate::testing::fresh_postgres_if_set("run_chunk_locks").await {
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let crate::testing::OneOrder {
                tenant,
                sku,
                location,
                order,
                ..
            } = crate::testing::one_order_world(&store, "locks", 5).await;
            let inputs = read_inputs(&store, tenant).await;
            let other_lock = |table: &'static str, column: &'static str, key: String| {
                let store = store.clone();
                async move {
                    sqlx::query(&format!(
                        "SELECT {column} FROM {table} WHERE {column} = $1 FOR UPDATE NOWAIT"
                    ))
                    .bind(key)
                    .fetch_all(store.reader())
                    .await
                    .map(|rows| rows.len())
                }
            };
            let both = || async {
                [
                    other_lock("orders", "id", order.to_string()).await,
                    other_lock("balances", "sku_id", sku.to_string()).await,
                ]
            };
            let mut tx = store.begin_write().await.unwrap();
            assert!(
                changed_orders(&mut tx, &inputs, &[0])
                    .await
                    .unwrap()
                    .is_empty()
            );
            let figures = lock_figures(&mut tx, tenant, &[(sku, location)])
                .await
                .unwrap();
            assert_eq!(figures[&(sku, location)].on_hand, 5);
            for held in both().await {
                match held {
                    Err(sqlx::Error::Database(e)) => {
                        assert_eq!(e.code().as_deref(), Some("55P03"), "{e}");
                    }
                    other => panic!("a row was not held: {other:?}"),
                }
            }
            tx.rollback().await.unwrap();
            for free in both().await {
                assert_eq!(free.unwrap(), 1);
            }
            store.close().await;
        }
    }
}
