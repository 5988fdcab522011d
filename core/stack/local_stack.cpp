// `dine up` / `dine down` / `dine ps` over real processes: datastores from
// Debian's binaries, roles as `dine serve`, pids recorded in state.json.
#include "core/stack/local_stack.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/stack/nginx_conf.hpp"
#include "core/stack/nginx_server.hpp"
#include "core/stack/process.hpp"
#include "core/stack/servers.hpp"

namespace dine::stack {
namespace fs = std::filesystem;
using nlohmann::json;

struct LocalStack::Entry {
  std::string id, kind, role, host;
  int port = 0;
  pid_t pid = 0;
  std::string log;
};

namespace {

constexpr milliseconds kRoleReady{30000};
constexpr milliseconds kRoleGrace{10000};
constexpr milliseconds kRedisGrace{10000};
constexpr milliseconds kPgGrace{30000};

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool is_local_host(const std::string& h) {
  return h == "localhost" || h == "::1" || h == "0.0.0.0" || h.rfind("127.", 0) == 0;
}

void say(const Progress& p, const std::string& node, const std::string& msg, bool done = true) {
  if (p) p(StackEvent{node, msg, done});
}

// Sends `sig` to every live pid, waits for all of them up to `grace`, then
// SIGKILLs the rest. Parallel: five PostgreSQL servers stop in one checkpoint's time.
void stop_all(const std::vector<pid_t>& pids, int sig, milliseconds grace) {
  for (pid_t p : pids)
    if (alive(p)) kill(p, sig);
  Deadline deadline = deadline_in(grace);
  milliseconds step(2);
  auto any_alive = [&] { return std::any_of(pids.begin(), pids.end(), [](pid_t p) { return alive(p); }); };
  while (any_alive() && Clock::now() < deadline) {
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, milliseconds(50));
  }
  for (pid_t p : pids) {
    if (!alive(p)) continue;
    kill(-p, SIGKILL);  // its group too: every server was started as a session leader (nginx's workers)
    kill_hard(p);
  }
}

std::string log_name(NodeKind k) {
  switch (k) {
    case NodeKind::Postgres: return "postgres.log";
    case NodeKind::Redis: return "redis.log";
    case NodeKind::Nginx: return "nginx.log";
    case NodeKind::Dine: return "dine.log";
  }
  return "node.log";
}

// A recorded pid is ours only while it still runs the program we started
// (after a reboot the number may belong to anything).
bool runs_node(pid_t pid, const std::string& kind, const std::string& id) {
  if (!alive(pid)) return false;
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  if (cmd.empty()) return true;  // unreadable: trust the pid
  if (kind == "postgres") return cmd.find("postgres") != std::string::npos;
  if (kind == "redis") return cmd.find("redis") != std::string::npos;
  if (kind == "nginx") return cmd.find("nginx") != std::string::npos;
  return cmd.find(" serve ") != std::string::npos && cmd.find(id) != std::string::npos;
}

// "append-only, fsync always, 256 MB, noeviction"
std::string redis_summary(const Node& n) {
  std::string persistence = n.appendonly ? fmt::format("append-only, fsync {}", n.appendfsync) : "no persistence";
  return fmt::format("{}, {} MB, {}", persistence, n.maxmemory_mb, n.eviction);
}

}  // namespace

std::string NodeStatus::address() const { return fmt::format("{}:{}", host, port); }

std::string LocalStack::default_state_dir(const Topology& topo) {
  if (const char* d = std::getenv("DINE_STATE_DIR"); d && *d) return d;
  return ".dine/" + topo.name;
}

LocalStack::LocalStack(const Topology& topo, std::string topology_path, std::string state_dir)
    : topo_(topo), topology_path_(std::move(topology_path)) {
  if (state_dir.empty()) state_dir = default_state_dir(topo_);
  state_dir_ = fs::absolute(state_dir).lexically_normal().string();
  if (!topology_path_.empty()) topology_path_ = fs::absolute(topology_path_).string();
  load_state();
}

