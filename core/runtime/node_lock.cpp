#include "core/runtime/node_lock.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace dine::runtime {

namespace {

// Socket inodes of TCP sockets listening on `port` (state 0A), IPv4 and IPv6.
std::vector<std::string> listening_inodes(int port) {
  std::vector<std::string> out;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      ls >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      auto colon = local.rfind(':');
      if (colon == std::string::npos || state != "0A") continue;
      if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port) out.push_back(inode);
    }
  }
  return out;
}

// Binds host:port without SO_REUSEPORT: fails with EADDRINUSE when anyone listens there.
int probe_bind(const Node& node) {
  const std::string host = node.ip.empty() ? node.host : node.ip;
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(node.port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(node.port));
    len = sizeof *v6;
  } else {
    return 0;  // the server's own bind reports a bad address
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT is no owner
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

std::string lock_dir() {
  if (const char* d = std::getenv("DINE_LOCK_DIR"); d && *d) return d;
  if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r && *r) return std::string(r) + "/dine";
  return fmt::format("/tmp/dine-{}", ::getuid());
}

int listener_pid(int port) {
  auto inodes = listening_inodes(port);
  if (inodes.empty()) return 0;
  DIR* proc = ::opendir("/proc");
  if (!proc) return 0;
  int found = 0;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::string fd_dir = fmt::format("/proc/{}/fd", pid);
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = ::readdir(fds)) {
      char target[128];
      std::string link = fd_dir + "/" + f->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      for (const auto& inode : inodes)
        if (std::string(target) == "socket:[" + inode + "]") found = static_cast<int>(pid);
      if (found) break;
    }
    ::closedir(fds);
    if (found) break;
  }
  ::closedir(proc);
  return found;
}

NodeLock::NodeLock(const Topology& topo, const Node& node) {
  const std::string dir = lock_dir();
  ::mkdir(dir.c_str(), 0700);  // exists already: fine
  path_ = fmt::format("{}/{}-{}.lock", dir, topo.name, node.id);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0)
    throw NodeTaken(fmt::format("cannot open the node lock {}: {}; fix: make {} writable or set DINE_LOCK_DIR",
                                path_, std::strerror(errno), dir));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string owner = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw NodeTaken(fmt::format("node {} of topology '{}' is already running (pid {}, lock {}); fix: stop it "
                                "(dine down, or kill {}) or serve another node",
                                node.id, topo.name, owner, path_, owner));
  }
  if (int err = probe_bind(node); err == EADDRINUSE) {
    int pid = listener_pid(node.port);
    ::close(fd_);
    fd_ = -1;
    throw NodeTaken(fmt::format("address {} of node {} is already in use{}; fix: stop that process or give the "
                                "node another port in {}",
                                node.address(), node.id, pid ? fmt::format(" by pid {}", pid) : "", topo.source));
  }
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The lock itself holds; only the pid in the message of a second start is lost.
  }
}

NodeLock::~NodeLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (no unlink race)
}

}  // namespace dine::runtime
