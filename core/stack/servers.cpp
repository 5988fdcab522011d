// PostgreSQL and Redis servers from Debian's binaries, in directories of ours.
// Readiness is polled (log line, TCP connect, PING) up to a deadline.
#include "core/stack/servers.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <pwd.h>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "core/stack/process.hpp"

namespace dine::stack {
namespace fs = std::filesystem;
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string command_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return trim(out);
}

void give_to_postgres(const fs::path& p) {
  auto user = postgres_run_as();
  if (!user) return;
  struct passwd* pw = getpwnam(user->c_str());
  if (!pw) throw std::runtime_error(fmt::format("no '{}' user to run PostgreSQL as", *user));
  if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error(fmt::format("cannot chown {} to {}", p.string(), *user));
}

// One initdb per process and superuser name; later instances copy it (initdb
// takes seconds, a copy a few milliseconds). Removed at exit.
class TemplateCache {
 public:
  ~TemplateCache() {
    std::error_code ec;
    for (auto& [user, dir] : dirs_) fs::remove_all(dir, ec);
  }

  fs::path data_dir(const std::string& user) {
    std::lock_guard lock(mu_);
    auto it = dirs_.find(user);
    if (it != dirs_.end()) return fs::path(it->second) / "data";
    remove_stale();
    char pattern[] = "/tmp/dine-pgtemplate-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("cannot create a temp dir for initdb");
    std::string dir = pattern;
    chmod(dir.c_str(), 0755);
    std::ofstream(dir + "/owner.pid") << getpid() << "\n";
    give_to_postgres(dir);
    SpawnOptions o;
    o.argv = {postgres_bindir() + "/initdb", "-D", dir + "/data", "-U", user, "--auth=trust",
              "-E", "UTF8", "--locale=C", "--no-sync"};
    o.log_file = dir + "/initdb.log";
    o.run_as = postgres_run_as();
    o.env = {{"LC_ALL", "C"}};
    o.cwd = dir;
    if (run_and_wait(o, milliseconds(120000)) != 0) {
      std::string message =
          fmt::format("initdb failed (log {}):\n{}", o.log_file, tail_file(o.log_file));
      std::error_code ec;
      fs::remove_all(dir, ec);
      throw std::runtime_error(message);
    }
    dirs_[user] = dir;
    return fs::path(dir) / "data";
  }

 private:
  // Templates of processes that were killed before their exit removed them.
  static void remove_stale() {
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/tmp", ec)) {
      if (e.path().filename().string().rfind("dine-pgtemplate-", 0) != 0) continue;
      std::ifstream in(e.path() / "owner.pid");
      pid_t owner = 0;
      if (in >> owner && owner > 0 && !alive(owner)) fs::remove_all(e.path(), ec);
    }
  }

  std::mutex mu_;
  std::map<std::string, std::string> dirs_;
};

TemplateCache& template_cache() {
  static TemplateCache cache;
  return cache;
}

bool file_contains_from(const std::string& path, std::uintmax_t offset, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find(needle) != std::string::npos;
}

std::uintmax_t size_or_zero(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

[[noreturn]] void start_failed(const std::string& what, pid_t pid, const std::string& log,
                               const std::string& why) {
  if (pid > 0) kill_hard(pid);
  throw std::runtime_error(fmt::format("{} {} (log {}):\n{}", what, why, log, tail_file(log)));
}

void pause_step(milliseconds& step) {
  std::this_thread::sleep_for(step);
  step = std::min(step * 2, milliseconds(50));
}

}  // namespace

std::string postgres_bindir() {
  static const std::string dir = [] {
    std::string bin = command_output("pg_config --bindir 2>/dev/null");
    if (!bin.empty() && fs::exists(fs::path(bin) / "postgres")) return bin;
    std::string best;
    int best_version = -1;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      int v = std::atoi(e.path().filename().c_str());
      if (v > best_version && fs::exists(e.path() / "bin" / "postgres")) {
        best_version = v;
        best = (e.path() / "bin").string();
      }
    }
    if (best.empty())
      throw std::runtime_error("PostgreSQL server binaries not found (pg_config --bindir, /usr/lib/postgresql/*/bin)");
    return best;
  }();
  return dir;
}

std::string PgInstance::dsn(const std::string& database) const {
  return fmt::format("host={} port={} user={} dbname={} connect_timeout=5", host, port, user, database);
}

void pg_init(const PgInstance& pg) {
  fs::path dir = fs::absolute(pg.dir);
  fs::path data = dir / "data";
  if (fs::exists(data)) return;
  fs::create_directories(dir);
  if (running_as_root()) {
    make_traversable(dir.string());  // the postgres user reaches its data dir
    give_to_postgres(dir);
  }
  fs::path tmpl = template_cache().data_dir(pg.user);
  SpawnOptions cp;
  cp.argv = {"cp", "-a", tmpl.string(), data.string()};
  cp.log_file = (dir / "init.log").string();
  if (run_and_wait(cp, milliseconds(60000)) != 0)
    throw std::runtime_error(fmt::format("cannot copy the initialised data dir into {}:\n{}",
                                         data.string(), tail_file(cp.log_file)));
  chmod(data.c_str(), 0700);
}

