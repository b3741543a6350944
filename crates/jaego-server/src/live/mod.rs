//! How events leave jaego: live Server-Sent Event streams ([`hub`]),
//! signed outbound webhooks ([`webhooks`]) and, optionally, NATS JetStream
//! ([`nats`]). All three read the transactional outbox
//! (`jaego_store::events`); none of them is the source of truth, so each
//! can stop, restart or run on several instances without losing events:
//!
//! - the hub keeps no durable state: a stream resumes from the log with
//!   `Last-Event-ID`;
//! - a webhook endpoint's cursor and an instance's lease on it are rows in
//!   the database;
//! - the NATS publisher's progress per tenant and its role are rows too.
//!
//! One JSON body per event serves every way out ([`EventBody`]).

pub mod egress;
pub mod hub;
pub mod nats;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use jaego_core::TenantId;
use jaego_core::limits::{
    DELIVERY_LEASE_SECS, EVENT_STREAM_BUFFER_EVENTS, EVENT_STREAM_KEEPALIVE_SECS,
    EVENT_STREAMS_PER_INSTANCE_MAX, EVENT_STREAMS_PER_TENANT_MAX, WEBHOOK_ATTEMPTS_MAX,
    WEBHOOK_BACKOFF_BASE_MS, WEBHOOK_BACKOFF_CAP_MS, WEBHOOK_TIMEOUT_SECS,
    WEBHOOK_WORKERS_PER_INSTANCE_MAX,
};
use jaego_store::Store;
use jaego_store::events::Event;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::wire::time;

/// An event as every way out carries it: the SSE `data` field, an item of
/// `GET /api/v1/events`, a webhook request body, a NATS message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventBody {
    /// The tenant's sequence number: the SSE `id`, the resume point.
    pub seq: i64,
    pub tenant_id: String,
    /// What happened, e.g. `stock.changed`; see docs/events.md.
    pub kind: String,
    pub sku_id: Option<String>,
    pub location_id: Option<String>,
    pub channel_id: Option<String>,
    /// The id of the thing the event is about (a reservation, a transfer…).
    pub subject_id: Option<String>,
    /// When the event was written, in the transaction of its change.
    pub created_at: String,
    /// The body by kind (docs/events.md).
    #[schema(value_type = Object)]
    pub data: Value,
}

impl EventBody {
    pub fn new(tenant: TenantId, event: &Event) -> Self {
        EventBody {
            seq: event.seq,
            tenant_id: tenant.to_string(),
            kind: event.kind.clone(),
            sku_id: event.sku_id.map(|s| s.to_string()),
            location_id: event.location_id.map(|l| l.to_string()),
            channel_id: event.channel_id.map(|c| c.to_string()),
            subject_id: event.subject_id.clone(),
            created_at: time(event.created_at),
            // Written by the store as JSON; a row that is not would be a
            // hand edit, passed on as text rather than dropped.
            data: serde_json::from_str(&event.data)
                .unwrap_or_else(|_| Value::String(event.data.clone())),
        }
    }

    /// Compact JSON (one line, as SSE `data` needs).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How live streams, webhooks and NATS publishing run. `Default` is what
/// `jaego serve` uses; tests shorten the times.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Live streams this instance serves at once.
    pub streams_max: usize,
    /// Live streams of one tenant on this instance.
    pub streams_per_tenant_max: usize,
    /// Events queued per stream before it counts as fallen behind.
    pub stream_buffer: usize,
    /// Idle time before a keep-alive frame.
    pub keepalive: Duration,
    /// How often the dispatcher looks at the log without a wake-up (a
    /// safety net; wake-ups come from `Store::event_signal`).
    pub poll_interval: Duration,
    pub webhooks: DeliveryConfig,
    /// `nats://host:port`: publish every event to NATS JetStream.
    pub nats_url: Option<String>,
    /// The first token of every NATS subject: `<prefix>.<tenant>.<kind>`.
    pub nats_subject_prefix: String,
    /// This instance's name in leases (random per start unless set).
    pub instance: String,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            streams_max: EVENT_STREAMS_PER_INSTANCE_MAX,
            streams_per_tenant_max: EVENT_STREAMS_PER_TENANT_MAX,
            stream_buffer: EVENT_STREAM_BUFFER_EVENTS,
            keepalive: Duration::from_secs(EVENT_STREAM_KEEPALIVE_SECS),
            poll_interval: Duration::from_secs(5),
            webhooks: DeliveryConfig::default(),
            nats_url: None,
            nats_subject_prefix: "jaego".into(),
            instance: format!("jaego-{}", uuid::Uuid::now_v7()),
        }
    }
}

/// Webhook delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// One request's time limit.
    pub timeout: Duration,
    /// Consecutive failures at the head before it is parked.
    pub attempts_max: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long a claim on an endpoint lasts without renewal.
    pub lease: Duration,
    /// Endpoints this instance delivers to at once.
    pub workers_max: usize,
    /// How often the supervisor looks for endpoints to claim.
    pub scan_interval: Duration,
    /// Whether deliveries may connect to the server's own network
    /// (loopback, private ranges, metadata endpoints): refused by default.
    pub private_targets: egress::PrivateTargets,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Duration::from_secs(WEBHOOK_TIMEOUT_SECS),
            attempts_max: WEBHOOK_ATTEMPTS_MAX,
            backoff_base: Duration::from_millis(WEBHOOK_BACKOFF_BASE_MS),
            backoff_cap: Duration::from_millis(WEBHOOK_BACKOFF_CAP_MS),
            lease: Duration::from_secs(DELIVERY_LEASE_SECS.unsigned_abs()),
            workers_max: WEBHOOK_WORKERS_PER_INSTANCE_MAX,
            scan_interval: Duration::from_secs(1),
            private_targets: egress::PrivateTargets::Deny,
        }
    }
}

/// The background half of delivery: webhook workers and the NATS
/// publisher. (The hub's dispatcher starts with the first stream.)
pub struct Live {
    webhooks: webhooks::Supervisor,
    nats: Option<nats::Publisher>,
}

impl Live {
    /// Starts webhook delivery, and NATS publishing if a URL is configured.
    pub fn start(store: &Store, config: &LiveConfig, sender: Arc<webhooks::Sender>) -> Live {
        Live {
            webhooks: webhooks::Supervisor::start(store.clone(), config.clone(), sender),
            nats: config
                .nats_url
                .as_ref()
                .map(|url| nats::Publisher::start(store.clone(), url.clone(), config.clone())),
        }
    }

    /// Stops every worker after the request in hand and gives up leases.
    pub async fn stop(self) {
        self.webhooks.stop().await;
        if let Some(nats) = self.nats {
            nats.stop().await;
        }
    }
}
