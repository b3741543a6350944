//! The transactional outbox: every change writes its events in the same
//! transaction as the change, so there is no event without its change and
//! no change without its event.
//!
//! Each tenant's events carry a sequence number that increases by one per
//! event. Numbers are taken with an upsert on `event_sequences` inside the
//! writing transaction; its row lock is held until commit, so a tenant's
//! events become visible in sequence order and a reader that has seen
//! sequence N never later finds a smaller one appear (a gap-free, ordered
//! log per tenant, which is what `Last-Event-ID` resumption needs).
//!
//! After a commit that wrote events the store bumps a signal
//! ([`Store::event_signal`]); on PostgreSQL the writing transaction also
//! sends `NOTIFY jaego_events` (delivered at commit), and every instance's
//! listener bumps its own signal, so subscribers of every instance wake up.
//!
//! `data` is the event's JSON body. Its shape per kind is part of the API
//! (see `docs/events.md`); the store writes it and the edge passes it on.

use std::collections::HashMap;
use std::sync::Arc;

use jaego_core::{Balance, ChannelId, LocationId, SkuId, TenantId};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use tokio::sync::watch;

use crate::error::StoreResult;
use crate::rows::{Arg, Placeholders, int, opt_parsed, opt_text, padded, text, tuples};
use crate::{Store, now_us};

/// Event kinds written by the store. Areas add theirs here.
pub mod kinds {
    /// A balance's figures changed (any movement, reservation or transfer).
    pub const STOCK_CHANGED: &str = "stock.changed";
    pub const RESERVATION_CREATED: &str = "reservation.created";
    pub const RESERVATION_COMMITTED: &str = "reservation.committed";
    pub const RESERVATION_RELEASED: &str = "reservation.released";
    pub const RESERVATION_EXPIRED: &str = "reservation.expired";
    pub const TRANSFER_CREATED: &str = "transfer.created";
    pub const TRANSFER_RECEIVED: &str = "transfer.received";
    pub const PRODUCT_CREATED: &str = "product.created";
    pub const SKU_CREATED: &str = "sku.created";
    pub const SKU_UPDATED: &str = "sku.updated";
    pub const LOCATION_CREATED: &str = "location.created";
    pub const LOCATION_UPDATED: &str = "location.updated";
    pub const CHANNEL_CREATED: &str = "channel.created";
    pub const CHANNEL_UPDATED: &str = "channel.updated";
    pub const MOVEMENT_TYPE_CREATED: &str = "movement_type.created";
    pub const LABEL_TEMPLATE_CREATED: &str = "label_template.created";
    pub const LABEL_TEMPLATE_UPDATED: &str = "label_template.updated";
    pub const LABEL_TEMPLATE_DELETED: &str = "label_template.deleted";

