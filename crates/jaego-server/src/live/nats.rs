//! Publishing every event to NATS JetStream, when a NATS URL is set.
//!
//! Subjects are `<prefix>.<tenant id>.<kind>`, e.g.
//! `jaego.0199….stock.changed`, so a consumer can take one tenant
//! (`jaego.<tenant>.>`), one kind everywhere (`jaego.*.stock.changed`), or
//! everything (`jaego.>`). The message is the event's JSON body
//! ([`super::EventBody`]), with the header `Nats-Msg-Id: <tenant>:<seq>`,
//! which JetStream uses to drop a message it already stored (within the
//! stream's duplicate window).
//!
//! One instance of a deployment publishes at a time: it holds the
//! `nats-publisher` lease (`Store::claim_lease`, a conditional upsert,
//! renewed before every batch). It publishes each tenant's events in
//! sequence order, waiting for JetStream's acknowledgement of each before
//! the next, and saves the last acknowledged sequence per tenant in the
//! database after every batch. A restart or a change of publisher resumes
//! from that row: nothing is lost, and what is sent twice (at most the
//! batch in flight) carries the same message id.

use std::time::Duration;

use axum::body::Bytes;
use jaego_core::TenantId;
use jaego_core::limits::NATS_BATCH_EVENTS;
use jaego_store::events::EventFilter;
use jaego_store::{Store, StoreResult, now_us};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{EventBody, LiveConfig};

/// The lease name of the publisher role.
pub const LEASE: &str = "nats-publisher";

/// How long one publish may wait for JetStream's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The subject of an event.
pub fn subject(prefix: &str, tenant: TenantId, kind: &str) -> String {
    format!("{prefix}.{tenant}.{kind}")
}

/// The JetStream message id of an event: unique per tenant and sequence.
pub fn message_id(tenant: TenantId, seq: i64) -> String {
    format!("{tenant}:{seq}")
}

/// The running publisher.
pub struct Publisher {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Publisher {
    pub fn start(store: Store, url: String, config: LiveConfig) -> Publisher {
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(run(store, url, config, stopped));
        Publisher { stop, handle }
    }

    /// Stops after the message in hand and gives up the role.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.handle.await;
    }
}

async fn run(store: Store, url: String, config: LiveConfig, mut stopped: watch::Receiver<bool>) {
    let lease = config.webhooks.lease;
    let mut signal = store.event_signal();
    let mut jetstream: Option<async_nats::jetstream::Context> = None;
    let mut held = false;
    loop {
        signal.borrow_and_update();
        let wait = match round(&store, &url, &config, &mut jetstream, &mut held, &stopped).await {
            Ok(true) => continue,
            Ok(false) => lease / 3,
            Err(e) => {
                tracing::warn!(error = %e, "NATS publisher: {e}; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = signal.changed() => {}
            () = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => break,
        }
        if *stopped.borrow() {
            break;
        }
    }
    if held && let Err(e) = store.release_lease(LEASE, &config.instance).await {
        tracing::warn!(error = %e, "NATS publisher: releasing the role failed; it expires by itself");
    }
}

#[derive(Debug, thiserror::Error)]
enum PublishFailure {
    #[error("the database failed: {0}")]
    Store(#[from] jaego_store::StoreError),
    #[error("NATS: {0}")]
    Nats(String),
}

/// One round: hold the role, then publish a batch of every tenant with
/// unpublished events. `Ok(true)` if there may be more right away.
async fn round(
    store: &Store,
    url: &str,
    config: &LiveConfig,
    jetstream: &mut Option<async_nats::jetstream::Context>,
    held: &mut bool,
    stopped: &watch::Receiver<bool>,
) -> Result<bool, PublishFailure> {
    if !claim(store, config).await? {
        if *held {
            tracing::info!("NATS publisher: another instance holds the role now");
        }
        *held = false;
        return Ok(false);
    }
    if !*held {
        tracing::info!("NATS publisher: this instance publishes events to NATS");
        *held = true;
    }
    let context = match jetstream {
        Some(context) => context.clone(),
        None => {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(|e| PublishFailure::Nats(format!("connecting failed: {e}")))?;
            let context = async_nats::jetstream::new(client);
            *jetstream = Some(context.clone());
            context
        }
    };
    let mut more = false;
    for (tenant, published) in store.nats_pending(100).await? {
        if *stopped.borrow() || !claim(store, config).await? {
            return Ok(false);
        }
        match publish_batch(store, config, &context, tenant, published).await {
            Ok(full) => more |= full,
            Err(PublishFailure::Nats(e)) => {
                // Reconnect on the next round; the async-nats client also
                // reconnects by itself, but a fresh context costs little.
                *jetstream = None;
                return Err(PublishFailure::Nats(e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(more)
}

async fn claim(store: &Store, config: &LiveConfig) -> StoreResult<bool> {
    let now = now_us();
    let lease = i64::try_from(config.webhooks.lease.as_micros()).unwrap_or(i64::MAX);
    store
        .claim_lease(LEASE, &config.instance, now, now.saturating_add(lease))
        .await
}

/// Publishes up to one batch of `tenant`'s events after `published`, in
/// order, saving progress as it goes. `Ok(true)` if the batch was full.
async fn publish_batch(
    store: &Store,
    config: &LiveConfig,
    context: &async_nats::jetstream::Context,
    tenant: TenantId,
    published: i64,
) -> Result<bool, PublishFailure> {
    let window = store.event_window(tenant).await?;
    let mut from = published;
    if super::hub::missed(from, &window) {
        let oldest = window.oldest.unwrap_or(window.latest + 1);
        tracing::error!(%tenant, from, oldest, "NATS publisher: events were purged before they were published; they are lost to NATS");
        from = oldest - 1;
    }
    let events = store
        .events_after(tenant, from, &EventFilter::default(), NATS_BATCH_EVENTS)
        .await?;
    let mut done = from;
    let mut failure = None;
    for event in &events {
        let body = EventBody::new(tenant, event).to_json();
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(Bytes::from(body))
            .message_id(message_id(tenant, event.seq))
            .header("Jaego-Seq", event.seq.to_string().as_str())
            .header("Jaego-Kind", event.kind.as_str());
        let acked = async {
            let ack = context
                .send_publish(
                    subject(&config.nats_subject_prefix, tenant, &event.kind),
                    publish,
                )
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::timeout(ACK_TIMEOUT, ack)
                .await
                .map_err(|_| format!("no acknowledgement within {ACK_TIMEOUT:?}"))?
                .map_err(|e| e.to_string())
        }
        .await;
        match acked {
            Ok(_) => done = event.seq,
            Err(e) => {
                failure = Some(format!("publishing event {} failed: {e}", event.seq));
                break;
            }
        }
    }
    if done > published {
        store.save_nats_progress(tenant, done).await?;
    }
    match failure {
        Some(e) => Err(PublishFailure::Nats(e)),
        None => Ok(events.len() >= NATS_BATCH_EVENTS),
    }
}
