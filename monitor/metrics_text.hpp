#pragma once
// A dine node's /metrics (Prometheus text) read back into the figures health
// scores: pure, unit-tested. Rates (errors, p99) come from the difference
// between two scrapes, so a node's history does not hide its present.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dine::monitor {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
using Samples = std::vector<Sample>;

// Skips comments, blank and malformed lines. With `only_prefixes`, also every
// sample whose name starts with none of them.
Samples parse_prometheus(std::string_view text, const std::vector<std::string_view>& only_prefixes = {});

// What figures_of reads of one scrape, summed while reading: a few numbers
// whatever the size of the /metrics. A node's /metrics is tens of KB and a
// board reads hundreds of them a second, so scrape_of(text) reads it in one
// pass that allocates nothing for the lines it skips (every name figures_of
// does not read) nor for the labels of those it keeps.
// A PostgreSQL server's pools, as one node's /metrics shows them.
struct PoolSums {
  double connections = 0, max_connections = 0, idle = 0, waiting = 0;
};

// The labels scrape_of reads ("" when absent).
struct LabelView {
  std::string_view route, status, le;
  std::string_view pool;    // "pg-order-0" or "pg-main/member": the PostgreSQL node before '/'
  std::string_view outbox;  // the outbox's name (its shard)
};

struct Scrape {
  double requests = 0;  // dine_http_requests_total, the probes' own routes left out
  double errors = 0;    // of those, status 5xx
  std::vector<std::pair<double, double>> buckets;  // le -> count summed over routes (same routes), by le
  double loop_lag_s = -1;                           // the slowest worker; -1: none
  double outbox_backlog = 0;
  double outbox_oldest_s = -1, stream_lag = -1, stream_pending = -1, dead_letters = -1;  // max; -1: none
  std::vector<std::pair<std::string, PoolSums>> pools;  // by PostgreSQL node (the pool label before '/')
  std::string outbox_oldest_of;                          // the outbox whose row is the oldest unsent
  double in_flight = 0, connections = 0;  // HTTP requests being handled, server connections open
  double cap_admitted = 0, cap_max = 0;   // under the node's in-flight cap (0: no cap)

  // One sample and its labels.
  void add(std::string_view name, const LabelView& labels, double value);
};
Scrape scrape_of(std::string_view text);
Scrape scrape_of(const Samples& samples);

// The figures of health.hpp's Observation from a scrape, and the previous one
// for rates (without it, only gauges):
//   requests, error_rate     5xx / requests since the last scrape (at least min_requests)
//   p99_ms                   from dine_http_request_duration_seconds buckets since then
//   loop_lag_ms              the slowest worker's event-loop lag
//   pool_busy, pool_size     PostgreSQL connections in use and open, summed over pools
//   pool_waiting             callers waiting for a connection
//   outbox_backlog, outbox_oldest_s, stream_lag, stream_pending, dead_letters
//   in_flight, http_connections  requests being handled (the probe's own left out), connections open
//   in_flight_admitted, in_flight_cap  places taken under the node's in-flight cap, and the cap
// Routes /healthz, /readyz and /metrics are left out of requests and latency
// (the probes' own calls).
std::map<std::string, double> figures_of(const Scrape& now, const Scrape* before, double min_requests = 20);
std::map<std::string, double> figures_of(const Samples& now, const Samples* before, double min_requests = 20);

}  // namespace dine::monitor
