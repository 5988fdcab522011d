-- The order service's tables, applied to every order shard.
-- Order ids embed user_id mod 16 in their low bits, so a user's orders and
-- idempotency keys live on the shard user_id mod N.

CREATE TABLE orders (
    order_id        bigint      PRIMARY KEY,
    user_id         bigint      NOT NULL,
    store_id        bigint      NOT NULL,
    items           jsonb       NOT NULL,
    amount_cents    bigint      NOT NULL CHECK (amount_cents >= 0),
    coupon_id       bigint,
    status          text        NOT NULL DEFAULT 'CREATED'
                    CHECK (status IN ('CREATED', 'PAID', 'ACCEPTED', 'COMPLETED', 'CANCELLED')),
    pickup_code     text,
    payment_id      text,
    idempotency_key text        NOT NULL,
    request_hash    text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    paid_at         timestamptz,
    accepted_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer     NOT NULL DEFAULT 1
) WITH (fillfactor = 80);  -- room on each page so pay/accept updates stay HOT (no index writes)

-- An Idempotency-Key is scoped to its user: the same key again finds this row.
-- The same index serves "my orders" (a user's rows, sorted: a user has few).
CREATE UNIQUE INDEX orders_idempotency ON orders (user_id, idempotency_key);

-- Transactional outbox: written in the same transaction as the state change,
-- moved to the Redis stream by the relay, then marked sent. No NOTIFY trigger:
-- PostgreSQL serialises the commits of notifying transactions, which cost a
-- third of the paid-order rate (docs/ARCHITECTURE.md); the order node wakes its
-- relay in-process instead, with a poll as backstop.
CREATE TABLE outbox (
    id          bigserial   PRIMARY KEY,
    order_id    bigint      NOT NULL,
    event_type  text        NOT NULL,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE UNIQUE INDEX outbox_once_per_event ON outbox (order_id, event_type);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
