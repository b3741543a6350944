-- Barcode label templates, per tenant.
--
-- `size`, `symbology` and `fields` hold names from jaego-core's `label` and
-- `barcode` modules (`fields` is a comma-separated list, in print order).
-- They carry no CHECK constraint on purpose: a new size preset or symbology
-- is a code change, and SQLite cannot alter a CHECK without rebuilding the
-- table. The store refuses a row whose names it does not know when reading
-- it back.
CREATE TABLE label_templates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    size TEXT NOT NULL,
    symbology TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT label_templates_code_key UNIQUE (tenant_id, code)
);
