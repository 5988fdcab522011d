#include "server/testkit/role.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "server/testkit/config.hpp"
#include "server/testkit/routes.hpp"
#include "server/testkit/state.hpp"

namespace dine::testkit {
namespace {

// A background component that throws on its first `fail_first_n` starts (so
// the runtime's restarts with backoff show), then runs until cancelled.
Task<void> flaky(NodeState* state, int fail_first_n) {
  const int start = ++state->component_starts;
  if (start <= fail_first_n)
    throw std::runtime_error(fmt::format("start {} of the first {} fails on purpose", start, fail_first_n));
  for (;;) co_await sleep_for(milliseconds(60000));  // stop() cancels this
}

void setup(runtime::WorkerContext& w) {
  const auto& cfg = w.config<TestkitConfig>();
  auto& state = w.node_state<NodeState>();
  Site site{&w.postgres("db"), &w.redis("cache"), &cfg, &state, &w.node(), w.index()};
  add_routes(w.router(), site);

  // One flaky component per node: on worker 0 only.
  if (w.index() == 0) {
    NodeState* st = &state;
    int fail = cfg.fail_first_n;
    w.background("flaky", [st, fail] { return flaky(st, fail); });
  }
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "testkit";
    r.summary = "test-only role: handles on the runtime for its tests (needs DINE_TEST_ROLES=1)";
    // Without its database the node serves nothing; without the cache it
    // answers /test/cache with "down" and stays ready, degraded.
    r.dependencies = {runtime::postgres("db", "testkit", runtime::Need::Required),
                      runtime::redis("cache", runtime::Need::Degradable)};
    r.config = runtime::typed_config<TestkitConfig>();
    r.node_state = [](const Topology&, const Node&, const std::any&) -> std::shared_ptr<void> {
      return std::make_shared<NodeState>();
    };
    r.setup = setup;
    r.hidden = true;
    return r;
  }();
  return d;
}

}  // namespace dine::testkit
