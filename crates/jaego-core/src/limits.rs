//! Every limit jaego enforces, in one place. Names carry the unit last.
//!
//! The HTTP edge checks these before anything reaches the store, and
//! `docs/limits.md` lists them for integrators (keep the two in step).

/// Largest quantity in one movement or reservation line.
pub const QUANTITY_MAX: i64 = 1_000_000_000;
/// Longest SKU, product, location, channel or movement-type code, in characters.
pub const CODE_LEN_MAX: usize = 64;
/// Longest display name, in characters.
pub const NAME_LEN_MAX: usize = 200;
/// Longest barcode, in characters.
pub const BARCODE_LEN_MAX: usize = 64;
/// Most barcodes on one SKU.
pub const BARCODES_PER_SKU_MAX: usize = 20;
/// Most option tags on one SKU.
pub const OPTION_TAGS_PER_SKU_MAX: usize = 20;
/// Longest option tag, in characters.
pub const OPTION_TAG_LEN_MAX: usize = 64;
/// Longest free-text reason on a movement, in characters.
pub const REASON_LEN_MAX: usize = 500;
/// Longest reference (order number, document id) on a movement, in characters.
pub const REFERENCE_LEN_MAX: usize = 200;
/// Longest `Idempotency-Key` header, in characters.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;
/// Most lines in one reservation.
pub const RESERVATION_LINES_MAX: usize = 100;
/// Longest time to live of a reservation, in seconds (7 days).
pub const RESERVATION_TTL_SECS_MAX: i64 = 7 * 24 * 3600;
/// Time to live of a reservation when the request names none, in seconds.
pub const RESERVATION_TTL_SECS_DEFAULT: i64 = 15 * 60;
/// Most reservations expired in one transaction by the expiry job.
pub const EXPIRY_BATCH_MAX: usize = 500;
/// Most requests applied in one group-commit transaction.
pub const GROUP_COMMIT_REQUESTS_MAX: usize = 256;
/// Most reservation lines applied in one group-commit transaction.
pub const GROUP_COMMIT_LINES_MAX: usize = 1_000;
/// Largest page of a list endpoint.
pub const PAGE_SIZE_MAX: usize = 500;
/// Page size when the request names none.
pub const PAGE_SIZE_DEFAULT: usize = 50;
/// Most locations linked to one channel.
pub const CHANNEL_LOCATIONS_MAX: usize = 50;
/// Most data rows in one CSV import.
pub const CSV_ROWS_MAX: usize = 50_000;
/// Largest JSON request body, in bytes.
pub const JSON_BODY_BYTES_MAX: usize = 1024 * 1024;
/// Largest CSV request body, in bytes.
pub const CSV_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Longest token name, in characters.
pub const TOKEN_NAME_LEN_MAX: usize = 100;
/// How long events stay in the outbox for `Last-Event-ID` resumption, in
/// seconds (7 days); older ones are purged.
pub const EVENT_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Most events purged in one statement by the purge job.
pub const EVENT_PURGE_BATCH_MAX: usize = 5_000;
/// Longest Code 128 barcode, in characters (printable ASCII, so also bytes).
/// As long as a SKU code or a stored barcode, so any ASCII one can be
/// printed; whether it fits a label is `BARCODE_MODULE_UM_MIN`'s question.
pub const CODE128_LEN_MAX: usize = 64;
/// Narrowest bar module a label may print, in micrometres. A 203-dpi
/// thermal printer's dot is 125 µm; a module narrower than this cannot be
/// drawn at least one dot wide with room for the ink to spread, so such a
/// label is refused rather than printed unreadable.
pub const BARCODE_MODULE_UM_MIN: u32 = 150;
/// Most copies of one SKU's label in one PDF.
pub const LABEL_COPIES_MAX: u32 = 1_000;
/// Most labels in one PDF, all items' copies together.
pub const LABELS_PER_DOCUMENT_MAX: u32 = 2_000;
/// Most items (SKUs) in one label PDF request.
pub const LABEL_ITEMS_MAX: usize = 200;
/// Largest `fixed` figure a channel may be sent (seed 002's "9999" and more).
pub const FIXED_FIGURE_MAX: i64 = 1_000_000_000;
/// Largest buffer kept back from a channel's figure, in units.
pub const CHANNEL_BUFFER_MAX: i64 = 1_000_000_000;
/// Most channel kinds in a `some_channels` sharing scope.
pub const SHARING_CHANNEL_KINDS_MAX: usize = 50;
/// Most channels in a `some_stores` sharing scope.
pub const SHARING_CHANNELS_MAX: usize = 500;
/// Most actions on one low-stock rule.
pub const LOW_STOCK_ACTIONS_MAX: usize = 10;
/// Most low-stock rules per tenant.
pub const LOW_STOCK_RULES_MAX: usize = 10_000;
/// Longest availability-estimate text, in characters.
pub const ESTIMATE_TEXT_LEN_MAX: usize = 200;
/// Most items on one store's table-order menu.
pub const MENU_ITEMS_MAX: usize = 2_000;
/// Most lines in one table order.
pub const TABLE_ORDER_LINES_MAX: usize = 100;
/// Most events the stock-rules follower reads in one transaction.
pub const STOCK_RULES_EVENTS_MAX: usize = 500;
/// Most SKUs a channel-figure or low-stock sweep handles in one transaction.
pub const SWEEP_PAGE_MAX: usize = 200;
/// Most SKU statuses pushed to channels in one transaction.
pub const STATUS_PUSH_BATCH_MAX: usize = 200;
/// Most due schedules one job run picks up.
pub const SCHEDULE_BATCH_MAX: usize = 50;
/// Deepest nesting of arrays and objects in a JSON request body; deeper
/// bodies are refused before they are deserialised.
pub const JSON_DEPTH_MAX: usize = 32;
/// Longest user login name, in characters.
pub const LOGIN_LEN_MAX: usize = 64;
/// Shortest password, in characters.
pub const PASSWORD_LEN_MIN: usize = 10;
/// Longest password, in bytes (Argon2 hashes any length; this bounds the work).
pub const PASSWORD_BYTES_MAX: usize = 256;
/// Longest user-agent text kept with a session, in characters.
pub const USER_AGENT_LEN_MAX: usize = 200;
/// Failed or pending sign-ins allowed per account in one window.
pub const LOGIN_ATTEMPTS_PER_ACCOUNT_MAX: i64 = 10;
/// Sign-in attempts allowed per client address in one window.
pub const LOGIN_ATTEMPTS_PER_ADDRESS_MAX: i64 = 50;
/// Length of the sign-in rate-limit window, in seconds (15 minutes).
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// Idle time after which a session ends, when the server names none, in seconds (8 hours).
pub const SESSION_IDLE_SECS_DEFAULT: i64 = 8 * 3600;
/// Longest a session lasts, however busy, when the server names none, in seconds (7 days).
pub const SESSION_ABSOLUTE_SECS_DEFAULT: i64 = 7 * 24 * 3600;
/// Most requests served at once before new ones queue, by default.
pub const IN_FLIGHT_REQUESTS_DEFAULT: usize = 512;
/// Most requests waiting for a slot before new ones are refused with 503, by default.
pub const QUEUED_REQUESTS_DEFAULT: usize = 1_024;
/// Longest a queued request waits for a slot before it is refused, in milliseconds.
pub const QUEUE_WAIT_MS_MAX: u64 = 5_000;

