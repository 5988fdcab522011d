#pragma once
// What every dine node runs on: N worker threads, each with its own
// io_context, its own HTTP server on the node's port (SO_REUSEPORT), its own
// clients of the role's dependencies (shared nothing: no locks on the request
// path) and its own background components; plus a control thread for signals
// and readiness probes. Built in on every node: GET /healthz (every worker's
// loop ticks), GET /readyz (dependencies, probed off the request path) and
// GET /metrics (Prometheus text); with Options::fault_routes (tests only)
// POST /test/wedge.
//
// Start: config parsed and checked, the node lock taken (a node runs once),
// clients made, the role's setup per worker, every listener bound, then the
// components and the workers start. Stop (SIGTERM, SIGINT): stop accepting,
// let requests in flight finish (drain), stop the components in reverse
// order, close the clients, return 0. A worker whose loop throws ends the
// process with exit code 1 at once: half a node must not keep its share of
// the port.
#include "core/async.hpp"
#include "core/runtime/role.hpp"
#include "core/topology.hpp"

namespace dine::runtime {

struct Options {
  int threads = 0;                     // 0: the node's "threads", else the number of cores
  milliseconds drain_timeout{10000};   // how long in-flight requests may take to finish on stop
  milliseconds stop_timeout{5000};     // how long components may take to stop
  milliseconds wedged_after{2000};     // a worker loop silent this long fails /healthz
  // Tests only (`dine serve` sets it when the environment has
  // DINE_TEST_ROUTES=1): POST /test/wedge?ms=N (N <= 30000) blocks the worker
  // thread that takes it, from this machine only, so a test can wedge one
  // worker of a real role and watch /healthz and `dine health` name it.
  bool fault_routes = false;
};

// Runs `role` as `node` until SIGTERM or SIGINT; returns the exit code (0
// after a clean stop). Throws, before serving anything, when the node cannot
// start: NodeTaken (already running, address in use), TopologyError (config,
// dependencies), std::system_error (cannot bind).
int run(const Topology& topo, const Node& node, const RoleDescriptor& role, Options opts = {});

int resolve_threads(const Options& opts, const Node& node);

}  // namespace dine::runtime
