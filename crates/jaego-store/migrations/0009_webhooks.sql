-- Outbound delivery of events: webhook endpoints with their durable
-- delivery state, the delivery log, dead letters, and the progress of
-- publishing to NATS JetStream.

-- One row per endpoint. The delivery columns are the endpoint's durable
-- cursor: every event of the tenant up to `cursor_seq` is handled
-- (delivered, superseded by a later figure, filtered out, or parked as a
-- dead letter). One instance at a time delivers to an endpoint: it claims
-- the row with a conditional update (`lease_holder`, `lease_expires_at`)
-- and every write of its progress is conditional on still holding it.
--
-- `secret` is kept as given, because signing needs it (a hash could only
-- verify). The API shows it once, at creation or rotation, and never lists
-- it; anyone who can read this table can sign as jaego. See docs/events.md.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- Kind patterns (`stock.changed`, `reservation.*`), separated by U+001F.
    kinds TEXT NOT NULL,
    channel_id TEXT,
    location_id TEXT,
    sku_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    cursor_seq BIGINT NOT NULL,
    -- Failed attempts in a row at the head of the queue; reset by a success
    -- or by parking the head.
    failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    last_success_at BIGINT,
    lease_holder TEXT,
    lease_expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);

-- Every delivery attempt: live deliveries and redeliveries of dead letters.
-- `status` is the HTTP status, NULL when no answer came (refused, timed
-- out). Purged after a retention window.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status BIGINT,
    latency_us BIGINT NOT NULL,
    error TEXT,
    redelivery BIGINT NOT NULL CHECK (redelivery IN (0, 1)),
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (tenant_id, endpoint_id, id);
CREATE INDEX webhook_attempts_created ON webhook_attempts (created_at);

-- Events whose delivery failed too often: parked with the exact body that
-- was sent (the outbox may purge the event later), so they can be
-- redelivered. `state` is `parked` or `redelivered`.
CREATE TABLE webhook_dead_letters (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sku_id TEXT,
    location_id TEXT,
    channel_id TEXT,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('parked', 'redelivered')),
    created_at BIGINT NOT NULL,
    redelivered_at BIGINT
);
CREATE INDEX webhook_dead_letters_endpoint ON webhook_dead_letters (tenant_id, endpoint_id, id);

-- Roles that one instance of a deployment holds at a time (the NATS
-- publisher), claimed and renewed with a conditional upsert.
CREATE TABLE outbox_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The last event sequence of each tenant published to NATS JetStream.
CREATE TABLE nats_progress (
    tenant_id TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