    // Stock rules (docs/channels.md, docs/table-order.md).
    /// A channel's published figure for a SKU changed.
    pub const CHANNEL_STOCK: &str = "channel.stock";
    /// A SKU's product status, pushed to a sharing channel.
    pub const CHANNEL_STATUS: &str = "channel.status";
    pub const CHANNEL_SHARING_UPDATED: &str = "channel.sharing_updated";
    pub const CHANNEL_EXCLUSION_ADDED: &str = "channel.exclusion_added";
    pub const CHANNEL_EXCLUSION_REMOVED: &str = "channel.exclusion_removed";
    pub const SHARING_UPDATED: &str = "sharing.updated";
    pub const SKU_STATUS_CHANGED: &str = "sku.status_changed";
    pub const STATUS_PUSHED: &str = "status.pushed";
    pub const LOW_STOCK_RULE_CREATED: &str = "low_stock.rule_created";
    pub const LOW_STOCK_RULE_DELETED: &str = "low_stock.rule_deleted";
    pub use jaego_core::low_stock::event_kinds::{
        ALERT_STOCK_LOW, ALERT_STOCK_RECOVERED, STOCK_LOW, STOCK_RECOVERED,
    };
    pub const EXPECTED_RECEIPT_CREATED: &str = "expected_receipt.created";
    pub const EXPECTED_RECEIPT_RECEIVED: &str = "expected_receipt.received";
    pub const EXPECTED_RECEIPT_CANCELLED: &str = "expected_receipt.cancelled";
    pub const AVAILABILITY_ESTIMATE_UPDATED: &str = "availability_estimate.updated";
    pub const TABLE_ORDER_SETTINGS_UPDATED: &str = "table_order.settings_updated";
    pub const TABLE_ORDER_ITEM_UPDATED: &str = "table_order.item_updated";
    pub const TABLE_ORDER_ITEM_REMOVED: &str = "table_order.item_removed";
    pub const TABLE_ORDER_RESET: &str = "table_order.reset";
    pub const TABLE_ORDER_ORDERED: &str = "table_order.ordered";
    pub const WEBHOOK_CREATED: &str = "webhook.created";
    pub const WEBHOOK_UPDATED: &str = "webhook.updated";
    pub const WEBHOOK_DELETED: &str = "webhook.deleted";
    pub const ORDER_COLLECTED: &str = "order.collected";
    pub const ORDER_UPDATED: &str = "order.updated";
    pub const ORDER_ALLOCATED: &str = "order.allocated";
    pub const ORDER_DEALLOCATED: &str = "order.deallocated";
    pub const ORDER_SHIPPED: &str = "order.shipped";
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    pub const ORDER_EXCHANGED: &str = "order.exchanged";
    pub const ORDER_EXCHANGE_RESOLVED: &str = "order.exchange_resolved";
    pub const ORDER_RETURN_REQUESTED: &str = "order.return_requested";
    pub const ORDER_RETURNED: &str = "order.returned";
    pub const ORDER_SPLIT: &str = "order.split";
    pub const ORDER_MERGED: &str = "order.merged";
    pub const ORDERS_RESET: &str = "orders.reset";
    pub const ALLOCATION_RUN_COMPLETED: &str = "allocation_run.completed";
    pub const SKU_LINKED: &str = "sku_link.created";
    pub const SKU_LINK_REMOVED: &str = "sku_link.removed";
    pub const ORDER_SETTINGS_UPDATED: &str = "order_settings.updated";
    pub const CHANNEL_ORDER_SETTINGS_UPDATED: &str = "channel_order_settings.updated";
    pub const REMOTE_AREA_ADDED: &str = "remote_area.added";
    pub const REMOTE_AREA_REMOVED: &str = "remote_area.removed";
    pub const RETURN_REASON_UPDATED: &str = "return_reason.updated";
    pub const PICKUP_REQUESTED: &str = "pickup.requested";
    pub const PICKUP_RECEIVED: &str = "pickup.received";
    pub const PICKUP_COMPLETED: &str = "pickup.completed";
    pub const PICKUP_UNAVAILABLE: &str = "pickup.unavailable";
    pub const PICKUP_CANCELLED: &str = "pickup.cancelled";
    pub const PICKUP_ITEMS_CANCELLED: &str = "pickup.items_cancelled";
    pub const PICKUP_EXPIRED: &str = "pickup.expired";
    pub const PICKUP_SCANNED: &str = "pickup.scanned";
    pub const PICKUP_PRINTED: &str = "pickup.printed";
    pub const PICKUP_SETTINGS_UPDATED: &str = "pickup.settings_updated";

    // Shipping (docs/fulfilment.md).
    pub const SHIPMENT_CREATED: &str = "shipment.created";
    pub const SHIPMENT_TRACKING_REGISTERED: &str = "shipment.tracking_registered";
    pub const SHIPMENT_SCANNED: &str = "shipment.scanned";
    pub const SHIPMENT_CONFIRMED: &str = "shipment.confirmed";
    pub const SHIPMENT_CANCELLED: &str = "shipment.cancelled";
    pub const COURIER_CREATED: &str = "courier.created";
    pub const COURIER_UPDATED: &str = "courier.updated";
    pub const COURIER_DELETED: &str = "courier.deleted";
    pub const SHIPPING_SETTINGS_UPDATED: &str = "shipping_settings.updated";
    pub const STOCK_BIN_UPDATED: &str = "stock_bin.updated";
}

/// The PostgreSQL notification channel that wakes every instance's
/// dispatchers when events commit.
pub const NOTIFY_CHANNEL: &str = "jaego_events";

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub tenant: TenantId,
    pub kind: &'static str,
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    pub channel_id: Option<ChannelId>,
    /// The id of the thing the event is about (a reservation, an order, a
    /// pickup), for filtering and for readers' convenience.
    pub subject_id: Option<String>,
    /// The JSON body (`Null` when `text` holds it).
    pub data: Value,
    /// The body already serialized: the hot paths write theirs from typed
    /// structs, without building a `Value` tree. Written instead of `data`.
    text: Option<String>,
}

