//! Live event streams: one dispatcher per instance fans each tenant's new
//! events out to that tenant's subscribers.
//!
//! The dispatcher wakes on `Store::event_signal` (bumped by every commit
//! with events, on every instance through PostgreSQL's LISTEN/NOTIFY), reads
//! each subscribed tenant's new events **once**, turns each into its SSE
//! frame once, and offers the shared frame to every subscriber whose filter
//! it passes. Nothing queries per subscriber per event.
//!
//! Each subscriber has a bounded queue. A subscriber whose queue is full
//! (its client reads slower than events come) is dropped from the fan-out
//! rather than waited for or buffered without bound; its stream notices,
//! re-registers and reads what it missed from the log at its client's
//! pace, then rejoins. So one slow client never holds the others back, and
//! memory per subscriber is bounded by its queue and one page of the log.
//!
//! A stream resumes from the log too: with `Last-Event-ID` it registers
//! first (so nothing newer can slip past), replays from the log up to the
//! dispatcher's position, then takes live frames, skipping any it already
//! sent. If what it asks for was purged, or is ahead of the log, it gets a
//! `resync` event and continues from the present.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use futures_util::Stream;
use jaego_core::limits::EVENT_REPLAY_PAGE_EVENTS;
use jaego_core::{ChannelId, LocationId, SkuId, TenantId};
use jaego_store::events::{Event, EventFilter, EventWindow};
use jaego_store::{Store, StoreResult};
use serde_json::json;
use tokio::sync::{Notify, mpsc, watch};

use super::{EventBody, LiveConfig};

/// How long a client should wait before reconnecting (the SSE `retry`).
const RECONNECT_MS: u64 = 3_000;

/// One event, ready to send: its SSE frame, made once and shared by every
/// subscriber, and what filters look at.
#[derive(Debug)]
pub struct Frame {
    pub seq: i64,
    kind: String,
    sku_id: Option<SkuId>,
    location_id: Option<LocationId>,
    channel_id: Option<ChannelId>,
    pub bytes: Bytes,
}

impl Frame {
    pub fn new(tenant: TenantId, event: &Event) -> Frame {
        let body = EventBody::new(tenant, event).to_json();
        Frame {
            seq: event.seq,
            kind: event.kind.clone(),
            sku_id: event.sku_id,
            location_id: event.location_id,
            channel_id: event.channel_id,
            bytes: Bytes::from(format!(
                "id: {}\nevent: {}\ndata: {body}\n\n",
                event.seq, event.kind
            )),
        }
    }

    fn passes(&self, filter: &EventFilter) -> bool {
        filter.matches_parts(&self.kind, self.sku_id, self.location_id, self.channel_id)
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This instance serves its maximum of streams.
    InstanceFull { max: usize },
    /// The tenant has its maximum of streams on this instance.
    TenantFull { max: usize },
}

struct Subscriber {
    id: u64,
    filter: EventFilter,
    tx: mpsc::Sender<Arc<Frame>>,
}

struct Feed {
    /// Every event up to here has been offered to the feed's subscribers.
    cursor: Arc<AtomicI64>,
    subscribers: Vec<Subscriber>,
}

#[derive(Default)]
struct State {
    feeds: HashMap<TenantId, Feed>,
    streams: usize,
    per_tenant: HashMap<TenantId, usize>,
}

/// The instance's live streams and their dispatcher.
pub struct Hub {
    store: Store,
    config: LiveConfig,
    state: Mutex<State>,
    closed: watch::Sender<bool>,
    started: AtomicBool,
    /// Wakes the dispatcher when a tenant gets its first subscriber.
    new_feed: Notify,
    next_id: AtomicU64,
}

/// A place among the instance's streams, held for a stream's life.
pub struct Slot {
    hub: Arc<Hub>,
    tenant: TenantId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        state.streams = state.streams.saturating_sub(1);
        if let Some(n) = state.per_tenant.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.per_tenant.remove(&self.tenant);
            }
        }
    }
}

