// LocalStack over real PostgreSQL and Redis in a temp state dir: up, ps, down,
// restart on kept data; roles with a stand-in `dine serve` (a tiny Python
// HTTP server) for ordering, readiness and failure reports.
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/stack/local_stack.hpp"
#include "core/stack/process.hpp"
#include "tests/integration/harness.hpp"

namespace dine::stack {
namespace {

namespace fs = std::filesystem;
using test::Harness;

std::string fresh_dir(const std::string& name) {
  static int n = 0;
  std::string d = fmt::format("{}/{}-{}", Harness::get().temp_dir(), name, ++n);
  fs::create_directories(d);
  return d;
}

Topology datastores_topology(int pg_port, int redis_port) {
  return parse_topology(fmt::format(R"({{"name": "t", "secret": "s", "nodes": [
      {{"id": "pg-a", "kind": "postgres", "host": "127.0.0.1", "port": {}, "databases": ["order"]}},
      {{"id": "redis-a", "kind": "redis", "host": "127.0.0.1", "port": {}, "appendonly": true}}]}})",
                                    pg_port, redis_port),
                        "test");
}

// Stops whatever a test started even when it fails half-way.
struct DownAtExit {
  Topology topo;
  std::string state;
  ~DownAtExit() {
    try {
      LocalStack(topo, "", state).down();
    } catch (const std::exception&) {
    }
  }
};

const NodeStatus& find(const std::vector<NodeStatus>& v, const std::string& id) {
  for (const auto& s : v)
    if (s.id == id) return s;
  throw std::runtime_error("no node " + id);
}

TEST(StackLocal, DatastoresUpPsDownAndUpAgainKeepsData) {
  std::string state = fresh_dir("state");
  Topology topo = datastores_topology(free_port(), free_port());
  DownAtExit guard{topo, state};
  std::vector<NodeStatus> ps;
  {
    LocalStack stack(topo, "", state);
    EXPECT_FALSE(stack.is_up());
    for (const auto& s : stack.ps()) EXPECT_EQ(s.state, "stopped") << s.id;

    std::vector<std::string> events;
    stack.start_datastores([&](const StackEvent& e) {
      events.push_back(e.node + ": " + e.message);
    });
    ASSERT_GE(events.size(), 2u);
    EXPECT_NE(events.front().find("initialising"), std::string::npos) << events.front();

    ps = stack.ps();
    ASSERT_EQ(ps.size(), 2u);
    for (const auto& s : ps) {
      EXPECT_EQ(s.state, "running") << s.id;
      EXPECT_GT(s.pid, 0) << s.id;
      EXPECT_TRUE(fs::exists(s.log)) << s.log;
    }
    EXPECT_TRUE(redis_ping("127.0.0.1", find(ps, "redis-a").port));
    EXPECT_TRUE(fs::exists(state + "/state.json"));
    // While it works on the state dir, a second `dine up/down` is refused.
    LocalStack concurrent(topo, "", state);
    EXPECT_THROW(concurrent.down(), std::runtime_error);
  }

  // Another process (another LocalStack reading the state file) sees it up.
  LocalStack other(topo, "", state);
  EXPECT_TRUE(other.is_up());
  EXPECT_EQ(find(other.ps(), "pg-a").pid, find(ps, "pg-a").pid);

  pid_t pg_pid = find(ps, "pg-a").pid;
  other.down();
  EXPECT_FALSE(alive(pg_pid));
  EXPECT_FALSE(alive(find(ps, "redis-a").pid));
  LocalStack after(topo, "", state);
  EXPECT_FALSE(after.is_up());
  for (const auto& s : after.ps()) {
    EXPECT_EQ(s.state, "stopped") << s.id;
    EXPECT_EQ(s.pid, 0) << s.id;
  }
  EXPECT_TRUE(fs::exists(state + "/pg-a/data/PG_VERSION")) << "down keeps the data";

  // Up again: no second initdb, same data dir.
  std::vector<std::string> events;
  after.start_datastores([&](const StackEvent& e) {
    events.push_back(e.node + ": " + e.message);
  });
  for (const auto& e : events) EXPECT_EQ(e.find("initialising"), std::string::npos) << e;
  EXPECT_TRUE(after.is_up());
  after.down();
  EXPECT_FALSE(after.is_up());
}

