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
  // The outbox relays (one per shard on each node that relays).
  bool relay = true;             // false: this node serves requests only; others relay its rows
  int relay_batch = 200;
  int relay_poll_ms = 1000;      // backstop poll when no payment woke the relay
  int relay_linger_ms = 10;      // gather a busy shard's rows into one batch
  int relay_claim_ms = 10000;    // a frozen relay's claim lapses after this
  int outbox_retention_s = 86400;  // sent rows are kept this long (redrive)
  int outbox_prune_every_s = 60;   // how often sent rows past the retention are deleted

  static OrderConfig parse(config::Reader& r, const OrderConfig& defaults);
};

}  // namespace dine::order
