// End to end with a gateway: `dine gen nginx` renders a file nginx accepts,
// `dine up` starts nginx after the roles and `dine ps` lists it, requests go
// through it to a dine node, `dine gateway stats` reads them back by route,
// `dine down` stops it first.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/client.hpp"
#include "core/stack/process.hpp"
#include "tests/e2e/e2e_support.hpp"

namespace dine {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Processes of process group `pgid` that still run (zombies waiting to be
// reaped do not count).
int live_in_group(pid_t pgid) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // pid (comm) state ppid pgrp ...
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == pgid && state != 'Z' && state != 'X') ++n;
  }
  return n;
}

class GatewayE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    member_port_ = stack::free_port();
    gw_port_ = stack::free_port();
    json nodes = json::array();
    nodes.push_back({{"id", "pg-main"}, {"kind", "postgres"}, {"port", stack::free_port()}, {"databases", {"member"}}});
    // A member node stands for the app role here: the gateway forwards to any dine node.
    nodes.push_back({{"id", "member-1"}, {"kind", "dine"}, {"role", "member"}, {"port", member_port_},
                     {"node_id", 1}, {"threads", 1}, {"uses", {{"db", {"pg-main"}}}}});
    nodes.push_back({{"id", "gw-1"}, {"kind", "nginx"}, {"port", gw_port_}, {"uses", {{"app", {"member-1"}}}}});
    stack_ = e2e::SuiteStack::make("gateway-e2e", json{{"name", "gateway-e2e"}, {"secret", "gateway-e2e-secret"},
                                                        {"gateway", {{"qps_cap", 1000}}}, {"nodes", nodes}});
    root_ = stack_.root;
    state_ = stack_.state;
  }
  static void TearDownTestSuite() { stack_.down_and_remove(); }
  static std::string args(const std::string& command) { return stack_.args(command); }

  static inline e2e::SuiteStack stack_;
  static inline fs::path root_;
  static inline std::string state_;
  static inline int member_port_ = 0, gw_port_ = 0;
};

TEST_F(GatewayE2E, GenRendersAFileNginxAccepts) {
  const std::string out = (root_ / "out").string() + "/";
  auto gen = e2e::run_dine(args("gen nginx -o " + out));
  ASSERT_EQ(gen.code, 0) << gen.out;
  std::ifstream in(out + "gw-1.conf");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(fmt::format("server 127.0.0.1:{} ", member_port_)), std::string::npos) << text;
  EXPECT_NE(text.find("rate=1000r/s"), std::string::npos);
  EXPECT_NE(text.find(state_ + "/gw-1/access.log"), std::string::npos);
  // To stdout the same text.
  auto printed = e2e::run_dine(args("gen nginx --node gw-1"));
  ASSERT_EQ(printed.code, 0);
  EXPECT_EQ(printed.out, text);
  // nginx -t agrees, where dine up would put it.
  auto check = e2e::run_dine(args("gen nginx --check -o " + out));
  EXPECT_EQ(check.code, 0) << check.out;
  EXPECT_NE(check.out.find("nginx -t on " + state_ + "/gw-1/nginx.conf: ok"), std::string::npos) << check.out;
  // A node that is not a gateway, a file for several: named and refused.
  auto wrong = e2e::run_dine(args("gen nginx --node member-1"));
  EXPECT_EQ(wrong.code, 2) << wrong.out;
  EXPECT_NE(wrong.out.find("not a gateway"), std::string::npos) << wrong.out;
}

