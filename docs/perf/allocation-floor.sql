-- The SQLite floor of an allocation run's writes: what the database alone
-- spends writing what a run over the bench's 100,000 orders writes, with no
-- driver, no planning and no Rust at all. Run in the sqlite3 shell on a copy
-- of the bench database taken before its run (see docs/PERFORMANCE.md):
--   sqlite3 copy.db < docs/perf/allocation-floor.sql
-- It allocates every line in full at one location (more than a real run,
-- which allocates 82 % of the orders) and writes the same kinds of rows:
-- allocation rows, line and order updates, per-order results and events,
-- one movement and one stock.changed event per balance row, the balances.
.timer on
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
PRAGMA temp_store = MEMORY;
PRAGMA cache_size = -32768;
SELECT count(*), sum(length(o.external_no)) FROM orders o JOIN order_lines l ON l.order_id = o.id
 WHERE o.status IN ('open','partially_allocated','partially_shipped') AND l.pickup_location_id IS NULL;
BEGIN IMMEDIATE;
CREATE TEMP TABLE loc AS SELECT id FROM locations ORDER BY id LIMIT 1;
CREATE TEMP TABLE run AS SELECT id FROM allocation_runs LIMIT 1;
INSERT INTO order_allocations (line_id, location_id, tenant_id, order_id, sku_id, quantity)
 SELECT l.id, (SELECT id FROM loc), l.tenant_id, l.order_id, l.sku_id, l.quantity FROM order_lines l ORDER BY l.id;
UPDATE order_lines SET allocated = quantity;
UPDATE orders SET status = 'allocated';
INSERT INTO allocation_results (run_id, order_id, tenant_id, outcome, reason, units)
 SELECT (SELECT id FROM run), id, tenant_id, 'allocated', NULL, 3 FROM orders ORDER BY id;
INSERT INTO events (tenant_id, seq, kind, sku_id, location_id, channel_id, subject_id, data, created_at)
 SELECT tenant_id, 1000000 + row_number() OVER (ORDER BY id), 'order.allocated', NULL, NULL, channel_id, id,
        json_object('id', id, 'channel_id', channel_id, 'external_no', external_no, 'status', 'allocated',
                    'run_id', (SELECT id FROM run), 'complete', json('true'), 'units', 3), 1
 FROM orders;
INSERT INTO movements (id, tenant_id, sku_id, location_id, kind, quantity, d_allocated, reference, actor, created_at)
 SELECT lower(hex(randomblob(16))), tenant_id, sku_id, location_id, 'allocate', 3, 3, 'allocation run', 'bench', 1
 FROM balances ORDER BY sku_id, location_id;
INSERT INTO events (tenant_id, seq, kind, sku_id, location_id, channel_id, subject_id, data, created_at)
 SELECT tenant_id, 2000000 + row_number() OVER (ORDER BY sku_id), 'stock.changed', sku_id, location_id, NULL, NULL,
        json_object('sku_id', sku_id, 'location_id', location_id, 'on_hand', on_hand, 'reserved', reserved,
                    'allocated', allocated, 'available', 5), 1
 FROM balances;
UPDATE balances SET allocated = allocated + 1, updated_at = 2;
COMMIT;
