//! Outbound webhook endpoints: create (the secret is shown once), list,
//! change, pause, rotate the secret, delete; the delivery log; dead
//! letters and their redelivery. All need `catalog:write`: an endpoint's
//! URL may carry credentials, so even reading one is a manager's business.
//!
//! Mounted outside the idempotency layer, like tokens: creating or rotating
//! returns a secret that must never be stored in a replayable answer.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::role::Permission;
use jaego_core::{ChannelId, DeadLetterId, LocationId, SkuId, TenantId, WebhookId};
use jaego_store::StoreError;
use jaego_store::webhooks::{Attempt, DeadLetter, NewWebhook, Webhook, WebhookChange};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, path_id, unknown};
use crate::live::egress::{self, PrivateTargets};
use crate::live::webhooks::{Request, superseded};
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_attempts))
        .routes(routes!(list_dead_letters))
        .routes(routes!(redeliver))
        .routes(routes!(delete_dead_letter))
}

const ACTION: &str = "manage webhooks";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where to POST events: an `https://` URL (or `http://` on a trusted network).
    /// Unless the server runs with `--webhook-private-targets allow`, an
    /// address on its own network (loopback, private, link-local…) or
    /// `localhost` is refused with 422.
    pub url: String,
    /// Kinds to deliver: exact (`channel.stock`) or by prefix (`reservation.*`); 1 to 20.
    pub kinds: Vec<String>,
    /// Only events of this channel (id or code): the endpoint belongs to the channel.
    pub channel: Option<String>,
    /// Only events of this location (id or code).
    pub location: Option<String>,
    /// Only events of this SKU (id or code).
    pub sku: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Deliver now (default `true`); `false` creates it paused.
    pub active: Option<bool>,
    /// The signing secret, if the receiver dictates one (16 to 200
    /// printable ASCII characters); otherwise jaego makes one.
    pub secret: Option<String>,
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a
/// value (`Some(Some(v))`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new URL, refused as on create.
    pub url: Option<String>,
    pub kinds: Option<Vec<String>>,
    /// A channel id or code; `null` removes the filter.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Option<String>>,
    /// A location id or code; `null` removes the filter.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// A SKU id or code; `null` removes the filter.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub sku: Option<Option<String>>,
    pub description: Option<String>,
    /// `false` pauses delivery (events keep queuing on the cursor); `true` resumes.
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// The new secret, if the receiver dictates one; otherwise jaego makes one.
    pub secret: Option<String>,
}

/// An endpoint, never with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    pub id: String,
    pub url: String,
    pub kinds: Vec<String>,
    pub channel_id: Option<String>,
    pub location_id: Option<String>,
    pub sku_id: Option<String>,
    pub description: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    pub delivery: DeliveryBody,
}

/// Where an endpoint's delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    /// Every event up to this sequence is handled (delivered, superseded,
    /// filtered out or parked).
    pub cursor_seq: i64,
    /// Failed attempts in a row at the head of the queue.
    pub failures: u32,
    /// When the next attempt is due, after a failure.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub last_success_at: Option<String>,
}

/// An endpoint as created or after its secret was rotated: the only
/// answers that carry the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// The signing secret, shown this once. Verify `x-jaego-signature` with it.
    pub secret: String,
}

