//! Load shedding: at most `max_in_flight` requests are served at once and at
//! most `max_queued` wait for a slot; beyond that a request is answered
//! `503 overloaded` with `Retry-After: 1` at once, and a queued request that
//! waits longer than the queue wait is answered the same way.
//!
//! A queued request has not read its body yet (extractors run after this
//! layer), so a queue of waiting requests costs a small future each, and the
//! server's memory stays bounded however many clients pile on. tower's
//! `ConcurrencyLimit` queues without bound and `LoadShed` sheds without a
//! queue; this layer is the bounded queue between the two.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::AppState;
use crate::error::ApiError;

/// The gate every API request passes.
pub struct Gate {
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    max_queued: usize,
    wait: Duration,
}

impl Gate {
    pub fn new(max_in_flight: usize, max_queued: usize, wait: Duration) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            queued: AtomicUsize::new(0),
            max_queued,
            wait,
        }
    }

    /// Requests waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Leaves the queue when dropped, also when the client goes away while its
/// request waits.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let gate = &state.overload;
    if let Ok(slot) = gate.slots.clone().try_acquire_owned() {
        let response = next.run(request).await;
        drop(slot);
        return response;
    }
    if gate.queued.fetch_add(1, Ordering::Relaxed) >= gate.max_queued {
        gate.queued.fetch_sub(1, Ordering::Relaxed);
        state.metrics.shed();
        return ApiError::Overloaded.into_response();
    }
    let in_queue = InQueue(&gate.queued);
    let slot = tokio::time::timeout(gate.wait, gate.slots.clone().acquire_owned()).await;
    drop(in_queue);
    match slot {
        Ok(Ok(slot)) => {
            let response = next.run(request).await;
            drop(slot);
            response
        }
        _ => {
            state.metrics.shed();
            ApiError::Overloaded.into_response()
        }
    }
}