/// A subscriber's place in the fan-out; leaving it deregisters.
struct Registration {
    hub: Arc<Hub>,
    tenant: TenantId,
    id: u64,
    rx: mpsc::Receiver<Arc<Frame>>,
    /// The feed's cursor: frames up to it have been offered.
    cursor: Arc<AtomicI64>,
    /// The cursor when this registration began: later frames come through
    /// `rx`, earlier ones from the log.
    start: i64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if let Some(feed) = state.feeds.get_mut(&self.tenant) {
            feed.subscribers.retain(|s| s.id != self.id);
            if feed.subscribers.is_empty() {
                state.feeds.remove(&self.tenant);
            }
        }
    }
}

impl Hub {
    pub fn new(store: Store, config: LiveConfig) -> Arc<Hub> {
        Arc::new(Hub {
            store,
            config,
            state: Mutex::new(State::default()),
            closed: watch::channel(false).0,
            started: AtomicBool::new(false),
            new_feed: Notify::new(),
            next_id: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts that are still
        // counts; carry on rather than poison every stream.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Streams open now on this instance.
    pub fn streams(&self) -> usize {
        self.lock().streams
    }

    /// Takes a place for a stream of `tenant`, or says which limit is full.
    pub fn admit(self: &Arc<Self>, tenant: TenantId) -> Result<Slot, Refusal> {
        let mut state = self.lock();
        if state.streams >= self.config.streams_max {
            return Err(Refusal::InstanceFull {
                max: self.config.streams_max,
            });
        }
        let n = state.per_tenant.entry(tenant).or_default();
        if *n >= self.config.streams_per_tenant_max {
            return Err(Refusal::TenantFull {
                max: self.config.streams_per_tenant_max,
            });
        }
        *n += 1;
        state.streams += 1;
        Ok(Slot {
            hub: Arc::clone(self),
            tenant,
        })
    }

    /// Ends every stream (graceful shutdown) and stops the dispatcher.
    pub fn close(&self) {
        self.closed.send_replace(true);
        self.lock().feeds.clear();
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Joins the fan-out of `tenant`; a tenant new to the hub starts at
    /// `latest` (a log position the caller just read).
    fn register(
        self: &Arc<Self>,
        tenant: TenantId,
        filter: EventFilter,
        latest: i64,
    ) -> Registration {
        self.ensure_dispatcher();
        let (tx, rx) = mpsc::channel(self.config.stream_buffer.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let mut created = false;
        let feed = state.feeds.entry(tenant).or_insert_with(|| {
            created = true;
            Feed {
                cursor: Arc::new(AtomicI64::new(latest)),
                subscribers: Vec::new(),
            }
        });
        feed.subscribers.push(Subscriber { id, filter, tx });
        let cursor = Arc::clone(&feed.cursor);
        let start = cursor.load(Ordering::Acquire);
        drop(state);
        if created {
            self.new_feed.notify_one();
        }
        Registration {
            hub: Arc::clone(self),
            tenant,
            id,
            rx,
            cursor,
            start,
        }
    }

    fn ensure_dispatcher(self: &Arc<Self>) {
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(dispatch(Arc::clone(self)));
        }
    }

    /// Offers `frames` (the tenant's events after `from`, in order) to its
    /// subscribers and moves the feed's cursor; drops subscribers whose
    /// queue is full. Returns false if the feed is gone or moved meanwhile.
    fn fan_out(&self, tenant: TenantId, from: i64, frames: &[Arc<Frame>]) -> bool {
        let Some(last) = frames.last().map(|f| f.seq) else {
            return true;
        };
        let mut state = self.lock();
        let Some(feed) = state.feeds.get_mut(&tenant) else {
            return false;
        };
        if feed.cursor.load(Ordering::Acquire) != from {
            return false;
        }
        feed.subscribers.retain(|sub| {
            frames.iter().filter(|f| f.passes(&sub.filter)).all(|f| {
                // Full: the client fell behind; dropping the sender tells its
                // stream to catch up from the log. Closed: it is gone.
                sub.tx.try_send(Arc::clone(f)).is_ok()
            })
        });
        // Store after the sends, so a reader that sees this cursor and an
        // empty queue has had every frame up to it.
        feed.cursor.store(last, Ordering::Release);
        if feed.subscribers.is_empty() {
            state.feeds.remove(&tenant);
        }
        true
    }

    /// Opens a stream for `tenant`: `after` is the client's `Last-Event-ID`
    /// (`None`: from now on).
    pub async fn open(
        self: &Arc<Self>,
        slot: Slot,
        tenant: TenantId,
        filter: EventFilter,
        after: Option<i64>,
    ) -> StoreResult<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
        let window = self.store.event_window(tenant).await?;
        let registration = self.register(tenant, filter.clone(), window.latest);
        let start = registration.start;
        let mut stream = Subscription {
            hub: Arc::clone(self),
            tenant,
            filter,
            last: start,
            registration: Some(registration),
            mode: Mode::Live,
            pending: VecDeque::new(),
            closed: self.closed.subscribe(),
            keepalive: self.config.keepalive,
            _slot: slot,
        };
        let latest = window.latest.max(start);
        match after {
            None => stream.pending.push_back(ready(start, &window)),
            Some(after) if after > latest => {
                stream
                    .pending
                    .push_back(resync("ahead_of_log", after, start, &window));
            }
            Some(after) if missed(after, &window) => {
                stream
                    .pending
                    .push_back(resync("beyond_retention", after, start, &window));
            }
            Some(after) => {
                stream.pending.push_back(ready(after, &window));
                stream.last = after;
                stream.mode = Mode::CatchUp { until: start };
            }
        }
        Ok(futures_util::stream::unfold(stream, |mut s| async move {
            s.next().await.map(|bytes| (Ok(bytes), s))
        }))
    }
}

/// Whether a reader at `after` has lost events to the purge: the window
/// no longer holds the one right after it.
pub fn missed(after: i64, window: &EventWindow) -> bool {
    after < window.latest && window.oldest.is_none_or(|oldest| oldest > after + 1)
}

fn ready(position: i64, window: &EventWindow) -> Bytes {
    let data = json!({
        "resume_after": position,
        "oldest_seq": window.oldest,
        "latest_seq": window.latest,
    });
    Bytes::from(format!(
        "retry: {RECONNECT_MS}\nid: {position}\nevent: ready\ndata: {data}\n\n"
    ))
}

/// The `resync` event: what the client asked for cannot be replayed, so it
/// must reload current state; the stream goes on after `position`.
fn resync(reason: &str, asked: i64, position: i64, window: &EventWindow) -> Bytes {
    let why = match reason {
        "ahead_of_log" => {
            "the Last-Event-ID is ahead of this tenant's event log (a restored or different database)"
        }
        "fell_behind" => "this stream fell so far behind that the events it missed were purged",
        _ => "the events after the Last-Event-ID were purged (older than the retention window)",
    };
    let data = json!({
        "reason": reason,
        "last_event_id": asked,
        "resume_after": position,
        "oldest_seq": window.oldest,
        "latest_seq": window.latest,
        "detail": why,
        "action": "reload the current state (e.g. GET /api/v1/balances) and apply the events that follow; \
                   this stream continues after resume_after, which is also its new id",
    });
    Bytes::from(format!(
        "retry: {RECONNECT_MS}\nid: {position}\nevent: resync\ndata: {data}\n\n"
    ))
}

enum Mode {
    /// Taking frames from the fan-out.
    Live,
    /// Replaying from the log up to `until` (the fan-out's position when
    /// this stream registered), before taking frames again.
    CatchUp { until: i64 },
}

/// One client's stream.
struct Subscription {
    hub: Arc<Hub>,
    tenant: TenantId,
    filter: EventFilter,
    /// The last position sent to the client.
    last: i64,
    registration: Option<Registration>,
    mode: Mode,
    pending: VecDeque<Bytes>,
    closed: watch::Receiver<bool>,
    keepalive: Duration,
    _slot: Slot,
}

impl Subscription {
    /// The next bytes for the client; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if *self.closed.borrow() {
                return None;
            }
            match self.mode {
                Mode::CatchUp { until } => {
                    if let Err(e) = self.catch_up(until).await {
                        tracing::warn!(error = %e, "event stream: reading the log failed; closing it so the client resumes");
                        return None;
                    }
                }
                Mode::Live => {
                    if self.registration.is_none() {
                        if let Err(e) = self.rejoin().await {
                            tracing::warn!(error = %e, "event stream: rejoining failed; closing it so the client resumes");
                            return None;
                        }
                        continue;
                    }
                    match self.live().await {
                        Live::Send(bytes) => return Some(bytes),
                        Live::Again => {}
                        Live::End => return None,
                    }
                }
            }
        }
    }

