//! Outbound webhook endpoints and their durable delivery state: the cursor
//! of each endpoint, the lease that lets one instance at a time deliver to
//! it, the delivery log and the dead letters. Also the lease and progress
//! rows of the NATS publisher.
//!
//! The delivery loop itself lives at the edge (it speaks HTTP); it calls
//! these methods, and every write of its progress is conditional on still
//! holding the endpoint's lease (`WHERE lease_holder = <me>`), so an
//! instance that lost its lease (paused too long, cut off from the
//! database) can no longer move the cursor: at worst it sent one request
//! twice, which at-least-once delivery allows.

use jaego_core::limits::{
    EVENT_FILTER_KINDS_MAX, WEBHOOK_DESCRIPTION_LEN_MAX, WEBHOOK_ENDPOINTS_PER_TENANT_MAX,
    WEBHOOK_ERROR_LEN_MAX, WEBHOOK_SECRET_LEN_MAX, WEBHOOK_SECRET_LEN_MIN, WEBHOOK_URL_LEN_MAX,
};
use jaego_core::{ChannelId, DeadLetterId, InvalidInput, LocationId, SkuId, TenantId, WebhookId};
use rand::RngCore;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::events::{EventFilter, NewEvent, kinds, valid_kind_pattern};
use crate::rows::{flag, int, join_list, opt_int, opt_parsed, opt_text, parsed, split_list, text};
use crate::{Page, PageRequest, Store, now_us};

/// An endpoint to create.
#[derive(Clone)]
pub struct NewWebhook {
    pub url: String,
    /// `None`: the store makes one (`whsec_` and 64 hex digits).
    pub secret: Option<String>,
    pub kinds: Vec<String>,
    pub channel_id: Option<ChannelId>,
    pub location_id: Option<LocationId>,
    pub sku_id: Option<SkuId>,
    pub description: String,
    pub active: bool,
}

/// A change to an endpoint; `None` leaves a field as it is, and
/// `Some(None)` clears a filter.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub channel_id: Option<Option<ChannelId>>,
    pub location_id: Option<Option<LocationId>>,
    pub sku_id: Option<Option<SkuId>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// An endpoint as stored, with its delivery state. `Debug` never shows the
/// secret.
#[derive(Clone)]
pub struct Webhook {
    pub id: WebhookId,
    pub tenant_id: TenantId,
    pub url: String,
    /// The signing secret: for the delivery worker and the one answer that
    /// creates or rotates it; the edge never lists it.
    pub secret: String,
    pub kinds: Vec<String>,
    pub channel_id: Option<ChannelId>,
    pub location_id: Option<LocationId>,
    pub sku_id: Option<SkuId>,
    pub description: String,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every event up to this sequence is handled.
    pub cursor_seq: i64,
    /// Failed attempts in a row at the head of the queue.
    pub failures: u32,
    /// Not before this time (microseconds) is the next attempt due.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub last_success_at: Option<i64>,
    pub lease_holder: Option<String>,
    pub lease_expires_at: i64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("kinds", &self.kinds)
            .field("cursor_seq", &self.cursor_seq)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The events this endpoint receives, as a log filter.
    pub fn filter(&self) -> EventFilter {
        EventFilter {
            kinds: self.kinds.clone(),
            sku_id: self.sku_id,
            location_id: self.location_id,
            channel_id: self.channel_id,
        }
    }
}

/// How one delivery attempt went.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub seq: i64,
    pub kind: String,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    pub latency_us: i64,
    /// `None` for a success (a 2xx answer).
    pub error: Option<String>,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// An event to park as a dead letter: what was sent and what it concerns.
#[derive(Debug, Clone)]
pub struct Parked {
    pub body: String,
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    pub channel_id: Option<ChannelId>,
}

/// What the delivery worker does after an attempt.
#[derive(Debug, Clone)]
pub enum AfterAttempt {
    /// Delivered: the cursor moves to the event.
    Delivered,
    /// Failed: try again at `next_attempt_at`.
    Retry { next_attempt_at: i64 },
    /// Failed for the last time: park the event and move on.
    Park(Parked),
}

/// One row of the delivery log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: String,
    pub endpoint_id: WebhookId,
    pub seq: i64,
    pub kind: String,
    /// 1 for the first attempt at an event, counting on across retries.
    pub attempt: i64,
    pub status: Option<u16>,
    pub latency_us: i64,
    pub error: Option<String>,
    pub redelivery: bool,
    pub created_at: i64,
}