LocalStack::~LocalStack() { unlock(); }

void LocalStack::lock() {
  if (lock_fd_ >= 0) return;
  fs::create_directories(state_dir_);
  std::string path = state_dir_ + "/.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    throw std::runtime_error(
        fmt::format("another dine up or down is working on {} right now; wait for it", state_dir_));
  }
  lock_fd_ = fd;
}

void LocalStack::load_state() {
  entries_.clear();
  std::ifstream in(state_dir_ + "/state.json");
  if (!in) return;
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}/state.json is damaged ({}); remove it after checking "
                                         "that no server of the stack still runs",
                                         state_dir_, e.what()));
  }
  started_at_ = j.value("started_at", "");
  for (const auto& n : j.value("nodes", json::array())) {
    Entry e;
    e.id = n.value("id", "");
    e.kind = n.value("kind", "");
    e.role = n.value("role", "");
    e.host = n.value("host", "127.0.0.1");
    e.port = n.value("port", 0);
    e.pid = n.value("pid", 0);
    e.log = n.value("log", "");
    entries_.push_back(std::move(e));
  }
}

void LocalStack::save_state() const {
  json nodes = json::array();
  for (const auto& e : entries_)
    nodes.push_back({{"id", e.id}, {"kind", e.kind}, {"role", e.role}, {"host", e.host},
                     {"port", e.port}, {"pid", e.pid}, {"log", e.log}});
  json j = {{"topology", topo_.name},
            {"topology_path", topology_path_},
            {"started_at", started_at_},
            {"nodes", nodes}};
  fs::create_directories(state_dir_);
  std::string tmp = state_dir_ + "/state.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, state_dir_ + "/state.json");
}

LocalStack::Entry& LocalStack::record(const Node& n, pid_t pid, const std::string& log) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.id == n.id; });
  if (it == entries_.end()) it = entries_.insert(entries_.end(), Entry{});
  *it = Entry{n.id, to_string(n.kind), n.role, n.host, n.port, pid, log};
  save_state();
  return *it;
}

const LocalStack::Entry* LocalStack::entry(const std::string& id) const {
  for (const auto& e : entries_)
    if (e.id == id) return &e;
  return nullptr;
}

bool LocalStack::is_up() const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [](const Entry& e) { return runs_node(e.pid, e.kind, e.id); });
}

void LocalStack::check_port_free(const Node& n) const {
  if (!is_local_host(n.host))
    throw std::runtime_error(fmt::format("node {} is on host {}: dine up starts only nodes on this "
                                         "machine (127.0.0.1 or localhost)", n.id, n.host));
  if (wait_port(n.host, n.port, Clock::now()))
    throw std::runtime_error(fmt::format("node {}: port {} is already in use by another process; stop "
                                         "it or give the node another port in the topology",
                                         n.id, n.address()));
}

void LocalStack::start_datastores(const Progress& progress) {
  lock();
  if (!is_up() || started_at_.empty()) started_at_ = now_iso8601();
  for (const auto& n : topo_.nodes) {
    if (n.kind != NodeKind::Postgres && n.kind != NodeKind::Redis) continue;
    if (const Entry* e = entry(n.id); e && runs_node(e->pid, e->kind, e->id)) {
      say(progress, n.id, fmt::format("already running, pid {}", e->pid));
      continue;
    }
    check_port_free(n);
    std::string dir = state_dir_ + "/" + n.id;
    std::string log = dir + "/" + log_name(n.kind);
    if (n.kind == NodeKind::Postgres) {
      PgInstance pg;
      pg.dir = dir;
      pg.host = n.host;
      pg.port = n.port;
      pg.user = n.user;
      bool fresh = !fs::exists(dir + "/data");
      if (fresh) say(progress, n.id, "initialising a new data dir", false);
      pg_init(pg);
      try {
        pg_start(pg);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: {}", n.id, e.what()));
      }
      record(n, pg.pid, log);
      say(progress, n.id, fmt::format("postgres ready on {}, pid {}", n.address(), pg.pid));
    } else {
      RedisInstance r;
      r.dir = dir;
      r.host = n.host;
      r.port = n.port;
      r.appendonly = n.appendonly;
      if (!n.appendfsync.empty()) r.appendfsync = n.appendfsync;
      r.maxmemory_mb = n.maxmemory_mb;
      r.eviction = n.eviction;
      try {
        redis_start(r);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: {}", n.id, e.what()));
      }
      record(n, r.pid, log);
      say(progress, n.id, fmt::format("redis ready on {}, pid {} ({})", n.address(), r.pid, redis_summary(n)));
    }
  }
}

