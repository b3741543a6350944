//! Stored schedules: jobs that run at set times in a location's time zone
//! (daily resets, pickup print runs, hourly auto-links, status pushes).
//!
//! A schedule row says when its job is next due. A job runs an occurrence
//! by calling [`advance`] inside the transaction that does the work: the
//! conditional update (`WHERE next_run_at = <the due time read>`) lets only
//! one transaction run each occurrence, across any number of instances, and
//! the work and the advance commit or roll back together, so a crash never
//! leaves an occurrence half-run or run twice. The next due time is computed
//! from the time of the run, not of the missed occurrence, so after
//! downtime a job runs once, late, rather than once per missed occurrence.

use jaego_core::TenantId;
use jaego_core::schedule::{Spec, zone};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::rows::{int, opt_int, parsed, text};
use jaego_core::InvalidInput;

/// One job's schedule for one tenant and scope (a location id, a channel
/// id, or `""` for the whole tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub tenant: TenantId,
    pub job: String,
    pub scope: String,
    /// `None`: manual only (never due by itself).
    pub spec: Option<Spec>,
    pub time_zone: String,
    pub next_run_at: Option<i64>,
    pub last_run_at: Option<i64>,
    /// The due time of the last occurrence run (it may have run late).
    pub last_due_at: Option<i64>,
    pub runs: i64,
}

const COLUMNS: &str =
    "tenant_id, job, scope, spec, time_zone, next_run_at, last_run_at, last_due_at, runs";

impl Store {
    /// Creates or replaces the schedule of (`job`, `scope`): next due at the
    /// first occurrence after `now`, or never for `None` (manual only).
    /// Keeps the run history.
    pub async fn set_schedule(
        &self,
        tenant: TenantId,
        job: &str,
        scope: &str,
        spec: Option<Spec>,
        time_zone: &str,
        now: i64,
    ) -> StoreResult<Schedule> {
        let tz = zone(time_zone).map_err(|e| InvalidInput::one("time_zone", e))?;
        let next = spec.map(|s| s.next_after(&tz, now));
        let spec_text = spec.map(|s| s.to_string()).unwrap_or_default();
        sqlx::query(
            "INSERT INTO schedules (tenant_id, job, scope, spec, time_zone, next_run_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, job, scope) DO UPDATE SET spec = excluded.spec, \
               time_zone = excluded.time_zone, next_run_at = excluded.next_run_at, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(job)
        .bind(scope)
        .bind(spec_text)
        .bind(time_zone)
        .bind(next)
        .bind(now)
        .execute(self.writer())
        .await?;
        self.schedule(tenant, job, scope)
            .await?
            .ok_or_else(|| StoreError::not_found("schedule", job))
    }

    /// The schedule of (`job`, `scope`), if one was set.
    pub async fn schedule(
        &self,
        tenant: TenantId,
        job: &str,
        scope: &str,
    ) -> StoreResult<Option<Schedule>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE tenant_id = $1 AND job = $2 AND scope = $3"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(job)
            .bind(scope)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// Up to `limit` schedules of `job`, across tenants, due at `now`,
    /// earliest first. Reading one does not claim it: the run's
    /// [`advance`] does.
    pub async fn due_schedules(
        &self,
        job: &str,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<Schedule>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE job = $1 AND next_run_at IS NOT NULL AND next_run_at <= $2 \
             ORDER BY next_run_at LIMIT $3"
        );
        sqlx::query(&sql)
            .bind(job)
            .bind(now)
            .bind(limit.max(1) as i64)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(schedule_from_row)
            .collect()
    }
}