impl NewEvent {
    pub fn new(tenant: TenantId, kind: &'static str, data: Value) -> Self {
        Self::with_data(tenant, kind, data, None)
    }

    /// An event whose body `data` is serialized from a typed struct.
    pub(crate) fn serialized(
        tenant: TenantId,
        kind: &'static str,
        data: &impl serde::Serialize,
    ) -> Self {
        let text = serde_json::to_string(data).expect("event bodies serialize");
        Self::with_data(tenant, kind, Value::Null, Some(text))
    }

    fn with_data(tenant: TenantId, kind: &'static str, data: Value, text: Option<String>) -> Self {
        NewEvent {
            tenant,
            kind,
            sku_id: None,
            location_id: None,
            channel_id: None,
            subject_id: None,
            data,
            text,
        }
    }

    /// The body as it is written.
    pub(crate) fn body(&self) -> std::borrow::Cow<'_, str> {
        match &self.text {
            Some(text) => text.as_str().into(),
            None => self.data.to_string().into(),
        }
    }

    pub fn sku(mut self, sku: SkuId) -> Self {
        self.sku_id = Some(sku);
        self
    }

    pub fn location(mut self, location: LocationId) -> Self {
        self.location_id = Some(location);
        self
    }

    pub fn channel(mut self, channel: ChannelId) -> Self {
        self.channel_id = Some(channel);
        self
    }

    pub fn subject(mut self, subject: impl std::fmt::Display) -> Self {
        self.subject_id = Some(subject.to_string());
        self
    }
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: i64,
    pub kind: String,
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    pub channel_id: Option<ChannelId>,
    pub subject_id: Option<String>,
    /// The JSON body, as written.
    pub data: String,
    pub created_at: i64,
}

/// Which events a reader wants. Empty means everything; each set field must
/// match exactly (an event without a SKU does not match a SKU filter).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Kinds, exactly (`stock.changed`) or by prefix with a trailing `.*`
    /// (`reservation.*`). Any of them matches.
    pub kinds: Vec<String>,
    pub sku_id: Option<SkuId>,
    pub location_id: Option<LocationId>,
    pub channel_id: Option<ChannelId>,
}

impl EventFilter {
    /// Whether `event` passes this filter: the same rule as
    /// [`Store::events_after`] applies in SQL, for readers that filter
    /// events they already hold (the live-stream dispatcher).
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_parts(
            &event.kind,
            event.sku_id,
            event.location_id,
            event.channel_id,
        )
    }

    pub fn matches_parts(
        &self,
        kind: &str,
        sku: Option<SkuId>,
        location: Option<LocationId>,
        channel: Option<ChannelId>,
    ) -> bool {
        fn same<T: PartialEq + Copy>(want: Option<T>, got: Option<T>) -> bool {
            want.is_none() || want == got
        }
        same(self.sku_id, sku)
            && same(self.location_id, location)
            && same(self.channel_id, channel)
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| kind_matches(k, kind)))
    }
}

/// Whether `kind` matches `pattern`: exactly, or by prefix when the
/// pattern ends in `.*` (`reservation.*` matches `reservation.created`).
pub fn kind_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => kind
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == kind,
    }
}

/// Checks one kind pattern a client sent: `a.b` or `a.*`, lowercase
/// letters, digits, `_` and `.`, with `*` only as a whole last segment.
pub fn valid_kind_pattern(pattern: &str) -> Result<(), String> {
    use jaego_core::limits::EVENT_KIND_LEN_MAX;
    if pattern.is_empty() || pattern.chars().count() > EVENT_KIND_LEN_MAX {
        return Err(format!("must be 1 to {EVENT_KIND_LEN_MAX} characters"));
    }
    let body = pattern.strip_suffix(".*").unwrap_or(pattern);
    let ok = !body.is_empty()
        && body.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{pattern:?} is not a kind (`stock.changed`) or a prefix pattern (`reservation.*`)"
        ))
    }
}

/// What a tenant's log holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    /// The oldest sequence number still kept, if any event is.
    pub oldest: Option<i64>,
    /// The last sequence number given out (0 if none ever was).
    pub latest: i64,
}

