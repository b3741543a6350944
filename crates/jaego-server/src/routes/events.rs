//! The event log over HTTP: a live Server-Sent Events stream per tenant and
//! a paged JSON list for integrations that poll. Both take the same
//! filters; see docs/events.md.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jaego_core::TenantId;
use jaego_core::limits::{EVENT_FILTER_KINDS_MAX, PAGE_SIZE_DEFAULT};
use jaego_core::role::Permission;
use jaego_store::events::{EventFilter, valid_kind_pattern};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, Auth, unknown};
use crate::live::EventBody;
use crate::live::hub::{Refusal, missed};
use crate::wire::page_limit;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(stream_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Kinds to receive, comma-separated: exact (`stock.changed`) or by
    /// prefix (`reservation.*`). Default: every kind.
    pub kinds: Option<String>,
    /// Only events about this SKU (id or code).
    pub sku: Option<String>,
    /// Only events about this location (id or code).
    pub location: Option<String>,
    /// Only events about this channel (id or code).
    pub channel: Option<String>,
    /// Resume after this sequence number, for clients that cannot send the
    /// `Last-Event-ID` header (the header wins when both are present).
    pub last_event_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Kinds, comma-separated: exact (`stock.changed`) or by prefix
    /// (`reservation.*`). Default: every kind.
    pub kinds: Option<String>,
    pub sku: Option<String>,
    pub location: Option<String>,
    pub channel: Option<String>,
    /// Events after this sequence number: pass the previous page's
    /// `next_after`. Omitted: from the oldest event still kept.
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Matching events after `after`, oldest first.
    pub items: Vec<EventBody>,
    /// Pass as `after` for the next page. It moves past events the filter
    /// skipped, so a filtered poller does not read them again.
    pub next_after: i64,
    /// Whether more events are already waiting after `next_after`.
    pub more: bool,
    /// The oldest sequence number still kept (`null`: none is).
    pub oldest_seq: Option<i64>,
    /// The last sequence number given out.
    pub latest_seq: i64,
}

/// Turns the query's filter fields into a log filter, resolving codes to
/// ids within the tenant. An unknown SKU, location or channel is an error
/// (a typo would otherwise stream nothing, silently).
async fn filter(
    state: &AppState,
    tenant: TenantId,
    kinds: Option<&str>,
    sku: Option<&str>,
    location: Option<&str>,
    channel: Option<&str>,
) -> ApiResult<EventFilter> {
    let mut out = EventFilter::default();
    if let Some(kinds) = kinds {
        let list: Vec<String> = kinds
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        if list.len() > EVENT_FILTER_KINDS_MAX {
            return Err(ApiError::invalid(
                "kinds",
                format!("at most {EVENT_FILTER_KINDS_MAX} kinds or patterns"),
            ));
        }
        for kind in &list {
            valid_kind_pattern(kind).map_err(|reason| ApiError::invalid("kinds", reason))?;
        }
        out.kinds = list;
    }
    if let Some(raw) = sku {
        out.sku_id = Some(
            state
                .store
                .sku_id(tenant, raw)
                .await
                .map_err(unknown("sku", "SKU", raw))?,
        );
    }
    if let Some(raw) = location {
        out.location_id = Some(
            state
                .store
                .find_location(tenant, raw)
                .await
                .map_err(unknown("location", "location", raw))?
                .id,
        );
    }
    if let Some(raw) = channel {
        out.channel_id = Some(
            state
                .store
                .find_channel(tenant, raw)
                .await
                .map_err(unknown("channel", "channel", raw))?
                .id,
        );
    }
    Ok(out)
}

fn parse_position(field: &str, raw: &str) -> ApiResult<Option<i64>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => Err(ApiError::invalid(
            field,
            "must be an event sequence number (a whole number, 0 or more)",
        )),
    }
}

#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = ["read"])), params(ListQuery),
    responses((status = 200, body = EventPage), (status = 410, description = "`resync_required`: `after` is older than the oldest event kept, or ahead of the log", body = Problem), (status = 422, body = Problem)))]
