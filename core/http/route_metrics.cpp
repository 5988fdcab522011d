#include "core/http/route_metrics.hpp"

#include <array>

namespace dine::http {

namespace {

std::string_view method_label(std::string_view m) {
  static constexpr std::array<std::string_view, 7> kKnown = {"GET",   "POST", "PUT",    "DELETE",
                                                             "PATCH", "HEAD", "OPTIONS"};
  for (auto k : kKnown)
    if (k == m) return k;
  return "OTHER";
}

}  // namespace

RouteMetrics::RouteMetrics(metrics::Registry& registry)
    : in_flight(registry.gauge("dine_http_in_flight", "HTTP requests being handled")),
      connections(registry.gauge("dine_http_connections", "Open HTTP server connections")),
      registry_(registry) {}

void RouteMetrics::record(std::string_view route, std::string_view method, int status,
                          double seconds) {
  method = method_label(method);
  key_.assign(route);
  key_.push_back('\x1f');
  key_.append(method);
  auto it = routes_.find(key_);
  if (it == routes_.end()) {
    Route r;
    r.duration = &registry_.histogram("dine_http_request_duration_seconds",
                                      "HTTP request latency by route pattern",
                                      {{"route", std::string(route)}, {"method", std::string(method)}});
    it = routes_.emplace(key_, std::move(r)).first;
  }
  Route& r = it->second;
  r.duration->observe(seconds);
  for (auto& [st, counter] : r.by_status) {
    if (st == status) {
      counter->inc();
      return;
    }
  }
  auto& c = registry_.counter(
      "dine_http_requests_total", "HTTP requests by route pattern, method and status",
      {{"route", std::string(route)}, {"method", std::string(method)}, {"status", std::to_string(status)}});
  r.by_status.emplace_back(status, &c);
  c.inc();
}

}  // namespace dine::http