/// Bumped after every commit that wrote events; cheap to clone.
#[derive(Clone)]
pub(crate) struct EventSignal(Arc<watch::Sender<u64>>);

impl EventSignal {
    pub(crate) fn new() -> Self {
        EventSignal(Arc::new(watch::channel(0).0))
    }

    pub(crate) fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Writes `events` in the caller's transaction, numbering each tenant's in
/// the order given. The caller commits, then calls
/// [`Store::events_committed`] (the group-commit worker bumps its signal).
pub(crate) async fn append(tx: &mut Transaction<'_, Any>, events: &[NewEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let style = Placeholders::of(tx);
    // Number per tenant, in first-appearance order of the tenants.
    let mut counts: Vec<(TenantId, i64)> = Vec::new();
    for event in events {
        match counts.iter_mut().find(|(t, _)| *t == event.tenant) {
            Some((_, n)) => *n += 1,
            None => counts.push((event.tenant, 1)),
        }
    }
    let mut next: HashMap<TenantId, i64> = HashMap::with_capacity(counts.len());
    for (tenant, n) in &counts {
        let row = sqlx::query(
            "INSERT INTO event_sequences (tenant_id, last_seq) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_seq = event_sequences.last_seq + excluded.last_seq \
             RETURNING last_seq",
        )
        .bind(tenant.to_string())
        .bind(*n)
        .fetch_one(&mut **tx)
        .await?;
        next.insert(*tenant, int(&row, "last_seq")? - n + 1);
        if style == Placeholders::Numbered {
            // PostgreSQL delivers this at commit, to every listening instance.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(tenant.to_string())
                .execute(&mut **tx)
                .await?;
        }
    }
    const WIDTH: usize = 9;
    let now = now_us();
    for chunk in events.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "INSERT INTO events (tenant_id, seq, kind, sku_id, location_id, channel_id, subject_id, data, created_at) \
             SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9 \
             FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
            tuples(style, rows, WIDTH)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            // Padding rows first, typed like the real ones (PostgreSQL types
            // a VALUES column from its rows).
            query = query.bind(None::<String>).bind(None::<i64>);
            for _ in 0..6 {
                query = query.bind(None::<String>);
            }
            query = query.bind(None::<i64>);
        }
        for event in chunk {
            let seq = next.get_mut(&event.tenant).expect("numbered above");
            query = query
                .bind(event.tenant.to_string())
                .bind(*seq)
                .bind(event.kind)
                .bind(event.sku_id.map(|s| s.to_string()))
                .bind(event.location_id.map(|l| l.to_string()))
                .bind(event.channel_id.map(|c| c.to_string()))
                .bind(event.subject_id.clone());
            query = match event.body() {
                std::borrow::Cow::Borrowed(text) => query.bind(text),
                std::borrow::Cow::Owned(text) => query.bind(text),
            }
            .bind(now);
            *seq += 1;
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The `stock.changed` event of a balance row with its figures after the
/// change.
pub(crate) fn stock_changed(
    tenant: TenantId,
    sku: SkuId,
    location: LocationId,
    balance: &Balance,
) -> NewEvent {
    // Fields in alphabetical order, as a `json!` object writes them.
    #[derive(serde::Serialize)]
    struct Body {
        allocated: i64,
        available: i64,
        in_transit: i64,
        incoming: i64,
        location_id: String,
        on_hand: i64,
        reserved: i64,
        safety_stock: i64,
        sku_id: String,
    }
    let body = Body {
        allocated: balance.allocated,
        available: balance.available(),
        in_transit: balance.in_transit,
        incoming: balance.incoming,
        location_id: location.to_string(),
        on_hand: balance.on_hand,
        reserved: balance.reserved,
        safety_stock: balance.safety_stock,
        sku_id: sku.to_string(),
    };
    NewEvent::serialized(tenant, kinds::STOCK_CHANGED, &body)
        .sku(sku)
        .location(location)
}

/// A time in an event body: RFC 3339 in UTC, as on the rest of the API.
pub(crate) fn time_text(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Store {
    /// Wakes the dispatchers after a commit that wrote events.
    pub(crate) fn events_committed(&self) {
        self.inner.events.bump();
    }

    /// The usual end of a write: appends `events` to the transaction,
    /// commits, and wakes the dispatchers.
    pub(crate) async fn commit_with(
        &self,
        mut tx: Transaction<'_, Any>,
        events: &[NewEvent],
    ) -> StoreResult<()> {
        append(&mut tx, events).await?;
        tx.commit().await?;
        self.events_committed();
        Ok(())
    }

    /// A receiver that changes after every commit that wrote events, in
    /// this instance or (on PostgreSQL) in any instance. Readers then ask
    /// [`Store::events_after`] for what is new; the value itself means
    /// nothing.
    pub fn event_signal(&self) -> watch::Receiver<u64> {
        self.inner.events.subscribe()
    }

    /// Up to `limit` events of `tenant` after sequence `after`, oldest first,
    /// that match `filter`.
    pub async fn events_after(
        &self,
        tenant: TenantId,
        after: i64,
        filter: &EventFilter,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let mut args = vec![Arg::Text(tenant.to_string()), Arg::Int(after)];
        let mut sql = String::from(
            "SELECT seq, kind, sku_id, location_id, channel_id, subject_id, data, created_at \
             FROM events WHERE tenant_id = $1 AND seq > $2",
        );
        if let Some(sku) = filter.sku_id {
            let p = param(&mut args, Arg::Text(sku.to_string()));
            sql.push_str(&format!(" AND sku_id = {p}"));
        }
        if let Some(location) = filter.location_id {
            let p = param(&mut args, Arg::Text(location.to_string()));
            sql.push_str(&format!(" AND location_id = {p}"));
        }
        if let Some(channel) = filter.channel_id {
            let p = param(&mut args, Arg::Text(channel.to_string()));
            sql.push_str(&format!(" AND channel_id = {p}"));
        }
        if !filter.kinds.is_empty() {
            let mut alternatives = Vec::with_capacity(filter.kinds.len());
            for kind in &filter.kinds {
                match kind.strip_suffix(".*") {
                    Some(prefix) => {
                        let prefix = format!("{prefix}.");
                        let len = param(&mut args, Arg::Int(prefix.chars().count() as i64));
                        let value = param(&mut args, Arg::Text(prefix));
                        alternatives
                            .push(format!("substr(kind, 1, CAST({len} AS INTEGER)) = {value}"));
                    }
                    None => {
                        let value = param(&mut args, Arg::Text(kind.clone()));
                        alternatives.push(format!("kind = {value}"));
                    }
                }
            }
            sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
        }
        let p = param(&mut args, Arg::Int(limit.max(1) as i64));
        sql.push_str(&format!(" ORDER BY seq LIMIT {p}"));
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = arg.bind(query);
        }
        query
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    /// The oldest kept and the latest given sequence numbers of `tenant`.
    pub async fn event_window(&self, tenant: TenantId) -> StoreResult<EventWindow> {
        let row = sqlx::query(
            "SELECT (SELECT MIN(seq) FROM events WHERE tenant_id = $1) AS oldest, \
                    (SELECT last_seq FROM event_sequences WHERE tenant_id = $1) AS latest",
        )
        .bind(tenant.to_string())
        .fetch_one(self.reader())
        .await?;
        Ok(EventWindow {
            oldest: crate::rows::opt_int(&row, "oldest")?,
            latest: crate::rows::opt_int(&row, "latest")?.unwrap_or(0),
        })
    }

    /// Deletes up to `limit` events written before `before` (microseconds),
    /// oldest first, across tenants. Returns how many went.
    pub async fn purge_events(&self, before: i64, limit: usize) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM events WHERE created_at < $1 AND (tenant_id, seq) IN \
               (SELECT tenant_id, seq FROM events WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(limit.max(1) as i64)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}

/// Adds `arg` to a dynamic query's arguments and returns its placeholder.
fn param(args: &mut Vec<Arg>, arg: Arg) -> String {
    args.push(arg);
    format!("${}", args.len())
}

fn event_from_row(row: &AnyRow) -> StoreResult<Event> {
    Ok(Event {
        seq: int(row, "seq")?,
        kind: text(row, "kind")?,
        sku_id: opt_parsed(row, "sku_id")?,
        location_id: opt_parsed(row, "location_id")?,
        channel_id: opt_parsed(row, "channel_id")?,
        subject_id: opt_text(row, "subject_id")?,
        data: text(row, "data")?,
        created_at: int(row, "created_at")?,
    })
}
