// Throwaway PostgreSQL x4 and Redis servers for the integration tests, in a
// temp dir on free ports, started on first use and stopped at exit. Servers
// are spawned with die_with_parent so a crashed test leaves none behind.
#include "tests/integration/harness.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <csignal>
#include <sstream>
#include <sys/stat.h>
#include <vector>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/stack/process.hpp"

namespace dine::test {
namespace fs = std::filesystem;

constexpr std::size_t kPgServers = 4;

struct Harness::State {
  std::recursive_mutex mu;
  std::array<stack::PgInstance, kPgServers> pg;
  std::array<bool, kPgServers> pg_started{};
  stack::RedisInstance redis;
  bool redis_started = false;
  std::set<int> ports;  // handed out by this harness: never twice
  int topology_files = 0;

  int port() {
    for (;;) {
      int p = stack::free_port();
      if (ports.insert(p).second) return p;
    }
  }
};

namespace {
// Temp dirs of harnesses that were killed (their servers died with them).
void remove_stale_roots() {
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/tmp", ec)) {
    if (e.path().filename().string().rfind("dine-test-", 0) != 0) continue;
    std::ifstream in(e.path() / "owner.pid");
    pid_t owner = 0;
    if (in >> owner && owner > 0 && !stack::alive(owner)) fs::remove_all(e.path(), ec);
  }
}

bool port_in_use_error(const std::string& message) {
  return message.find("Address already in use") != std::string::npos ||
         message.find("could not bind") != std::string::npos;
}
}  // namespace

Harness& Harness::get() {
  static Harness h;
  return h;
}

Harness::Harness() : state_(new State) {
  remove_stale_roots();
  char pattern[] = "/tmp/dine-test-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("harness: cannot create a temp dir under /tmp");
  root_ = pattern;
  chmod(root_.c_str(), 0755);  // the postgres user reaches its data dirs through it
  std::ofstream(root_ + "/owner.pid") << getpid() << "\n";
}

Harness::~Harness() {
  for (std::size_t i = 0; i < kPgServers; ++i) stack::pg_stop(state_->pg[i]);
  stack::redis_stop(state_->redis);
  std::error_code ec;
  if (const char* keep = std::getenv("DINE_TEST_KEEP"); keep && *keep == '1')
    std::fprintf(stderr, "harness: DINE_TEST_KEEP=1: logs and data kept in %s\n", root_.c_str());
  else
    fs::remove_all(root_, ec);
  delete state_;
}

stack::PgInstance& Harness::pg(std::size_t i) {
  if (i >= kPgServers) throw std::out_of_range(fmt::format("harness: no PostgreSQL server {}", i));
  std::lock_guard lock(state_->mu);
  auto& pg = state_->pg[i];
  if (!state_->pg_started[i]) {
    pg.dir = fmt::format("{}/pg-{}", root_, i);
    pg.die_with_parent = true;
    stack::pg_init(pg);
    for (int attempt = 1;; ++attempt) {
      pg.port = state_->port();
      try {
        stack::pg_start(pg);
        break;
      } catch (const std::exception& e) {
        if (attempt >= 3 || !port_in_use_error(e.what())) throw;
      }
    }
    state_->pg_started[i] = true;
  }
  return pg;
}

void Harness::pg_stop(std::size_t i) {
  std::lock_guard lock(state_->mu);
  stack::pg_stop(pg(i));
}

void Harness::pg_start(std::size_t i) {
  std::lock_guard lock(state_->mu);
  auto& pg = this->pg(i);
  if (!stack::alive(pg.pid)) stack::pg_start(pg);
}

namespace {
// The postmaster and its children (backends, checkpointer, ...), from /proc.
std::vector<pid_t> server_processes(pid_t postmaster) {
  std::vector<pid_t> out{postmaster};
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    auto close = stat.rfind(')');  // "pid (comm) state ppid ..."
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == postmaster) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}
}  // namespace

void Harness::pg_freeze(std::size_t i) {
  std::lock_guard lock(state_->mu);
  // The postmaster first: it forks no new backend while we stop the others.
  for (pid_t p : server_processes(pg(i).pid)) ::kill(p, SIGSTOP);
}

void Harness::pg_thaw(std::size_t i) {
  std::lock_guard lock(state_->mu);
  for (pid_t p : server_processes(pg(i).pid)) ::kill(p, SIGCONT);
}

stack::RedisInstance& Harness::redis() {
  std::lock_guard lock(state_->mu);
  auto& r = state_->redis;
  if (!state_->redis_started) {
    r.dir = root_ + "/redis";
    r.appendonly = true;  // like redis-mq: streams survive a restart
    r.die_with_parent = true;
    for (int attempt = 1;; ++attempt) {
      r.port = state_->port();
      try {
        stack::redis_start(r);
        break;
      } catch (const std::exception&) {
        if (attempt >= 3) throw;
      }
    }
    state_->redis_started = true;
  }
  return r;
}

void Harness::redis_stop() {
  std::lock_guard lock(state_->mu);
  stack::redis_stop(redis());
}

void Harness::redis_start() {
  std::lock_guard lock(state_->mu);
  auto& r = redis();
  if (!stack::alive(r.pid)) stack::redis_start(r);
}

std::string Harness::topology_json(int order_nodes) {
  std::lock_guard lock(state_->mu);
  using nlohmann::json;
  json nodes = json::array();
  json shards = json::array();
  for (std::size_t i = 0; i < kPgServers; ++i) {
    auto& p = pg(i);
    std::string id = fmt::format("pg-order-{}", i);
    shards.push_back(id);
    nodes.push_back({{"id", id}, {"kind", "postgres"}, {"host", p.host}, {"port", p.port},
                     {"user", p.user}, {"databases", {"order"}}});
  }
  auto& r = redis();
  nodes.push_back({{"id", "redis-mq"}, {"kind", "redis"}, {"host", r.host}, {"port", r.port},
                   {"appendonly", r.appendonly}});
  for (int n = 1; n <= order_nodes; ++n) {
    nodes.push_back({{"id", fmt::format("order-{}", n)},
                     {"kind", "dine"},
                     {"role", "order"},
                     {"host", "127.0.0.1"},
                     {"port", state_->port()},
                     {"node_id", n},
                     {"uses", {{"shards", shards}, {"mq", {"redis-mq"}}}}});
  }
  // A relay's claim lapses after 2 s here (10 s by default), so a test that
  // kills a node sees its claimed rows taken over quickly.
  json topo = {{"name", fmt::format("test-{}", getpid())},
               {"secret", "dine-test-secret-0123456789abcdef"},
               {"roles", {{"order", {{"relay_claim_ms", 2000}}}}},
               {"nodes", nodes}};
  return topo.dump(2);
}

std::string Harness::topology_file(int order_nodes) {
  std::lock_guard lock(state_->mu);
  std::string path = fmt::format("{}/topology-{}.json", root_, ++state_->topology_files);
  std::ofstream out(path);
  out << topology_json(order_nodes) << "\n";
  if (!out) throw std::runtime_error("harness: cannot write " + path);
  return path;
}

std::string Harness::dine_binary() { return DINE_BINARY; }

bool eventually(const std::function<bool()>& cond, milliseconds limit, milliseconds step) {
  const Deadline end = deadline_in(limit);
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(step);
  }
}

Task<bool> co_eventually(std::function<bool()> cond, milliseconds limit, milliseconds step) {
  const Deadline end = deadline_in(limit);
  while (!cond()) {
    if (Clock::now() >= end) co_return false;
    co_await sleep_for(step);
  }
  co_return true;
}

}  // namespace dine::test