TEST(StackLocal, PortInUseIsNamed) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int taken = ntohs(a.sin_port);

  std::string state = fresh_dir("state");
  DownAtExit guard{datastores_topology(free_port(), taken), state};
  LocalStack stack(guard.topo, "", state);
  try {
    stack.start_datastores();
    FAIL() << "a node whose port is taken must not start";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("redis-a"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(taken)), std::string::npos) << e.what();
  }
  close(fd);
  // The postgres node started before the failure is still recorded: down stops it.
  EXPECT_TRUE(stack.is_up());
  stack.down();
  EXPECT_FALSE(stack.is_up());
}

// A stand-in for `dine serve ROLE --node ID`: answers /readyz with 200 on the
// node's port; a node whose id contains "broken" prints a reason and exits.
std::string fake_dine() {
  std::string path = Harness::get().temp_dir() + "/fake-dine";
  if (fs::exists(path)) return path;
  std::ofstream out(path);
  out << R"(#!/usr/bin/env python3
import http.server, json, sys, time
args = sys.argv[1:]
topo = json.load(open(args[args.index("--topology") + 1]))
node_id = args[args.index("--node") + 1]
role = args[args.index("serve") + 1]
node = next(n for n in topo["nodes"] if n["id"] == node_id)
print("fake dine", role, node_id, flush=True)
if "broken" in node_id:
    print("boom: cannot reach pg-x", flush=True)
    sys.exit(3)
with open(sys.argv[0] + ".order", "a") as f:
    f.write(node_id + "\n")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer((node.get("host", "127.0.0.1"), node["port"]), H).serve_forever()
)";
  out.close();
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  return path;
}

bool have_python() {
  SpawnOptions o;
  o.argv = {"python3", "-c", "import http.server"};
  try {
    return run_and_wait(o, milliseconds(10000)) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

std::string roles_topology_file(const std::string& dir, const std::string& second_id) {
  std::string path = dir + "/topology.json";
  std::ofstream(path) << fmt::format(R"({{"name": "roles", "secret": "s", "nodes": [
      {{"id": "front-1", "kind": "dine", "role": "front", "port": {}, "node_id": 1,
        "uses": {{"back": ["{}"]}}}},
      {{"id": "{}", "kind": "dine", "role": "back", "port": {}, "node_id": 1}}]}})",
                                     free_port(), second_id, second_id, free_port());
  return path;
}

TEST(StackLocal, RolesStartInDependencyOrderAndStop) {
  if (!have_python()) GTEST_SKIP() << "python3 stands in for dine serve";
  std::string dir = fresh_dir("roles");
  std::string topo_path = roles_topology_file(dir, "back-1");
  Topology topo = load_topology(topo_path);
  DownAtExit guard{topo, dir + "/state"};
  LocalStack stack(topo, topo_path, dir + "/state");
  std::string exe = fake_dine();
  fs::remove(exe + ".order");
  stack.start_roles(exe);
  std::ifstream order(exe + ".order");
  std::string first, second;
  std::getline(order, first);
  std::getline(order, second);
  EXPECT_EQ(first, "back-1") << "front-1 uses back-1: back-1 starts first";
  EXPECT_EQ(second, "front-1");
  auto ps = stack.ps();
  for (const auto& s : ps) {
    EXPECT_EQ(s.state, "running") << s.id;
    EXPECT_EQ(http_get_status("127.0.0.1", s.port, "/readyz", milliseconds(2000)), 200);
  }
  stack.down();
  for (const auto& s : ps) EXPECT_FALSE(alive(s.pid)) << s.id;
  EXPECT_FALSE(stack.is_up());
}

TEST(StackLocal, RoleThatExitsReportsItsLogTail) {
  if (!have_python()) GTEST_SKIP() << "python3 stands in for dine serve";
  std::string dir = fresh_dir("roles");
  std::string topo_path = roles_topology_file(dir, "broken-1");
  DownAtExit guard{load_topology(topo_path), dir + "/state"};
  LocalStack stack(guard.topo, topo_path, dir + "/state");
  try {
    stack.start_roles(fake_dine());
    FAIL() << "a role that exits must fail start_roles";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("broken-1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("boom: cannot reach pg-x"), std::string::npos) << e.what();
  }
  stack.down();
  EXPECT_FALSE(stack.is_up());
}

}  // namespace
}  // namespace dine::stack