impl From<&Webhook> for WebhookBody {
    fn from(w: &Webhook) -> Self {
        WebhookBody {
            id: w.id.to_string(),
            url: w.url.clone(),
            kinds: w.kinds.clone(),
            channel_id: w.channel_id.map(|c| c.to_string()),
            location_id: w.location_id.map(|l| l.to_string()),
            sku_id: w.sku_id.map(|s| s.to_string()),
            description: w.description.clone(),
            active: w.active,
            created_at: time(w.created_at),
            updated_at: time(w.updated_at),
            delivery: DeliveryBody {
                cursor_seq: w.cursor_seq,
                failures: w.failures,
                next_attempt_at: (w.next_attempt_at > 0).then(|| time(w.next_attempt_at)),
                last_error: w.last_error.clone(),
                last_success_at: w.last_success_at.map(time),
            },
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    pub id: String,
    pub seq: i64,
    pub kind: String,
    /// 1 for the first attempt at an event.
    pub attempt: i64,
    /// The receiver's HTTP status; `null` when no answer came.
    pub status: Option<u16>,
    pub latency_ms: f64,
    /// Why it failed; `null` for a success.
    pub error: Option<String>,
    /// A redelivery of a dead letter (not the live queue).
    pub redelivery: bool,
    pub created_at: String,
}

impl From<Attempt> for AttemptBody {
    fn from(a: Attempt) -> Self {
        AttemptBody {
            id: a.id,
            seq: a.seq,
            kind: a.kind,
            attempt: a.attempt,
            status: a.status,
            latency_ms: a.latency_us as f64 / 1_000.0,
            error: a.error,
            redelivery: a.redelivery,
            created_at: time(a.created_at),
        }
    }
}

/// A parked event.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterBody {
    pub id: String,
    pub seq: i64,
    pub kind: String,
    /// `parked` or `redelivered`.
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    /// The request body as it was sent.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub created_at: String,
    pub redelivered_at: Option<String>,
}

impl From<DeadLetter> for DeadLetterBody {
    fn from(d: DeadLetter) -> Self {
        DeadLetterBody {
            id: d.id.to_string(),
            seq: d.seq,
            kind: d.kind,
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error,
            body: serde_json::from_str(&d.body).unwrap_or(serde_json::Value::String(d.body)),
            created_at: time(d.created_at),
            redelivered_at: d.redelivered_at.map(time),
        }
    }
}

/// The answer to a redelivery: the attempt and the dead letter after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedeliveryBody {
    pub attempt: AttemptBody,
    pub dead_letter: DeadLetterBody,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

async fn channel_id(state: &AppState, tenant: TenantId, raw: &str) -> ApiResult<ChannelId> {
    Ok(state
        .store
        .find_channel(tenant, raw)
        .await
        .map_err(unknown("channel", "channel", raw))?
        .id)
}

async fn location_id(state: &AppState, tenant: TenantId, raw: &str) -> ApiResult<LocationId> {
    Ok(state
        .store
        .find_location(tenant, raw)
        .await
        .map_err(unknown("location", "location", raw))?
        .id)
}

async fn sku_id(state: &AppState, tenant: TenantId, raw: &str) -> ApiResult<SkuId> {
    state
        .store
        .sku_id(tenant, raw)
        .await
        .map_err(unknown("sku", "SKU", raw))
}

/// Checks a URL with the same parser the client uses. Under
/// `--webhook-private-targets deny`, an address on the server's own network
/// or `localhost` is refused here too, so the mistake shows at once rather
/// than as failed deliveries; other names are checked when delivering.
fn check_url(url: &str, private_targets: PrivateTargets) -> ApiResult<()> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => u,
        _ => {
            return Err(ApiError::invalid(
                "url",
                "must be an absolute http:// or https:// URL",
            ));
        }
    };
    if private_targets == PrivateTargets::Deny
        && let Some(why) = egress::refused_at_registration(&parsed)
    {
        return Err(ApiError::invalid(
            "url",
            format!("must not point at the server's own network: {why}"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/webhooks", tag = "webhooks", security(("bearer" = ["catalog:write"])), request_body = CreateWebhook,
    responses((status = 201, body = WebhookWithSecret), (status = 409, description = "`too_many_webhooks`", body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookWithSecret>)> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let tenant = p.tenant_id;
    check_url(&body.url, state.config.live.webhooks.private_targets)?;
    let new = NewWebhook {
        url: body.url,
        secret: body.secret,
        kinds: body.kinds,
        channel_id: match &body.channel {
            Some(raw) => Some(channel_id(&state, tenant, raw).await?),
            None => None,
        },
        location_id: match &body.location {
            Some(raw) => Some(location_id(&state, tenant, raw).await?),
            None => None,
        },
        sku_id: match &body.sku {
            Some(raw) => Some(sku_id(&state, tenant, raw).await?),
            None => None,
        },
        description: body.description,
        active: body.active.unwrap_or(true),
    };
    let created = state.store.create_webhook(tenant, &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook: (&created).into(),
            secret: created.secret,
        }),
    ))
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(PageQuery),
    responses((status = 200, body = PageBody<WebhookBody>)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageBody<WebhookBody>>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let got = state
        .store
        .list_webhooks(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, |w| WebhookBody::from(&w))))
}

#[utoipa::path(get, path = "/webhooks/{webhook}", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(("webhook" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookBody), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(webhook): Path<String>,
) -> ApiResult<Json<WebhookBody>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    Ok(Json(
        (&state.store.get_webhook(p.tenant_id, id).await?).into(),
    ))
}

#[utoipa::path(patch, path = "/webhooks/{webhook}", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(("webhook" = String, Path, description = "Webhook id")),
    request_body = UpdateWebhook, responses((status = 200, body = WebhookBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(webhook): Path<String>,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<WebhookBody>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let tenant = p.tenant_id;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    if let Some(url) = &body.url {
        check_url(url, state.config.live.webhooks.private_targets)?;
    }
    let change = WebhookChange {
        url: body.url,
        kinds: body.kinds,
        channel_id: match &body.channel {
            Some(Some(raw)) => Some(Some(channel_id(&state, tenant, raw).await?)),
            Some(None) => Some(None),
            None => None,
        },
        location_id: match &body.location {
            Some(Some(raw)) => Some(Some(location_id(&state, tenant, raw).await?)),
            Some(None) => Some(None),
            None => None,
        },
        sku_id: match &body.sku {
            Some(Some(raw)) => Some(Some(sku_id(&state, tenant, raw).await?)),
            Some(None) => Some(None),
            None => None,
        },
        description: body.description,
        active: body.active,
    };
    Ok(Json(
        (&state.store.update_webhook(tenant, id, &change).await?).into(),
    ))
}

#[utoipa::path(delete, path = "/webhooks/{webhook}", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(("webhook" = String, Path, description = "Webhook id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(webhook): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    state.store.delete_webhook(p.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/webhooks/{webhook}/rotate-secret", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(("webhook" = String, Path, description = "Webhook id")),
    request_body = RotateSecret, responses((status = 200, body = WebhookWithSecret), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(webhook): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<WebhookWithSecret>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    let body: RotateSecret = crate::extract::optional_json(&body)?;
    let rotated = state
        .store
        .rotate_webhook_secret(p.tenant_id, id, body.secret)
        .await?;
    Ok(Json(WebhookWithSecret {
        webhook: (&rotated).into(),
        secret: rotated.secret,
    }))
}

#[utoipa::path(get, path = "/webhooks/{webhook}/attempts", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(("webhook" = String, Path, description = "Webhook id"), PageQuery),
    responses((status = 200, body = PageBody<AttemptBody>), (status = 404, body = Problem)))]
