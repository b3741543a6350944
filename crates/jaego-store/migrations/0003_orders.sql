-- Orders from every channel: settings, SKU links, orders and their lines,
-- allocations, allocation runs, returns and exchanges.

-- Order settings of a tenant (CS settings). One row, created on first save.
CREATE TABLE order_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    -- An order not shipped this many days after collection shows as delayed.
    delay_days BIGINT NOT NULL,
    -- Mark both halves of an unallocated split "never merge" by default.
    split_never_merge BIGINT NOT NULL CHECK (split_never_merge IN (0, 1)),
    -- Put an order on hold while one of its exchanges is open.
    exchange_hold BIGINT NOT NULL CHECK (exchange_hold IN (0, 1)),
    -- Exchange shipping fee recorded when a request names none, minor units.
    exchange_fee BIGINT NOT NULL CHECK (exchange_fee >= 0),
    updated_at BIGINT NOT NULL
);

-- How orders of one channel are collected and allocated. A channel without
-- a row uses the defaults (see jaego_store::orders::ChannelOrderSettings).
CREATE TABLE channel_order_settings (
    channel_id TEXT PRIMARY KEY REFERENCES channels(id),
    tenant_id TEXT NOT NULL,
    duplicate_policy TEXT NOT NULL CHECK (duplicate_policy IN ('ignore','update','new')),
    shipment_mode TEXT NOT NULL CHECK (shipment_mode IN ('complete','partial','consolidated')),
    basis TEXT NOT NULL CHECK (basis IN ('strict','unlimited')),
    gift_rule TEXT NOT NULL CHECK (gift_rule IN ('complete','partial')),
    name_match BIGINT NOT NULL CHECK (name_match IN (0, 1)),
    -- Product-name exclusion patterns, joined by U+001F.
    exclusions TEXT NOT NULL DEFAULT '',
    -- Secret of the inbound order webhook; NULL: the webhook is off.
    webhook_secret TEXT,
    updated_at BIGINT NOT NULL
);

-- Postal-code ranges a tenant marks as remote areas, besides the built-in
-- Jeju range.
CREATE TABLE remote_area_ranges (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    postal_from BIGINT NOT NULL,
    postal_to BIGINT NOT NULL CHECK (postal_to >= postal_from),
    label TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX remote_area_ranges_tenant ON remote_area_ranges (tenant_id);

-- What a collected return does with its goods, per reason code.
CREATE TABLE return_reasons (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    restock TEXT NOT NULL CHECK (restock IN ('origin','location','none')),
    location_id TEXT REFERENCES locations(id),
    CONSTRAINT return_reasons_pkey PRIMARY KEY (tenant_id, code)
);

-- Channel item code (+ option) -> SKU.
CREATE TABLE channel_sku_links (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    item_code TEXT NOT NULL,
    item_option TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL,
    sku_id TEXT NOT NULL REFERENCES skus(id),
    source TEXT NOT NULL CHECK (source IN ('manual','code','name')),
    created_at BIGINT NOT NULL,
    CONSTRAINT channel_sku_links_pkey PRIMARY KEY (channel_id, item_code, item_option)
);
CREATE INDEX channel_sku_links_tenant ON channel_sku_links (tenant_id, channel_id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    external_no TEXT NOT NULL,
    -- 0 for the first order of a number; 1, 2, … for copies kept under the
    -- duplicate policy `new`.
    copy_no BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('open','partially_allocated','allocated','partially_shipped','shipped','cancelled','merged')),
    hold BIGINT NOT NULL DEFAULT 0 CHECK (hold IN (0, 1)),
    flag BIGINT NOT NULL DEFAULT 0 CHECK (flag IN (0, 1)),
    priority BIGINT NOT NULL DEFAULT 0 CHECK (priority IN (0, 1)),
    never_merge BIGINT NOT NULL DEFAULT 0 CHECK (never_merge IN (0, 1)),
    note TEXT NOT NULL DEFAULT '',
    customer_name TEXT NOT NULL DEFAULT '',
    customer_phone TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    remote_area BIGINT NOT NULL DEFAULT 0 CHECK (remote_area IN (0, 1)),
    -- Normalised customer identity (name, phone, address, postal code):
    -- orders with the same key may be merged and ship together under
    -- `consolidated`.
    batch_key TEXT NOT NULL DEFAULT '',
    pickup_location_id TEXT REFERENCES locations(id),
    -- A committed reservation whose allocation this order took over.
    reservation_id TEXT,
    -- Lines left out by exclusion rules, as JSON.
    excluded TEXT NOT NULL DEFAULT '[]',
    exchange_fee BIGINT NOT NULL DEFAULT 0,
    split_from TEXT,
    merged_into TEXT,
    ordered_at BIGINT,
    collected_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT orders_number_key UNIQUE (tenant_id, channel_id, external_no, copy_no)
);
CREATE UNIQUE INDEX orders_reservation ON orders (reservation_id);
CREATE INDEX orders_tenant_status ON orders (tenant_id, status, id);
CREATE INDEX orders_tenant_batch ON orders (tenant_id, batch_key);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    channel_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    item_code TEXT NOT NULL DEFAULT '',
    item_option TEXT NOT NULL DEFAULT '',
    product_name TEXT NOT NULL DEFAULT '',
    option_text TEXT NOT NULL DEFAULT '',
    -- NULL while unmatched: the line waits in the unmatched queue.
    sku_id TEXT REFERENCES skus(id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    allocated BIGINT NOT NULL DEFAULT 0 CHECK (allocated >= 0),
    shipped BIGINT NOT NULL DEFAULT 0 CHECK (shipped >= 0),
    cancelled BIGINT NOT NULL DEFAULT 0 CHECK (cancelled >= 0),
    returned BIGINT NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= shipped),
    gift BIGINT NOT NULL DEFAULT 0 CHECK (gift IN (0, 1)),
    -- An online order line with a pickup store is a pickup request there.
    pickup_location_id TEXT REFERENCES locations(id),
    created_at BIGINT NOT NULL,
    CONSTRAINT order_lines_quantities CHECK (allocated + shipped + cancelled <= quantity)
);
CREATE INDEX order_lines_order ON order_lines (order_id, line_no);
CREATE INDEX order_lines_unmatched ON order_lines (tenant_id, channel_id, item_code) WHERE sku_id IS NULL;
CREATE INDEX order_lines_sku ON order_lines (tenant_id, sku_id);