/// Claims the occurrence of `schedule` that was due at its `next_run_at`,
/// in the caller's transaction, and moves the schedule to its first
/// occurrence after `now`. Returns `false` if another transaction ran this
/// occurrence first (or the schedule changed): the caller then does nothing
/// and rolls back.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "called by each area's scheduled jobs as they land"
    )
)]
pub(crate) async fn advance(
    tx: &mut Transaction<'_, Any>,
    schedule: &Schedule,
    now: i64,
) -> StoreResult<bool> {
    let Some(due) = schedule.next_run_at else {
        return Ok(false);
    };
    let next = match schedule.spec {
        Some(spec) => {
            let tz = zone(&schedule.time_zone).map_err(StoreError::Corrupt)?;
            Some(spec.next_after(&tz, now))
        }
        None => None,
    };
    let claimed = sqlx::query(
        "UPDATE schedules SET next_run_at = $1, last_run_at = $2, last_due_at = $3, runs = runs + 1, updated_at = $2 \
         WHERE tenant_id = $4 AND job = $5 AND scope = $6 AND next_run_at = $3",
    )
    .bind(next)
    .bind(now)
    .bind(due)
    .bind(schedule.tenant.to_string())
    .bind(&schedule.job)
    .bind(&schedule.scope)
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

fn schedule_from_row(row: &AnyRow) -> StoreResult<Schedule> {
    let spec = text(row, "spec")?;
    Ok(Schedule {
        tenant: parsed(row, "tenant_id")?,
        job: text(row, "job")?,
        scope: text(row, "scope")?,
        spec: if spec.is_empty() {
            None
        } else {
            Some(spec.parse().map_err(StoreError::Corrupt)?)
        },
        time_zone: text(row, "time_zone")?,
        next_run_at: opt_int(row, "next_run_at")?,
        last_run_at: opt_int(row, "last_run_at")?,
        last_due_at: opt_int(row, "last_due_at")?,
        runs: int(row, "runs")?,
    })
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use jaego_core::schedule::Spec;

    use super::advance;
    use crate::testing::fresh_databases;
    use crate::{Store, StoreOptions};

    fn us(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
    }

    /// Runs every due occurrence of `job` at `now` the way a job does:
    /// claim it with `advance` in a transaction, then commit. Returns how
    /// many this store ran.
    async fn run_due(store: &Store, job: &str, now: i64) -> usize {
        let mut ran = 0;
        for schedule in store.due_schedules(job, now, 10).await.unwrap() {
            let mut tx = store.begin_write().await.unwrap();
            if advance(&mut tx, &schedule, now).await.unwrap() {
                tx.commit().await.unwrap();
                ran += 1;
            }
        }
        ran
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_occurrence_runs_once_and_missed_runs_catch_up_once() {
        for db in fresh_databases("each_occurrence_runs_once").await {
            let engine = db.engine;
            let a = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let b = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let tenant = a.create_tenant("t").await.unwrap();
            let spec: Spec = "daily 04:00".parse().unwrap();
            // Set at 03:00 Seoul time: due at 04:00 the same day.
            let set_at = us("2026-11-21T18:00:00Z");
            let schedule = a
                .set_schedule(tenant, "reset", "store-1", Some(spec), "Asia/Seoul", set_at)
                .await
                .unwrap();
            assert_eq!(
                schedule.next_run_at,
                Some(us("2026-11-21T19:00:00Z")),
                "{engine}"
            );
            // Not due yet.
            assert_eq!(run_due(&a, "reset", us("2026-11-21T18:59:59Z")).await, 0);
            // Two instances race for the occurrence: exactly one runs it.
            let now = us("2026-11-21T19:00:01Z");
            let (x, y) = tokio::join!(run_due(&a, "reset", now), run_due(&b, "reset", now));
            assert_eq!(x + y, 1, "{engine}: ran {x} + {y}");
            let after = a
                .schedule(tenant, "reset", "store-1")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(after.runs, 1, "{engine}");
            assert_eq!(after.last_due_at, Some(us("2026-11-21T19:00:00Z")));
            assert_eq!(after.next_run_at, Some(us("2026-11-22T19:00:00Z")));
            // Down for three days: the job runs once, late, then is back on time.
            let late = us("2026-11-25T08:00:00Z");
            assert_eq!(
                run_due(&a, "reset", late).await + run_due(&b, "reset", late).await,
                1
            );
            let after = a
                .schedule(tenant, "reset", "store-1")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(after.runs, 2, "{engine}");
            assert_eq!(after.next_run_at, Some(us("2026-11-25T19:00:00Z")));
            // Manual only: never due by itself.
            a.set_schedule(tenant, "reset", "store-1", None, "Asia/Seoul", late)
                .await
                .unwrap();
            assert_eq!(run_due(&a, "reset", i64::MAX / 2).await, 0, "{engine}");
            // A bad zone is refused.
            assert!(
                a.set_schedule(tenant, "reset", "x", Some(spec), "Mars/Base", late)
                    .await
                    .is_err()
            );
            a.close().await;
            b.close().await;
        }
    }
}
