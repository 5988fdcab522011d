#include "server/order/config.hpp"

namespace dine::order {

OrderConfig OrderConfig::parse(config::Reader& r, const OrderConfig& d) {
  OrderConfig c;
  c.max_amount_cents = r.integer("max_amount_cents", d.max_amount_cents, 1, 2'000'000'000);
  c.max_items = r.integer("max_items", d.max_items, 1, 10'000);
  c.max_qty = r.integer("max_qty", d.max_qty, 1, 1'000'000);
  c.write_batch = r.integer("write_batch", d.write_batch, 1, 1000);
  c.write_batch_concurrency = r.integer("write_batch_concurrency", d.write_batch_concurrency, 1, 64);
  c.write_batch_linger_us = r.integer("write_batch_linger_us", d.write_batch_linger_us, 0, 100'000);
  c.unpaid_ttl_s = r.integer("unpaid_ttl_s", d.unpaid_ttl_s, 10, 7 * 86400);
  c.expiry_every_ms = r.integer("expiry_every_ms", d.expiry_every_ms, 100, 600'000);
  c.relay = r.boolean("relay", d.relay);
  c.relay_batch = r.integer("relay_batch", d.relay_batch, 1, 10'000);
  c.relay_poll_ms = r.integer("relay_poll_ms", d.relay_poll_ms, 10, 600'000);
  c.relay_linger_ms = r.integer("relay_linger_ms", d.relay_linger_ms, 0, 10'000);
  c.relay_claim_ms = r.integer("relay_claim_ms", d.relay_claim_ms, 1000, 3'600'000);
  c.outbox_retention_s = r.integer("outbox_retention_s", d.outbox_retention_s, 0, 90 * 86400);
  c.outbox_prune_every_s = r.integer("outbox_prune_every_s", d.outbox_prune_every_s, 1, 86400);
  r.reject_unknown();
  return c;
}

}  // namespace dine::order
