#pragma once
// What the workers of one testkit node share: counters the tests read back
// through GET /test/component and GET /test/sleeps.
#include <atomic>

namespace dine::testkit {

struct NodeState {
  std::atomic<int> component_starts{0};  // runs of the flaky component, failed ones included
  std::atomic<int> sleeps_in_flight{0};  // POST /test/sleep handlers now sleeping
  std::atomic<int> sleeps_finished{0};   // slept their full time
  std::atomic<int> sleeps_cancelled{0};  // cancelled mid-sleep (request deadline)
};

}  // namespace dine::testkit
