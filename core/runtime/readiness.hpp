#pragma once
// Readiness of a node: every dependency node of its role is probed in
// parallel, once a second, on the runtime's control thread, each probe on its
// own connection (never the request path's pools) under an 800 ms deadline.
// /readyz reads the latest results, so it answers at once whatever the
// dependencies do:
//   200 {"status":"ready"}                          every dependency answers
//   200 {"status":"degraded","degraded":["pg-order-1"]}  a degradable one is down
//   503 {"status":"not_ready"}  a required one is down, every shard of a
//                               degradable sharded one is down, or no fresh result
// A degradable dependency of one node (a cache, a stream) leaves the node
// ready while it is down: the role declared that it serves without it. A
// sharded one is degradable shard by shard; with every shard down the node
// has nothing left to serve.
// Each dependency is listed with its state, latency and, when down, an error
// code (never a host, a port or a server's text).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/async.hpp"
#include "core/runtime/role.hpp"

namespace dine::runtime {

class Readiness {
 public:
  // `recovered(node id)` is called on the control thread when a dependency
  // that was down answers again.
  Readiness(asio::any_io_executor control, const Topology& topo, const Node& self, const RoleDescriptor& role,
            std::function<void(const std::string&)> recovered = nullptr);
  ~Readiness();
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  void start();  // on the control executor: one probe loop per dependency node
  void stop();   // cancels the probe loops (call from the control thread, or before it runs)

  // Thread-safe: the HTTP status (200/503) and the body of /readyz.
  std::pair<int, nlohmann::json> report() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::runtime
