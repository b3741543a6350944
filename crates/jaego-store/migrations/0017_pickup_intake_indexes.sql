-- The pickup intake job runs every 2 s. Its look-ups must cost what is
-- open, not what has ever been: without these, SQLite read every order line
-- (for the ORDER BY) to find new pickup lines, and every pickup item ever
-- made to find new cancellations. One file for SQLite and PostgreSQL.

-- Pickup lines with units still open: the only ones the intake can take
-- in. A line leaves the index when it is shipped (collected) or cancelled.
DROP INDEX order_lines_pickup;
CREATE INDEX order_lines_pickup_open ON order_lines (pickup_location_id)
    WHERE pickup_location_id IS NOT NULL AND quantity - cancelled - shipped > 0;

-- Requests a cancellation can still reach.
CREATE INDEX pickups_open ON pickups (id) WHERE status IN ('requested', 'received');
