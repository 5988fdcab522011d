// fork+exec with the child's failure to start reported back through a
// close-on-exec pipe, so a missing program is an exception, not a silent exit.
#include "core/stack/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <deque>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

extern char** environ;

namespace dine::stack {
namespace {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Resolved in the parent: getpwnam and initgroups are not safe after fork in
// a threaded program, setgroups/setgid/setuid are.
Identity resolve_user(const std::string& name) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    throw std::runtime_error(fmt::format("cannot run as user '{}': no such user", name));
  Identity id{pw.pw_uid, pw.pw_gid, {}};
  int n = 64;
  id.groups.resize(n);
  if (getgrouplist(name.c_str(), pw.pw_gid, id.groups.data(), &n) < 0) {
    id.groups.resize(n);
    getgrouplist(name.c_str(), pw.pw_gid, id.groups.data(), &n);
  }
  id.groups.resize(n);
  return id;
}

std::vector<std::string> merged_environment(const SpawnOptions& o) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    bool overridden = false;
    for (const auto& [k, v] : o.env)
      if (kv.size() > k.size() && kv.substr(0, k.size()) == k && kv[k.size()] == '=') overridden = true;
    if (!overridden) env.emplace_back(kv);
  }
  for (const auto& [k, v] : o.env) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

struct ChildFailure {
  int stage;  // index into kStages
  int err;
};
constexpr const char* kStages[] = {"setsid", "stdio", "chdir", "setgroups", "setgid",
                                   "setuid", "prctl", "exec"};

[[noreturn]] void child_fail(int fd, int stage) {
  ChildFailure f{stage, errno};
  (void)!write(fd, &f, sizeof f);
  _exit(127);
}

}  // namespace

pid_t spawn(const SpawnOptions& o) {
  if (o.argv.empty()) throw std::runtime_error("spawn: empty argv");
  const std::string& prog = o.argv[0];

  std::optional<Identity> ident;
  if (o.run_as && running_as_root()) ident = resolve_user(*o.run_as);

  int out = open(o.log_file.empty() ? "/dev/null" : o.log_file.c_str(),
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0)
    throw std::runtime_error(fmt::format("cannot start {}: cannot open log {}: {}", prog, o.log_file,
                                         std::strerror(errno)));
  if (ident && !o.log_file.empty()) (void)!fchown(out, ident->uid, ident->gid);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipefd[2];
  if (in < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
    int e = errno;
    close(out);
    if (in >= 0) close(in);
    throw std::runtime_error(fmt::format("cannot start {}: {}", prog, std::strerror(e)));
  }

  std::vector<std::string> args = o.argv;
  std::vector<std::string> env = merged_environment(o);
  std::vector<char*> cargv = c_strings(args);
  std::vector<char*> cenv = c_strings(env);
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(out), close(in), close(pipefd[0]), close(pipefd[1]);
    throw std::runtime_error(fmt::format("cannot start {}: fork: {}", prog, std::strerror(e)));
  }
  if (pid == 0) {
    int fd = pipefd[1];
    // Default signal dispositions and mask for the new program.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // ignored ones stay ignored across exec
    if (setsid() < 0) child_fail(fd, 0);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) child_fail(fd, 1);
    // No inherited descriptors (client sockets without CLOEXEC) beyond stdio and the report pipe.
    if (fd > 3) close_range(3, static_cast<unsigned>(fd) - 1, 0);
    close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) child_fail(fd, 2);
    if (ident) {
      if (setgroups(ident->groups.size(), ident->groups.data()) != 0) child_fail(fd, 3);
      if (setgid(ident->gid) != 0) child_fail(fd, 4);
      if (setuid(ident->uid) != 0) child_fail(fd, 5);
    }
    // After setuid: a change of credentials clears the parent-death signal.
    if (o.die_with_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(fd, 6);
      if (getppid() != parent) _exit(127);  // the parent died before prctl
    }
    execvpe(cargv[0], cargv.data(), cenv.data());
    child_fail(fd, 7);
  }

  close(out), close(in), close(pipefd[1]);
  ChildFailure f{};
  ssize_t n;
  do {
    n = read(pipefd[0], &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n == static_cast<ssize_t>(sizeof f)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (f.stage == 7)
      throw std::runtime_error(fmt::format("cannot start {}: {}", prog, std::strerror(f.err)));
    throw std::runtime_error(
        fmt::format("cannot start {}: {}: {}", prog, kStages[f.stage], std::strerror(f.err)));
  }
  return pid;
}

int run_and_wait(const SpawnOptions& opts, milliseconds timeout) {
  pid_t pid = spawn(opts);
  Deadline deadline = deadline_in(timeout);
  milliseconds step(2);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    } else if (r < 0 && errno != EINTR) {
      throw std::runtime_error(fmt::format("{}: waitpid: {}", opts.argv[0], std::strerror(errno)));
    }
    if (Clock::now() >= deadline) {
      kill_hard(pid);
      throw std::runtime_error(
          fmt::format("{} did not finish within {} ms", opts.argv[0], timeout.count()));
    }
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, milliseconds(50));
  }
}

bool alive(pid_t pid) {
  if (pid <= 0) return false;
  int status;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) return false;  // our child, just reaped
  if (r == 0) return true;     // our child, running
  // Not our child: exists, and not a zombie waiting for its parent.
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return true;
  char state = line[close_paren + 2];
  return state != 'Z' && state != 'X';
}

namespace {
bool wait_gone(pid_t pid, Deadline deadline) {
  milliseconds step(1);
  while (alive(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, milliseconds(25));
  }
  return true;
}
}  // namespace

bool terminate(pid_t pid, milliseconds grace) {
  if (!alive(pid)) return true;
  kill(pid, SIGTERM);
  if (wait_gone(pid, deadline_in(grace))) return true;
  kill(pid, SIGKILL);
  return wait_gone(pid, deadline_in(milliseconds(5000)));
}

void kill_hard(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  wait_gone(pid, deadline_in(milliseconds(5000)));
}

std::string tail_file(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (auto& l : last) out += l + "\n";
  return out;
}

bool running_as_root() { return geteuid() == 0; }

void make_traversable(const std::string& dir) {
  namespace fs = std::filesystem;
  for (fs::path p = fs::absolute(dir).parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH)) chmod(p.c_str(), st.st_mode | S_IXOTH);
    if (p == p.root_path()) break;
  }
}

std::optional<std::string> postgres_run_as() {
  if (!running_as_root()) return std::nullopt;
  return std::string("postgres");
}

}  // namespace dine::stack
