// dine health's monitor against real processes: a testkit node, the
// harness's PostgreSQL and Redis, and a node the topology lists but nobody
// started. The missing node is DOWN (never green) and a root cause; a worker
// thread wedged on purpose makes its node HUNG although the other worker
// answers; once it is free the node comes back to green.
#include <gtest/gtest.h>

#include <thread>

#include <fmt/format.h>

#include "core/topology.hpp"
#include "monitor/monitor.hpp"
#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

using monitor::State;

// The kit's topology cut down to the datastores, tk-wedge and tk-term (not started here).
Topology small_topology() {
  Topology t = Kit::get().topo();
  std::vector<Node> keep;
  for (const Node& n : t.nodes)
    if (n.id == "pg-testkit" || n.id == "redis-testkit" || n.id == "tk-wedge" || n.id == "tk-term") keep.push_back(n);
  t.nodes = keep;
  return t;
}

const monitor::NodeView* view(const monitor::Snapshot& s, const std::string& id) {
  for (const auto& v : s.nodes)
    if (v.id == id) return &v;
  return nullptr;
}

// Rounds back to back (each waits for its probes, at most their deadline)
// until `done` says so or `limit` passes; the last snapshot.
monitor::Snapshot rounds_until(monitor::Monitor& m, const std::function<bool(const monitor::Snapshot&)>& done,
                               milliseconds limit) {
  monitor::Snapshot last;
  dine::test::run([&](asio::any_io_executor) -> Task<void> {
    const auto end = Clock::now() + limit;
    for (;;) {
      co_await m.round();
      last = m.snapshot();
      if (done(last) || Clock::now() >= end) co_return;
    }
  });
  return last;
}

TEST(RuntimeMonitor, AMissingNodeIsDownAndAWedgedWorkerMakesItsNodeHung) {
  Serve node("tk-wedge", 2);
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();
  Topology topo = small_topology();
  monitor::ProbeOptions po;
  po.deadline = milliseconds(500);
  monitor::Monitor mon(topo, monitor::Thresholds{}, po);

  auto first = rounds_until(mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Green; },
                            milliseconds(10000));
  EXPECT_EQ(view(first, "tk-wedge")->verdict.state, State::Green);
  EXPECT_EQ(view(first, "pg-testkit")->verdict.state, State::Green);
  EXPECT_EQ(view(first, "redis-testkit")->verdict.state, State::Green);
  EXPECT_EQ(view(first, "tk-term")->verdict.state, State::Down) << "listed, never started: down, not green";
  EXPECT_EQ(first.exit_code(), 2);
  ASSERT_FALSE(first.diagnosis.causes.empty());
  EXPECT_EQ(first.diagnosis.causes[0].node, "tk-term");

  // One worker blocked for 6 s (/healthz says so after 2 s).
  std::thread wedge([&] { call(node.port(), "POST", "/test/wedge?ms=6000", {}, milliseconds(30000)); });
  auto hung = rounds_until(mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Hung; },
                           milliseconds(5000));
  const monitor::NodeView* w = view(hung, "tk-wedge");
  EXPECT_EQ(w->verdict.state, State::Hung) << fmt::format("{}", fmt::join(w->verdict.reasons, "; "));
  EXPECT_TRUE(w->root_cause);
  wedge.join();
  auto back = rounds_until(mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Green; },
                           milliseconds(15000));
  EXPECT_EQ(view(back, "tk-wedge")->verdict.state, State::Green) << "three good rounds after the wedge";
  bool hung_in_timeline = false;
  for (const auto& c : back.timeline) hung_in_timeline = hung_in_timeline || (c.node == "tk-wedge" && c.to == State::Hung);
  EXPECT_TRUE(hung_in_timeline) << "the timeline keeps the change";
}

}  // namespace
}  // namespace dine::runtime_test
