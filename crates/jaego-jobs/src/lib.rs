//! jaego's background jobs. For now: expiring reservations whose time ran
//! out, in bounded batches. Every job is safe to run on several instances at
//! once, because the store claims each item with a conditional update.

#![forbid(unsafe_code)]

use std::time::Duration;

use jaego_core::limits::EXPIRY_BATCH_MAX;
use jaego_store::{Store, now_us};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the expiry job looks for reservations past their deadline.
pub const EXPIRY_INTERVAL: Duration = Duration::from_millis(500);

/// The running jobs; [`Jobs::stop`] ends them.
pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    pub fn start(store: Store) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let handles = vec![tokio::spawn(expire_reservations(store, stopped))];
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

/// Expires due reservations: a full batch means more may be waiting, so it
/// goes again at once; otherwise it sleeps until the next tick.
async fn expire_reservations(store: Store, mut stopped: watch::Receiver<bool>) {
    loop {
        match store.expire_due(now_us(), EXPIRY_BATCH_MAX).await {
            Ok(n) if n == EXPIRY_BATCH_MAX => continue,
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "reservations expired"),
            Err(e) => tracing::warn!(error = %e, "expiring reservations failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_INTERVAL) => {}
            _ = stopped.changed() => return,
        }
    }
}
