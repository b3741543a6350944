-- An allocation row belongs to its order line, and the line already names
-- the tenant, the order and the SKU (a line's SKU is set once, when it is
-- matched, before anything can be allocated to it). The copies here cost
-- every allocation row about 110 bytes and a second index: an allocation
-- run over 100,000 orders writes about 235,000 of these rows, and the copies
-- were a third of their cost (docs/PERFORMANCE.md, "Allocation rows keyed
-- by their line alone"). Splits and merges no longer rewrite them: moving a
-- line to another order moves its allocations with it. Readers join
-- `order_lines`. One file for SQLite and PostgreSQL.
DROP INDEX order_allocations_order;
ALTER TABLE order_allocations DROP COLUMN tenant_id;
ALTER TABLE order_allocations DROP COLUMN order_id;
ALTER TABLE order_allocations DROP COLUMN sku_id;
