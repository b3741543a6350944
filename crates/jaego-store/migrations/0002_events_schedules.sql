-- The transactional outbox and stored schedules.

-- The last sequence number given to each tenant's events. Taking numbers is
-- an upsert in the transaction that writes the events, so the row lock holds
-- until commit: a tenant's events commit in sequence order, and a reader that
-- has seen sequence N never later finds a smaller number appear.
CREATE TABLE event_sequences (
    tenant_id TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

-- One row per change, written in the same transaction as the change. `data`
-- is the event's JSON body; the key columns are copies of fields of it, for
-- filtering. Events are kept for a retention window and then purged.
CREATE TABLE events (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sku_id TEXT,
    location_id TEXT,
    channel_id TEXT,
    subject_id TEXT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX events_created ON events (created_at);

-- Jobs that run at stored times: daily resets, print schedules, auto-links.
-- `next_run_at` is when the job is next due (NULL: manual only). A run
-- advances it with a conditional update inside the run's own transaction
-- (`WHERE next_run_at = <the due time it read>`), so two instances never
-- both run the same occurrence, and a run missed during downtime happens
-- once, late, rather than once per missed occurrence.
CREATE TABLE schedules (
    tenant_id TEXT NOT NULL,
    job TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    next_run_at BIGINT,
    last_run_at BIGINT,
    last_due_at BIGINT,
    runs BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    CONSTRAINT schedules_pkey PRIMARY KEY (tenant_id, job, scope)
);
CREATE INDEX schedules_due ON schedules (next_run_at);