    /// One page of the log after `last`, up to `until`.
    async fn catch_up(&mut self, until: i64) -> StoreResult<()> {
        let page = self
            .hub
            .store
            .events_after(
                self.tenant,
                self.last,
                &self.filter,
                EVENT_REPLAY_PAGE_EVENTS,
            )
            .await?;
        let full = page.len() >= EVENT_REPLAY_PAGE_EVENTS;
        let mut reached = false;
        for event in &page {
            if event.seq > until {
                reached = true;
                break;
            }
            self.pending
                .push_back(Frame::new(self.tenant, event).bytes.clone());
            self.last = event.seq;
        }
        if reached || !full {
            // Everything up to `until` that passes the filter is queued; the
            // rest comes from the fan-out.
            self.last = self.last.max(until);
            self.mode = Mode::Live;
        }
        Ok(())
    }

    /// After the fan-out dropped this stream: register again and catch up
    /// from the log, or resync if the log no longer has what it missed.
    async fn rejoin(&mut self) -> StoreResult<()> {
        let window = self.hub.store.event_window(self.tenant).await?;
        let registration = self
            .hub
            .register(self.tenant, self.filter.clone(), window.latest);
        let start = registration.start;
        self.registration = Some(registration);
        if missed(self.last, &window) {
            self.pending
                .push_back(resync("fell_behind", self.last, start, &window));
            self.last = start;
        } else {
            self.mode = Mode::CatchUp { until: start };
        }
        Ok(())
    }

