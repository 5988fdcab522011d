// Plain blocking sockets for readiness checks: free ports, TCP connects and a
// tiny HTTP/1.0 GET. Used by the CLI and the harness, never on a server's hot path.
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "core/stack/process.hpp"

namespace dine::stack {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int remaining_ms(Deadline deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// A connected socket, or -1. Never waits past `deadline`.
int connect_tcp(const std::string& host, int port, Deadline deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return -1;
  int result = -1;
  for (addrinfo* a = res; a && result < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, remaining_ms(deadline)) == 1 &&
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
        rc = 0;
    }
    if (rc == 0) {
      result = fd;
    } else {
      close(fd);
    }
  }
  freeaddrinfo(res);
  return result;
}

bool send_all(int fd, const std::string& data, Deadline deadline) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int free_port() {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::runtime_error(fmt::format("free_port: socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error(fmt::format("free_port: {}", std::strerror(errno)));
  return ntohs(addr.sin_port);
}

bool wait_port(const std::string& host, int port, Deadline deadline) {
  milliseconds step(2);
  for (;;) {
    auto attempt = std::min(deadline, deadline_in(milliseconds(500)));
    int fd = connect_tcp(host, port, attempt);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, milliseconds(50));
  }
}

std::string tcp_first_line(const std::string& host, int port, const std::string& request,
                           milliseconds timeout) {
  Deadline deadline = deadline_in(timeout);
  Fd fd(connect_tcp(host, port, deadline));
  if (fd.get() < 0) return {};
  if (!send_all(fd.get(), request, deadline)) return {};
  std::string head;
  char buf[1024];
  while (head.find("\r\n") == std::string::npos && head.size() < 8192) {
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) return {};
    ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  return head.substr(0, head.find("\r\n"));
}

int http_get_status(const std::string& host, int port, const std::string& target,
                    milliseconds timeout) {
  std::string line = tcp_first_line(
      host, port,
      fmt::format("GET {} HTTP/1.0\r\nHost: {}:{}\r\nConnection: close\r\n\r\n", target, host, port),
      timeout);
  // "HTTP/1.1 200 OK"
  if (line.rfind("HTTP/", 0) != 0) return 0;
  auto sp = line.find(' ');
  if (sp == std::string::npos || sp + 4 > line.size()) return 0;
  int status = 0;
  for (std::size_t i = sp + 1; i < sp + 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  return status;
}

}  // namespace dine::stack
