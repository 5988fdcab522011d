#pragma once
// Liveness of a node's workers. Each worker's loop records a tick every
// 100 ms; a scrape computes each worker's lag at that moment (now - last
// tick - period, or how late the last tick fired, whichever is larger), so a
// wedged worker shows even though it cannot answer. /healthz answers 200 only
// when every worker ticked within `wedged_after`; otherwise 503 naming the
// wedged workers (the answering worker is alive; its sibling is not).
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/async.hpp"
#include "core/metrics.hpp"

namespace dine::runtime {

class Liveness {
 public:
  Liveness(int workers, milliseconds wedged_after, metrics::Registry& metrics);

  // The ticker of worker `i`, run on its loop until cancelled.
  Task<void> tick(int i);

  // Thread-safe: seconds of lag of worker i now.
  double lag_seconds(int i) const;
  // 200 {"status":"ok"} or 503 {"status":"wedged","wedged":[{"worker":1,"stalled_ms":5120}]}.
  std::pair<int, nlohmann::json> report() const;

  static constexpr milliseconds kPeriod{100};

 private:
  struct Slot {
    std::atomic<int64_t> last_tick_ns{0};
    std::atomic<int64_t> late_ns{0};  // how late the last tick fired
  };
  std::unique_ptr<Slot[]> slots_;
  int workers_;
  milliseconds wedged_after_;
};

}  // namespace dine::runtime