pub async fn list_attempts(
    State(state): State<AppState>,
    auth: Auth,
    Path(webhook): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageBody<AttemptBody>>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    state.store.get_webhook(p.tenant_id, id).await?;
    let got = state
        .store
        .webhook_attempts(p.tenant_id, id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, AttemptBody::from)))
}

#[utoipa::path(get, path = "/webhooks/{webhook}/dead-letters", tag = "webhooks", security(("bearer" = ["catalog:write"])), params(("webhook" = String, Path, description = "Webhook id"), PageQuery),
    responses((status = 200, body = PageBody<DeadLetterBody>), (status = 404, body = Problem)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    auth: Auth,
    Path(webhook): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageBody<DeadLetterBody>>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    state.store.get_webhook(p.tenant_id, id).await?;
    let got = state
        .store
        .dead_letters(p.tenant_id, id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, DeadLetterBody::from)))
}

/// Sends a dead letter again, now, signed afresh, and answers with the
/// attempt. Out of order by nature; refused for a figure that a newer one
/// of the same key has replaced.
#[utoipa::path(post, path = "/webhooks/{webhook}/dead-letters/{dead_letter}/redeliver", tag = "webhooks", security(("bearer" = ["catalog:write"])),
    params(("webhook" = String, Path, description = "Webhook id"), ("dead_letter" = String, Path, description = "Dead letter id")),
    responses((status = 200, body = RedeliveryBody), (status = 404, body = Problem),
        (status = 409, description = "`dead_letter_superseded`: a newer event with the same coalescing key exists", body = Problem)))]
pub async fn redeliver(
    State(state): State<AppState>,
    auth: Auth,
    Path((webhook, dead_letter)): Path<(String, String)>,
) -> ApiResult<Json<RedeliveryBody>> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let tenant = p.tenant_id;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    let dead_id: DeadLetterId = path_id(&dead_letter, "dead letter")?;
    let endpoint = state.store.get_webhook(tenant, id).await?;
    let dead = state.store.get_dead_letter(tenant, id, dead_id).await?;
    if superseded(&state.store, &endpoint, &dead).await? {
        return Err(StoreError::refused(
            "dead_letter_superseded",
            format!(
                "event {} ({}) has been replaced by a newer event with the same key, or is older than the event log; \
                 redelivering it would send a stale figure. Delete it instead.",
                dead.seq, dead.kind
            ),
        )
        .into());
    }
    let outcome = state
        .webhooks
        .send(&Request {
            url: &endpoint.url,
            secret: &endpoint.secret,
            endpoint: endpoint.id,
            seq: dead.seq,
            kind: &dead.kind,
            body: &dead.body,
            attempt: dead.attempts + 1,
        })
        .await;
    let updated = state
        .store
        .record_redelivery(tenant, &dead, &outcome)
        .await?;
    let attempt = AttemptBody {
        id: String::new(),
        seq: outcome.seq,
        kind: outcome.kind.clone(),
        attempt: updated.attempts,
        status: outcome.status,
        latency_ms: outcome.latency_us as f64 / 1_000.0,
        error: outcome.error.clone(),
        redelivery: true,
        created_at: time(jaego_store::now_us()),
    };
    Ok(Json(RedeliveryBody {
        attempt,
        dead_letter: updated.into(),
    }))
}

#[utoipa::path(delete, path = "/webhooks/{webhook}/dead-letters/{dead_letter}", tag = "webhooks", security(("bearer" = ["catalog:write"])),
    params(("webhook" = String, Path, description = "Webhook id"), ("dead_letter" = String, Path, description = "Dead letter id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_dead_letter(
    State(state): State<AppState>,
    auth: Auth,
    Path((webhook, dead_letter)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, ACTION)?;
    let id: WebhookId = path_id(&webhook, "webhook")?;
    let dead_id: DeadLetterId = path_id(&dead_letter, "dead letter")?;
    state
        .store
        .delete_dead_letter(p.tenant_id, id, dead_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
