-- `orders.reservation_id` is set only on an order that took over a
-- committed reservation, so almost every entry of its unique index was a
-- NULL. On PostgreSQL an order's status update (every allocation run
-- writes one per order it allocates) is not heap-only, since `status` is
-- indexed, and inserts into every index of the table: without the NULLs
-- this index is no longer one of them (50,000 status updates 5-10 % faster;
-- docs/PERFORMANCE.md, "Balances locked in one JSON read, and a partial
-- reservation index"). Uniqueness is as before: NULLs never conflicted.
-- One file for SQLite and PostgreSQL.
DROP INDEX orders_reservation;
CREATE UNIQUE INDEX orders_reservation ON orders (reservation_id) WHERE reservation_id IS NOT NULL;