    async fn live(&mut self) -> Live {
        let keepalive = self.keepalive;
        let Some(registration) = self.registration.as_mut() else {
            return Live::Again;
        };
        tokio::select! {
            biased;
            _ = self.closed.changed() => Live::End,
            frame = registration.rx.recv() => match frame {
                Some(frame) if frame.seq > self.last => {
                    self.last = frame.seq;
                    Live::Send(frame.bytes.clone())
                }
                Some(_) => Live::Again,
                None if self.hub.is_closed() => Live::End,
                None => {
                    // Dropped from the fan-out: fell behind.
                    self.registration = None;
                    Live::Again
                }
            },
            () = tokio::time::sleep(keepalive) => {
                // A filtered stream sees few of the tenant's events; moving
                // its id on keeps a reconnect from asking for a position
                // the purge may since have removed. Safe only when every
                // frame up to the cursor has been taken from the queue.
                let cursor = registration.cursor.load(Ordering::Acquire);
                if cursor > self.last && registration.rx.is_empty() && !registration.rx.is_closed() {
                    self.last = cursor;
                    Live::Send(Bytes::from(format!(": keep-alive\nid: {cursor}\n\n")))
                } else {
                    Live::Send(Bytes::from_static(b": keep-alive\n\n"))
                }
            }
        }
    }
}

enum Live {
    Send(Bytes),
    Again,
    End,
}

