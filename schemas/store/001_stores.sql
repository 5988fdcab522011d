-- The store service's tables. Stores are listed by city in id order, a page
-- at a time (the cursor is the last id seen); a POS authenticates with a store
-- token, of which only the SHA-256 hash is kept.
CREATE TABLE stores (
    store_id   bigint      PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    city       text        NOT NULL CHECK (length(city) BETWEEN 1 AND 64),
    open       boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_by_city ON stores (city, store_id);

CREATE TABLE store_tokens (
    token_hash text        PRIMARY KEY,  -- hex SHA-256 of the token; the token itself is never stored
    store_id   bigint      NOT NULL REFERENCES stores (store_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX store_tokens_by_store ON store_tokens (store_id);
