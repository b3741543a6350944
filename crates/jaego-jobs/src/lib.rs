//! jaego's background jobs: each a loop that calls one store method at its
//! own pace, in bounded batches. Every job is safe to run on several
//! instances at once, because the store claims each item with a conditional
//! update (a reservation `WHERE state = 'open'`, a schedule occurrence
//! `WHERE next_run_at = <due>`), so adding instances never runs work twice.
//!
//! To add a job, add a [`Job`] to [`JOBS`]: its name, how long to sleep
//! when there was nothing (or little) to do, and the store call, which gets
//! the current time and returns how many items it handled. A call that
//! handled a full batch (`batch_max`) runs again at once.

#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jaego_core::limits::{
    EVENT_PURGE_BATCH_MAX, EVENT_RETENTION_SECS, EXPIRY_BATCH_MAX, LOGIN_WINDOW_SECS,
    SCHEDULE_BATCH_MAX, STOCK_RULES_EVENTS_MAX, WEBHOOK_LOG_RETENTION_SECS,
};
use jaego_store::{Store, StoreResult, now_us};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the expiry job looks for reservations past their deadline.
pub const EXPIRY_INTERVAL: Duration = Duration::from_millis(500);
/// How often ended sessions and stale sign-in counters are deleted.
pub const AUTH_PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How long an ended session stays listed (for owners looking back).
pub const ENDED_SESSION_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the stock-rules follower looks for new events (channel
/// figures, low-stock actions): the most a figure lags its stock change,
/// plus the time to compute it.
pub const STOCK_RULES_INTERVAL: Duration = Duration::from_millis(200);

/// How often due schedules (daily resets, status pushes) are looked for.
pub const SCHEDULE_INTERVAL: Duration = Duration::from_secs(1);

/// What a job's store call returns: how many items it handled.
pub type JobRun = Pin<Box<dyn Future<Output = StoreResult<usize>> + Send>>;

/// One background job.
pub struct Job {
    pub name: &'static str,
    /// Sleep between calls that did not fill a batch.
    pub every: Duration,
    /// A call that handled this many items runs again at once.
    pub batch_max: usize,
    /// The store call, given the current time in microseconds.
    pub run: fn(Store, i64) -> JobRun,
}

/// Every job the server runs beside its HTTP listener.
pub const JOBS: &[Job] = &[
    Job {
        name: "expire_reservations",
        every: EXPIRY_INTERVAL,
        batch_max: EXPIRY_BATCH_MAX,
        run: |store, now| Box::pin(async move { store.expire_due(now, EXPIRY_BATCH_MAX).await }),
    },
    Job {
        name: "purge_events",
        every: Duration::from_secs(60),
        batch_max: EVENT_PURGE_BATCH_MAX,
        run: |store, now| {
            Box::pin(async move {
                let before = now - EVENT_RETENTION_SECS * 1_000_000;
                let purged = store.purge_events(before, EVENT_PURGE_BATCH_MAX).await?;
                Ok(purged as usize)
            })
        },
    },
    Job {
        name: "stock_rules",
        every: STOCK_RULES_INTERVAL,
        batch_max: STOCK_RULES_EVENTS_MAX,
        run: |store, now| Box::pin(async move { store.follow_stock_rules(now).await }),
    },
    Job {
        name: "daily_resets",
        every: SCHEDULE_INTERVAL,
        batch_max: SCHEDULE_BATCH_MAX,
        run: |store, now| Box::pin(async move { store.run_daily_resets(now).await }),
    },
    Job {
        name: "status_pushes",
        every: SCHEDULE_INTERVAL,
        batch_max: SCHEDULE_BATCH_MAX,
        run: |store, now| Box::pin(async move { store.run_status_pushes(now).await }),
    },
    Job {
        // Sign-in counters whose window ended, and sessions that ended long
        // ago. Idempotent deletes, so several instances may run it at once.
        name: "purge_auth",
        every: AUTH_PURGE_INTERVAL,
        batch_max: usize::MAX,
        run: |store, _now| {
            Box::pin(async move {
                let window_us = LOGIN_WINDOW_SECS * 1_000_000;
                let keep_us = i64::try_from(ENDED_SESSION_KEEP.as_micros()).unwrap_or(i64::MAX);
                let purged = store.purge_auth(window_us, keep_us).await?;
                Ok(usize::try_from(purged).unwrap_or(usize::MAX))
            })
        },
    },
    Job {
        name: "purge_webhook_log",
        every: Duration::from_secs(60),
        batch_max: EVENT_PURGE_BATCH_MAX,
        run: |store, now| {
            Box::pin(async move {
                let before = now - WEBHOOK_LOG_RETENTION_SECS * 1_000_000;
                let purged = store
                    .purge_webhook_attempts(before, EVENT_PURGE_BATCH_MAX)
                    .await?;
                Ok(purged as usize)
            })
        },
    },
    Job {
        name: "auto_link_skus",
        every: Duration::from_secs(30),
        batch_max: AUTO_LINK_BATCH_MAX,
        run: |store, now| {
            Box::pin(async move { store.run_due_auto_links(now, AUTO_LINK_BATCH_MAX).await })
        },
    },
    Job {
        // Order lines with a pickup store become pickup requests, and
        // cancellations on their orders reach the requests.
        name: "pickup_intake",
        every: PICKUP_INTAKE_INTERVAL,
        batch_max: jaego_store::pickups::PICKUP_INTAKE_BATCH_MAX,
        run: |store, now| Box::pin(async move { store.pickup_intake(now).await }),
    },
    Job {
        name: "pickup_prints",
        every: SCHEDULE_INTERVAL,
        batch_max: SCHEDULE_BATCH_MAX,
        run: |store, now| Box::pin(async move { store.run_pickup_prints(now).await }),
    },
    Job {
        name: "expire_pickups",
        every: PICKUP_EXPIRY_INTERVAL,
        batch_max: jaego_store::pickups::PICKUP_EXPIRY_BATCH_MAX,
        run: |store, now| {
            Box::pin(async move {
                store
                    .expire_pickups(now, jaego_store::pickups::PICKUP_EXPIRY_BATCH_MAX)
                    .await
            })
        },
    },
];

/// How often new pickup lines and cancellations are taken in: the most a
/// pickup request lags its order.
pub const PICKUP_INTAKE_INTERVAL: Duration = Duration::from_secs(2);
/// How often received pickups past their deadline are looked for.
pub const PICKUP_EXPIRY_INTERVAL: Duration = Duration::from_secs(10);

/// Most channels' auto-link occurrences run per call of the job.
const AUTO_LINK_BATCH_MAX: usize = 50;

/// The running jobs; [`Jobs::stop`] ends them.
pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    pub fn start(store: &Store) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let handles = JOBS
            .iter()
            .map(|job| tokio::spawn(run(job, store.clone(), stopped.clone())))
            .collect();
        Jobs { stop, handles }
    }

    /// Asks every job to stop and waits for the batch in hand to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// Runs `job` until told to stop: a full batch means more may be waiting,
/// so it goes again at once; otherwise it sleeps until the next tick.
async fn run(job: &'static Job, store: Store, mut stopped: watch::Receiver<bool>) {
    loop {
        match (job.run)(store.clone(), now_us()).await {
            Ok(n) if n >= job.batch_max => continue,
            Ok(0) => {}
            Ok(n) => tracing::debug!(job = job.name, handled = n, "job ran"),
            Err(e) => tracing::warn!(job = job.name, error = %e, "job failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(job.every) => {}
            _ = stopped.changed() => return,
        }
    }
}
