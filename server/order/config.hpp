#pragma once
// The order role's section of the topology: "roles": {"order": {...}}, and a
// node's own "config" over it. Every key is optional; unknown keys are errors.
#include <string>

#include "core/async.hpp"
#include "core/config.hpp"

namespace dine::order {

struct OrderConfig {
  int max_amount_cents = 10'000'000;  // an order above this is refused as absurd
  int max_items = 50;
  int max_qty = 99;
  // Group commit: concurrent creates (and pays) of one shard on one worker go
  // to the database as one statement of up to write_batch rows, at most
  // write_batch_concurrency statements (creates and pays together) in flight
  // per shard and worker (see core/pg/batcher.hpp).
  // write_batch = 1 sends every call alone.
  int write_batch = 32;
  int write_batch_concurrency = 1;
  int write_batch_linger_us = 2000;  // a statement of queued calls waits this long for more
  // Unpaid orders are cancelled (order.cancelled, reason "expired") this long
  // after they were made; each node looks every expiry_every_ms.
  int unpaid_ttl_s = 900;
  int expiry_every_ms = 5000;
  // The outbox relays (one per shard on each node that relays).
  bool relay = true;             // false: this node serves requests only; others relay its rows
  int relay_batch = 200;
  int relay_poll_ms = 1000;      // backstop poll when no payment woke the relay
  int relay_linger_ms = 50;      // gather a busy shard's rows into one batch (adds up to this to an event's delay)
  int relay_claim_ms = 10000;    // a frozen relay's claim lapses after this
  int outbox_retention_s = 86400;  // sent rows are kept this long (redrive)
  int outbox_prune_every_s = 60;   // how often sent rows past the retention are deleted

  static OrderConfig parse(config::Reader& r, const OrderConfig& defaults);
};

}  // namespace dine::order
