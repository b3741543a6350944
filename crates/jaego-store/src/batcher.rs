//! The group-commit worker: one task that drains every reservation request,
//! commit and release waiting in its queue and applies them in one
//! transaction ([`crate::batch`]).
//!
//! There is no timer: the worker takes whatever arrived while the previous
//! transaction was committing. Under no load a batch is one request and adds
//! no latency; under load batches grow until the fsync is shared by hundreds.

use jaego_core::limits::{GROUP_COMMIT_LINES_MAX, GROUP_COMMIT_REQUESTS_MAX};
use sqlx::AnyPool;
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

/// The handle to the worker. When the last handle drops, the worker finishes
/// the batch in hand and stops.
pub(crate) struct Batcher {
    queue: mpsc::Sender<Work>,
}

impl Batcher {
    /// On SQLite, starts the worker on a thread of its own with its own
    /// single-threaded runtime. On a busy 2-core machine the request handlers would otherwise
    /// queue ahead of the worker at every await of a batch (measured: a batch
    /// of ~30 took 6 ms on the shared runtime, of which 0.2 ms was SQL), and
    /// every waiting request pays that delay.
    pub(crate) fn spawn(engine: Engine, pool: AnyPool, events: EventSignal) -> Batcher {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH_MAX);
        match engine {
            // PostgreSQL sockets belong to the main runtime's reactor; driving
            // them from another runtime costs a thread hop per await
            // (measured: +30% p50 at one connection), so the worker stays here.
            Engine::Postgres => {
                tokio::spawn(run(engine, pool, events, jobs));
            }
            Engine::Sqlite => {
                let thread = std::thread::Builder::new()
                    .name("jaego-group-commit".into())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(runtime) => runtime.block_on(run(engine, pool, events, jobs)),
                            Err(e) => {
                                tracing::error!(error = %e, "cannot start the group-commit runtime");
                            }
                        }
                    });
                if let Err(e) = thread {
                    tracing::error!(error = %e, "cannot start the group-commit thread");
                }
            }
        }
        Batcher { queue }
    }

    pub(crate) async fn submit(&self, job: Job) -> StoreResult<Reservation> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Work { job, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

async fn run(engine: Engine, pool: AnyPool, events: EventSignal, mut jobs: mpsc::Receiver<Work>) {
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
        let results = execute_batch(&pool, engine, requests).await;
        events.bump();
        tracing::debug!(
            engine = engine.as_str(),
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
