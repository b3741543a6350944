-- Scanning pickup requests of bundles. One file for SQLite and PostgreSQL
-- (see ARCHITECTURE.md).

-- The components of a request item whose SKU is a bundle, from the order
-- line's expansion (stored in `order_line_components` when the item is
-- made, so reception allocates what was scanned). Each unit of the item is
-- scanned as `per_unit` units of every component, or whole by the
-- bundle's own barcode; the item's own `received_scans` and
-- `completion_scans` are the whole bundles these make. The bounds
-- (`<= (quantity - cancelled) × per_unit`) are kept by the pickup rules
-- under the request's row lock, like the item's own.
CREATE TABLE pickup_item_components (
    item_id TEXT NOT NULL REFERENCES pickup_items(id),
    component_sku_id TEXT NOT NULL REFERENCES skus(id),
    tenant_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    per_unit BIGINT NOT NULL CHECK (per_unit > 0),
    received_scans BIGINT NOT NULL DEFAULT 0 CHECK (received_scans >= 0),
    completion_scans BIGINT NOT NULL DEFAULT 0 CHECK (completion_scans >= 0),
    CONSTRAINT pickup_item_components_pkey PRIMARY KEY (item_id, component_sku_id)
);
