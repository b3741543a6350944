//! Webhook delivery: signed POSTs of each endpoint's events, strictly in
//! order per endpoint, retried with exponential backoff and jitter,
//! coalesced when a backlog builds, parked as dead letters after too many
//! failures.
//!
//! Each instance runs a [`Supervisor`] that, on every commit with events
//! (and every second), looks for active endpoints with work due that no
//! other instance holds, and starts a worker for each, up to its limit. A
//! worker claims its endpoint (a conditional update on the endpoint's
//! lease, `Store::claim_webhook`) and delivers while there is work; when
//! the endpoint is caught up or waiting for a retry, the worker gives the
//! lease up and ends, so idle or failing endpoints hold no worker. A
//! worker's round:
//!
//! 1. renew the lease (the same conditional update; it also returns the
//!    endpoint's settings as they are now, so edits apply at once);
//! 2. wait for `next_attempt_at` if the head failed before;
//! 3. read a batch of the endpoint's events after its cursor and coalesce
//!    it (`jaego_core::delivery::coalesce`): only the latest event per key
//!    of a coalescable kind is sent;
//! 4. send the kept events one at a time, in sequence order. A success
//!    moves the cursor to the event (`Store::record_attempt`, conditional on
//!    the lease); a failure schedules a retry, or parks the event after
//!    `attempts_max` failures in a row and moves on, and ends the batch, so
//!    the retry re-reads and re-coalesces the backlog (a newer figure
//!    replaces one that kept failing).
//!
//! Every attempt is written to the delivery log. A worker that loses its
//! lease stops; the instance that took it over resumes from the cursor.
//! Delivery is at least once: a request can be sent again after a crash
//! between the send and the write of its result. Receivers de-duplicate by
//! `seq`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jaego_core::delivery::{EventKey, backoff_ms, coalesce};
use jaego_core::limits::WEBHOOK_BATCH_EVENTS;
use jaego_core::{WebhookId, signature};
use jaego_store::webhooks::{AfterAttempt, AttemptOutcome, Parked, Webhook};
use jaego_store::{Store, StoreResult, now_us};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::egress::{PrivateTargets, PublicOnly, Refused, refused_literal};
use super::{DeliveryConfig, EventBody, LiveConfig};

/// The HTTP client of webhook deliveries and redeliveries.
pub struct Sender {
    http: reqwest::Client,
    timeout: Duration,
    private_targets: PrivateTargets,
}

/// One request to send.
pub struct Request<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub endpoint: WebhookId,
    pub seq: i64,
    pub kind: &'a str,
    pub body: &'a str,
    pub attempt: i64,
}

/// The most of an error answer's body kept in the log, in bytes.
const ERROR_BODY_BYTES_MAX: usize = 200;

impl Sender {
    pub fn new(config: &DeliveryConfig) -> Sender {
        let mut http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A signed POST is never sent on to another address.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("jaego/", env!("CARGO_PKG_VERSION")));
        if config.private_targets == PrivateTargets::Deny {
            // Checked on the addresses the client then connects to, so a
            // name that changes its answer (DNS rebinding) cannot slip by.
            http = http.dns_resolver(Arc::new(PublicOnly));
        }
        // Only the TLS set-up can fail here, and `Client::default` would
        // panic on it too; a fallback client would drop the guard and the
        // redirect policy.
        let http = http.build().expect("the webhook HTTP client builds");
        Sender {
            http,
            timeout: config.timeout,
            private_targets: config.private_targets,
        }
    }

    /// Sends one signed request; any answer but a 2xx, and no answer within
    /// the timeout, is a failure. Under `deny`, a URL whose host is a
    /// private address is a failure without a request.
    pub async fn send(&self, request: &Request<'_>) -> AttemptOutcome {
        if self.private_targets == PrivateTargets::Deny {
            // An IP literal is never resolved, so the resolver cannot see it.
            let refused = reqwest::Url::parse(request.url)
                .ok()
                .and_then(|url| refused_literal(&url));
            if let Some(error) = refused {
                return AttemptOutcome {
                    seq: request.seq,
                    kind: request.kind.to_string(),
                    status: None,
                    latency_us: 0,
                    error: Some(error),
                };
            }
        }
        let timestamp = now_us() / 1_000_000;
        let signed = signature::sign(
            request.secret.as_bytes(),
            timestamp,
            request.body.as_bytes(),
        );
        let started = Instant::now();
        let sent = self
            .http
            .post(request.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signed)
            .header("x-jaego-event-id", request.seq.to_string())
            .header("x-jaego-event-kind", request.kind)
            .header("x-jaego-webhook-id", request.endpoint.to_string())
            .header("x-jaego-delivery-attempt", request.attempt.to_string())
            .body(request.body.to_string())
            .send()
            .await;
        let (status, error) = match sent {
            Ok(mut response) => {
                let status = response.status();
                // Read (a little of) the answer, within the same timeout.
                let mut head = Vec::new();
                let mut read_error = None;
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            if head.len() < ERROR_BODY_BYTES_MAX {
                                head.extend_from_slice(&chunk);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            read_error = Some(describe(&e, self.timeout));
                            break;
                        }
                    }
                }
                let error = if !status.is_success() {
                    head.truncate(ERROR_BODY_BYTES_MAX);
                    let text = String::from_utf8_lossy(&head);
                    let text = text.trim();
                    Some(if text.is_empty() {
                        format!("HTTP {}", status.as_u16())
                    } else {
                        format!("HTTP {}: {text}", status.as_u16())
                    })
                } else {
                    read_error
                };
                (Some(status.as_u16()), error)
            }
            Err(e) => (None, Some(describe(&e, self.timeout))),
        };
        AttemptOutcome {
            seq: request.seq,
            kind: request.kind.to_string(),
            status,
            latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
            error,
        }
    }
}

