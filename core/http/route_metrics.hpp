#pragma once
// Per-route HTTP server metrics: requests by route pattern, method and status,
// latency by route pattern and method, in-flight requests and open connections.
// One instance per Server (one thread): the instrument lookups are cached here
// without a lock; the instruments themselves are shared through the Registry.
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/metrics.hpp"

namespace dine::http {

class RouteMetrics {
 public:
  explicit RouteMetrics(metrics::Registry& registry);

  // `method` outside the standard ones is recorded as "OTHER" (bounded series).
  void record(std::string_view route, std::string_view method, int status, double seconds);

  metrics::Gauge& in_flight;
  metrics::Gauge& connections;

 private:
  struct Route {
    metrics::Histogram* duration = nullptr;
    std::vector<std::pair<int, metrics::Counter*>> by_status;
  };
  metrics::Registry& registry_;
  std::unordered_map<std::string, Route> routes_;  // key: route '\x1f' method
  std::string key_;                                // reused for lookups
};

}  // namespace dine::http