void LocalStack::start_roles(const std::string& self_exe, const Progress& progress) {
  lock();
  // Waves in dependency order: a role starts once the roles it uses are ready.
  std::vector<const Node*> pending;
  for (const auto& n : topo_.nodes)
    if (n.kind == NodeKind::Dine) pending.push_back(&n);
  std::set<std::string> ready;
  auto is_role = [&](const std::string& id) {
    const Node* d = topo_.find(id);
    return d && d->kind == NodeKind::Dine;
  };
  while (!pending.empty()) {
    std::vector<const Node*> wave;
    for (const Node* n : pending) {
      auto deps = n->uses_all();
      if (std::all_of(deps.begin(), deps.end(), [&](const std::string& d) { return !is_role(d) || ready.count(d); }))
        wave.push_back(n);
    }
    if (wave.empty())
      throw std::runtime_error(fmt::format("{}: the dine nodes' uses form a cycle (around {}); fix the "
                                           "topology", topo_.source, pending.front()->id));
    std::vector<std::pair<const Node*, pid_t>> started;
    for (const Node* n : wave) {
      if (const Entry* e = entry(n->id); e && runs_node(e->pid, e->kind, e->id)) {
        say(progress, n->id, fmt::format("already running, pid {}", e->pid));
        started.emplace_back(n, e->pid);
        continue;
      }
      check_port_free(*n);
      std::string dir = state_dir_ + "/" + n->id;
      fs::create_directories(dir);
      SpawnOptions o;
      o.argv = {self_exe};
      if (!topology_path_.empty()) o.argv.insert(o.argv.end(), {"--topology", topology_path_});
      o.argv.insert(o.argv.end(), {"serve", n->role, "--node", n->id});
      o.log_file = dir + "/dine.log";
      pid_t pid = spawn(o);
      record(*n, pid, o.log_file);
      started.emplace_back(n, pid);
    }
    for (auto [n, pid] : started) {
      Deadline deadline = deadline_in(kRoleReady);
      milliseconds step(10);
      int status = 0;
      for (;;) {
        std::string log = state_dir_ + "/" + n->id + "/dine.log";
        if (!alive(pid))
          throw std::runtime_error(fmt::format("{} ({}) exited during start-up; last lines of {}:\n{}",
                                               n->id, n->role, log, tail_file(log)));
        status = http_get_status(n->host, n->port, "/readyz", milliseconds(1000));
        if (status == 200) break;
        if (Clock::now() >= deadline)
          throw std::runtime_error(fmt::format(
              "{} ({}) not ready after {} s (GET /readyz: {}); last lines of {}:\n{}", n->id, n->role,
              kRoleReady.count() / 1000, status ? std::to_string(status) : "no answer", log, tail_file(log)));
        std::this_thread::sleep_for(step);
        step = std::min(step * 2, milliseconds(100));
      }
      ready.insert(n->id);
      say(progress, n->id, fmt::format("{} ready on {}, pid {}", n->role, n->address(), pid));
    }
    std::erase_if(pending, [&](const Node* n) { return ready.count(n->id) > 0; });
  }
}

