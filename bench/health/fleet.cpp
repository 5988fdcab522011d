// A fleet of stand-in dine nodes for bench/health: one process, one thread, listening on
// COUNT loopback ports from FIRST, each answering /healthz, /readyz and a
// realistic /metrics (tens of KB: routes, histograms, pools, workers) as a
// dine node would, over HTTP/1.1 keep-alive. Counters grow every second so
// the probes compute rates. Stops by itself after --seconds.
// Plain POSIX (epoll, non-blocking sockets, precomputed answers) so that it
// builds in a second and costs little beside what it measures:
//   g++ -O2 -std=c++20 -o fleet bench/health/fleet.cpp
//   ./fleet --first-port 21000 --count 500 --seconds 60
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fleet: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

std::string http_answer(std::string_view type, std::string_view body) {
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: ";
  r += type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

// The /metrics of a dine node with two workers, four PostgreSQL pools and 24
// routes, `tick` seconds after the start (the same shape as the Python fleet it
// replaced, with the # HELP and # TYPE lines a real node writes, and
// latencies and statuses of a healthy node).
std::string metrics_body(long tick) {
  std::string out;
  out.reserve(64 * 1024);
  char line[256];
  auto add = [&](int n) { out.append(line, static_cast<std::size_t>(n)); };
  out += "# HELP dine_event_loop_lag_seconds How far behind this worker's event loop is\n"
         "# TYPE dine_event_loop_lag_seconds gauge\n";
  for (int w = 0; w < 2; ++w) {
    const double lag = static_cast<double>((tick * 7919 + w * 104729) % 1000) / 1e6;  // under 1 ms
    add(std::snprintf(line, sizeof line, "dine_event_loop_lag_seconds{worker=\"%d\"} %.6f\n", w, lag));
  }
  const char* pools[] = {"pg-order-0", "pg-order-1", "pg-order-2", "pg-order-3"};
  for (const char* gauge : {"connections", "idle", "waiting"}) {
    add(std::snprintf(line, sizeof line, "# HELP dine_pg_pool_%s PostgreSQL pool %s\n# TYPE dine_pg_pool_%s gauge\n",
                      gauge, gauge, gauge));
    const int value = gauge[0] == 'c' ? 4 : gauge[0] == 'i' ? 3 : 0;
    for (int w = 0; w < 2; ++w)
      for (const char* p : pools)
        add(std::snprintf(line, sizeof line, "dine_pg_pool_%s{pool=\"%s\",worker=\"%d\"} %d\n", gauge, p, w, value));
  }
  // Per route, 150 requests a second (a few 404s, a constant handful of
  // 503s: an error rate near 0) and latencies mostly of a few ms: p99 50 ms.
  struct Bucket {
    const char* le;
    double share;  // cumulative
  };
  const Bucket buckets[] = {{"0.0005", 0.05}, {"0.001", 0.15}, {"0.0025", 0.40}, {"0.005", 0.70}, {"0.01", 0.90},
                            {"0.025", 0.97},  {"0.05", 0.995}, {"0.1", 0.999},  {"0.25", 1},    {"0.5", 1},
                            {"1", 1},         {"2.5", 1},      {"5", 1},        {"10", 1},      {"+Inf", 1}};
  const long ok = 1000 + tick * 100, created = ok / 2, missing = 3 + tick, failed = 3;
  const long total = ok + created + missing + failed;
  out += "# HELP dine_http_requests_total HTTP requests\n# TYPE dine_http_requests_total counter\n";
  for (int r = 0; r < 24; ++r)
    for (const auto& [status, count] : {std::pair{"200", ok}, {"201", created}, {"404", missing}, {"503", failed}})
      add(std::snprintf(line, sizeof line,
                        "dine_http_requests_total{route=\"/v1/route%d/{id}\",method=\"POST\",status=\"%s\"} %ld\n", r,
                        status, count));
  out += "# HELP dine_http_request_duration_seconds HTTP request duration\n"
         "# TYPE dine_http_request_duration_seconds histogram\n";
  for (int r = 0; r < 24; ++r) {
    for (const Bucket& b : buckets)
      add(std::snprintf(line, sizeof line,
                        "dine_http_request_duration_seconds_bucket{route=\"/v1/route%d/{id}\",method=\"POST\",le=\"%s\"} %ld\n",
                        r, b.le, static_cast<long>(static_cast<double>(total) * b.share)));
    add(std::snprintf(line, sizeof line,
                      "dine_http_request_duration_seconds_sum{route=\"/v1/route%d/{id}\",method=\"POST\"} %.3f\n", r,
                      static_cast<double>(total) * 0.004));
    add(std::snprintf(line, sizeof line,
                      "dine_http_request_duration_seconds_count{route=\"/v1/route%d/{id}\",method=\"POST\"} %ld\n", r, total));
  }
  return out;
}

struct Conn {
  int fd = -1;
  std::string in;
  // What is left to write: answers shared between connections, sent in order.
  std::vector<std::shared_ptr<const std::string>> out;
  std::size_t sent = 0;  // of out.front()
  bool blocked = false;  // waiting for EPOLLOUT
};

class Fleet {
 public:
  Fleet(int first, int count) : start_(Clock::now()) {
    healthz_ = std::make_shared<const std::string>(http_answer("application/json", R"({"status":"ok","workers":1})"));
    readyz_ = std::make_shared<const std::string>(http_answer("application/json", R"({"status":"ready"})"));
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) die("epoll_create1");
    for (int i = 0; i < count; ++i) listen_on(first + i);
  }

  void run(Clock::time_point until) {
    epoll_event events[256];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return;
      const int n = ::epoll_wait(epfd_, events, 256, static_cast<int>(std::min<long>(left, 1000)));
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (listeners_.count(fd)) accept_all(fd);
        else if (auto it = conns_.find(fd); it != conns_.end()) serve(it->second, events[i].events);
      }
    }
  }

 private:
  void listen_on(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die(("bind " + std::to_string(port)).c_str());
    if (::listen(fd, 128) < 0) die("listen");
    watch(fd, EPOLLIN);
    listeners_[fd] = port;
  }

  void watch(int fd, uint32_t events, int op = EPOLL_CTL_ADD) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, op, fd, &ev) < 0) die("epoll_ctl");
  }

  void accept_all(int lfd) {
    for (;;) {
      const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: the client times out
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conns_[fd].fd = fd;
      watch(fd, EPOLLIN);
    }
  }

  void close_conn(Conn& c) {
    ::close(c.fd);  // also leaves the epoll set
    conns_.erase(c.fd);
  }

  // The answer of the current second, built once for every node.
  const std::shared_ptr<const std::string>& metrics() {
    const long tick = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count();
    if (!metrics_ || tick != metrics_tick_) {
      metrics_ = std::make_shared<const std::string>(http_answer("text/plain; version=0.0.4", metrics_body(tick)));
      metrics_tick_ = tick;
    }
    return metrics_;
  }

  void serve(Conn& c, uint32_t events) {
    if (events & (EPOLLERR | EPOLLHUP)) return close_conn(c);
    if (events & EPOLLIN) {
      char buf[16 * 1024];
      for (;;) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return close_conn(c);
        if (errno != EINTR) break;
      }
      // Every complete request head (GETs: no body) gets its answer queued.
      std::size_t at = 0, end;
      while ((end = c.in.find("\r\n\r\n", at)) != std::string::npos) {
        std::string_view head(c.in.data() + at, end - at);
        const std::size_t sp = head.find(' ');
        std::string_view path = sp == std::string_view::npos ? "" : head.substr(sp + 1);
        path = path.substr(0, path.find(' '));
        if (path == "/metrics") c.out.push_back(metrics());
        else if (path == "/readyz") c.out.push_back(readyz_);
        else c.out.push_back(healthz_);
        at = end + 4;
      }
      c.in.erase(0, at);
      if (c.in.size() > 64 * 1024) return close_conn(c);
    }
    flush(c);
  }

  void flush(Conn& c) {
    const bool was_blocked = c.blocked;
    while (!c.out.empty()) {
      const std::string& s = *c.out.front();
      const ssize_t n = ::send(c.fd, s.data() + c.sent, s.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return close_conn(c);
      }
      c.sent += static_cast<std::size_t>(n);
      if (c.sent == s.size()) {
        c.out.erase(c.out.begin());
        c.sent = 0;
      }
    }
    c.blocked = !c.out.empty();
    if (c.blocked != was_blocked) watch(c.fd, c.blocked ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
  }

  Clock::time_point start_;
  int epfd_ = -1;
  std::unordered_map<int, int> listeners_;  // fd -> port
  std::unordered_map<int, Conn> conns_;
  std::shared_ptr<const std::string> healthz_, readyz_, metrics_;
  long metrics_tick_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  int first = 0, count = 500, seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--first-port") first = v;
    else if (k == "--count") count = v;
    else if (k == "--seconds") seconds = v;
    else {
      std::fprintf(stderr, "usage: fleet --first-port PORT [--count N] [--seconds S]\n");
      return 2;
    }
  }
  if (first <= 0 || count <= 0 || first + count > 65536) {
    std::fprintf(stderr, "fleet: --first-port PORT is required (and PORT + --count <= 65536)\n");
    return 2;
  }
  rlimit nofile{};  // a listener per node and a few connections each
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  Fleet fleet(first, count);
  std::printf("fleet: %d nodes on 127.0.0.1:%d..%d, /metrics %zu bytes\n", count, first, first + count - 1,
              metrics_body(0).size());
  std::fflush(stdout);
  fleet.run(Clock::now() + std::chrono::seconds(seconds));
  return 0;
}
