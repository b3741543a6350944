//! The group-commit worker: one task that drains every reservation request,
//! commit and release waiting in its queue and applies them in one
//! transaction ([`crate::batch`]).
//!
//! There is no timer: the worker takes whatever arrived while the previous
//! transaction was committing. Under load batches grow until the fsync is
//! shared by hundreds. At low load a request does not go to the worker at
//! all: one that finds no other request queued or being applied, when the
//! worker's last batch was a single request (or it has run none), is applied
//! at once as a batch of one on the caller's own task, as with group commit
//! off, so group commit costs no hand-over to the worker's thread and back.
//! The second condition keeps a busy server on the worker: between two
//! batches every caller may have had its answer for a moment, and the next
//! request applied on the shared runtime would hold the writer while the
//! worker's next batch waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use jaego_core::limits::{GROUP_COMMIT_LINES_MAX, GROUP_COMMIT_REQUESTS_MAX};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Job, execute_batch};
use crate::db::Engine;
use crate::error::{StoreError, StoreResult};
use crate::events::EventSignal;
use crate::reservations::Reservation;

/// Most requests waiting for the worker; beyond this, callers wait to enqueue.
const QUEUE_DEPTH_MAX: usize = 8_192;

struct Work {
    job: Job,
    reply: oneshot::Sender<StoreResult<Reservation>>,
}

/// What the group commit has done since the store opened (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Requests applied at once on the caller's task: nothing else was
    /// queued or being applied when they came.
    pub direct_requests: u64,
    /// Transactions the worker ran.
    pub worker_batches: u64,
    /// Requests in those transactions.
    pub worker_requests: u64,
}

#[derive(Default)]
struct Counters {
    /// Callers inside [`Batcher::submit`]: queued, being applied, or
    /// waiting for their answer.
    in_hand: AtomicUsize,
    /// Requests in the worker's last batch (0 before its first).
    last_batch: AtomicUsize,
    direct_requests: AtomicU64,
    worker_batches: AtomicU64,
    worker_requests: AtomicU64,
}

/// Takes a caller out of [`Counters::in_hand`] however its call ends
/// (answered, failed, or dropped because the client went away).
struct InHand<'a>(&'a Counters);

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        self.0.in_hand.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The handle to the worker. When the last handle drops, the worker finishes
/// the batch in hand and stops.
pub(crate) struct Batcher {
    queue: mpsc::Sender<Work>,
    /// What the worker applies with; a lone request uses it on its own task.
    worker: Worker,
}

