#pragma once
// What every dine node runs on: N worker threads, each with its own
// io_context, its own HTTP server on the node's port (SO_REUSEPORT) and its own
// pools (shared nothing, so no locks on the request path); the built-in
// /healthz, /readyz and /metrics; event-loop lag; graceful stop on SIGTERM.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/async.hpp"
#include "core/http/router.hpp"
#include "core/metrics.hpp"
#include "core/topology.hpp"

namespace dine::runtime {

// A named dependency check for /readyz: throws (any exception) when not ready.
struct ReadyCheck {
  std::string name;  // "pg-order-2", "redis-mq"
  std::function<Task<void>()> check;
};

// Handed to the role once per worker, on the main thread, before the workers run.
struct Worker {
  int index = 0;
  int count = 1;
  asio::any_io_executor executor;
  const Topology* topology = nullptr;
  const Node* node = nullptr;
  metrics::Registry* metrics = nullptr;
  http::Router* router = nullptr;

  // Readiness checks of this worker's dependencies, run by /readyz on this worker.
  std::vector<ReadyCheck>* ready_checks = nullptr;
  // Objects that must live as long as the worker (the role's services).
  std::vector<std::shared_ptr<void>>* keep = nullptr;

  // A share of a node-wide budget: ceil(total / count), at least 1.
  std::size_t share(std::size_t total) const { return std::max<std::size_t>(1, (total + count - 1) / count); }
};

struct Options {
  int threads = 0;                     // 0: the node's "threads", else the number of cores
  milliseconds drain_timeout{10000};   // how long in-flight requests may take to finish on stop
};

// Runs the node until SIGTERM or SIGINT. `setup` is called for each worker.
// Returns the process exit code (0 after a clean stop).
int run(const Topology& topo, const Node& node, Options opts, const std::function<void(Worker&)>& setup);

}  // namespace dine::runtime
