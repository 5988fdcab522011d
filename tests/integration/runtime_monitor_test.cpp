// dine health's monitor against real processes: a testkit node, the
// harness's PostgreSQL and Redis, and a node the topology lists but nobody
// started. The missing node is DOWN (never green) and a root cause; a worker
// thread wedged on purpose makes its node HUNG although the other worker
// answers; once it is free the node comes back to green. The probes' kept
// connections change none of that: frozen (SIGSTOP) is HUNG, killed is DOWN.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
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

Task<void> rounds(monitor::Monitor& m, std::function<bool(const monitor::Snapshot&)> done, Deadline end,
                  monitor::Snapshot& last) {
  for (;;) {
    co_await m.round();
    last = m.snapshot();
    if (done(last) || Clock::now() >= end) co_return;
  }
}

// Rounds back to back (each waits for its probes, at most their deadline)
// until `done` says so or `limit` passes; the last snapshot. Always on the
// same loop, declared before the Monitor (its probes keep their connections
// on it from round to round).
monitor::Snapshot rounds_until(asio::io_context& loop, monitor::Monitor& m,
                               const std::function<bool(const monitor::Snapshot&)>& done, milliseconds limit) {
  monitor::Snapshot last;
  loop.restart();
  auto finished = asio::co_spawn(loop, rounds(m, done, Clock::now() + limit, last), asio::use_future);
  loop.run();
  finished.get();
  return last;
}

TEST(RuntimeMonitor, AMissingNodeIsDownAndAWedgedWorkerMakesItsNodeHung) {
  Serve node("tk-wedge", 2);
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();
  Topology topo = small_topology();
  monitor::ProbeOptions po;
  po.deadline = milliseconds(500);
  asio::io_context loop;  // before the monitor: its HTTP client lives on this loop and must go first
  monitor::Monitor mon(topo, monitor::Thresholds{}, po);

  auto first = rounds_until(loop, mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Green; },
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
  auto hung = rounds_until(loop, mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Hung; },
                           milliseconds(5000));
  const monitor::NodeView* w = view(hung, "tk-wedge");
  EXPECT_EQ(w->verdict.state, State::Hung) << fmt::format("{}", fmt::join(w->verdict.reasons, "; "));
  EXPECT_TRUE(w->root_cause);
  wedge.join();
  auto back = rounds_until(loop, mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Green; },
                           milliseconds(15000));
  EXPECT_EQ(view(back, "tk-wedge")->verdict.state, State::Green) << "three good rounds after the wedge";
  bool hung_in_timeline = false;
  for (const auto& c : back.timeline) hung_in_timeline = hung_in_timeline || (c.node == "tk-wedge" && c.to == State::Hung);
  EXPECT_TRUE(hung_in_timeline) << "the timeline keeps the change";

  // The probes keep their connections between rounds; a frozen process
  // (SIGSTOP) still reads HUNG on its kept connection, not red.
  ::kill(node.pid(), SIGSTOP);
  auto frozen = rounds_until(loop, mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state != State::Green; },
                             milliseconds(5000));
  ::kill(node.pid(), SIGCONT);
  const monitor::NodeView* f = view(frozen, "tk-wedge");
  EXPECT_EQ(f->verdict.state, State::Hung) << fmt::format("{}", fmt::join(f->verdict.reasons, "; "));
  auto thawed = rounds_until(loop, mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state == State::Green; },
                             milliseconds(15000));
  ASSERT_EQ(view(thawed, "tk-wedge")->verdict.state, State::Green);
  // A process that dies closes the kept connection; the reconnect is refused: DOWN, not hung.
  ::kill(node.pid(), SIGKILL);
  ASSERT_TRUE(node.wait_exit(milliseconds(5000)));
  auto dead = rounds_until(loop, mon, [](const monitor::Snapshot& s) { return view(s, "tk-wedge")->verdict.state != State::Green; },
                           milliseconds(5000));
  const monitor::NodeView* d = view(dead, "tk-wedge");
  EXPECT_EQ(d->verdict.state, State::Down) << fmt::format("{}", fmt::join(d->verdict.reasons, "; "));
}

}  // namespace
}  // namespace dine::runtime_test
