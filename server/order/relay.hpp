#pragma once
// Outbox relay for one shard: moves unsent outbox rows to the Redis stream and
// marks them sent, in one database transaction that holds the rows locked
// (FOR UPDATE SKIP LOCKED), so relays of several order instances work side by
// side without sending a row twice. Woken in-process by the node that paid
// (wake()), with a poll as backstop for rows no live relay was woken for. While
// Redis is down, rows wait; a crash between XADD and COMMIT sends a row again
// (at-least-once).
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "core/async.hpp"
#include "core/metrics.hpp"
#include "core/redis/client.hpp"

namespace dine::order {

struct RelayConfig {
  std::string shard_name;  // "pg-order-2"
  std::string dsn;
  int batch = 200;
  milliseconds poll{1000};     // backstop when no wake arrives
  milliseconds linger{10};     // after a wake, gather rows this long before the batch
  milliseconds max_backoff{2000};
  milliseconds query_timeout{5000};
};

class OutboxRelay {
 public:
  OutboxRelay(asio::any_io_executor ex, RelayConfig cfg, redis::Client& mq, metrics::Registry& metrics);
  // Runs until the process stops; never throws (errors are logged and retried).
  Task<void> run();
  // Callable from any thread: new rows are waiting. Cheap; wakes coalesce.
  void wake();

 private:
  Task<std::size_t> relay_batch(class RelaySession& s);
  asio::any_io_executor ex_;
  asio::steady_timer timer_;
  bool woken_ = false;
  RelayConfig cfg_;
  redis::Client& mq_;
  metrics::Counter& relayed_;
  metrics::Counter& failures_;
};

}  // namespace dine::order
