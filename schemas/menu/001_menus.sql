-- The menu service's tables. A product is a chain-wide SKU (product_id) sold
-- by some stores, each at its own price and availability: a store's menu is
-- its rows of `products`, read in (store_id, product_id) order. `menus.version`
-- goes up with every change to a store's menu; caches carry it.
CREATE TABLE menus (
    store_id   bigint      PRIMARY KEY,
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    store_id    bigint      NOT NULL REFERENCES menus (store_id),
    product_id  bigint      NOT NULL,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_cents integer     NOT NULL CHECK (price_cents >= 0),
    available   boolean     NOT NULL DEFAULT true,
    image_path  text        CHECK (image_path IS NULL OR length(image_path) <= 300),
    PRIMARY KEY (store_id, product_id)
);
