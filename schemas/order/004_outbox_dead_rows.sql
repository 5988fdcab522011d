-- A row Redis keeps refusing (an error reply to its XADD, not Redis being
-- down) no longer blocks its shard's outbox: each refusal is counted, and after
-- too many the row is set aside (dead_at) and reported; `dine outbox redrive`
-- revives it (core/outbox/schema.hpp, docs/outbox.md).
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN dead_at timestamptz;