impl Batcher {
    /// Starts the worker on a thread of its own with its own
    /// single-threaded runtime. On a busy 2-core machine the request
    /// handlers would otherwise queue ahead of the worker at every await of
    /// a batch, and every waiting request pays that delay (measured on
    /// SQLite: a batch of ~30 took 6 ms on the shared runtime, of which
    /// 0.2 ms was SQL; on PostgreSQL `hot-sku` made about a quarter more
    /// reservations per second once the worker left the shared runtime).
    ///
    /// On SQLite the worker applies with `pool`, the store's single writer
    /// connection. On PostgreSQL it opens a connection of its own from `url`
    /// on its runtime, connected on first use and again after a failure: a
    /// socket belongs to the reactor of the runtime that opened it, and
    /// driving one of the shared pool's from another runtime costs a thread
    /// hop at every await (measured: +30 % p50 at one connection). `pool`
    /// stays what a lone request applies with on its caller's task.
    pub(crate) fn spawn(engine: Engine, pool: AnyPool, events: EventSignal, url: &str) -> Batcher {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH_MAX);
        let worker = Worker {
            engine,
            pool,
            events,
            counters: Arc::default(),
        };
        let batcher = Batcher {
            queue,
            worker: worker.clone(),
        };
        let url = url.to_string();
        let thread = std::thread::Builder::new()
            .name("jaego-group-commit".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the group-commit runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    match engine {
                        Engine::Sqlite => worker.run(jobs).await,
                        Engine::Postgres => match own_connection(&url) {
                            Ok(pool) => {
                                Worker {
                                    pool: pool.clone(),
                                    ..worker
                                }
                                .run(jobs)
                                .await;
                                pool.close().await;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "cannot set up the group-commit connection");
                            }
                        },
                    }
                });
            });
        if let Err(e) = thread {
            tracing::error!(error = %e, "cannot start the group-commit thread");
        }
        batcher
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        let c = &self.worker.counters;
        GroupCommitStats {
            direct_requests: c.direct_requests.load(Ordering::Relaxed),
            worker_batches: c.worker_batches.load(Ordering::Relaxed),
            worker_requests: c.worker_requests.load(Ordering::Relaxed),
        }
    }

    pub(crate) async fn submit(&self, job: Job) -> StoreResult<Reservation> {
        let w = &self.worker;
        let alone = w.counters.in_hand.fetch_add(1, Ordering::AcqRel) == 0;
        let _in_hand = InHand(&w.counters);
        if alone && w.counters.last_batch.load(Ordering::Acquire) <= 1 {
            // Nothing to share a commit with: apply it here. Requests that
            // come meanwhile queue for the worker, which takes the writer
            // after this transaction.
            w.counters.direct_requests.fetch_add(1, Ordering::Relaxed);
            return apply_alone(&w.pool, w.engine, &w.events, job).await;
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Work { job, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

/// How long the worker's PostgreSQL connection may sit unused before it is
/// tested (a round trip) before the next batch. Under load a batch follows
/// the last within a millisecond, and the test would be one more round trip
/// in each (measured: batches 7 % shorter without it, docs/PERFORMANCE.md).
/// A connection that fails in use is tested as it is given back, and closed.
const IDLE_BEFORE_TEST: Duration = Duration::from_secs(1);

/// The PostgreSQL worker's own connection, a pool of one on the calling
/// runtime, connected when the first batch needs it and again after it
/// is lost. Without a running worker the queue's receiver is gone and
/// every queued request is answered [`StoreError::ShuttingDown`].
fn own_connection(url: &str) -> StoreResult<AnyPool> {
    let options: AnyConnectOptions = url.parse()?;
    Ok(AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_BEFORE_TEST {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

/// Applies `job` in a transaction of its own: group commit off, or a
/// request that found the worker idle.
pub(crate) async fn apply_alone(
    pool: &AnyPool,
    engine: Engine,
    events: &EventSignal,
    job: Job,
) -> StoreResult<Reservation> {
    let result = execute_batch(pool, engine, vec![job])
        .await
        .pop()
        .unwrap_or(Err(StoreError::ShuttingDown));
    events.bump();
    result
}

/// The worker's database and counters.
#[derive(Clone)]
struct Worker {
    engine: Engine,
    pool: AnyPool,
    events: EventSignal,
    counters: Arc<Counters>,
}

impl Worker {
    async fn run(self, mut jobs: mpsc::Receiver<Work>) {
        let mut carry: Option<Work> = None;
        loop {
            let first = match carry.take() {
                Some(job) => job,
                None => match jobs.recv().await {
                    Some(job) => job,
                    None => break,
                },
            };
            let mut lines = first.job.lines();
            let mut batch = vec![first];
            while batch.len() < GROUP_COMMIT_REQUESTS_MAX {
                let Ok(work) = jobs.try_recv() else { break };
                if lines + work.job.lines() > GROUP_COMMIT_LINES_MAX {
                    carry = Some(work);
                    break;
                }
                lines += work.job.lines();
                batch.push(work);
            }
            let (requests, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|w| (w.job, w.reply)).unzip();
            let size = requests.len();
            let started = std::time::Instant::now();
            let results = execute_batch(&self.pool, self.engine, requests).await;
            self.events.bump();
            let counters = &self.counters;
            counters.last_batch.store(size, Ordering::Release);
            counters.worker_batches.fetch_add(1, Ordering::Relaxed);
            counters
                .worker_requests
                .fetch_add(size as u64, Ordering::Relaxed);
            tracing::debug!(
                engine = self.engine.as_str(),
                requests = size,
                lines,
                micros = started.elapsed().as_micros() as u64,
                "reservation batch"
            );
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone (client disconnected); its
                // reservation stands and expires like any other.
                let _ = reply.send(result);
            }
        }
    }
}
