-- Shipping: couriers, shipments packed from allocated order lines, their
-- scan checks, tracking numbers, the invoice print order and storage bins.
-- See docs/fulfilment.md.

-- The couriers a tenant ships with (배송업체).
CREATE TABLE couriers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT couriers_code_key UNIQUE (tenant_id, code)
);

-- Per tenant: the last packing-slip number handed out, so slip codes are
-- short, printable and unique (`SH` + eight digits and more).
CREATE TABLE shipment_counters (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    last_no BIGINT NOT NULL
);

-- One parcel: allocated units of one order leaving one location.
-- `open` while it is packed and scanned; `confirmed` once shipped (the
-- `shipment` movements are written then); `cancelled` frees its units for
-- another shipment (nothing in stock changes).
CREATE TABLE shipments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    -- The packing slip's barcode.
    code TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    state TEXT NOT NULL CHECK (state IN ('open','confirmed','cancelled')),
    courier_id TEXT REFERENCES couriers(id),
    tracking_no TEXT,
    -- Set when a supervisor confirmed an incomplete scan.
    override_reason TEXT,
    override_by TEXT,
    confirmed_at BIGINT,
    confirmed_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT shipments_code_key UNIQUE (tenant_id, code),
    CONSTRAINT shipments_tracking_key UNIQUE (tenant_id, tracking_no),
    CONSTRAINT shipments_tracking_courier CHECK ((tracking_no IS NULL) = (courier_id IS NULL))
);
CREATE INDEX shipments_order ON shipments (order_id);
CREATE INDEX shipments_tenant_state ON shipments (tenant_id, state, id);

-- What a shipment carries: units of one order line, and how many of them
-- the scan station has checked. `scanned <= quantity` is the database's
-- own guarantee that no scan is ever counted twice for one unit.
CREATE TABLE shipment_lines (
    shipment_id TEXT NOT NULL REFERENCES shipments(id),
    line_no BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    order_line_id TEXT NOT NULL REFERENCES order_lines(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    scanned BIGINT NOT NULL DEFAULT 0 CHECK (scanned >= 0 AND scanned <= quantity),
    CONSTRAINT shipment_lines_pkey PRIMARY KEY (shipment_id, line_no)
);
CREATE INDEX shipment_lines_order_line ON shipment_lines (order_line_id);

-- Every scan at the scan station and its answer.
CREATE TABLE shipment_scans (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    shipment_id TEXT NOT NULL REFERENCES shipments(id),
    barcode TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('accepted','wrong_item','too_many','unknown_barcode')),
    sku_id TEXT,
    line_no BIGINT,
    actor TEXT NOT NULL,
    scanned_at BIGINT NOT NULL
);
CREATE INDEX shipment_scans_shipment ON shipment_scans (shipment_id, id);

-- Shipping settings of a tenant; a tenant without a row uses the defaults.
CREATE TABLE shipping_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    -- The order invoices and packing slips print in (송장출력 순서).
    print_order TEXT NOT NULL CHECK (print_order IN ('collected_at','sku','bin')),
    updated_at BIGINT NOT NULL
);

-- Where a SKU is kept at a location (a shelf or bin code), for picking and
-- for printing in bin order.
CREATE TABLE stock_bins (
    sku_id TEXT NOT NULL REFERENCES skus(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    tenant_id TEXT NOT NULL,
    bin TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT stock_bins_pkey PRIMARY KEY (sku_id, location_id)
);
CREATE INDEX stock_bins_tenant_location ON stock_bins (tenant_id, location_id);