/// A parked event.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: DeadLetterId,
    pub endpoint_id: WebhookId,
    pub seq: i64,
    pub kind: String,
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    pub channel_id: Option<ChannelId>,
    /// The body exactly as it was sent.
    pub body: String,
    pub attempts: i64,
    pub last_error: String,
    /// `parked` or `redelivered`.
    pub state: String,
    pub created_at: i64,
    pub redelivered_at: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, url, secret, kinds, channel_id, location_id, sku_id, description, active, \
     created_at, updated_at, cursor_seq, failures, next_attempt_at, last_error, last_success_at, \
     lease_holder, lease_expires_at";

const DEAD_LETTER_COLUMNS: &str = "id, endpoint_id, seq, kind, sku_id, location_id, channel_id, body, attempts, \
     last_error, state, created_at, redelivered_at";

/// A fresh signing secret: 256 random bits.
fn fresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// Cuts `text` to [`WEBHOOK_ERROR_LEN_MAX`] characters.
pub fn clip_error(text: &str) -> String {
    text.chars().take(WEBHOOK_ERROR_LEN_MAX).collect()
}

fn validate_url(v: &mut jaego_core::error::Validator, url: &str) {
    if url.chars().count() > WEBHOOK_URL_LEN_MAX {
        v.push(
            "url",
            format!("must be at most {WEBHOOK_URL_LEN_MAX} characters"),
        );
    } else if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        v.push("url", "must be an http:// or https:// URL without spaces");
    }
}

fn validate_kinds(v: &mut jaego_core::error::Validator, kinds: &[String]) {
    if kinds.is_empty() || kinds.len() > EVENT_FILTER_KINDS_MAX {
        v.push(
            "kinds",
            format!("must list 1 to {EVENT_FILTER_KINDS_MAX} kinds or patterns"),
        );
    }
    for (i, kind) in kinds.iter().enumerate() {
        if let Err(reason) = valid_kind_pattern(kind) {
            v.push(format!("kinds[{i}]"), reason);
        }
    }
}

fn validate_description(v: &mut jaego_core::error::Validator, description: &str) {
    if description.chars().count() > WEBHOOK_DESCRIPTION_LEN_MAX {
        v.push(
            "description",
            format!("must be at most {WEBHOOK_DESCRIPTION_LEN_MAX} characters"),
        );
    }
}

/// Checks a secret a client chose.
pub fn validate_secret(secret: &str) -> Result<(), InvalidInput> {
    let n = secret.chars().count();
    if !(WEBHOOK_SECRET_LEN_MIN..=WEBHOOK_SECRET_LEN_MAX).contains(&n)
        || !secret.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(InvalidInput::one(
            "secret",
            format!(
                "must be {WEBHOOK_SECRET_LEN_MIN} to {WEBHOOK_SECRET_LEN_MAX} printable ASCII characters without spaces"
            ),
        ));
    }
    Ok(())
}

fn webhook_event(tenant: TenantId, kind: &'static str, w: &Webhook) -> NewEvent {
    // The URL stays out: it may carry credentials, and events reach every
    // reader of the tenant.
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": w.id.to_string(),
            "kinds": w.kinds,
            "channel_id": w.channel_id.map(|c| c.to_string()),
            "location_id": w.location_id.map(|l| l.to_string()),
            "sku_id": w.sku_id.map(|s| s.to_string()),
            "active": w.active,
        }),
    )
    .subject(w.id)
}

fn webhook_from_row(row: &AnyRow) -> StoreResult<Webhook> {
    Ok(Webhook {
        id: parsed(row, "id")?,
        tenant_id: parsed(row, "tenant_id")?,
        url: text(row, "url")?,
        secret: text(row, "secret")?,
        kinds: split_list(&text(row, "kinds")?),
        channel_id: opt_parsed(row, "channel_id")?,
        location_id: opt_parsed(row, "location_id")?,
        sku_id: opt_parsed(row, "sku_id")?,
        description: text(row, "description")?,
        active: flag(row, "active")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
        cursor_seq: int(row, "cursor_seq")?,
        failures: u32::try_from(int(row, "failures")?).unwrap_or(u32::MAX),
        next_attempt_at: int(row, "next_attempt_at")?,
        last_error: opt_text(row, "last_error")?,
        last_success_at: opt_int(row, "last_success_at")?,
        lease_holder: opt_text(row, "lease_holder")?,
        lease_expires_at: int(row, "lease_expires_at")?,
    })
}