TEST_F(GatewayE2E, UpStartsTheGatewayAfterTheRolesAndDownStopsIt) {
  auto up = e2e::run_dine(args("up"));
  ASSERT_EQ(up.code, 0) << up.out;
  const auto member_at = up.out.find("member ready");
  const auto nginx_at = up.out.find("nginx ready on 127.0.0.1:" + std::to_string(gw_port_));
  ASSERT_NE(nginx_at, std::string::npos) << up.out;
  EXPECT_LT(member_at, nginx_at) << "the gateway started before the node it forwards to";

  auto ps = e2e::run_dine(args("ps --json"));
  ASSERT_EQ(ps.code, 0) << ps.out;
  pid_t nginx_pid = 0;
  for (const auto& n : json::parse(ps.out.substr(ps.out.find('[')))) {
    EXPECT_EQ(n["state"], "running") << n.dump();
    if (n["id"] == "gw-1") {
      EXPECT_EQ(n["kind"], "nginx");
      EXPECT_EQ(n["log"], state_ + "/gw-1/nginx.log");
      nginx_pid = n["pid"].get<int>();
    }
  }
  ASSERT_GT(nginx_pid, 0) << ps.out;

  // Through the gateway: internal routes are not found; the public prefix reaches the node.
  auto internal = e2e::http_call(gw_port_, "POST", "/v1/login", R"({"openid": "e2e"})");
  EXPECT_EQ(internal.status, 404) << internal.body;
  EXPECT_NE(internal.body.find("no such route on this gateway"), std::string::npos) << internal.body;
  const int direct = e2e::http_call(member_port_, "POST", "/v1/login", R"({"openid": "e2e"})").status;
  EXPECT_TRUE(direct == 200 || direct == 201) << direct;
  auto proxied = e2e::http_call(gw_port_, "POST", "/api/v1/login", R"({"openid": "e2e"})");
  EXPECT_EQ(proxied.status, 404) << proxied.body;
  EXPECT_NE(proxied.body.find("no route for /api/v1/login"), std::string::npos)
      << "the member node did not answer: " << proxied.body;

  auto stats = e2e::run_dine(args("gateway stats --json --since 5m"));
  ASSERT_EQ(stats.code, 0) << stats.out;
  auto s = json::parse(e2e::json_part(stats.out));
  std::map<std::string, int64_t> routes;
  for (const auto& r : s["routes"]) routes[r["route"]] = r["requests"];
  EXPECT_EQ(routes["/api/v1/login"], 1) << s.dump(2);
  EXPECT_EQ(routes["other"], 1) << s.dump(2);
  EXPECT_EQ(s["total"]["status_4xx"], 2);
  auto table = e2e::run_dine(args("gateway stats"));
  EXPECT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find("/api/v1/login"), std::string::npos) << table.out;

  auto down = e2e::run_dine(args("down"));
  ASSERT_EQ(down.code, 0) << down.out;
  EXPECT_LT(down.out.find("gw-1"), down.out.find("member-1")) << "the gateway stops first: " << down.out;
  EXPECT_FALSE(stack::alive(nginx_pid));
  EXPECT_EQ(live_in_group(nginx_pid), 0) << "an nginx worker outlived its master";
  EXPECT_FALSE(stack::wait_port("127.0.0.1", gw_port_, Clock::now()));
}

// nginx's workers outlive a master killed with SIGKILL and keep its port:
// dine down finds them by the node's files.
TEST_F(GatewayE2E, DownEndsWorkersOfAKilledMaster) {
  auto up = e2e::run_dine(args("up"));
  ASSERT_EQ(up.code, 0) << up.out;
  auto ps = e2e::run_dine(args("ps --json"));
  pid_t master = 0;
  for (const auto& n : json::parse(ps.out.substr(ps.out.find('['))))
    if (n["id"] == "gw-1") master = n["pid"].get<int>();
  ASSERT_GT(master, 0) << ps.out;
  ASSERT_EQ(::kill(master, SIGKILL), 0);
  ASSERT_TRUE(test::eventually([&] { return !stack::alive(master); }, milliseconds(5000)));
  EXPECT_TRUE(stack::wait_port("127.0.0.1", gw_port_, deadline_in(milliseconds(1000)))) << "no orphaned worker";
  auto down = e2e::run_dine(args("down"));
  ASSERT_EQ(down.code, 0) << down.out;
  EXPECT_NE(down.out.find("killed 1 nginx worker(s) left behind by a master that died"), std::string::npos)
      << down.out;
  EXPECT_FALSE(stack::wait_port("127.0.0.1", gw_port_, Clock::now()));
}

}  // namespace
}  // namespace dine
