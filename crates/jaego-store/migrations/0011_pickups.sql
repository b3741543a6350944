-- Store pickup (click and collect, seed 001): per-store settings, pickup
-- requests and their items, and the print runs of their receipts.
--
-- A request's units held in the hanger are the order's allocation at the
-- store (order_allocations), written by `allocate` movements at reception:
-- they count in `allocated` and never in `available`. The print schedule is
-- a row in `schedules` (job `pickup_print`, scope the store's location id).

-- A store's pickup settings. A store without a row uses the defaults
-- (only the cancelled items print; deadline 72 hours).
CREATE TABLE pickup_settings (
    location_id TEXT PRIMARY KEY REFERENCES locations(id),
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    -- A partial cancellation prints the whole receipt, not only the
    -- cancelled items.
    print_whole_on_cancel BIGINT NOT NULL CHECK (print_whole_on_cancel IN (0, 1)),
    -- Hours after reception a request may wait for its customer.
    deadline_hours BIGINT NOT NULL CHECK (deadline_hours > 0),
    updated_at BIGINT NOT NULL
);

CREATE TABLE pickups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    order_id TEXT NOT NULL REFERENCES orders(id),
    -- What the receipt's barcode carries: `P` and 12 digits.
    receipt_code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested','received','completed','unavailable','cancelled','expired')),
    -- Why it is unavailable or cancelled.
    reason TEXT NOT NULL DEFAULT '',
    -- Completion scans of the customer's slip and of the receipt.
    slip_scanned BIGINT NOT NULL DEFAULT 0 CHECK (slip_scanned IN (0, 1)),
    receipt_scanned BIGINT NOT NULL DEFAULT 0 CHECK (receipt_scanned IN (0, 1)),
    requested_at BIGINT NOT NULL,
    received_at BIGINT,
    -- Set at reception: received_at + the store's deadline.
    deadline_at BIGINT,
    closed_at BIGINT,
    -- When the new-request receipt printed; NULL: waiting for a print run.
    printed_at BIGINT,
    -- 1 while the store has not yet been asked to print this expired
    -- request's receipt.
    expired_prompt BIGINT NOT NULL DEFAULT 0 CHECK (expired_prompt IN (0, 1)),
    updated_at BIGINT NOT NULL,
    CONSTRAINT pickups_receipt_key UNIQUE (tenant_id, receipt_code)
);
CREATE INDEX pickups_location ON pickups (tenant_id, location_id, id);
CREATE INDEX pickups_order ON pickups (order_id);
CREATE INDEX pickups_due ON pickups (deadline_at) WHERE status = 'received';
CREATE INDEX pickups_unprinted ON pickups (tenant_id, location_id) WHERE printed_at IS NULL;

-- One order line's units in a request. A line becomes a request item once
-- per pickup store.
CREATE TABLE pickup_items (
    id TEXT PRIMARY KEY,
    pickup_id TEXT NOT NULL REFERENCES pickups(id),
    tenant_id TEXT NOT NULL,
    line_id TEXT NOT NULL REFERENCES order_lines(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    item_no BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    cancelled BIGINT NOT NULL DEFAULT 0 CHECK (cancelled >= 0 AND cancelled <= quantity),
    -- Cancelled units already printed on a cancellation receipt.
    cancel_printed BIGINT NOT NULL DEFAULT 0 CHECK (cancel_printed >= 0 AND cancel_printed <= cancelled),
    -- The line's `cancelled` when this item last took its cancellations in.
    line_cancelled_seen BIGINT NOT NULL,
    received_scans BIGINT NOT NULL DEFAULT 0 CHECK (received_scans >= 0 AND received_scans <= quantity - cancelled),
    completion_scans BIGINT NOT NULL DEFAULT 0 CHECK (completion_scans >= 0 AND completion_scans <= quantity - cancelled),
    CONSTRAINT pickup_items_line_key UNIQUE (line_id, location_id)
);
CREATE INDEX pickup_items_pickup ON pickup_items (pickup_id, item_no);

-- Order lines the pickup intake looks at.
CREATE INDEX order_lines_pickup ON order_lines (pickup_location_id) WHERE pickup_location_id IS NOT NULL;

-- One print of receipts at a store: by the schedule, "print pending now",
-- or the expired-receipts prompt.
CREATE TABLE pickup_print_runs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    cause TEXT NOT NULL CHECK (cause IN ('schedule','manual','expired')),
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pickup_print_runs_location ON pickup_print_runs (tenant_id, location_id, id);

-- The receipts of a print run, in print order.
CREATE TABLE pickup_print_entries (
    run_id TEXT NOT NULL REFERENCES pickup_print_runs(id),
    entry_no BIGINT NOT NULL,
    pickup_id TEXT NOT NULL REFERENCES pickups(id),
    kind TEXT NOT NULL CHECK (kind IN ('new','cancellation','expired')),
    -- What the receipt lists: `item_id:units` pairs joined by commas.
    items TEXT NOT NULL,
    CONSTRAINT pickup_print_entries_pkey PRIMARY KEY (run_id, entry_no)
);
