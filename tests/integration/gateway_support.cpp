#include "tests/integration/gateway_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "core/http/message.hpp"
#include "core/stack/process.hpp"
#include "tests/integration/harness.hpp"

namespace dine::gateway_test {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Task<http::Response> echo_order(std::string node, std::shared_ptr<std::atomic<int>> hits, http::Request& req) {
  ++*hits;
  auto header = [&](std::string_view name) -> json {
    for (const auto& [k, v] : req.headers)
      if (k == name) return v;
    return nullptr;
  };
  json body = {{"node", node},
               {"target", req.target},
               {"request_id", req.ctx.request_id},
               {"x_request_id", header("x-request-id")},
               {"forwarded_for", header("x-forwarded-for")},
               {"budget", header("x-request-budget-ms")},
               {"authorization", header("authorization")}};
  co_return http::Response::json(200, body);
}

Task<http::Response> create_order(std::string node, std::shared_ptr<std::atomic<int>> hits, http::Request& req) {
  ++*hits;
  json body = {{"node", node}, {"body_bytes", req.body.size()}};
  co_return http::Response::json(201, body);
}

Task<http::Response> internal(std::string node, std::shared_ptr<std::atomic<int>> hits, http::Request& req) {
  ++*hits;
  json body = {{"node", node}, {"internal", req.path}};
  co_return http::Response::json(200, body);
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// "5\r\nhello\r\n0\r\n\r\n" -> "hello"
std::string dechunk(const std::string& s) {
  std::string out;
  std::size_t at = 0;
  while (at < s.size()) {
    auto eol = s.find("\r\n", at);
    if (eol == std::string::npos) break;
    std::size_t n = std::stoul(s.substr(at, eol - at), nullptr, 16);
    if (n == 0) break;
    out += s.substr(eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return out;
}

Answer parse_answer(std::string raw) {
  Answer a;
  a.raw = std::move(raw);
  auto end = a.raw.find("\r\n\r\n");
  if (a.raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || a.raw.size() < 12) {
    a.error = a.raw.empty() ? "no answer" : "not an HTTP answer";
    return a;
  }
  a.status = std::stoi(a.raw.substr(9, 3));
  std::istringstream head(a.raw.substr(0, end));
  std::string line;
  std::getline(head, line);  // status line
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    a.headers.emplace_back(lower(line.substr(0, colon)), value);
  }
  a.body = a.raw.substr(end + 4);
  if (lower(a.header("transfer-encoding")) == "chunked") a.body = dechunk(a.body);
  return a;
}

}  // namespace

// --- AppNode -------------------------------------------------------------------

AppNode::AppNode(std::string name) : name_(std::move(name)) {
  auto hits = hits_;
  const std::string node = name_;
  router_.get("/api/v1/orders/{id}", [node, hits](http::Request& req) { return echo_order(node, hits, req); });
  router_.post("/api/v1/orders", [node, hits](http::Request& req) { return create_order(node, hits, req); });
  for (const char* path : {"/v1/orders/{id}", "/metrics", "/readyz", "/healthz"})
    router_.get(path, [node, hits](http::Request& req) { return internal(node, hits, req); });
  http::ServerLimits limits;
  server_ = std::make_unique<http::Server>(ctx_.get_executor(), router_, registry_, limits);
  server_->listen("127.0.0.1", 0, false);
  port_ = server_->port();
  server_->start();
  thread_ = std::thread([this] {
    ctx_.run();
    finished_ = true;
  });
}

AppNode::~AppNode() { stop(); }

void AppNode::stop() {
  if (!thread_.joinable()) return;
  asio::post(ctx_, [this] { server_->stop(); });
  if (!test::eventually([this] { return finished_.load(); }, milliseconds(5000))) ctx_.stop();
  thread_.join();
}

// --- Gateway -------------------------------------------------------------------

Gateway::Gateway(const GatewaySpec& spec) {
  // Workers of an earlier test process that was killed outlive their master.
  static const int swept = stack::kill_orphaned_workers("/tmp/dine-test-");
  (void)swept;
  static int made = 0;
  const std::string dir = fmt::format("{}/gateway-{}", test::Harness::get().temp_dir(), ++made);
  json nodes = json::array();
  json apps = json::array();
  for (std::size_t i = 0; i < spec.app_ports.size(); ++i) {
    const std::string id = fmt::format("app-{}", i + 1);
    apps.push_back(id);
    nodes.push_back({{"id", id}, {"kind", "dine"}, {"role", "app"}, {"port", spec.app_ports[i]},
                     {"node_id", static_cast<int>(i) + 1}});
  }
  for (int g = 1; g <= spec.gateways; ++g) {
    json gw = {{"id", fmt::format("gw-{}", g)}, {"kind", "nginx"}, {"port", stack::free_port()}, {"uses", {{"app", apps}}}};
    if (g == 1 && !spec.limits.empty()) gw["limits"] = spec.limits;
    nodes.push_back(gw);
  }
  json doc = {{"name", "gateway-test"}, {"gateway", spec.section}, {"nodes", nodes}};
  topo_ = parse_topology(doc.dump(2), dir + "/topology.json");
  resolve_hosts(topo_);
  const Node& gw = topo_.node("gw-1");
  nginx_.paths = stack::nginx_paths(topo_, gw, dir);
  nginx_.host = gw.host;
  nginx_.port = gw.port;
  nginx_.die_with_parent = true;
  conf_ = stack::render_nginx_conf(topo_, gw, nginx_.paths, stack::nginx_worker_user());
  stack::nginx_write(nginx_.paths, conf_);
  auto check = stack::nginx_check(nginx_.paths);
  if (!check.ok) throw std::runtime_error("nginx -t refused the rendered config: " + check.output);
  stack::nginx_start(nginx_);
}

Gateway::~Gateway() { stack::nginx_stop(nginx_); }

std::vector<std::string> Gateway::access_log_lines() const {
  std::ifstream in(nginx_.paths.access_log());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string Gateway::error_log() const { return stack::tail_file(nginx_.paths.error_log(), 40); }

// --- raw HTTP ----------------------------------------------------------------------

std::string Answer::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

int Answer::count(const std::string& name) const {
  return static_cast<int>(std::count_if(headers.begin(), headers.end(), [&](const auto& kv) { return kv.first == name; }));
}

std::string Answer::error_code() const {
  auto b = j();
  return b.is_object() && b.contains("error") && b["error"].is_string() ? b["error"].get<std::string>() : "";
}

std::ostream& operator<<(std::ostream& os, const Answer& a) {
  return os << "HTTP " << a.status << " in " << a.took.count() << " ms: " << a.raw.substr(0, 600) << a.error;
}

int connect_to(int port, milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

Answer send_raw(int port, const std::string& bytes, milliseconds timeout) {
  const auto start = Clock::now();
  int fd = connect_to(port, timeout);
  if (fd < 0) {
    Answer a;
    a.error = std::string("connect: ") + std::strerror(errno);
    return a;
  }
  write_all(fd, bytes);
  std::string raw;
  char buf[16384];
  const Deadline deadline = deadline_in(timeout);
  std::string why;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<std::size_t>(n));
    } else {
      if (n < 0) why = fmt::format(" (recv: {})", std::strerror(errno));
      break;
    }
    if (Clock::now() >= deadline) {
      why = " (no close before the deadline)";
      break;
    }
  }
  ::close(fd);
  Answer a = parse_answer(std::move(raw));
  a.error += why;
  a.took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return a;
}

Answer request(int port, const std::string& method, const std::string& target, const std::vector<std::string>& headers,
               const std::string& body) {
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n", method, target);
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST") req += fmt::format("Content-Length: {}\r\n", body.size());
  req += "\r\n" + body;
  return send_raw(port, req);
}

// --- UpgradeEcho -------------------------------------------------------------------

UpgradeEcho::UpgradeEcho() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error(std::string("upgrade echo: cannot listen: ") + std::strerror(errno));
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval tv{0, 100 * 1000};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      serve(fd);
      ::close(fd);
    }
  });
}

UpgradeEcho::~UpgradeEcho() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

std::vector<std::string> UpgradeEcho::heads() const {
  std::lock_guard lock(mu_);
  return heads_;
}

void UpgradeEcho::serve(int fd) {
  std::string data;
  char buf[4096];
  while (data.find("\r\n\r\n") == std::string::npos && !stopping_) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return;
    if (n > 0) data.append(buf, static_cast<std::size_t>(n));
  }
  const std::string head = data.substr(0, data.find("\r\n\r\n"));
  {
    std::lock_guard lock(mu_);
    heads_.push_back(head);
  }
  const std::string h = lower(head);
  if (h.find("\r\nupgrade: websocket") == std::string::npos || h.find("\r\nconnection: upgrade") == std::string::npos) {
    write_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  write_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  data.erase(0, data.find("\r\n\r\n") + 4);
  if (!data.empty()) write_all(fd, data);
  while (!stopping_) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return;
    if (n > 0) write_all(fd, std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

}  // namespace dine::gateway_test