/// Most live event streams (`GET /api/v1/events/stream`) one server
/// instance serves at once; more are refused `503 subscribers_full`.
pub const EVENT_STREAMS_PER_INSTANCE_MAX: usize = 10_000;
/// Most live event streams of one tenant on one instance; more are refused
/// `429 too_many_subscribers`.
pub const EVENT_STREAMS_PER_TENANT_MAX: usize = 1_000;
/// Events queued for one live stream before it counts as fallen behind and
/// continues from the log at its own pace.
pub const EVENT_STREAM_BUFFER_EVENTS: usize = 1_024;
/// Seconds between keep-alive frames on an idle event stream.
pub const EVENT_STREAM_KEEPALIVE_SECS: u64 = 15;
/// Events read from the log per query when a stream replays or catches up.
pub const EVENT_REPLAY_PAGE_EVENTS: usize = 500;
/// Most kind patterns in one event filter (`kinds=`).
pub const EVENT_FILTER_KINDS_MAX: usize = 20;
/// Longest kind pattern (`stock.changed`, `reservation.*`), in characters.
pub const EVENT_KIND_LEN_MAX: usize = 64;
/// Most webhook endpoints per tenant.
pub const WEBHOOK_ENDPOINTS_PER_TENANT_MAX: usize = 100;
/// Longest webhook URL, in characters.
pub const WEBHOOK_URL_LEN_MAX: usize = 2_000;
/// Shortest webhook secret a client may choose, in characters.
pub const WEBHOOK_SECRET_LEN_MIN: usize = 16;
/// Longest webhook secret a client may choose, in characters.
pub const WEBHOOK_SECRET_LEN_MAX: usize = 200;
/// Longest webhook description, in characters.
pub const WEBHOOK_DESCRIPTION_LEN_MAX: usize = 500;
/// How long one webhook request may take, connection to last byte of the
/// answer, in seconds; longer counts as a failed attempt.
pub const WEBHOOK_TIMEOUT_SECS: u64 = 10;
/// Consecutive failed attempts at the head of an endpoint's queue before the
/// event is parked as a dead letter and delivery moves on.
pub const WEBHOOK_ATTEMPTS_MAX: u32 = 12;
/// First retry delay of a failed webhook delivery, in milliseconds; it
/// doubles per attempt, with jitter.
pub const WEBHOOK_BACKOFF_BASE_MS: u64 = 1_000;
/// Longest retry delay of a failed webhook delivery, in milliseconds (10 min).
pub const WEBHOOK_BACKOFF_CAP_MS: u64 = 600_000;
/// How long an instance's claim on an endpoint (or on the NATS publisher
/// role) lasts without renewal, in seconds.
pub const DELIVERY_LEASE_SECS: i64 = 30;
/// Most endpoints one instance delivers to at once.
pub const WEBHOOK_WORKERS_PER_INSTANCE_MAX: usize = 64;
/// Events read and coalesced per round of an endpoint's delivery.
pub const WEBHOOK_BATCH_EVENTS: usize = 100;
/// Longest error text kept per delivery attempt, in characters.
pub const WEBHOOK_ERROR_LEN_MAX: usize = 500;
/// How long webhook delivery attempts stay in the delivery log, in seconds
/// (7 days); older ones are purged.
pub const WEBHOOK_LOG_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Events published to NATS per batch (progress is saved after each).
pub const NATS_BATCH_EVENTS: usize = 500;
/// Most lines in one order.
pub const ORDER_LINES_MAX: usize = 200;
/// Most orders in one collection request (a JSON batch or a webhook).
pub const ORDERS_PER_REQUEST_MAX: usize = 1_000;
/// Longest external order number, channel item code or option code, in characters.
pub const ORDER_NO_LEN_MAX: usize = 100;
/// Longest free-text field of an order (product name, option text, customer
/// name, address, note), in characters.
pub const ORDER_TEXT_LEN_MAX: usize = 500;
/// Most product-name exclusion patterns per channel.
pub const EXCLUSIONS_PER_CHANNEL_MAX: usize = 100;
/// Most remote-area postal ranges a tenant adds to the defaults.
pub const REMOTE_AREA_RANGES_MAX: usize = 500;
/// Largest delivery-delay threshold, in days.
pub const DELAY_DAYS_MAX: i64 = 365;
/// Most orders named in one allocation run, split, merge or bulk flag change.
pub const ORDERS_PER_SELECTION_MAX: usize = 10_000;
/// Most open orders one allocation run considers; the rest wait for the next run.
pub const ALLOCATION_RUN_ORDERS_MAX: usize = 500_000;
/// Largest exchange shipping fee, in minor units of the currency.
pub const EXCHANGE_FEE_MAX: i64 = 100_000_000;
/// Most components in one bundle's recipe.
pub const BUNDLE_COMPONENTS_MAX: usize = 20;
/// Largest quantity of one component in one bundle unit.
pub const BUNDLE_COMPONENT_QUANTITY_MAX: i64 = 10_000;
/// Most products in one channel catalog upload or webhook call.
pub const CATALOG_PRODUCTS_MAX: usize = 10_000;
/// Most exclusions per channel catalog.
pub const CATALOG_EXCLUSIONS_MAX: usize = 10_000;
/// Most lines of one reservation once its bundle lines are expanded into
/// their components (at most the group-commit line limit).
pub const RESERVATION_COMPONENT_LINES_MAX: usize = 1_000;