/// The dispatcher: on every wake-up, each subscribed tenant's new events,
/// read once, offered to its subscribers.
async fn dispatch(hub: Arc<Hub>) {
    let mut signal = hub.store.event_signal();
    let mut closed = hub.closed.subscribe();
    loop {
        signal.borrow_and_update();
        let tenants: Vec<(TenantId, i64)> = hub
            .lock()
            .feeds
            .iter()
            .map(|(t, f)| (*t, f.cursor.load(Ordering::Acquire)))
            .collect();
        for (tenant, mut cursor) in tenants {
            loop {
                let events = match hub
                    .store
                    .events_after(
                        tenant,
                        cursor,
                        &EventFilter::default(),
                        EVENT_REPLAY_PAGE_EVENTS,
                    )
                    .await
                {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::warn!(error = %e, %tenant, "event dispatcher: reading the log failed; retrying on the next wake-up");
                        break;
                    }
                };
                if events.is_empty() {
                    break;
                }
                let frames: Vec<Arc<Frame>> = events
                    .iter()
                    .map(|e| Arc::new(Frame::new(tenant, e)))
                    .collect();
                if !hub.fan_out(tenant, cursor, &frames) {
                    break;
                }
                cursor = events.last().map_or(cursor, |e| e.seq);
                if events.len() < EVENT_REPLAY_PAGE_EVENTS {
                    break;
                }
            }
        }
        tokio::select! {
            _ = signal.changed() => {}
            () = hub.new_feed.notified() => {}
            () = tokio::time::sleep(hub.config.poll_interval) => {}
            _ = closed.changed() => return,
        }
        if hub.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use jaego_core::MovementKind;
    use jaego_core::catalog::LocationKind;
    use jaego_store::catalog::NewSku;
    use jaego_store::ledger::NewMovement;
    use jaego_store::places::NewLocation;
    use jaego_store::{StoreOptions, testing::fresh_sqlite};

    use super::*;

    fn seqs(text: &str) -> Vec<i64> {
        text.split("\n\n")
            .filter(|f| f.contains("event: stock.changed"))
            .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("id: ")))
            .map(|id| id.parse().unwrap())
            .collect()
    }

    /// A subscriber whose queue overflows is dropped from the fan-out and
    /// catches up from the log: it still gets every event, in order, and
    /// its queue never holds more than its bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_subscriber_catches_up_from_the_log_without_gaps() {
        let db = fresh_sqlite();
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let tenant = store.create_tenant("t").await.unwrap();
        let location = store
            .create_location(
                tenant,
                &NewLocation {
                    code: "wh".into(),
                    name: "wh".into(),
                    kind: LocationKind::Warehouse,
                    time_zone: "UTC".into(),
                    latitude: None,
                    longitude: None,
                    policy: jaego_core::StockPolicy::Strict,
                },
            )
            .await
            .unwrap()
            .id;
        let sku = store
            .create_sku(
                tenant,
                &NewSku {
                    code: "A".into(),
                    name: "A".into(),
                    product_id: None,
                    tracked: true,
                    barcodes: vec![],
                    option_tags: vec![],
                },
            )
            .await
            .unwrap()
            .id;
        let config = LiveConfig {
            stream_buffer: 4,
            poll_interval: Duration::from_millis(50),
            ..LiveConfig::default()
        };
        let hub = Hub::new(store.clone(), config);
        let slot = hub.admit(tenant).unwrap();
        let filter = EventFilter {
            kinds: vec!["stock.changed".into()],
            ..EventFilter::default()
        };
        let mut stream = Box::pin(hub.open(slot, tenant, filter, None).await.unwrap());
        let first = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
        assert!(first.contains("event: ready"), "{first}");
        // 60 changes while nobody reads: far more than the queue holds.
        for _ in 0..60 {
            store
                .record_movement(
                    tenant,
                    &NewMovement {
                        sku_id: sku,
                        location_id: location,
                        kind: MovementKind::Receipt,
                        custom_type: None,
                        quantity: 1,
                        reason: String::new(),
                        reference: String::new(),
                        actor: "t".into(),
                        idempotency_key: None,
                    },
                )
                .await
                .unwrap();
        }
        let latest = store.event_window(tenant).await.unwrap().latest;
        // Let the dispatcher offer everything (and drop the subscriber).
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let cursor = hub
                    .lock()
                    .feeds
                    .get(&tenant)
                    .map(|f| f.cursor.load(Ordering::Acquire));
                if cursor.is_none_or(|c| c >= latest) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert!(
            hub.lock()
                .feeds
                .get(&tenant)
                .is_none_or(|f| f.subscribers.is_empty()),
            "the full subscriber was dropped from the fan-out"
        );
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            while seqs(&text).len() < 60 {
                let bytes = stream.next().await.unwrap().unwrap();
                text.push_str(std::str::from_utf8(&bytes).unwrap());
            }
        })
        .await
        .unwrap();
        let got = seqs(&text);
        let first_change = latest - 59;
        assert_eq!(got, (first_change..=latest).collect::<Vec<_>>());
        // And it is back in the fan-out.
        assert_eq!(
            hub.lock().feeds.get(&tenant).map(|f| f.subscribers.len()),
            Some(1)
        );
        assert_eq!(hub.streams(), 1);
        drop(stream);
        assert_eq!(hub.streams(), 0);
        assert!(hub.lock().feeds.is_empty());
        hub.close();
        store.close().await;
    }
}