/// An error without its URL (which may carry credentials).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    // A refusal of the guard's resolver says all there is to say.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = s.source();
    }
    let mut text = if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Finds endpoints to deliver to and runs one worker per endpoint.
pub struct Supervisor {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Supervisor {
    pub fn start(store: Store, config: LiveConfig, sender: Arc<Sender>) -> Supervisor {
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(supervise(store, config, sender, stopped));
        Supervisor { stop, handle }
    }

    /// Stops every worker (after the request in hand) and releases leases.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.handle.await;
    }
}

async fn supervise(
    store: Store,
    config: LiveConfig,
    sender: Arc<Sender>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut workers: HashMap<WebhookId, JoinHandle<()>> = HashMap::new();
    let tuning = &config.webhooks;
    let mut signal = store.event_signal();
    loop {
        signal.borrow_and_update();
        workers.retain(|_, handle| !handle.is_finished());
        if workers.len() < tuning.workers_max {
            let now = now_us();
            match store
                .claimable_webhooks(&config.instance, now, tuning.workers_max * 2)
                .await
            {
                Ok(ids) => {
                    for id in ids {
                        if workers.len() >= tuning.workers_max {
                            break;
                        }
                        if workers.contains_key(&id) {
                            continue;
                        }
                        let worker = Worker {
                            store: store.clone(),
                            sender: Arc::clone(&sender),
                            config: tuning.clone(),
                            holder: config.instance.clone(),
                            id,
                            stopped: stopped.clone(),
                        };
                        workers.insert(id, tokio::spawn(worker.run()));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook supervisor: listing endpoints failed");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(tuning.scan_interval) => {}
            _ = signal.changed() => {}
            _ = stopped.changed() => break,
        }
    }
    for (_, handle) in workers {
        let _ = handle.await;
    }
}

struct Worker {
    store: Store,
    sender: Arc<Sender>,
    config: DeliveryConfig,
    holder: String,
    id: WebhookId,
    stopped: watch::Receiver<bool>,
}

enum Round {
    /// Go again at once.
    Again,
    /// Caught up, or waiting for a retry: the worker ends, and the
    /// supervisor starts one again when work is due.
    Idle,
    /// The lease is gone (or the endpoint paused or deleted).
    Lost,
}

impl Worker {
    /// Delivers until the endpoint is caught up, waits for a retry, or is
    /// lost; then gives the lease up.
    async fn run(mut self) {
        loop {
            match self.round().await {
                Ok(Round::Again) => {}
                Ok(Round::Idle) => break,
                Ok(Round::Lost) => return,
                Err(e) => {
                    tracing::warn!(error = %e, endpoint = %self.id, "webhook delivery: a database call failed; retrying later");
                    break;
                }
            }
            if *self.stopped.borrow() {
                break;
            }
        }
        if let Err(e) = self.store.release_webhook(self.id, &self.holder).await {
            tracing::warn!(error = %e, endpoint = %self.id, "webhook delivery: releasing the lease failed; it expires by itself");
        }
    }

    /// Renews the lease well before it runs out.
    fn renew_every(&self) -> Duration {
        self.config.lease / 3
    }

    async fn round(&mut self) -> StoreResult<Round> {
        if *self.stopped.borrow() {
            return Ok(Round::Idle);
        }
        let now = now_us();
        let lease_us = i64::try_from(self.config.lease.as_micros()).unwrap_or(i64::MAX);
        let Some(mut endpoint) = self
            .store
            .claim_webhook(self.id, &self.holder, now, now.saturating_add(lease_us))
            .await?
        else {
            return Ok(Round::Lost);
        };
        if endpoint.next_attempt_at > now {
            return Ok(Round::Idle);
        }
        let tenant = endpoint.tenant_id;
        // The log's end before the read: if the read is not a full batch,
        // everything up to here that the endpoint receives is in it.
        let latest = self.store.event_window(tenant).await?.latest;
        let batch = self
            .store
            .events_after(
                tenant,
                endpoint.cursor_seq,
                &endpoint.filter(),
                WEBHOOK_BATCH_EVENTS,
            )
            .await?;
        let keys: Vec<EventKey<'_>> = batch
            .iter()
            .map(|e| EventKey {
                kind: &e.kind,
                sku: e.sku_id,
                location: e.location_id,
                channel: e.channel_id,
            })
            .collect();
        let started = Instant::now();
        for index in coalesce(&keys) {
            if *self.stopped.borrow() || started.elapsed() > self.renew_every() {
                // Renew the lease (and look at the stop flag) before going on.
                return Ok(Round::Again);
            }
            let event = &batch[index];
            let body = EventBody::new(tenant, event).to_json();
            let outcome = self
                .sender
                .send(&Request {
                    url: &endpoint.url,
                    secret: &endpoint.secret,
                    endpoint: endpoint.id,
                    seq: event.seq,
                    kind: &event.kind,
                    body: &body,
                    attempt: i64::from(endpoint.failures) + 1,
                })
                .await;
            let after = if outcome.succeeded() {
                AfterAttempt::Delivered
            } else if endpoint.failures + 1 >= self.config.attempts_max {
                AfterAttempt::Park(Parked {
                    body,
                    sku_id: event.sku_id,
                    location_id: event.location_id,
                    channel_id: event.channel_id,
                })
            } else {
                let delay = backoff_ms(
                    endpoint.failures + 1,
                    u64::try_from(self.config.backoff_base.as_millis()).unwrap_or(u64::MAX),
                    u64::try_from(self.config.backoff_cap.as_millis()).unwrap_or(u64::MAX),
                    rand::random::<f64>(),
                );
                AfterAttempt::Retry {
                    next_attempt_at: now_us().saturating_add(
                        i64::try_from(delay)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(1_000),
                    ),
                }
            };
            if let Some(error) = &outcome.error {
                tracing::debug!(endpoint = %endpoint.id, seq = event.seq, %error, "webhook attempt failed");
            }
            if !self
                .store
                .record_attempt(&endpoint, &self.holder, &outcome, &after)
                .await?
            {
                return Ok(Round::Lost);
            }
            match after {
                AfterAttempt::Delivered => {
                    endpoint.failures = 0;
                    endpoint.cursor_seq = event.seq;
                }
                AfterAttempt::Park(_) => {
                    tracing::warn!(endpoint = %endpoint.id, seq = event.seq, "webhook event parked as a dead letter after {} attempts", self.config.attempts_max);
                    return Ok(Round::Again);
                }
                AfterAttempt::Retry { .. } => return Ok(Round::Again),
            }
        }
        if batch.len() >= WEBHOOK_BATCH_EVENTS {
            return Ok(Round::Again);
        }
        if latest > endpoint.cursor_seq
            && !self
                .store
                .advance_webhook(endpoint.id, &self.holder, latest)
                .await?
        {
            return Ok(Round::Lost);
        }
        Ok(Round::Idle)
    }
}

/// `true` if a newer event with the same coalescing key as `dead` exists
/// in the log, or the log no longer reaches back to it: redelivering it
/// could then overwrite a newer figure at the receiver.
pub async fn superseded(
    store: &Store,
    endpoint: &Webhook,
    dead: &jaego_store::webhooks::DeadLetter,
) -> StoreResult<bool> {
    let key = EventKey {
        kind: &dead.kind,
        sku: dead.sku_id,
        location: dead.location_id,
        channel: dead.channel_id,
    }
    .coalesce_key();
    let Some(key) = key else {
        return Ok(false);
    };
    let window = store.event_window(endpoint.tenant_id).await?;
    if super::hub::missed(dead.seq, &window) {
        return Ok(true);
    }
    let filter = jaego_store::events::EventFilter {
        kinds: vec![key.kind],
        sku_id: key.sku,
        location_id: key.location,
        channel_id: key.channel,
    };
    Ok(!store
        .events_after(endpoint.tenant_id, dead.seq, &filter, 1)
        .await?
        .is_empty())
}
