-- The coupon service's tables. Redis (redis-mq) is the authority that grants
-- and uses coupons, atomically, in Lua; these tables are its durable record,
-- written by the coupon role's stream consumer (idempotently) and read back
-- when Redis has to be rebuilt (docs/serve-coupon.md).
CREATE TABLE campaigns (
    campaign_id bigint      PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    product_id  bigint      NOT NULL,             -- the meal set the coupon buys
    price_cents integer     NOT NULL CHECK (price_cents >= 0),  -- what the meal set costs with it
    stock       integer     NOT NULL CHECK (stock >= 0),        -- coupons to grant in all
    per_user    integer     NOT NULL DEFAULT 1 CHECK (per_user = 1),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

-- One row per granted coupon. `state` follows the authority: granted ->
-- reserved (by an order being made) -> used (the order paid), or back to
-- granted (the order cancelled or expired). `seq` is the authority's version
-- of the coupon: an event older than the row is ignored, so replays and
-- out-of-order deliveries converge.
CREATE TABLE coupons (
    coupon_id   bigint      PRIMARY KEY,
    campaign_id bigint      NOT NULL REFERENCES campaigns (campaign_id),
    user_id     bigint      NOT NULL,
    state       text        NOT NULL DEFAULT 'granted' CHECK (state IN ('granted', 'reserved', 'used')),
    order_key   text,                             -- the reserving order's Idempotency-Key
    order_id    bigint,
    seq         integer     NOT NULL DEFAULT 1,
    claimed_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, user_id)
);
CREATE INDEX coupons_by_user ON coupons (user_id);
