//! Product status per SKU and its push to channels.
//!
//! A status change takes effect on channel figures at once (the follower
//! reacts to `sku.status_changed`), and marks the SKU for the next status
//! push. A push — on the tenant's stored schedule (job `status_push`) or on
//! demand — sends every marked SKU's status to every sharing channel that
//! does not exclude it, as `channel.status` events, and clears the marks.
//! Each mark is cleared by a conditional update (`WHERE push_pending = 1`),
//! so a change is pushed once even if two pushes run together; a scheduled
//! occurrence is claimed with `schedules::advance`, so it runs once across
//! instances and once, late, after downtime.

use std::collections::HashSet;

use jaego_core::limits::{SCHEDULE_BATCH_MAX, STATUS_PUSH_BATCH_MAX};
use jaego_core::product_status::SkuStatus;
use jaego_core::schedule::Spec;
use jaego_core::{ChannelId, SkuId, TenantId};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::figures;
use super::sql::Sql;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds, time_text};
use crate::orders::{TENANT_NO_INDEX, rows_in};
use crate::rows::{int, opt_int, opt_parsed, parsed, text};
use crate::schedules::{self, Schedule};
use crate::{Store, now_us};

/// The schedule job name of status pushes (scope: the whole tenant).
pub const STATUS_PUSH_JOB: &str = "status_push";

/// A SKU's status as stored.
#[derive(Debug, Clone)]
pub struct SkuStatusRow {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub status: SkuStatus,
    /// Changed since the last push.
    pub push_pending: bool,
    /// `None` if never set.
    pub updated_at: Option<i64>,
}

/// What one push did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushReport {
    /// SKUs whose status went out.
    pub skus: usize,
    /// `channel.status` events written.
    pub events: usize,
}

fn status_from_row(row: &AnyRow) -> StoreResult<SkuStatus> {
    Ok(SkuStatus {
        discontinued: opt_int(row, "discontinued")?.unwrap_or(0) != 0,
        discontinued_on: opt_parsed(row, "discontinued_on")?,
        reorder: opt_int(row, "reorder")?.unwrap_or(0) != 0,
        reorder_on: opt_parsed(row, "reorder_on")?,
        forced_sold_out: opt_int(row, "forced_sold_out")?.unwrap_or(0) != 0,
        limited_stock: opt_int(row, "limited_stock")?,
    })
}

/// A status as an event body.
pub(crate) fn status_body(sku: SkuId, code: &str, s: &SkuStatus) -> Value {
    json!({
        "sku_id": sku.to_string(),
        "sku_code": code,
        "status": s.summary(),
        "discontinued": s.discontinued,
        "discontinued_on": s.discontinued_on.map(|d| d.to_string()),
        "reorder": s.reorder,
        "reorder_on": s.reorder_on.map(|d| d.to_string()),
        "forced_sold_out": s.forced_sold_out,
        "limited_stock": s.limited_stock,
    })
}

