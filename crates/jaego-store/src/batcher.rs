//! The group-commit worker: one task that drains every reservation request
//! waiting in its queue and applies them in one transaction.
//!
//! There is no timer: the worker takes whatever arrived while the previous
//! transaction was committing. Under no load a batch is one request and adds
//! no latency; under load batches grow until the fsync is shared by hundreds.

use jaego_core::limits::{GROUP_COMMIT_LINES_MAX, GROUP_COMMIT_REQUESTS_MAX};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::db::Engine;
use crate::error::{StoreError, StoreResult};
use crate::reservations::{Reservation, ReserveRequest, execute_batch};

/// Most requests waiting for the worker; beyond this, callers wait to enqueue.
const QUEUE_DEPTH_MAX: usize = 8_192;

struct Job {
    request: ReserveRequest,
    reply: oneshot::Sender<StoreResult<Reservation>>,
}

/// The handle to the worker. When the last handle drops, the worker finishes
/// the batch in hand and stops.
pub(crate) struct Batcher {
    queue: mpsc::Sender<Job>,
}

impl Batcher {
    pub(crate) fn spawn(engine: Engine, pool: AnyPool) -> Batcher {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH_MAX);
        tokio::spawn(run(engine, pool, jobs));
        Batcher { queue }
    }

    pub(crate) async fn submit(&self, request: ReserveRequest) -> StoreResult<Reservation> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { request, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

async fn run(engine: Engine, pool: AnyPool, mut jobs: mpsc::Receiver<Job>) {
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let mut lines = first.request.lines.len();
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_REQUESTS_MAX {
            let Ok(job) = jobs.try_recv() else { break };
            if lines + job.request.lines.len() > GROUP_COMMIT_LINES_MAX {
                carry = Some(job);
                break;
            }
            lines += job.request.lines.len();
            batch.push(job);
        }
        let (requests, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|j| (j.request, j.reply)).unzip();
        tracing::trace!(
            engine = engine.as_str(),
            requests = requests.len(),
            lines,
            "reservation batch"
        );
        let results = execute_batch(&pool, requests).await;
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (client disconnected); its
            // reservation stands and expires like any other.
            let _ = reply.send(result);
        }
    }
}