-- Where a line's units are allocated and shipped from. `quantity` is
-- allocated and not yet shipped; the sum over a line's rows is the line's
-- `allocated`.
CREATE TABLE order_allocations (
    line_id TEXT NOT NULL REFERENCES order_lines(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    tenant_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    quantity BIGINT NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    shipped BIGINT NOT NULL DEFAULT 0 CHECK (shipped >= 0),
    returned BIGINT NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= shipped),
    CONSTRAINT order_allocations_pkey PRIMARY KEY (line_id, location_id)
);
CREATE INDEX order_allocations_order ON order_allocations (order_id);

CREATE TABLE allocation_runs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    -- The run's mode override; NULL: each channel's own.
    mode TEXT,
    dry_run BIGINT NOT NULL CHECK (dry_run IN (0, 1)),
    considered BIGINT NOT NULL,
    allocated BIGINT NOT NULL,
    partial BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    units BIGINT NOT NULL,
    actor TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);
CREATE INDEX allocation_runs_tenant ON allocation_runs (tenant_id, id);

-- What a run did with each order it considered.
CREATE TABLE allocation_results (
    run_id TEXT NOT NULL REFERENCES allocation_runs(id),
    order_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('allocated','partial','skipped')),
    reason TEXT,
    units BIGINT NOT NULL,
    CONSTRAINT allocation_results_pkey PRIMARY KEY (run_id, order_id)
);

CREATE TABLE order_exchanges (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    state TEXT NOT NULL CHECK (state IN ('open','resolved')),
    after_shipment BIGINT NOT NULL CHECK (after_shipment IN (0, 1)),
    fee BIGINT NOT NULL CHECK (fee >= 0),
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX order_exchanges_order ON order_exchanges (order_id);

CREATE TABLE order_returns (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_id TEXT NOT NULL REFERENCES order_lines(id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested','collected')),
    exchange_id TEXT,
    -- Where the goods went back on hand when collected; NULL: not restocked.
    restocked_at_location TEXT,
    created_at BIGINT NOT NULL,
    collected_at BIGINT
);
CREATE INDEX order_returns_order ON order_returns (order_id);