pub async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<EventPage>> {
    let p = auth.require(Permission::Read, "read events")?;
    let limit = page_limit(q.limit.unwrap_or(PAGE_SIZE_DEFAULT))?;
    if q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid("after", "must be 0 or more"));
    }
    let tenant = p.tenant_id;
    let filter = filter(
        &state,
        tenant,
        q.kinds.as_deref(),
        q.sku.as_deref(),
        q.location.as_deref(),
        q.channel.as_deref(),
    )
    .await?;
    // Read the window first: when the page is not full, every matching
    // event up to `window.latest` is in it, so the cursor may move there.
    let window = state.store.event_window(tenant).await?;
    let after = match q.after {
        Some(after) if after > window.latest => {
            return Err(ApiError::ResyncRequired(format!(
                "after={after} is ahead of this tenant's event log (latest is {}); reload current state and continue after {}",
                window.latest, window.latest
            )));
        }
        Some(after) if missed(after, &window) => {
            return Err(ApiError::ResyncRequired(format!(
                "the events after {after} were purged (the oldest kept is {}); reload current state and continue after {}",
                window
                    .oldest
                    .map_or_else(|| "none".into(), |o| o.to_string()),
                window.latest
            )));
        }
        Some(after) => after,
        None => window.oldest.map_or(window.latest, |o| o - 1),
    };
    let events = state
        .store
        .events_after(tenant, after, &filter, limit)
        .await?;
    let more = events.len() >= limit;
    let next_after = match events.last() {
        Some(last) if more => last.seq,
        // Not full: everything matching up to the log's end is here (and
        // perhaps some committed since the window was read).
        last => after.max(window.latest).max(last.map_or(0, |e| e.seq)),
    };
    Ok(Json(EventPage {
        items: events.iter().map(|e| EventBody::new(tenant, e)).collect(),
        next_after,
        more,
        oldest_seq: window.oldest,
        latest_seq: window.latest,
    }))
}

/// Opens a live stream of the tenant's events as Server-Sent Events.
///
/// Each event is sent as `id: <seq>`, `event: <kind>`, `data: <the event's
/// JSON>`. The stream starts with `event: ready`; with `Last-Event-ID` it
/// first replays every matching event after that id, in order. If those
/// events were purged (or the id is ahead of the log) it sends
/// `event: resync` instead: reload current state, then apply what follows.
#[utoipa::path(get, path = "/events/stream", tag = "events", security(("bearer" = ["read"])), params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this sequence number")),
    responses((status = 200, description = "A `text/event-stream` of events", content_type = "text/event-stream", body = String),
        (status = 422, body = Problem),
        (status = 429, description = "`too_many_subscribers`: the tenant's share of this instance's streams is used up", body = Problem),
        (status = 503, description = "`subscribers_full`: this instance serves its maximum of streams", body = Problem)))]
pub async fn stream_events(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read events")?;
    let tenant = p.tenant_id;
    let from_header = match headers.get("last-event-id") {
        Some(value) => parse_position(
            "Last-Event-ID",
            value
                .to_str()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "must be a number"))?,
        )?,
        None => None,
    };
    let after = match from_header {
        Some(after) => Some(after),
        None => match q.last_event_id.as_deref() {
            Some(raw) => parse_position("last_event_id", raw)?,
            None => None,
        },
    };
    let filter = filter(
        &state,
        tenant,
        q.kinds.as_deref(),
        q.sku.as_deref(),
        q.location.as_deref(),
        q.channel.as_deref(),
    )
    .await?;
    let slot = state.hub.admit(tenant).map_err(|refusal| match refusal {
        Refusal::TenantFull { max } => ApiError::TooManySubscribers(format!(
            "this tenant already has {max} live event streams on this server; close one, or poll GET /api/v1/events"
        )),
        Refusal::InstanceFull { max } => ApiError::SubscribersFull(format!(
            "this server already serves {max} live event streams; retry later or connect to another instance"
        )),
    })?;
    let stream = state.hub.open(slot, tenant, filter, after).await?;
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell reverse proxies (nginx) not to buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
