-- Bundles (combination SKUs) and channel catalogs. One file for SQLite and
-- PostgreSQL, like every migration (see ARCHITECTURE.md).

-- A bundle is a SKU defined by its components. It holds no stock: no
-- balance row is ever made for it, and its figures are computed from its
-- components'. Whether a SKU is a bundle is fixed when it is created (like
-- its code), so the hot path may remember it for good.
ALTER TABLE skus ADD COLUMN bundle BIGINT NOT NULL DEFAULT 0;

-- The current recipe of each bundle: one row per component. Editing a
-- recipe replaces these rows and bumps `bundle_recipes.version`; nothing
-- made with an older recipe is rewritten (reservation lines and movements
-- carry the component quantities they were made with).
CREATE TABLE bundle_recipes (
    bundle_sku_id TEXT PRIMARY KEY REFERENCES skus(id),
    tenant_id TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    updated_at BIGINT NOT NULL
);

CREATE TABLE bundle_components (
    bundle_sku_id TEXT NOT NULL REFERENCES skus(id),
    component_sku_id TEXT NOT NULL REFERENCES skus(id),
    tenant_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    CONSTRAINT bundle_components_pkey PRIMARY KEY (bundle_sku_id, component_sku_id)
);
-- "Which bundles contain this SKU?" (channel figures follow components).
CREATE INDEX bundle_components_component ON bundle_components (component_sku_id);

-- A reservation line made for a bundle line is one of its components: the
-- bundle, the client's line number and the bundle units it came from.
-- `quantity` is the component units (bundle units × the recipe's quantity
-- at the time), so a later recipe edit changes nothing here.
ALTER TABLE reservation_lines ADD COLUMN bundle_sku_id TEXT;
ALTER TABLE reservation_lines ADD COLUMN bundle_line BIGINT;
ALTER TABLE reservation_lines ADD COLUMN bundle_quantity BIGINT;

-- A movement made for a bundle names it.
ALTER TABLE movements ADD COLUMN bundle_sku_id TEXT;

-- Per channel: how its product catalog reaches the inventory list.
-- `auto`: received products are applied at once; `manual`: staged until
-- "update product information" (apply) is asked for.
CREATE TABLE channel_catalog_settings (
    channel_id TEXT PRIMARY KEY REFERENCES channels(id),
    tenant_id TEXT NOT NULL,
    sync_mode TEXT NOT NULL CHECK (sync_mode IN ('auto','manual')),
    updated_at BIGINT NOT NULL
);

-- The channel's catalog as received (webhook or upload). `state` is
-- `staged` until applied, then `applied`; a product received again with
-- other details is staged again.
CREATE TABLE channel_products (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    item_code TEXT NOT NULL,
    item_option TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL,
    -- The seller's code for it on the channel (품목코드): matched against SKU codes.
    sku_code TEXT NOT NULL,
    name TEXT NOT NULL,
    barcode TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('staged','applied')),
    received_at BIGINT NOT NULL,
    applied_at BIGINT,
    CONSTRAINT channel_products_pkey PRIMARY KEY (channel_id, item_code, item_option)
);
CREATE INDEX channel_products_staged ON channel_products (channel_id, state);

-- Channel products that must never enter the inventory list (상품정보 업데이트 제외).
CREATE TABLE channel_catalog_exclusions (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    item_code TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    CONSTRAINT channel_catalog_exclusions_pkey PRIMARY KEY (channel_id, item_code)
);

-- What each catalog sync did: counts, and every row's outcome as JSON.
CREATE TABLE catalog_sync_reports (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    via TEXT NOT NULL CHECK (via IN ('webhook','upload','apply')),
    applied BIGINT NOT NULL CHECK (applied IN (0, 1)),
    received BIGINT NOT NULL,
    created BIGINT NOT NULL,
    linked BIGINT NOT NULL,
    changed BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    bad BIGINT NOT NULL,
    details TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX catalog_sync_reports_channel ON catalog_sync_reports (tenant_id, channel_id, id);
