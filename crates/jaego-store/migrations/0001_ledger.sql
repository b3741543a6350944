-- jaego schema. One migration set serves SQLite and PostgreSQL: every
-- statement here is valid on both, and the store runs the same SQL on both.
-- If the engines ever need different DDL, split this folder per engine.
-- Times are microseconds since the Unix epoch; ids are UUID v7 text.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner','manager','staff','integration','display')),
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT products_code_key UNIQUE (tenant_id, code)
);

CREATE TABLE skus (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    product_id TEXT REFERENCES products(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    -- 0 or 1: sqlx's Any driver reads no SQLite booleans, so flags are integers.
    tracked BIGINT NOT NULL CHECK (tracked IN (0, 1)),
    status TEXT NOT NULL DEFAULT 'active',
    option_tags TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT skus_code_key UNIQUE (tenant_id, code)
);

CREATE TABLE sku_barcodes (
    tenant_id TEXT NOT NULL,
    barcode TEXT NOT NULL,
    sku_id TEXT NOT NULL REFERENCES skus(id),
    CONSTRAINT sku_barcodes_pkey PRIMARY KEY (tenant_id, barcode)
);
CREATE INDEX sku_barcodes_sku ON sku_barcodes (sku_id);

CREATE TABLE locations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('warehouse','store')),
    time_zone TEXT NOT NULL,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    policy TEXT NOT NULL CHECK (policy IN ('strict','unlimited')),
    created_at BIGINT NOT NULL,
    CONSTRAINT locations_code_key UNIQUE (tenant_id, code)
);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    policy TEXT CHECK (policy IN ('strict','unlimited')),
    created_at BIGINT NOT NULL,
    CONSTRAINT channels_code_key UNIQUE (tenant_id, code)
);

CREATE TABLE channel_locations (
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    priority BIGINT NOT NULL,
    CONSTRAINT channel_locations_pkey PRIMARY KEY (channel_id, location_id)
);

CREATE TABLE movement_types (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in','out')),
    created_at BIGINT NOT NULL,
    CONSTRAINT movement_types_pkey PRIMARY KEY (tenant_id, code)
);

CREATE TABLE balances (
    tenant_id TEXT NOT NULL,
    sku_id TEXT NOT NULL REFERENCES skus(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    on_hand BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    allocated BIGINT NOT NULL DEFAULT 0 CHECK (allocated >= 0),
    incoming BIGINT NOT NULL DEFAULT 0 CHECK (incoming >= 0),
    in_transit BIGINT NOT NULL DEFAULT 0 CHECK (in_transit >= 0),
    safety_stock BIGINT NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    updated_at BIGINT NOT NULL,
    CONSTRAINT balances_pkey PRIMARY KEY (sku_id, location_id)
);
CREATE INDEX balances_tenant_location ON balances (tenant_id, location_id);

CREATE TABLE movements (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    custom_type TEXT,
    quantity BIGINT NOT NULL,
    d_on_hand BIGINT NOT NULL DEFAULT 0,
    d_reserved BIGINT NOT NULL DEFAULT 0,
    d_allocated BIGINT NOT NULL DEFAULT 0,
    d_incoming BIGINT NOT NULL DEFAULT 0,
    d_in_transit BIGINT NOT NULL DEFAULT 0,
    d_safety_stock BIGINT NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    idempotency_key TEXT,
    reservation_id TEXT,
    transfer_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX movements_tenant_sku ON movements (tenant_id, sku_id, id);
CREATE INDEX movements_tenant_location ON movements (tenant_id, location_id, id);
CREATE INDEX movements_tenant_kind ON movements (tenant_id, kind, id);
CREATE INDEX movements_reservation ON movements (reservation_id);

CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('open','committed','released','expired')),
    reference TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX reservations_open_expiry ON reservations (state, expires_at);
CREATE INDEX reservations_tenant ON reservations (tenant_id, id);

CREATE TABLE reservation_lines (
    reservation_id TEXT NOT NULL REFERENCES reservations(id),
    line_no BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    committed BIGINT,
    CONSTRAINT reservation_lines_pkey PRIMARY KEY (reservation_id, line_no)
);

CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    from_location_id TEXT NOT NULL,
    to_location_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    state TEXT NOT NULL CHECK (state IN ('in_transit','received')),
    reference TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    received_at BIGINT
);
CREATE INDEX transfers_tenant ON transfers (tenant_id, id);

CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code BIGINT,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, idem_key)
);

-- One-off markers, e.g. 'bootstrap' once the first tenant was created, so two
-- instances starting together on one empty PostgreSQL create only one.
CREATE TABLE meta (
    meta_key TEXT PRIMARY KEY,
    meta_value TEXT NOT NULL
);