pid_t pg_start(PgInstance& pg, milliseconds ready_timeout) {
  fs::path dir = fs::absolute(pg.dir);
  std::string log = (dir / "postgres.log").string();
  auto offset = size_or_zero(log);
  // A Unix socket path is limited to 107 bytes: go TCP-only when dir is too deep.
  std::string socket_dir = dir.string().size() + 20 < 100 ? dir.string() : std::string();
  SpawnOptions o;
  o.argv = {postgres_bindir() + "/postgres",
            "-D", (dir / "data").string(),
            "-p", std::to_string(pg.port),
            "-c", "listen_addresses=" + pg.host,
            "-c", "unix_socket_directories=" + socket_dir,
            "-c", "fsync=on",
            "-c", "max_connections=200",
            "-c", "shared_buffers=64MB"};
  o.log_file = log;
  o.run_as = postgres_run_as();
  o.env = {{"LC_ALL", "C"}};
  o.cwd = dir.string();
  o.die_with_parent = pg.die_with_parent;
  pg.pid = spawn(o);

  std::string what = fmt::format("postgres on port {}", pg.port);
  Deadline deadline = deadline_in(ready_timeout);
  milliseconds step(5);
  for (;;) {
    if (!alive(pg.pid)) {
      pid_t dead = pg.pid;
      pg.pid = 0;
      start_failed(what, dead, log, "exited during start-up");
    }
    if (file_contains_from(log, offset, "ready to accept connections") &&
        wait_port(pg.host, pg.port, deadline_in(milliseconds(1000))))
      return pg.pid;
    if (Clock::now() >= deadline) {
      pid_t stuck = pg.pid;
      pg.pid = 0;
      start_failed(what, stuck, log, fmt::format("not ready after {} ms", ready_timeout.count()));
    }
    pause_step(step);
  }
}

void pg_stop(PgInstance& pg) {
  if (pg.pid <= 0) return;
  if (alive(pg.pid)) {
    kill(pg.pid, SIGINT);  // fast shutdown: roll back sessions, checkpoint, exit
    Deadline deadline = deadline_in(milliseconds(30000));
    milliseconds step(2);
    while (alive(pg.pid) && Clock::now() < deadline) pause_step(step);
    if (alive(pg.pid)) kill_hard(pg.pid);
  }
  pg.pid = 0;
}

bool redis_ping(const std::string& host, int port, milliseconds timeout) {
  return tcp_first_line(host, port, "PING\r\n", timeout) == "+PONG";
}

std::vector<std::string> RedisInstance::settings() const {
  std::string policy = !eviction.empty() ? eviction : appendonly ? "noeviction" : "allkeys-lru";
  std::vector<std::string> out = {"--appendonly", appendonly ? "yes" : "no"};
  if (appendonly) out.insert(out.end(), {"--appendfsync", appendfsync});
  out.insert(out.end(), {"--maxmemory", fmt::format("{}mb", maxmemory_mb), "--maxmemory-policy", policy});
  return out;
}

pid_t redis_start(RedisInstance& r, milliseconds ready_timeout) {
  fs::path dir = fs::absolute(r.dir);
  fs::create_directories(dir);
  std::string log = (dir / "redis.log").string();
  SpawnOptions o;
  o.argv = {"redis-server", "--port", std::to_string(r.port), "--bind", r.host,
            "--dir", dir.string(), "--save", "", "--daemonize", "no", "--logfile", log};
  auto settings = r.settings();
  o.argv.insert(o.argv.end(), settings.begin(), settings.end());
  o.log_file = log;
  o.cwd = dir.string();
  o.die_with_parent = r.die_with_parent;
  r.pid = spawn(o);

  std::string what = fmt::format("redis on port {}", r.port);
  Deadline deadline = deadline_in(ready_timeout);
  milliseconds step(2);
  for (;;) {
    if (!alive(r.pid)) {
      pid_t dead = r.pid;
      r.pid = 0;
      start_failed(what, dead, log, "exited during start-up");
    }
    if (redis_ping(r.host, r.port, milliseconds(500))) return r.pid;
    if (Clock::now() >= deadline) {
      pid_t stuck = r.pid;
      r.pid = 0;
      start_failed(what, stuck, log, fmt::format("not ready after {} ms", ready_timeout.count()));
    }
    pause_step(step);
  }
}

void redis_stop(RedisInstance& r) {
  if (r.pid <= 0) return;
  terminate(r.pid, milliseconds(10000));
  r.pid = 0;
}

}  // namespace dine::stack
