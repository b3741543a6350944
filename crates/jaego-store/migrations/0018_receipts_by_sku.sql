-- The expected-receipts list filtered by one SKU (`GET /expected-receipts?sku=`)
-- pages in id order. With only (tenant, sku, state, due_on) and (tenant, id)
-- to choose from, SQLite took the second and read the tenant's receipts in
-- id order until a page of that SKU's turned up. This index serves the
-- filter and the order at once. One file for SQLite and PostgreSQL.
CREATE INDEX expected_receipts_sku_id ON expected_receipts (tenant_id, sku_id, id);