fn attempt_from_row(row: &AnyRow) -> StoreResult<Attempt> {
    Ok(Attempt {
        id: text(row, "id")?,
        endpoint_id: parsed(row, "endpoint_id")?,
        seq: int(row, "seq")?,
        kind: text(row, "kind")?,
        attempt: int(row, "attempt")?,
        status: opt_int(row, "status")?.and_then(|s| u16::try_from(s).ok()),
        latency_us: int(row, "latency_us")?,
        error: opt_text(row, "error")?,
        redelivery: flag(row, "redelivery")?,
        created_at: int(row, "created_at")?,
    })
}

fn dead_letter_from_row(row: &AnyRow) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        id: parsed(row, "id")?,
        endpoint_id: parsed(row, "endpoint_id")?,
        seq: int(row, "seq")?,
        kind: text(row, "kind")?,
        sku_id: opt_parsed(row, "sku_id")?,
        location_id: opt_parsed(row, "location_id")?,
        channel_id: opt_parsed(row, "channel_id")?,
        body: text(row, "body")?,
        attempts: int(row, "attempts")?,
        last_error: text(row, "last_error")?,
        state: text(row, "state")?,
        created_at: int(row, "created_at")?,
        redelivered_at: opt_int(row, "redelivered_at")?,
    })
}

