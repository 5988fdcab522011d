// What a node says about itself: /readyz follows its dependencies by need
// (degradable Redis down: ready and degraded; required PostgreSQL down: not
// ready), and a background component that fails is restarted with backoff
// until it runs, as /metrics shows.
#include <fmt/format.h>

#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

using dine::test::Harness;

// Starts the harness's servers again however the test ends.
struct DependenciesBack {
  ~DependenciesBack() {
    Harness::get().redis_start();
    Harness::get().pg_start(0);
  }
};

// A /readyz body names dependencies by node id and errors by code: never a
// host, a port or a server's own words.
void expect_no_server_details(const Resp& r) {
  auto& h = Harness::get();
  for (const std::string& leak :
       {std::string("127.0.0.1"), std::string("localhost"), std::to_string(h.pg(0).port),
        std::to_string(h.redis().port), std::string("refused"), std::string("could not"),
        std::string("Connection"), std::string("server")})
    EXPECT_EQ(r.body.find(leak), std::string::npos) << "\"" << leak << "\" in " << r;
}

// Polls /readyz until `ok(resp)` holds.
bool ready_becomes(int port, const std::function<bool(const Resp&)>& ok, Resp& last) {
  return eventually(
      [&] {
        last = get(port, "/readyz", milliseconds(2000));
        return ok(last);
      },
      milliseconds(15000), milliseconds(50));
}

TEST(RuntimeHealth, ReadinessFollowsDependenciesByNeed) {
  Serve node("tk-ready");
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();
  DependenciesBack guard;
  Resp r;

  ASSERT_TRUE(ready_becomes(node.port(), [](const Resp& x) { return x.status == 200; }, r)) << r;
  EXPECT_EQ(r.j()["status"], "ready") << r;
  EXPECT_FALSE(r.j().contains("degraded")) << r;

  // The cache is degradable: the node stays ready, degraded, naming it, and
  // the route that uses it answers without it.
  Harness::get().redis_stop();
  EXPECT_TRUE(ready_becomes(
      node.port(), [](const Resp& x) { return x.j().value("status", "") == "degraded"; }, r))
      << r;
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j()["degraded"], json::array({"redis-testkit"})) << r;
  expect_no_server_details(r);
  auto cache = get(node.port(), "/test/cache");
  EXPECT_EQ(cache.status, 200) << cache;
  EXPECT_EQ(cache.j()["cache"], "down") << cache;
  auto db = get(node.port(), "/test/db");
  EXPECT_EQ(db.status, 200) << db;

  // The database is required: not ready.
  Harness::get().pg_stop(0);
  EXPECT_TRUE(ready_becomes(node.port(), [](const Resp& x) { return x.status == 503; }, r)) << r;
  EXPECT_EQ(r.j()["status"], "not_ready") << r;
  expect_no_server_details(r);
  db = get(node.port(), "/test/db");
  EXPECT_EQ(db.status, 503) << db;
  EXPECT_FALSE(db.error_code().empty()) << db;

  // Both back: ready, nothing degraded.
  Harness::get().redis_start();
  Harness::get().pg_start(0);
  EXPECT_TRUE(ready_becomes(
      node.port(), [](const Resp& x) { return x.status == 200 && x.j().value("status", "") == "ready"; }, r))
      << r;
  EXPECT_FALSE(r.j().contains("degraded")) << r;
  expect_no_server_details(r);
}

TEST(RuntimeHealth, FailingComponentIsRestartedWithBackoffUntilItRuns) {
  const auto spawned = Clock::now();
  Serve node("tk-flaky");
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();

  const std::vector<std::string> flaky = {"component=\"flaky\"", "worker=\"0\""};
  Resp m;
  EXPECT_TRUE(eventually(
      [&] {
        m = get(node.port(), "/metrics");
        return metric(m.body, "dine_component_restarts_total", flaky) == double(Kit::kFailFirstN) &&
               metric(m.body, "dine_component_up", flaky) == 1.0;
      },
      milliseconds(15000), milliseconds(50)))
      << m.body;
  // Backoff 100 + 200 + 400 ms between the failed starts.
  EXPECT_GE(Clock::now() - spawned, milliseconds(700));

  auto c = get(node.port(), "/test/component");
  EXPECT_EQ(c.j().value("starts", 0), Kit::kFailFirstN + 1) << c;
  EXPECT_EQ(c.j().value("fail_first_n", 0), Kit::kFailFirstN) << c;
  // It keeps running: no further restart.
  m = get(node.port(), "/metrics");
  EXPECT_EQ(metric(m.body, "dine_component_restarts_total", flaky), double(Kit::kFailFirstN)) << m.body;
  // One flaky component per node (on worker 0).
  EXPECT_FALSE(metric(m.body, "dine_component_up", {"component=\"flaky\"", "worker=\"1\""}).has_value()) << m.body;
}

}  // namespace
}  // namespace dine::runtime_test
