#pragma once
// One consumer of a Redis consumer group, on a Redis connection of its own
// (XREADGROUP BLOCK holds its connection; nothing else waits behind it).
//
// run(handler) reads new entries, hands each to the handler and XACKs it when
// the handler returns. Every claim_every it also XAUTOCLAIMs entries that any
// consumer of the group (a dead one, typically) has left pending longer than
// claim_after, and handles them. On a failure it backs off and then goes
// through its own pending entries first, so nothing is skipped.
//
// What a handler's exception means:
// - dine::Error of kind Unavailable or Timeout (a dependency is down or slow:
//   a failure of the environment, not of the entry): the entry stays pending
//   and is retried after a backoff, however long that lasts. It never counts
//   toward dead-lettering.
// - dine::Error of kind BadRequest (the entry is unparseable or invalid, it
//   will never succeed): poison, dead-lettered at once.
// - anything else (Internal, Conflict, NotFound, a std::exception: most likely
//   a bug): the entry stays pending and is retried after a backoff, and the
//   failure counts; at the max_failures-th such failure of the same entry it
//   is dead-lettered with dead_code kTooManyFailures, so one entry cannot stall
//   the group for ever. The count is per entry id and in memory: a restart
//   (or another consumer claiming the entry) starts it again from zero.
// Dead-lettering sends the entry to the dead-letter stream with its own fields
// plus dead_reason, dead_code, dead_group, dead_from_id, and XACKs it, in one
// MULTI/EXEC.
//
// Delivery is at least once: a handler must tolerate seeing an entry again
// (after a crash before XACK, or a claim from a consumer slower than
// claim_after).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/redis/client.hpp"
#include "core/redis/streams.hpp"

namespace dine::metrics {
class Registry;
}

namespace dine::redis {

struct ConsumerConfig {
  std::string stream;
  std::string group;
  std::string consumer;     // unique among the group's live consumers, stable across restarts
  int batch = 16;           // entries per read or claim
  milliseconds block{2000};         // XREADGROUP BLOCK
  milliseconds claim_after{30000};  // a pending entry idle this long is claimed (must exceed handler time)
  milliseconds claim_every{0};      // how often to look for such entries; 0: claim_after
  std::string dead_stream;          // "" : "<stream>:dead"
  milliseconds backoff_initial{200};  // after a failure; doubles up to backoff_max
  milliseconds backoff_max{10000};
  milliseconds handler_timeout{30000};  // the deadline of each Entry's ctx
  // Failures of one entry, other than Unavailable, Timeout (never counted) and
  // BadRequest (dead-lettered at once), after which it is dead-lettered; >= 1.
  int max_failures = 10;
  milliseconds stats_every{5000};       // how often the pending/lag/dead-letter gauges are read
  // When set: gauges dine_stream_pending{stream,group}, dine_stream_lag{stream,group},
  // dine_stream_dead_letters{stream}; counters dine_stream_handled_total,
  // dine_stream_failed_total, dine_stream_dead_lettered_total,
  // dine_stream_claimed_total {stream,group}. The registry must outlive the consumer.
  metrics::Registry* metrics = nullptr;
};

struct ConsumerFigures {
  uint64_t handled = 0;        // handler returned, entry acked
  uint64_t failed = 0;         // handler failed and the entry was left pending for a retry
  uint64_t dead_lettered = 0;  // moved to the dead stream: poison, or max_failures reached
  uint64_t claimed = 0;        // taken over from another consumer (or this one) by XAUTOCLAIM
  int64_t pending = -1;        // the group's pending entries at the last stats read (-1: not read)
  int64_t lag = -1;            // the group's lag (XINFO GROUPS) at the last stats read
  int64_t dead_letters = -1;   // XLEN of the dead stream at the last stats read
};

// A handler gets each entry by value; a capturing lambda is fine: run() holds
// the handler until it returns.
using Handler = std::function<Task<void>(Entry)>;

class StreamConsumer {
 public:
  // `redis` is the consumer's own connection; its command_timeout is extended
  // by cfg.block so a blocking read is not mistaken for a silent server.
  StreamConsumer(asio::any_io_executor ex, ClientConfig redis, ConsumerConfig cfg);
  ~StreamConsumer();
  StreamConsumer(const StreamConsumer&) = delete;
  StreamConsumer& operator=(const StreamConsumer&) = delete;

  // Runs until cancelled (asio cancellation: it stops promptly, leaving the
  // entry in hand pending, and drops its connection) or until the consumer is
  // destroyed (it returns); Redis outages are waited out. One run() at a time.
  // It starts with this consumer's own pending entries (a restart after a
  // crash). The group must exist (ensure_group); if it disappears, run()
  // creates it again.
  Task<void> run(Handler handler);

  ConsumerFigures figures() const;
  const ConsumerConfig& config() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::redis
