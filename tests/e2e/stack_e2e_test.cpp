// End to end: `dine up` on a topology of free ports, the order API over HTTP,
// `dine ps --json`, `dine down`; the clear messages for up twice / down twice;
// a bad role section stops `dine up` before any server starts.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/client.hpp"
#include "core/service_auth.hpp"
#include "core/stack/process.hpp"
#include "tests/e2e/e2e_support.hpp"

namespace dine {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

e2e::Output run(const std::string& args) { return e2e::run_dine(args); }

// The order role's writes need the service credential: presented with the topology's secret (below).
http::ClientResponse call(int port, std::string method, std::string target, std::string body = "",
                          http::Headers headers = {}) {
  return e2e::http_call(port, std::move(method), std::move(target), std::move(body), std::move(headers),
                        service_credential("e2e-secret", "e2e"));
}

class StackE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dine-e2e-{}", getpid());
    fs::create_directories(root_);
    fs::permissions(root_, fs::perms::all & ~fs::perms::group_write & ~fs::perms::others_write);
    json nodes = json::array();
    auto pg = [&](int i) {
      return json{{"id", fmt::format("pg-order-{}", i)}, {"kind", "postgres"}, {"host", "127.0.0.1"},
                  {"port", stack::free_port()}, {"databases", {"order"}}};
    };
    for (int i = 0; i < 4; ++i) nodes.push_back(pg(i));
    nodes.push_back({{"id", "redis-mq"}, {"kind", "redis"}, {"port", stack::free_port()}, {"appendonly", true}});
    json shards = {"pg-order-0", "pg-order-1", "pg-order-2", "pg-order-3"};
    for (int i = 1; i <= 2; ++i) {
      ports_.push_back(stack::free_port());
      nodes.push_back({{"id", fmt::format("order-{}", i)}, {"kind", "dine"}, {"role", "order"},
                       {"port", ports_.back()}, {"node_id", i}, {"threads", 1},
                       {"uses", {{"shards", shards}, {"mq", {"redis-mq"}}}}});
    }
    topology_ = (root_ / "e2e.json").string();
    nodes_ = nodes;
    std::ofstream(topology_) << json{{"name", "e2e"}, {"secret", "e2e-secret"}, {"nodes", nodes}}.dump(2);
    setenv("DINE_STATE_DIR", (root_ / "state").c_str(), 1);
  }
  static void TearDownTestSuite() {
    run(fmt::format("--topology {} down", topology_));
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static std::string topo() { return "--topology " + topology_; }

  static inline fs::path root_;
  static inline std::string topology_;
  static inline std::vector<int> ports_;
  static inline json nodes_;
};

TEST_F(StackE2E, UpServesOrdersPsListsAndDownStops) {
  auto down_first = run(topo() + " down");
  EXPECT_NE(down_first.code, 0) << "down with nothing up must fail";
  EXPECT_NE(down_first.out.find("no stack is up"), std::string::npos) << down_first.out;

  auto up = run(topo() + " up");
  ASSERT_EQ(up.code, 0) << up.out;

  auto again = run(topo() + " up");
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.out.find("already up"), std::string::npos) << again.out;

  auto ps = run(topo() + " ps --json");
  ASSERT_EQ(ps.code, 0) << ps.out;
  auto list = json::parse(ps.out.substr(ps.out.find('[')));
  ASSERT_EQ(list.size(), 7u);
  for (const auto& n : list) {
    EXPECT_EQ(n["state"], "running") << n.dump();
    EXPECT_GT(n["pid"].get<int>(), 0);
  }

  // Create on one node, replay on the other, pay, read back, bad input.
  std::string body = R"({"user_id": 42, "store_id": 7, "items": [{"product_id": 1, "qty": 3, "price_cents": 250}]})";
  auto created = call(ports_[0], "POST", "/v1/orders", body, {{"Idempotency-Key", "e2e-1"}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto order = json::parse(created.body);
  EXPECT_EQ(order["amount_cents"], 750);
  std::string id = order["order_id"];
  auto replay = call(ports_[1], "POST", "/v1/orders", body, {{"Idempotency-Key", "e2e-1"}});
  EXPECT_EQ(json::parse(replay.body)["order_id"], id);

  auto paid = call(ports_[1], "POST", "/v1/orders/" + id + "/paid", R"({"payment_id": "p-1"})");
  EXPECT_EQ(paid.status, 200) << paid.body;
  auto got = call(ports_[0], "GET", "/v1/orders/" + id);
  EXPECT_EQ(json::parse(got.body)["status"], "PAID");
  auto mine = call(ports_[0], "GET", "/v1/users/42/orders");
  EXPECT_EQ(json::parse(mine.body)["orders"].size(), 1u);

  auto bad = call(ports_[0], "POST", "/v1/orders", "{not json", {{"Idempotency-Key", "e2e-2"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"], "invalid_json");

  auto health = call(ports_[0], "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  auto metrics = call(ports_[0], "GET", "/metrics");
  EXPECT_NE(metrics.body.find("route=\"/v1/orders/{order_id}\""), std::string::npos);

  auto down = run(topo() + " down");
  ASSERT_EQ(down.code, 0) << down.out;
  auto after = run(topo() + " ps --json");
  auto stopped = json::parse(after.out.substr(after.out.find('[')));
  for (const auto& n : stopped) EXPECT_EQ(n["state"], "stopped") << n.dump();
  EXPECT_EQ(stack::http_get_status("127.0.0.1", ports_[0], "/healthz", milliseconds(500)), 0);
}

TEST_F(StackE2E, UpRefusesABadRoleSectionBeforeStartingAnything) {
  json nodes = nodes_;
  for (auto& n : nodes) n["port"] = stack::free_port();  // its own ports: whatever the other tests left running
  std::string path = (root_ / "bad-role.json").string();
  std::ofstream(path) << json{{"name", "e2e-bad"}, {"secret", "e2e-secret"},
                              {"roles", {{"order", {{"max_itmes", 5}}}}}, {"nodes", nodes}}.dump(2);
  fs::path state = root_ / "bad-role-state";
  auto up = run(fmt::format("--topology {} up --state-dir {}", path, state.string()));
  EXPECT_EQ(up.code, 2) << up.out;
  EXPECT_NE(up.out.find(path), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("roles.order.max_itmes"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("fix:"), std::string::npos) << up.out;
  EXPECT_EQ(up.out.find("starting"), std::string::npos) << "nothing may start: " << up.out;
  EXPECT_FALSE(fs::exists(state)) << "no state dir, no data dir";
  for (const auto& n : nodes)
    EXPECT_FALSE(stack::wait_port("127.0.0.1", n["port"].get<int>(), Clock::now())) << n.dump();
}

TEST_F(StackE2E, BadTopologyNamesFileKeyAndFix) {
  std::string path = (root_ / "bad.json").string();
  std::ofstream(path) << R"({"name": "x", "nodes": [{"id": "a", "kind": "postgres", "port": 1, "databases": ["d"], "colour": 1}]})";
  auto r = run("--topology " + path + " ps");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find(path), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("colour"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dine
