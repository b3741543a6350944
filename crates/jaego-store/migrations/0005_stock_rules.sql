-- Stock rules: shared inventory to channels, product status, low-stock
-- rules, expected receipts and availability estimates, and table-order
-- counts with daily resets. See docs/channels.md and docs/table-order.md.
-- Lists of codes or ids in one column are joined by U+001F, like option tags.

-- The tenant's shared-inventory switch and which channels it reaches.
CREATE TABLE sharing_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    scope TEXT NOT NULL CHECK (scope IN ('all_stores', 'some_channels', 'some_stores')),
    channel_kinds TEXT NOT NULL DEFAULT '',
    channels TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- A channel's own sharing switch and publish settings. No row: switched
-- on, basis `available`, no buffer.
CREATE TABLE channel_sharing (
    tenant_id TEXT NOT NULL,
    channel_id TEXT PRIMARY KEY REFERENCES channels(id),
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    basis TEXT NOT NULL CHECK (basis IN ('on_hand', 'available', 'fixed', 'untracked')),
    fixed_figure BIGINT CHECK (fixed_figure >= 0),
    buffer BIGINT NOT NULL DEFAULT 0 CHECK (buffer >= 0),
    updated_at BIGINT NOT NULL
);

-- SKUs a channel does not sync: the merchant keeps their figure by hand.
CREATE TABLE channel_exclusions (
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    created_at BIGINT NOT NULL,
    CONSTRAINT channel_exclusions_pkey PRIMARY KEY (channel_id, sku_id)
);

-- The figure each channel was last sent per SKU: published by sharing
-- (`shared`) or typed in (`manual`). `figure` NULL: jaego stopped
-- publishing it (`reason` says why). A `channel.stock` event is written
-- exactly when `figure` changes.
CREATE TABLE channel_figures (
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    figure BIGINT,
    reason TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('shared', 'manual')),
    updated_at BIGINT NOT NULL,
    CONSTRAINT channel_figures_pkey PRIMARY KEY (channel_id, sku_id)
);
CREATE INDEX channel_figures_tenant ON channel_figures (tenant_id, channel_id, sku_id);

-- Product status per SKU (no row: active). `push_pending` is 1 until the
-- next status push sends the change to channels.
CREATE TABLE sku_status (
    tenant_id TEXT NOT NULL,
    sku_id TEXT PRIMARY KEY REFERENCES skus(id),
    discontinued BIGINT NOT NULL CHECK (discontinued IN (0, 1)),
    discontinued_on TEXT,
    reorder BIGINT NOT NULL CHECK (reorder IN (0, 1)),
    reorder_on TEXT,
    forced_sold_out BIGINT NOT NULL CHECK (forced_sold_out IN (0, 1)),
    limited_stock BIGINT CHECK (limited_stock >= 0),
    push_pending BIGINT NOT NULL CHECK (push_pending IN (0, 1)),
    updated_at BIGINT NOT NULL
);
CREATE INDEX sku_status_pending ON sku_status (tenant_id, push_pending, sku_id);

-- Low-stock rules. `scope_key` is `sku:<id>`, `sku:<id>@<location id>` or
-- `channel:<id>`: one rule per thing watched (NULLs would not be unique).
CREATE TABLE low_stock_rules (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    scope_key TEXT NOT NULL,
    sku_id TEXT REFERENCES skus(id),
    location_id TEXT REFERENCES locations(id),
    channel_id TEXT REFERENCES channels(id),
    threshold BIGINT NOT NULL CHECK (threshold >= 0),
    actions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT low_stock_rules_scope_key UNIQUE (tenant_id, scope_key)
);
CREATE INDEX low_stock_rules_sku ON low_stock_rules (tenant_id, sku_id);
CREATE INDEX low_stock_rules_channel ON low_stock_rules (tenant_id, channel_id);

-- Whether a rule's watched stock is low for a SKU. A crossing is claimed
-- by a conditional upsert (`WHERE low = 0` / `WHERE low = 1`), so its
-- actions run once across instances.
CREATE TABLE low_stock_states (
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL REFERENCES low_stock_rules(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    low BIGINT NOT NULL CHECK (low IN (0, 1)),
    available BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    CONSTRAINT low_stock_states_pkey PRIMARY KEY (rule_id, sku_id)
);
CREATE INDEX low_stock_states_tenant ON low_stock_states (tenant_id, low, rule_id);

-- SKUs a rule's "sold_out" action holds at 0 on the rule's channels until
-- stock recovers.
CREATE TABLE low_stock_holds (
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL REFERENCES low_stock_rules(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    created_at BIGINT NOT NULL,
    CONSTRAINT low_stock_holds_pkey PRIMARY KEY (rule_id, sku_id)
);
CREATE INDEX low_stock_holds_sku ON low_stock_holds (tenant_id, sku_id);

-- How far the stock-rules follower has read each tenant's event log. Every
-- transaction that writes channel figures or low-stock states locks this
-- row first, so they are serialised per tenant.
CREATE TABLE stock_rule_cursors (
    tenant_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Recomputations over every SKU, done a page at a time: `figures:<channel
-- id>` or `low_stock:<rule id>`, resumed after `after_sku`.
CREATE TABLE stock_rule_sweeps (
    tenant_id TEXT NOT NULL,
    target TEXT NOT NULL,
    after_sku TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT stock_rule_sweeps_pkey PRIMARY KEY (tenant_id, target)
);

-- Receipts announced with a due date (a calendar date in the location's
-- time zone). Creating one writes an `expect` movement; receiving against
-- it an `expected_receipt` movement; cancelling an `expect_cancel` one.
CREATE TABLE expected_receipts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    received BIGINT NOT NULL DEFAULT 0 CHECK (received >= 0),
    due_on TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('open', 'received', 'cancelled')),
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    CONSTRAINT expected_receipts_received CHECK (received <= quantity)
);
CREATE INDEX expected_receipts_sku ON expected_receipts (tenant_id, sku_id, state, due_on);
CREATE INDEX expected_receipts_tenant ON expected_receipts (tenant_id, id);

-- The merchant's "back in stock" estimate per SKU.
CREATE TABLE availability_estimates (
    tenant_id TEXT NOT NULL,
    sku_id TEXT PRIMARY KEY REFERENCES skus(id),
    text TEXT NOT NULL,
    available_on TEXT,
    updated_at BIGINT NOT NULL
);

-- Table-order settings per store. The reset schedule is a row in
-- `schedules` (job `daily_reset`, scope = the location id).
CREATE TABLE table_order_settings (
    tenant_id TEXT NOT NULL,
    location_id TEXT PRIMARY KEY REFERENCES locations(id),
    reset_mode TEXT NOT NULL CHECK (reset_mode IN ('to_initial', 'to_zero')),
    show_remaining BIGINT NOT NULL CHECK (show_remaining IN (0, 1)),
    updated_at BIGINT NOT NULL
);

-- A store's table-order menu: the items its tablets show, with the count
-- each is reset to.
CREATE TABLE table_order_items (
    tenant_id TEXT NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    initial_count BIGINT NOT NULL CHECK (initial_count >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT table_order_items_pkey PRIMARY KEY (location_id, sku_id)
);
CREATE INDEX table_order_items_tenant ON table_order_items (tenant_id, location_id, sku_id);
