#pragma once
// The gateway tests' pieces: app nodes (dine's own HTTP server on a thread
// of its own, routes that echo what reached them), a real nginx rendered from
// a topology by the code `dine up` uses, a raw HTTP client that sends what a
// well-behaved client never would, and a raw upstream that upgrades.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/http/router.hpp"
#include "core/http/server.hpp"
#include "core/metrics.hpp"
#include "core/stack/access_log.hpp"
#include "core/stack/nginx_server.hpp"
#include "core/topology.hpp"

namespace dine::gateway_test {

using nlohmann::json;

// An app node: public routes that echo what reached them, and internal
// routes (/v1/orders/{id}, /metrics, /readyz, /healthz) that answer 200 here,
// so a 404 through the gateway can only be the gateway's.
//   GET  /api/v1/orders/{id}  {"node", "target", "request_id", "x_request_id", "forwarded_for", "budget", "authorization"}
//   POST /api/v1/orders       {"node", "body_bytes"}
class AppNode {
 public:
  explicit AppNode(std::string name);
  ~AppNode();
  AppNode(const AppNode&) = delete;
  AppNode& operator=(const AppNode&) = delete;

  int port() const { return port_; }
  const std::string& name() const { return name_; }
  int hits() const { return hits_->load(); }  // requests its handlers ran
  // Stops listening and closes its connections: connections are refused from then on.
  void stop();

 private:
  std::string name_;
  std::shared_ptr<std::atomic<int>> hits_ = std::make_shared<std::atomic<int>>(0);
  asio::io_context ctx_;
  metrics::Registry registry_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

// A gateway node gw-1 in front of app nodes on `app_ports`, from a topology
// with the given "gateway" section and gw-1 limits; `gateways` nginx nodes in
// all (only gw-1 runs). Rendered, checked with nginx -t and started as dine up
// does; stopped when destroyed.
struct GatewaySpec {
  std::vector<int> app_ports;
  json section = json::object();
  json limits = json::object();
  int gateways = 1;
};

class Gateway {
 public:
  explicit Gateway(const GatewaySpec& spec);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  int port() const { return nginx_.port; }
  pid_t pid() const { return nginx_.pid; }
  const stack::NginxPaths& paths() const { return nginx_.paths; }
  const Topology& topology() const { return topo_; }
  const std::string& conf() const { return conf_; }
  std::vector<std::string> access_log_lines() const;
  std::string error_log() const;

 private:
  Topology topo_;
  std::string conf_;
  stack::NginxInstance nginx_;
};

// --- raw HTTP ----------------------------------------------------------------

struct Answer {
  int status = 0;  // 0: no answer (error says why)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string raw;  // everything that arrived
  std::string error;
  milliseconds took{0};

  std::string header(const std::string& lower_name) const;  // "" when absent
  int count(const std::string& lower_name) const;
  json j() const { return json::parse(body, nullptr, false); }
  std::string error_code() const;  // the "error" of a JSON body, "" otherwise
};
std::ostream& operator<<(std::ostream& os, const Answer& a);

// Sends `bytes` on a fresh connection and reads until the peer closes.
Answer send_raw(int port, const std::string& bytes, milliseconds timeout = milliseconds(5000));
// A request with Connection: close; `headers` are whole lines without CRLF.
Answer request(int port, const std::string& method, const std::string& target,
               const std::vector<std::string>& headers = {}, const std::string& body = "");

// A socket connected to 127.0.0.1:port, blocking, with `timeout` on reads; -1 on failure.
int connect_to(int port, milliseconds timeout);

// --- a raw upstream that accepts WebSocket upgrades --------------------------

// Accepts connections one at a time: answers a request carrying
// "Upgrade: websocket" and "Connection: upgrade" with 101 and then echoes
// every byte back; any other request gets 400. Records each request head.
class UpgradeEcho {
 public:
  UpgradeEcho();
  ~UpgradeEcho();
  int port() const { return port_; }
  std::vector<std::string> heads() const;

 private:
  void serve(int fd);
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::thread thread_;
};

}  // namespace dine::gateway_test
