-- The outbox takes the layout of core/outbox (docs/outbox.md): each row names
-- its stream and key; a relay claims rows (claimed_by, claimed_until) and
-- commits before it talks to Redis, so no lock is held across a network call
-- and a frozen relay's rows are taken over once its claim lapses; sent rows
-- stay for the retention period (redrive) and are then deleted in batches.
ALTER TABLE outbox RENAME COLUMN order_id TO key;
ALTER TABLE outbox ALTER COLUMN key TYPE text USING key::text;
ALTER TABLE outbox ADD COLUMN stream text NOT NULL DEFAULT 'dine:orders';
ALTER TABLE outbox ALTER COLUMN stream DROP DEFAULT;
ALTER TABLE outbox ADD COLUMN claimed_by text;
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
-- One order.paid per order is already guaranteed by the pay statement (it
-- inserts only when it moves the order from CREATED): the unique index was
-- an extra index write on every payment.
DROP INDEX outbox_once_per_event;
