-- Orders of bundles. One file for SQLite and PostgreSQL (see ARCHITECTURE.md).

-- The expansion an order line of a bundle is allocated with: one row per
-- component, units per bundle unit, from the recipe (and its version) at
-- the line's first allocation. Shipping, deallocating, cancelling and
-- returning the line act on these rows, never on the current recipe, so a
-- recipe edit after allocation changes nothing already allocated.
-- `order_lines.allocated`/`shipped` and `order_allocations` of such a line
-- count bundle units (its `sku_id` is the bundle); the stock is its
-- components' (movements name the bundle in `bundle_sku_id`).
CREATE TABLE order_line_components (
    line_id TEXT NOT NULL REFERENCES order_lines(id),
    component_sku_id TEXT NOT NULL REFERENCES skus(id),
    tenant_id TEXT NOT NULL,
    bundle_sku_id TEXT NOT NULL REFERENCES skus(id),
    position BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    recipe_version BIGINT NOT NULL,
    CONSTRAINT order_line_components_pkey PRIMARY KEY (line_id, component_sku_id)
);

-- "Which SKUs of this tenant are bundles?": a few rows, read once per
-- allocation chunk or order change instead of a look-up per line.
CREATE INDEX skus_bundles ON skus (tenant_id) WHERE bundle = 1;
