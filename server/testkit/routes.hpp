#pragma once
// The testkit role's routes (see role.hpp for why they exist).
//   GET  /test/hello       the configured greeting, the node, the worker, the request's id and budget
//   GET  /test/db          one query on the "db" dependency, under the request's deadline
//   GET  /test/cache       INCR on the degradable "cache": {"hits": null, "cache": "down"} while it is down
//   POST /test/sleep?ms=N  a cancellable sleep (N <= 60000): past the deadline it is cancelled, 504
// (A wedged worker: the runtime's own POST /test/wedge, on every role started
// with DINE_TEST_ROUTES=1; core/runtime/runtime.hpp.)
//   GET  /test/sleeps      {"in_flight", "finished", "cancelled"} sleeps of this node
//   GET  /test/component   {"starts", "fail_first_n"} of the flaky component
#include "core/http/router.hpp"
#include "core/topology.hpp"
#include "server/testkit/config.hpp"
#include "server/testkit/state.hpp"

namespace dine::pg {
class Pool;
}
namespace dine::redis {
class Client;
}

namespace dine::testkit {

// What the handlers of one worker use; everything it points to outlives the router.
struct Site {
  pg::Pool* db = nullptr;
  redis::Client* cache = nullptr;
  const TestkitConfig* config = nullptr;
  NodeState* state = nullptr;
  const Node* node = nullptr;
  int worker = 0;
};

inline constexpr int kMaxSleepMs = 60000;

void add_routes(http::Router& router, Site site);

}  // namespace dine::testkit
