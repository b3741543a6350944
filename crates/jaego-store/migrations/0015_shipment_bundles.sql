-- Scanning shipments of bundles. One file for SQLite and PostgreSQL (see
-- ARCHITECTURE.md).

-- What the scan station checks for a shipment line of a bundle: its
-- components, from the order line's stored expansion
-- (`order_line_components`), `quantity` = the line's bundle units ×
-- `per_bundle`. A component's barcode counts one unit here, the bundle's
-- own barcode `per_bundle` of every component. Plain lines have no rows;
-- a bundle line's own `shipment_lines.scanned` stays 0 (its progress is
-- these rows). `scanned <= quantity` is the database's own guarantee that
-- no unit is counted twice.
CREATE TABLE shipment_line_components (
    shipment_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    component_sku_id TEXT NOT NULL REFERENCES skus(id),
    tenant_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    per_bundle BIGINT NOT NULL CHECK (per_bundle > 0),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    scanned BIGINT NOT NULL DEFAULT 0 CHECK (scanned >= 0 AND scanned <= quantity),
    CONSTRAINT shipment_line_components_pkey PRIMARY KEY (shipment_id, line_no, component_sku_id),
    CONSTRAINT shipment_line_components_line FOREIGN KEY (shipment_id, line_no)
        REFERENCES shipment_lines (shipment_id, line_no)
);