void LocalStack::start_gateways(const Progress& progress) {
  lock();
  const std::string user = nginx_worker_user();
  for (const Node* n : topo_.by_kind(NodeKind::Nginx)) {
    if (const Entry* e = entry(n->id); e && runs_node(e->pid, e->kind, e->id)) {
      say(progress, n->id, fmt::format("already running, pid {}", e->pid));
      continue;
    }
    NginxInstance gw;
    gw.paths = nginx_paths(topo_, *n, state_dir_);
    if (int orphans = kill_orphaned_workers(gw.paths.dir + "/"))
      say(progress, n->id, fmt::format("killed {} nginx worker(s) left behind by a master that died", orphans));
    check_port_free(*n);
    gw.host = n->host;
    gw.port = n->port;
    nginx_write(gw.paths, render_nginx_conf(topo_, *n, gw.paths, user));
    if (auto check = nginx_check(gw.paths); !check.ok)
      throw std::runtime_error(fmt::format("{}: nginx -t refused {}:\n{}", n->id, gw.paths.conf(), check.output));
    try {
      nginx_start(gw);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: {}", n->id, e.what()));
    }
    record(*n, gw.pid, gw.paths.error_log());
    const auto apps = topo_.uses(*n, "app");
    const int rate = topo_.gateway.rate_per_node(topo_.by_kind(NodeKind::Nginx).size());
    say(progress, n->id, fmt::format("nginx ready on {}, pid {} ({} app node(s), {} r/s of {})", n->address(),
                                     gw.pid, apps.size(), rate, topo_.gateway.qps_cap));
  }
}

void LocalStack::down(const Progress& progress) {
  lock();
  load_state();  // another process may have started what we stop
  auto stop_kind = [&](const std::string& kind, int sig, milliseconds grace) {
    std::vector<pid_t> pids;
    std::vector<Entry*> stopped;
    for (auto& e : entries_)
      if (e.kind == kind && e.pid > 0) {
        if (runs_node(e.pid, e.kind, e.id)) pids.push_back(e.pid);
        stopped.push_back(&e);
      }
    stop_all(pids, sig, grace);
    for (Entry* e : stopped) {
      bool still = runs_node(e->pid, e->kind, e->id);
      say(progress, e->id, still ? fmt::format("pid {} did not stop", e->pid)
                                 : fmt::format("stopped (was pid {})", e->pid));
      if (!still) e->pid = 0;
    }
    save_state();
  };
  stop_kind("nginx", SIGQUIT, kRoleGrace);  // no new requests reach roles that are stopping
  for (const auto& e : entries_)
    if (e.kind == "nginx")
      if (int orphans = kill_orphaned_workers(state_dir_ + "/" + e.id + "/"))
        say(progress, e.id, fmt::format("killed {} nginx worker(s) left behind by a master that died", orphans));
  stop_kind("dine", SIGTERM, kRoleGrace);
  stop_kind("redis", SIGTERM, kRedisGrace);
  stop_kind("postgres", SIGINT, kPgGrace);  // fast shutdown
  unlock();
}

void LocalStack::unlock() {
  if (lock_fd_ >= 0) close(lock_fd_);  // closing the description drops the flock
  lock_fd_ = -1;
}

std::vector<NodeStatus> LocalStack::ps() const {
  std::vector<NodeStatus> out;
  for (const auto& n : topo_.nodes) {
    NodeStatus s{n.id, to_string(n.kind), n.role, n.host, n.port, 0, "stopped",
                 state_dir_ + "/" + n.id + "/" + log_name(n.kind)};
    if (const Entry* e = entry(n.id); e && runs_node(e->pid, e->kind, e->id)) {
      s.pid = e->pid;
      if (!e->log.empty()) s.log = e->log;
      s.state = wait_port(n.host, n.port, deadline_in(milliseconds(300))) ? "running" : "hung?";
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace dine::stack