// Shipping (docs/fulfilment.md).
/// Most orders one shipment-creation request packs; the rest wait for the next call.
pub const SHIPMENT_ORDERS_PER_REQUEST_MAX: usize = 1_000;
/// Most lines on one shipment.
pub const SHIPMENT_LINES_MAX: usize = 200;
/// Longest tracking number, in characters.
pub const TRACKING_NO_LEN_MAX: usize = 40;
/// Longest storage bin code, in characters.
pub const BIN_LEN_MAX: usize = 40;
/// Most couriers of one tenant.
pub const COURIERS_MAX: usize = 200;
/// Most shipments in one print view.
pub const SHIPMENTS_PER_PRINT_MAX: usize = 500;
/// Longest reason for confirming an incompletely scanned shipment, in characters.
pub const OVERRIDE_REASON_LEN_MAX: usize = 500;

// Store pickup (docs/pickup.md).
/// Longest reason for an unavailable or cancelled pickup, in characters.
pub const PICKUP_REASON_LEN_MAX: usize = 500;
/// Shortest pickup deadline after reception, in hours.
pub const PICKUP_DEADLINE_HOURS_MIN: i64 = 1;
/// Longest pickup deadline after reception, in hours (60 days).
pub const PICKUP_DEADLINE_HOURS_MAX: i64 = 60 * 24;
