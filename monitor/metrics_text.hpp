#pragma once
// A dine node's /metrics (Prometheus text) read back into the figures health
// scores: pure, unit-tested. Rates (errors, p99) come from the difference
// between two scrapes, so a node's history does not hide its present.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dine::monitor {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
using Samples = std::vector<Sample>;

// Skips comments, blank and malformed lines. With `only_prefixes`, also every
// sample whose name starts with none of them (cheap: a node's /metrics is
// tens of KB, and a board reads hundreds of them a second).
Samples parse_prometheus(std::string_view text, const std::vector<std::string_view>& only_prefixes = {});
// The names figures_of reads.
const std::vector<std::string_view>& scored_prefixes();

// The figures of health.hpp's Observation from a scrape, and the previous one
// for rates (without it, only gauges):
//   requests, error_rate     5xx / requests since the last scrape (at least min_requests)
//   p99_ms                   from dine_http_request_duration_seconds buckets since then
//   loop_lag_ms              the slowest worker's event-loop lag
//   pool_busy, pool_size     PostgreSQL connections in use and open, summed over pools
//   pool_waiting             callers waiting for a connection
//   outbox_backlog, outbox_oldest_s, stream_lag, stream_pending, dead_letters
// Routes /healthz, /readyz and /metrics are left out of requests and latency
// (the probes' own calls).
std::map<std::string, double> figures_of(const Samples& now, const Samples* before, double min_requests = 20);

}  // namespace dine::monitor