/// Appends one attempt to the delivery log.
async fn insert_attempt(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    endpoint: WebhookId,
    attempt: i64,
    outcome: &AttemptOutcome,
    redelivery: bool,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, tenant_id, endpoint_id, seq, kind, attempt, status, latency_us, error, redelivery, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(tenant.to_string())
    .bind(endpoint.to_string())
    .bind(outcome.seq)
    .bind(&outcome.kind)
    .bind(attempt)
    .bind(outcome.status.map(i64::from))
    .bind(outcome.latency_us)
    .bind(outcome.error.as_deref().map(clip_error))
    .bind(i64::from(redelivery))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Creates an endpoint. It receives the events committed after it.
    pub async fn create_webhook(&self, tenant: TenantId, new: &NewWebhook) -> StoreResult<Webhook> {
        let mut v = jaego_core::error::Validator::new();
        validate_url(&mut v, &new.url);
        validate_kinds(&mut v, &new.kinds);
        validate_description(&mut v, &new.description);
        v.finish()?;
        let secret = match &new.secret {
            Some(secret) => {
                validate_secret(secret)?;
                secret.clone()
            }
            None => fresh_secret(),
        };
        let now = now_us();
        let mut w = Webhook {
            id: WebhookId::new(),
            tenant_id: tenant,
            url: new.url.clone(),
            secret,
            kinds: new.kinds.clone(),
            channel_id: new.channel_id,
            location_id: new.location_id,
            sku_id: new.sku_id,
            description: new.description.clone(),
            active: new.active,
            created_at: now,
            updated_at: now,
            cursor_seq: 0,
            failures: 0,
            next_attempt_at: 0,
            last_error: None,
            last_success_at: None,
            lease_holder: None,
            lease_expires_at: 0,
        };
        let mut tx = self.begin_write().await?;
        let count = int(
            &sqlx::query("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = $1")
                .bind(tenant.to_string())
                .fetch_one(&mut *tx)
                .await?,
            "n",
        )?;
        if count >= WEBHOOK_ENDPOINTS_PER_TENANT_MAX as i64 {
            return Err(StoreError::refused(
                "too_many_webhooks",
                format!(
                    "a tenant may have at most {WEBHOOK_ENDPOINTS_PER_TENANT_MAX} webhook endpoints; delete one first"
                ),
            ));
        }
        // Its own `webhook.created` is the last event it does not receive.
        crate::events::append(
            &mut tx,
            &[webhook_event(tenant, kinds::WEBHOOK_CREATED, &w)],
        )
        .await?;
        let latest = int(
            &sqlx::query("SELECT last_seq FROM event_sequences WHERE tenant_id = $1")
                .bind(tenant.to_string())
                .fetch_one(&mut *tx)
                .await?,
            "last_seq",
        )?;
        w.cursor_seq = latest;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, kinds, channel_id, location_id, sku_id, description, active, created_at, updated_at, cursor_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(w.id.to_string())
        .bind(tenant.to_string())
        .bind(&w.url)
        .bind(&w.secret)
        .bind(join_list(&w.kinds))
        .bind(w.channel_id.map(|c| c.to_string()))
        .bind(w.location_id.map(|l| l.to_string()))
        .bind(w.sku_id.map(|s| s.to_string()))
        .bind(&w.description)
        .bind(i64::from(w.active))
        .bind(now)
        .bind(now)
        .bind(latest)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.events_committed();
        Ok(w)
    }

    pub async fn get_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<Webhook> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
        webhook_from_row(&row)
    }

    pub async fn list_webhooks(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(page.cursor())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(webhook_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |w| w.id.to_string()))
    }

    /// Changes an endpoint's settings. Its cursor stays: a filter change
    /// applies from the next event it delivers.
    pub async fn update_webhook(
        &self,
        tenant: TenantId,
        id: WebhookId,
        change: &WebhookChange,
    ) -> StoreResult<Webhook> {
        let mut v = jaego_core::error::Validator::new();
        if let Some(url) = &change.url {
            validate_url(&mut v, url);
        }
        if let Some(kinds) = &change.kinds {
            validate_kinds(&mut v, kinds);
        }
        if let Some(description) = &change.description {
            validate_description(&mut v, description);
        }
        v.finish()?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
        let mut w = webhook_from_row(&row)?;
        if let Some(url) = &change.url {
            w.url.clone_from(url);
        }
        if let Some(kinds) = &change.kinds {
            w.kinds.clone_from(kinds);
        }
        if let Some(channel) = change.channel_id {
            w.channel_id = channel;
        }
        if let Some(location) = change.location_id {
            w.location_id = location;
        }
        if let Some(sku) = change.sku_id {
            w.sku_id = sku;
        }
        if let Some(description) = &change.description {
            w.description.clone_from(description);
        }
        if let Some(active) = change.active {
            w.active = active;
        }
        w.updated_at = now_us();
        sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, kinds = $2, channel_id = $3, location_id = $4, sku_id = $5, \
             description = $6, active = $7, updated_at = $8 WHERE tenant_id = $9 AND id = $10",
        )
        .bind(&w.url)
        .bind(join_list(&w.kinds))
        .bind(w.channel_id.map(|c| c.to_string()))
        .bind(w.location_id.map(|l| l.to_string()))
        .bind(w.sku_id.map(|s| s.to_string()))
        .bind(&w.description)
        .bind(i64::from(w.active))
        .bind(w.updated_at)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        self.commit_with(tx, &[webhook_event(tenant, kinds::WEBHOOK_UPDATED, &w)])
            .await?;
        Ok(w)
    }

    /// Replaces an endpoint's secret with `secret` (or a fresh one) and
    /// returns the endpoint with it, the one time it is shown.
    pub async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookId,
        secret: Option<String>,
    ) -> StoreResult<Webhook> {
        let secret = match secret {
            Some(s) => {
                validate_secret(&s)?;
                s
            }
            None => fresh_secret(),
        };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET secret = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4 RETURNING {COLUMNS}"
        ))
        .bind(&secret)
        .bind(now_us())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
        let w = webhook_from_row(&row)?;
        self.commit_with(tx, &[webhook_event(tenant, kinds::WEBHOOK_UPDATED, &w)])
            .await?;
        Ok(w)
    }

    /// Deletes an endpoint with its delivery log and dead letters.
    pub async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
        let w = webhook_from_row(&row)?;
        for table in ["webhook_attempts", "webhook_dead_letters"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND endpoint_id = $2"
            ))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        self.commit_with(tx, &[webhook_event(tenant, kinds::WEBHOOK_DELETED, &w)])
            .await
    }

    /// Active endpoints, across tenants, with work due now that `holder`
    /// could take: events after their cursor, no retry pending, and a lease
    /// that is free, expired or `holder`'s. Most overdue first.
    pub async fn claimable_webhooks(
        &self,
        holder: &str,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<WebhookId>> {
        sqlx::query(
            "SELECT e.id AS id FROM webhook_endpoints e JOIN event_sequences s ON s.tenant_id = e.tenant_id \
             WHERE e.active = 1 AND s.last_seq > e.cursor_seq AND e.next_attempt_at <= $2 \
             AND (e.lease_holder IS NULL OR e.lease_holder = $1 OR e.lease_expires_at < $2) \
             ORDER BY e.next_attempt_at, e.id LIMIT $3",
        )
        .bind(holder)
        .bind(now)
        .bind(limit.max(1) as i64)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| parsed(r, "id"))
        .collect()
    }

    /// Claims (or renews) the lease on an active endpoint for `holder` until
    /// `until`, with one conditional update; returns the endpoint as it is
    /// now, or `None` if another instance holds it or it is gone or paused.
    pub async fn claim_webhook(
        &self,
        id: WebhookId,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<Webhook>> {
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET lease_holder = $1, lease_expires_at = $2 \
             WHERE id = $3 AND active = 1 AND (lease_holder IS NULL OR lease_holder = $1 OR lease_expires_at < $4) \
             RETURNING {COLUMNS}"
        ))
        .bind(holder)
        .bind(until)
        .bind(id.to_string())
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// Gives up `holder`'s lease on an endpoint (on shutdown), so another
    /// instance can take over at once.
    pub async fn release_webhook(&self, id: WebhookId, holder: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_endpoints SET lease_holder = NULL, lease_expires_at = 0 WHERE id = $1 AND lease_holder = $2",
        )
        .bind(id.to_string())
        .bind(holder)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Moves the cursor forward over events the endpoint does not receive
    /// (filtered out or superseded). `false` if `holder` lost the lease.
    pub async fn advance_webhook(
        &self,
        id: WebhookId,
        holder: &str,
        cursor: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET cursor_seq = $1 WHERE id = $2 AND lease_holder = $3 AND cursor_seq <= $1",
        )
        .bind(cursor)
        .bind(id.to_string())
        .bind(holder)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records one attempt at the head event and what follows from it, in
    /// one transaction: the delivery log row, and the endpoint's cursor,
    /// failure count and next attempt time (or a dead letter). `false`, with
    /// nothing written, if `holder` no longer holds the lease.
    pub async fn record_attempt(
        &self,
        endpoint: &Webhook,
        holder: &str,
        outcome: &AttemptOutcome,
        after: &AfterAttempt,
    ) -> StoreResult<bool> {
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let attempt = i64::from(endpoint.failures) + 1;
        let id = endpoint.id.to_string();
        let done = match after {
            AfterAttempt::Delivered => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET cursor_seq = $1, failures = 0, next_attempt_at = 0, \
                     last_error = NULL, last_success_at = $2 WHERE id = $3 AND lease_holder = $4",
                )
                .bind(outcome.seq)
                .bind(now)
                .bind(&id)
                .bind(holder)
                .execute(&mut *tx)
                .await?
            }
            AfterAttempt::Retry { next_attempt_at } => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET failures = failures + 1, next_attempt_at = $1, last_error = $2 \
                     WHERE id = $3 AND lease_holder = $4",
                )
                .bind(*next_attempt_at)
                .bind(outcome.error.as_deref().map(clip_error))
                .bind(&id)
                .bind(holder)
                .execute(&mut *tx)
                .await?
            }
            AfterAttempt::Park(_) => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET cursor_seq = $1, failures = 0, next_attempt_at = 0, last_error = $2 \
                     WHERE id = $3 AND lease_holder = $4",
                )
                .bind(outcome.seq)
                .bind(outcome.error.as_deref().map(clip_error))
                .bind(&id)
                .bind(holder)
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_attempt(
            &mut tx,
            endpoint.tenant_id,
            endpoint.id,
            attempt,
            outcome,
            false,
            now,
        )
        .await?;
        if let AfterAttempt::Park(parked) = after {
            sqlx::query(
                "INSERT INTO webhook_dead_letters (id, tenant_id, endpoint_id, seq, kind, sku_id, location_id, channel_id, \
                 body, attempts, last_error, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'parked', $12)",
            )
            .bind(DeadLetterId::new().to_string())
            .bind(endpoint.tenant_id.to_string())
            .bind(endpoint.id.to_string())
            .bind(outcome.seq)
            .bind(&outcome.kind)
            .bind(parked.sku_id.map(|s| s.to_string()))
            .bind(parked.location_id.map(|l| l.to_string()))
            .bind(parked.channel_id.map(|c| c.to_string()))
            .bind(&parked.body)
            .bind(attempt)
            .bind(clip_error(outcome.error.as_deref().unwrap_or("failed")))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A page of an endpoint's delivery log, oldest first.
    pub async fn webhook_attempts(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let rows = sqlx::query(
            "SELECT id, endpoint_id, seq, kind, attempt, status, latency_us, error, redelivery, created_at \
             FROM webhook_attempts WHERE tenant_id = $1 AND endpoint_id = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(page.cursor())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(attempt_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |a| a.id.clone()))
    }

    /// A page of an endpoint's dead letters, oldest first.
    pub async fn dead_letters(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        page: &PageRequest,
    ) -> StoreResult<Page<DeadLetter>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM webhook_dead_letters \
             WHERE tenant_id = $1 AND endpoint_id = $2 AND id > $3 ORDER BY id LIMIT $4"
        ))
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(page.cursor())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(dead_letter_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |d| d.id.to_string()))
    }

    pub async fn get_dead_letter(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        id: DeadLetterId,
    ) -> StoreResult<DeadLetter> {
        let row = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM webhook_dead_letters WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3"
        ))
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("dead letter", id))?;
        dead_letter_from_row(&row)
    }

    /// Records a redelivery attempt of a dead letter; a success marks it
    /// `redelivered`. Returns the dead letter as it is now.
    pub async fn record_redelivery(
        &self,
        tenant: TenantId,
        dead: &DeadLetter,
        outcome: &AttemptOutcome,
    ) -> StoreResult<DeadLetter> {
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE webhook_dead_letters SET attempts = attempts + 1, \
             last_error = CASE WHEN $1 = 1 THEN last_error ELSE $2 END, \
             state = CASE WHEN $1 = 1 THEN 'redelivered' ELSE state END, \
             redelivered_at = CASE WHEN $1 = 1 THEN $3 ELSE redelivered_at END \
             WHERE tenant_id = $4 AND id = $5 RETURNING {DEAD_LETTER_COLUMNS}"
        ))
        .bind(i64::from(outcome.succeeded()))
        .bind(clip_error(outcome.error.as_deref().unwrap_or("")))
        .bind(now)
        .bind(tenant.to_string())
        .bind(dead.id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("dead letter", dead.id))?;
        let updated = dead_letter_from_row(&row)?;
        insert_attempt(
            &mut tx,
            tenant,
            dead.endpoint_id,
            updated.attempts,
            outcome,
            true,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn delete_dead_letter(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        id: DeadLetterId,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "DELETE FROM webhook_dead_letters WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(id.to_string())
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("dead letter", id));
        }
        Ok(())
    }

    /// Deletes up to `limit` delivery-log rows written before `before`,
    /// across tenants. Returns how many went.
    pub async fn purge_webhook_attempts(&self, before: i64, limit: usize) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM webhook_attempts WHERE id IN \
               (SELECT id FROM webhook_attempts WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(limit.max(1) as i64)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims or renews the deployment-wide role `name` for `holder` until
    /// `until`: one conditional upsert that succeeds only if nobody holds
    /// the role, `holder` already does, or the last lease expired before
    /// `now`.
    pub async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "INSERT INTO outbox_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE outbox_leases.holder = excluded.holder OR outbox_leases.expires_at < $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        Ok(row.is_some())
    }

    /// Gives up the role `name` if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbox_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Tenants with events not yet published to NATS: (tenant, last
    /// published sequence). Across tenants, at most `limit`.
    pub async fn nats_pending(&self, limit: usize) -> StoreResult<Vec<(TenantId, i64)>> {
        sqlx::query(
            "SELECT s.tenant_id AS tenant_id, COALESCE(p.last_seq, 0) AS published \
             FROM event_sequences s LEFT JOIN nats_progress p ON p.tenant_id = s.tenant_id \
             WHERE s.last_seq > COALESCE(p.last_seq, 0) ORDER BY s.tenant_id LIMIT $1",
        )
        .bind(limit.max(1) as i64)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| Ok((parsed(r, "tenant_id")?, int(r, "published")?)))
        .collect()
    }

    /// Remembers that every event of `tenant` up to `seq` is published.
    /// Never moves backwards.
    pub async fn save_nats_progress(&self, tenant: TenantId, seq: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO nats_progress (tenant_id, last_seq, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at \
             WHERE nats_progress.last_seq < excluded.last_seq",
        )
        .bind(tenant.to_string())
        .bind(seq)
        .bind(now_us())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The last sequence of `tenant` published to NATS (0 if none).
    pub async fn nats_progress(&self, tenant: TenantId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT last_seq FROM nats_progress WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|r| int(&r, "last_seq")).transpose()?.unwrap_or(0))
    }
}
