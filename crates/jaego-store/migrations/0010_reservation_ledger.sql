-- A reservation is itself the ledger entry of the stock it holds (a pending
-- transfer): its lines raise `reserved`, and its resolution movements
-- (`commit`, `release`, `expire`) lower it. `reserve` movements are no
-- longer written. Each one written before this migration repeats, row for
-- row, a reservation line (same reservation, SKU, location and quantity),
-- so they go, and every balance stays exactly the sum of its ledger
-- entries: its movements plus the lines of its reservations.
DELETE FROM movements WHERE kind = 'reserve';

-- Only open reservations are looked up by deadline (the expiry job), and
-- nothing lists reservations by tenant (a reservation is read by its id):
-- one partial index over the open ones replaces the two indexes every
-- reservation paid for on the hot path.
DROP INDEX reservations_open_expiry;
DROP INDEX reservations_tenant;
CREATE INDEX reservations_open_expiry ON reservations (expires_at) WHERE state = 'open';

-- Only the movements of reservations have a reservation id; the others
-- need no entry in this index.
DROP INDEX movements_reservation;
CREATE INDEX movements_reservation ON movements (reservation_id) WHERE reservation_id IS NOT NULL;
