-- The payment service's tables. One payment per order (attempts count the
-- tries: each try has its own idempotency key at the provider, and the amount
-- is the order's, never a client's). A capture and its hand-off to the order
-- role are written in one transaction: the hand-off row is this database's
-- outbox, delivered until the order role acknowledges it (or refunded when the
-- order can no longer be paid).
CREATE TABLE payments (
    order_id     bigint      PRIMARY KEY,
    user_id      bigint      NOT NULL,
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    status       text        NOT NULL CHECK (status IN ('PENDING', 'CAPTURED', 'DECLINED', 'REFUNDED')),
    attempts     integer     NOT NULL DEFAULT 1,
    payment_id   text,                      -- the provider's reference of the capture
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_pending ON payments (updated_at) WHERE status = 'PENDING';

CREATE TABLE outbox (
    order_id      bigint      PRIMARY KEY REFERENCES payments (order_id),
    payment_id    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,
    sent_at       timestamptz,
    outcome       text        CHECK (outcome IN ('paid', 'refunded')),
    last_error    text
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE sent_at IS NULL;
