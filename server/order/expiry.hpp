#pragma once
// Cancels the unpaid orders of one shard once they are older than the TTL
// (order.cancelled, reason "expired", through the outbox). A background
// component: it walks the primary key from the oldest id, a window at a time,
// up to the id of "now - TTL" (order ids begin with their creation time), so
// no index on status is needed and a payment stays a HOT update. Every node
// that relays runs one per shard; two walkers of a shard are harmless (the
// update is guarded by the status).
#include <cstdint>

#include "core/async.hpp"
#include "core/metrics.hpp"
#include "core/pg/pool.hpp"

namespace dine::order {

struct ExpiryConfig {
  std::chrono::seconds ttl{900};
  milliseconds every{5000};
  int window = 5000;  // orders looked at per statement
};

class Expiry {
 public:
  Expiry(pg::Pool& db, ExpiryConfig cfg, metrics::Registry& metrics, const std::string& shard);
  Task<void> run();

 private:
  Task<void> round();
  pg::Pool& db_;
  ExpiryConfig cfg_;
  int64_t after_ = 0;  // the walk's cursor: every order up to it was looked at
  metrics::Counter* expired_;
};

}  // namespace dine::order
