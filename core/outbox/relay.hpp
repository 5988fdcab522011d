#pragma once
// The outbox relay of one database (one order shard): moves unsent outbox
// rows to their Redis streams, with no loss window and no lock held across a
// network call.
//
//   1. claim a batch (UPDATE ... claimed_by, claimed_until; committed at once)
//   2. XADD every row, pipelined, in id order, on the append-only Redis
//   3. mark them sent (sent_at); on failure release the claim
//
// A relay that freezes between 1 and 3 leaves rows claimed: their claim lapses
// after `claim_for` and another relay (of another node) sends them. A crash
// between 2 and 3 sends a row twice: delivery is at-least-once and consumers
// dedupe by key. Sent rows stay for `retention` (redrive: `dine outbox
// redrive --since T`), then are deleted in batches. Woken in-process by the
// node that wrote rows (wake()), with a poll as the backstop.
//
// Figures: dine_outbox_relayed_total, dine_outbox_relay_failures_total,
// dine_outbox_backlog, dine_outbox_oldest_unsent_seconds,
// dine_outbox_pruned_total, dine_outbox_dead, all labelled {outbox=<name>}; per stream it
// writes, dine_stream_length{stream} and dine_stream_trimmed_total{stream}.
// Streams are trimmed only below the oldest entry still pending or
// undelivered in any consumer group (never when the stream has no group).
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/metrics.hpp"

namespace dine::pg {
class Pool;
}
namespace dine::redis {
class Client;
}

namespace dine::outbox {

struct RelayConfig {
  std::string name;       // for logs and metrics, e.g. "pg-order-2"
  std::string relay_id;   // claimed_by: "order-1/w0"
  std::string key_field = "key";  // the stream entry's field holding the row's key ("order_id")
  int batch = 200;
  int max_attempts = 10;            // a row Redis refuses this often is set aside (dead_at)
  milliseconds poll{1000};          // backstop when no wake arrives
  milliseconds linger{10};          // after a wake, gather rows this long
  milliseconds claim_for{10000};    // a claim lapses after this: another relay takes over
  milliseconds full_scan_every{500};  // between full claims, claim only above the last id sent
  milliseconds max_backoff{2000};
  milliseconds figures_every{2000}; // backlog gauges
  milliseconds prune_every{60000};
  milliseconds trim_every{10000};   // streams trimmed below what every consumer group still needs
  milliseconds retention{std::chrono::hours(24)};  // sent rows are kept this long
  int prune_batch = 5000;
};

class Relay {
 public:
  Relay(asio::any_io_executor ex, RelayConfig cfg, pg::Pool& db, redis::Client& mq, metrics::Registry& metrics);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // The background component: runs until cancelled; throws only when
  // cancelled (errors are counted, logged and retried with backoff).
  Task<void> run();
  // Callable from any thread: new rows are waiting. Cheap; wakes coalesce.
  void wake();

  const RelayConfig& config() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::outbox
