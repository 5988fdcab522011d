#pragma once
// The probes of `dine health`: one per node kind, each under its own
// deadline, each giving an Observation (monitor/health.hpp). A probe never
// throws and never waits past its deadline: a port that accepts and does not
// answer is HUNG, one that refuses is DOWN.
//   dine    GET /healthz (every worker ticking), /readyz (ready, degraded, or
//           a required dependency down), /metrics (figures; rates against
//           the previous scrape)
//   postgres a fresh connection and SELECT 1, then connections against
//           max_connections, long-running and idle-in-transaction sessions
//   redis   a fresh connection, PING, INFO (memory against maxmemory,
//           clients, persistence errors)
//   nginx   GET /gateway/health (nginx's own answer, not logged), and the
//           access log's figures, in all and per interface (route)
// Each kind in its own file (monitor/probe_<kind>.cpp, helpers in
// monitor/probe_support.hpp): a new kind (OMS, push, a network link) is one
// more file with a function of this shape, and one more case in probe().
#include <optional>
#include <string>

#include "core/async.hpp"
#include "monitor/health.hpp"
#include "monitor/metrics_text.hpp"
#include "core/fwd.hpp"

namespace dine::monitor {

struct ProbeOptions {
  milliseconds deadline{800};
  std::string state_dir;          // where the gateways' access logs are ("": the topology's default)
  milliseconds access_window{5000};  // the gateways' figures cover this much of their access logs
};

// What a node's probe keeps between rounds (its last /metrics scrape).
struct ProbeMemory {
  std::optional<Scrape> last_scrape;
};

Task<Observation> probe_dine(http::Client& client, const Node& n, ProbeMemory& memory, ProbeOptions o);
Task<Observation> probe_postgres(const Topology& topo, const Node& n, ProbeOptions o);
Task<Observation> probe_redis(const Node& n, ProbeOptions o);
// Also the gateway's figures from its access log over the last access_window
// (requests/s, 5xx and 429 per second, bytes out/s); a gateway on another
// host: those figures are unknown (a warning, not a failure).
Task<Observation> probe_nginx(const Topology& topo, http::Client& client, const Node& n, ProbeOptions o);

// The probe for the node's kind.
Task<Observation> probe(const Topology& topo, http::Client& client, const Node& n, ProbeMemory& memory,
                        ProbeOptions o);

}  // namespace dine::monitor