impl Store {
    /// A SKU's status (all clear if never set).
    pub async fn sku_status(&self, tenant: TenantId, sku: SkuId) -> StoreResult<SkuStatusRow> {
        self.sku_statuses(tenant, &[sku])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("sku", sku))
    }

    /// The statuses of `skus` (all clear for those never set), in SKU id
    /// order within each 1,000 of them; SKUs not in the tenant are left
    /// out. One query per 1,000.
    pub async fn sku_statuses(
        &self,
        tenant: TenantId,
        skus: &[SkuId],
    ) -> StoreResult<Vec<SkuStatusRow>> {
        let mut conn = self.reader().acquire().await?;
        let rows = rows_in(&mut conn, tenant, skus, |t, list| {
            format!(
                "SELECT s.id, s.code, st.discontinued, st.discontinued_on, st.reorder, st.reorder_on, \
                        st.forced_sold_out, st.limited_stock, st.push_pending, st.updated_at \
                 FROM skus s LEFT JOIN sku_status st ON st.sku_id = s.id \
                 WHERE s.{TENANT_NO_INDEX} = {t} AND s.id IN {list} ORDER BY s.id"
            )
        })
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SkuStatusRow {
                    sku_id: parsed(row, "id")?,
                    sku_code: text(row, "code")?,
                    status: status_from_row(row)?,
                    push_pending: opt_int(row, "push_pending")?.unwrap_or(0) != 0,
                    updated_at: opt_int(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Replaces a SKU's status, marks it for the next push, and sets the
    /// SKU's one-word `status` (`sold_out`, `discontinued`, `limited`,
    /// `active`).
    pub async fn set_sku_status(
        &self,
        tenant: TenantId,
        sku: SkuId,
        status: &SkuStatus,
    ) -> StoreResult<SkuStatusRow> {
        status.validate()?;
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let found = sqlx::query("SELECT code FROM skus WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(sku.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("sku", sku))?;
        let code = text(&found, "code")?;
        sqlx::query(
            "INSERT INTO sku_status (tenant_id, sku_id, discontinued, discontinued_on, reorder, reorder_on, \
               forced_sold_out, limited_stock, push_pending, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9) \
             ON CONFLICT (sku_id) DO UPDATE SET discontinued = excluded.discontinued, \
               discontinued_on = excluded.discontinued_on, reorder = excluded.reorder, \
               reorder_on = excluded.reorder_on, forced_sold_out = excluded.forced_sold_out, \
               limited_stock = excluded.limited_stock, push_pending = 1, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .bind(i64::from(status.discontinued))
        .bind(status.discontinued_on.map(|d| d.to_string()))
        .bind(i64::from(status.reorder))
        .bind(status.reorder_on.map(|d| d.to_string()))
        .bind(i64::from(status.forced_sold_out))
        .bind(status.limited_stock)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE skus SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(status.summary())
        .bind(now)
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::SKU_STATUS_CHANGED,
            status_body(sku, &code, status),
        )
        .sku(sku)
        .subject(sku);
        self.commit_with(tx, &[event]).await?;
        Ok(SkuStatusRow {
            sku_id: sku,
            sku_code: code,
            status: *status,
            push_pending: true,
            updated_at: Some(now),
        })
    }

    /// Sets (or with `None` removes, leaving "push now" only) the tenant's
    /// status-push schedule, in `time_zone`.
    pub async fn set_status_push_schedule(
        &self,
        tenant: TenantId,
        spec: Option<Spec>,
        time_zone: &str,
        now: i64,
    ) -> StoreResult<Schedule> {
        self.set_schedule(tenant, STATUS_PUSH_JOB, "", spec, time_zone, now)
            .await
    }

    /// The tenant's status-push schedule, if one was set.
    pub async fn status_push_schedule(&self, tenant: TenantId) -> StoreResult<Option<Schedule>> {
        self.schedule(tenant, STATUS_PUSH_JOB, "").await
    }

    /// Pushes every pending status now ("push now").
    pub async fn push_statuses(&self, tenant: TenantId) -> StoreResult<PushReport> {
        let mut total = PushReport::default();
        loop {
            let tx = self.begin_write().await?;
            let (report, more) = self.push_batch(tx, tenant, "manual", None).await?;
            total.skus += report.skus;
            total.events += report.events;
            if !more {
                return Ok(total);
            }
        }
    }

    /// Runs the status pushes whose schedule is due at `now`. Returns how
    /// many occurrences this instance ran.
    pub async fn run_status_pushes(&self, now: i64) -> StoreResult<usize> {
        let mut ran = 0;
        for schedule in self
            .due_schedules(STATUS_PUSH_JOB, now, SCHEDULE_BATCH_MAX)
            .await?
        {
            let mut tx = self.begin_write().await?;
            if !schedules::advance(&mut tx, &schedule, now).await? {
                continue;
            }
            ran += 1;
            let tenant = schedule.tenant;
            let (_, mut more) = self
                .push_batch(tx, tenant, "schedule", schedule.next_run_at)
                .await?;
            while more {
                let tx = self.begin_write().await?;
                more = self.push_batch(tx, tenant, "schedule", None).await?.1;
            }
        }
        Ok(ran)
    }

    /// Claims up to [`STATUS_PUSH_BATCH_MAX`] pending statuses in `tx`,
    /// writes their `channel.status` events and a `status.pushed` summary,
    /// and commits. Returns the report and whether more may be pending.
    async fn push_batch(
        &self,
        mut tx: Transaction<'_, Any>,
        tenant: TenantId,
        trigger: &str,
        due_at: Option<i64>,
    ) -> StoreResult<(PushReport, bool)> {
        let claimed = sqlx::query(
            "UPDATE sku_status SET push_pending = 0 \
             WHERE tenant_id = $1 AND push_pending = 1 AND sku_id IN \
               (SELECT sku_id FROM sku_status WHERE tenant_id = $1 AND push_pending = 1 ORDER BY sku_id LIMIT $2) \
             RETURNING sku_id, discontinued, discontinued_on, reorder, reorder_on, forced_sold_out, limited_stock",
        )
        .bind(tenant.to_string())
        .bind(STATUS_PUSH_BATCH_MAX as i64)
        .fetch_all(&mut *tx)
        .await?;
        let mut statuses = Vec::with_capacity(claimed.len());
        for row in &claimed {
            statuses.push((parsed::<SkuId>(row, "sku_id")?, status_from_row(row)?));
        }
        statuses.sort_by_key(|(s, _)| *s);
        let more = statuses.len() >= STATUS_PUSH_BATCH_MAX;
        let channels = figures::channels(&mut tx, tenant, None).await?;
        let sharing: Vec<&figures::ChannelInfo> = channels.iter().filter(|c| c.sharing).collect();
        let skus: Vec<SkuId> = statuses.iter().map(|(s, _)| *s).collect();
        let codes = figures::sku_facts(&mut tx, tenant, &skus).await?;
        let mut sql =
            Sql::new("SELECT channel_id, sku_id FROM channel_exclusions WHERE tenant_id = ");
        let t = sql.text(tenant);
        let sku_list = sql.list(&skus);
        sql.push(&format!("{t} AND sku_id IN {sku_list}"));
        let mut excluded: HashSet<(ChannelId, SkuId)> = HashSet::new();
        for row in sql.fetch_all(&mut tx).await? {
            excluded.insert((parsed(&row, "channel_id")?, parsed(&row, "sku_id")?));
        }
        let mut events = Vec::new();
        for (sku, status) in &statuses {
            let code = codes.get(sku).map_or("", |f| f.code.as_str());
            for channel in &sharing {
                if excluded.contains(&(channel.id, *sku)) {
                    continue;
                }
                let mut body = status_body(*sku, code, status);
                body["channel_id"] = json!(channel.id.to_string());
                body["channel_code"] = json!(channel.code);
                events.push(
                    NewEvent::new(tenant, kinds::CHANNEL_STATUS, body)
                        .channel(channel.id)
                        .sku(*sku)
                        .subject(format!("{}/{sku}", channel.id)),
                );
            }
        }
        let report = PushReport {
            skus: statuses.len(),
            events: events.len(),
        };
        if report.skus > 0 || due_at.is_some() {
            events.push(NewEvent::new(
                tenant,
                kinds::STATUS_PUSHED,
                json!({
                    "trigger": trigger,
                    "due_at": due_at.map(time_text),
                    "skus": report.skus,
                    "channels": sharing.len(),
                    "events": report.events,
                }),
            ));
        }
        if events.is_empty() {
            tx.commit().await?;
        } else {
            self.commit_with(tx, &events).await?;
        }
        Ok((report, more))
    }
}

impl Store {
    /// How many SKU statuses changed since the last push.
    pub async fn pending_status_pushes(&self, tenant: TenantId) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM sku_status WHERE tenant_id = $1 AND push_pending = 1",
        )
        .bind(tenant.to_string())
        .fetch_one(self.reader())
        .await?;
        int(&row, "n")
    }
}
