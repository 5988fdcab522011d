// nginx as a supervised child: written, checked, started, stopped by pid.
#include "core/stack/nginx_server.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "core/stack/process.hpp"

namespace dine::stack {
namespace fs = std::filesystem;
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The workers' user must enter `dir` (temp files, static files).
void open_to_workers(const std::string& dir) {
  if (!running_as_root()) return;
  make_traversable(dir);
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) chmod(dir.c_str(), st.st_mode | S_IXOTH | S_IROTH);
}

// -p: the prefix (relative paths, which the config has none of); -e: where
// nginx writes before it has read the config's error_log.
std::vector<std::string> nginx_argv(const NginxPaths& p) {
  return {nginx_binary(), "-p", p.dir + "/", "-c", p.conf(), "-e", p.error_log()};
}

struct ProcStat {
  std::string comm;
  char state = 0;
  pid_t pgrp = 0;
};

std::optional<ProcStat> proc_stat(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  ProcStat st;
  st.comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  long ppid = 0, pgrp = 0;
  if (!(rest >> st.state >> ppid >> pgrp)) return std::nullopt;
  st.pgrp = static_cast<pid_t>(pgrp);
  return st;
}

bool holds_file_under(pid_t pid, const std::string& prefix) {
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::error_code link_ec;
    const std::string target = fs::read_symlink(fd.path(), link_ec).string();
    if (!link_ec && target.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

int kill_orphaned_workers(const std::string& path_prefix) {
  int killed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    auto st = proc_stat(pid);
    if (!st || st->comm != "nginx" || st->state == 'Z' || st->pgrp == pid) continue;
    auto leader = proc_stat(st->pgrp);
    if (leader && leader->state != 'Z') continue;  // its master still runs: not an orphan
    if (!holds_file_under(pid, path_prefix)) continue;
    if (kill(pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

std::string nginx_binary() {
  if (const char* env = std::getenv("DINE_NGINX"); env && *env) return env;
  if (access("/usr/sbin/nginx", X_OK) == 0) return "/usr/sbin/nginx";
  return "nginx";
}

std::string nginx_worker_user() {
  if (!running_as_root()) return "";
  return getgrnam("nogroup") ? "nobody nogroup" : "nobody nobody";
}

void nginx_write(const NginxPaths& p, const std::string& conf_text) {
  fs::create_directories(p.dir);
  fs::create_directories(p.static_dir);
  open_to_workers(p.dir);
  open_to_workers(p.static_dir);
  const std::string tmp = p.conf() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << conf_text;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, p.conf());
}

NginxCheck nginx_check(const NginxPaths& p, milliseconds timeout) {
  SpawnOptions o;
  o.argv = nginx_argv(p);
  o.argv.push_back("-t");
  o.log_file = p.dir + "/nginx-t.log";
  std::error_code ec;
  fs::remove(o.log_file, ec);
  NginxCheck out;
  out.ok = run_and_wait(o, timeout) == 0;
  out.output = read_all(o.log_file);
  while (!out.output.empty() && out.output.back() == '\n') out.output.pop_back();
  return out;
}

pid_t nginx_start(NginxInstance& n, milliseconds ready_timeout) {
  std::error_code ec;
  const auto offset = fs::exists(n.paths.error_log()) ? fs::file_size(n.paths.error_log(), ec) : 0;
  SpawnOptions o;
  o.argv = nginx_argv(n.paths);
  o.log_file = n.paths.error_log();  // what nginx prints to stderr before its error_log is open
  o.die_with_parent = n.die_with_parent;
  n.pid = spawn(o);

  auto failed = [&](const std::string& why) {
    pid_t pid = n.pid;
    n.pid = 0;
    kill(-pid, SIGKILL);
    kill_hard(pid);
    std::string log = read_all(n.paths.error_log());
    log = log.size() > offset ? log.substr(offset) : log;
    return std::runtime_error(fmt::format("nginx for {}:{} {} (log {}):\n{}", n.host, n.port, why,
                                          n.paths.error_log(), log));
  };
  Deadline deadline = deadline_in(ready_timeout);
  milliseconds step(2);
  for (;;) {
    if (!alive(n.pid)) throw failed("exited during start-up");
    if (wait_port(n.host, n.port, deadline_in(milliseconds(200)))) return n.pid;
    if (Clock::now() >= deadline) throw failed(fmt::format("did not listen within {} ms", ready_timeout.count()));
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, milliseconds(50));
  }
}

void nginx_stop(NginxInstance& n, milliseconds grace) {
  if (n.pid <= 0) return;
  const pid_t pid = n.pid;
  if (alive(pid)) {
    kill(pid, SIGQUIT);
    Deadline deadline = deadline_in(grace);
    milliseconds step(2);
    while (alive(pid) && Clock::now() < deadline) {
      std::this_thread::sleep_for(step);
      step = std::min(step * 2, milliseconds(50));
    }
  }
  // The master leads its own process group (spawn starts a session): its
  // workers are in it, and must not outlive a master that did not finish.
  kill(-pid, SIGKILL);
  if (alive(pid)) kill_hard(pid);
  n.pid = 0;
}

}  // namespace dine::stack
