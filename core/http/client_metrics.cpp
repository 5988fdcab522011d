#include "core/http/client_metrics.hpp"

namespace dine::http {

UpstreamMetrics::UpstreamMetrics(metrics::Registry& r, const std::string& upstream,
                                 const std::string& worker) {
  auto labels = [&](const char* key = nullptr, std::string value = {}) {
    metrics::Labels l{{"upstream", upstream}, {"worker", worker}};
    if (key) l.emplace_back(key, std::move(value));
    return l;
  };
  for (std::size_t i = 0; i < by_class_.size(); ++i) {
    by_class_[i] = &r.counter("dine_http_client_requests_total",
                              "HTTP client answers by upstream and status class",
                              labels("class", std::to_string(i + 1) + "xx"));
  }
  static constexpr std::array<const char*, 3> kKinds = {"connect", "timeout", "broken"};
  for (std::size_t i = 0; i < failures_.size(); ++i) {
    failures_[i] = &r.counter("dine_http_client_failures_total",
                              "HTTP client attempts that got no answer, by kind", labels("kind", kKinds[i]));
  }
  static constexpr std::array<const char*, 2> kWhy = {"closed_by_peer", "idle_timeout"};
  for (std::size_t i = 0; i < discards_.size(); ++i) {
    discards_[i] = &r.counter("dine_http_client_discarded_total",
                              "Idle keep-alive connections closed instead of reused", labels("reason", kWhy[i]));
  }
  retries_ = &r.counter("dine_http_client_retries_total", "HTTP client retries of idempotent calls", labels());
  open_ = &r.gauge("dine_http_client_connections", "HTTP client connections open or being opened", labels());
  idle_ = &r.gauge("dine_http_client_idle_connections", "HTTP client idle keep-alive connections", labels());
}

void UpstreamMetrics::answer(int status) {
  int i = status / 100 - 1;
  if (i >= 0 && i < static_cast<int>(by_class_.size()) && by_class_[static_cast<std::size_t>(i)])
    by_class_[static_cast<std::size_t>(i)]->inc();
}

void UpstreamMetrics::failure(UpstreamFailure kind) {
  if (auto* c = failures_[static_cast<std::size_t>(kind)]) c->inc();
}

void UpstreamMetrics::retry() {
  if (retries_) retries_->inc();
}

void UpstreamMetrics::discard(Discard why) {
  if (auto* c = discards_[static_cast<std::size_t>(why)]) c->inc();
}

void UpstreamMetrics::open_delta(int d) {
  if (open_) open_->add(d);
}

void UpstreamMetrics::idle_delta(int d) {
  if (idle_) idle_->add(d);
}

}  // namespace dine::http
