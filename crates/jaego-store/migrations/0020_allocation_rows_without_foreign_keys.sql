-- Allocation rows and run results without foreign keys. An allocation run
-- over 100,000 orders writes about 235,000 `order_allocations` rows and
-- 100,000 `allocation_results` rows; on PostgreSQL each foreign key is a
-- trigger that looks its row up once per row written (about 5 µs each: 2.4 s
-- of a 17 s run), and on SQLite a lookup per row too (docs/PERFORMANCE.md,
-- "Allocation rows without foreign keys").
--
-- The rows they named are never deleted while these point at them: order
-- lines, locations and allocation runs have no delete but the owner's order
-- reset, which deletes these rows first. The writers take the line and the
-- location from rows they have just read, and `jaego verify` reports any
-- row whose line, location or run is missing.
--
-- Neither engine drops a foreign key in place in the same SQL, so each table
-- is copied into one without them. The primary keys become unique indexes
-- of the same name and columns (the same guarantee, and what `ON CONFLICT`
-- names); the checks keep their names. One file for SQLite and PostgreSQL.
CREATE TABLE order_allocations_next (
    line_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    quantity BIGINT NOT NULL DEFAULT 0
        CONSTRAINT order_allocations_quantity_check CHECK (quantity >= 0),
    shipped BIGINT NOT NULL DEFAULT 0
        CONSTRAINT order_allocations_shipped_check CHECK (shipped >= 0),
    returned BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT order_allocations_check CHECK (returned >= 0 AND returned <= shipped)
);
INSERT INTO order_allocations_next (line_id, location_id, quantity, shipped, returned)
    SELECT line_id, location_id, quantity, shipped, returned FROM order_allocations;
DROP TABLE order_allocations;
ALTER TABLE order_allocations_next RENAME TO order_allocations;
CREATE UNIQUE INDEX order_allocations_pkey ON order_allocations (line_id, location_id);

CREATE TABLE allocation_results_next (
    run_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    outcome TEXT NOT NULL
        CONSTRAINT allocation_results_outcome_check CHECK (outcome IN ('allocated','partial','skipped')),
    reason TEXT,
    units BIGINT NOT NULL
);
INSERT INTO allocation_results_next (run_id, order_id, tenant_id, outcome, reason, units)
    SELECT run_id, order_id, tenant_id, outcome, reason, units FROM allocation_results;
DROP TABLE allocation_results;
ALTER TABLE allocation_results_next RENAME TO allocation_results;
CREATE UNIQUE INDEX allocation_results_pkey ON allocation_results (run_id, order_id);
