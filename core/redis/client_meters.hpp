#pragma once
// Private to core/redis: a Client's own figures. The plain counts serve
// figures() on the client's thread; the instruments (when a registry is
// given) are updated at the same moments and read lock-free by /metrics.
#include <string>

#include "core/metrics.hpp"
#include "core/redis/client.hpp"

namespace dine::redis::detail {

class ClientMeters {
 public:
  ClientMeters(metrics::Registry* registry, const std::string& name, int worker) {
    if (!registry) return;
    metrics::Labels l{{"redis", name}, {"worker", std::to_string(worker)}};
    connected_ = &registry->gauge("dine_redis_connected", "1 when the Redis connection is up", l);
    in_flight_ = &registry->gauge("dine_redis_in_flight", "Commands awaiting a reply", l);
    commands_ = &registry->counter("dine_redis_commands_total", "Commands sent", l);
    errors_ = &registry->counter("dine_redis_errors_total",
                                 "Connection failures and timeouts (not Redis error replies)", l);
    reconnects_ = &registry->counter("dine_redis_reconnects_total", "Connections made after the first", l);
  }

  void sent() {
    ++fig_.commands;
    ++fig_.in_flight;
    if (commands_) commands_->inc();
    if (in_flight_) in_flight_->set(double(fig_.in_flight));
  }
  void answered() {  // a reply, or the loss of the connection, for one sent command
    --fig_.in_flight;
    if (in_flight_) in_flight_->set(double(fig_.in_flight));
  }
  void error() {
    ++fig_.errors;
    if (errors_) errors_->inc();
  }
  void connected(bool up, bool reconnect) {
    if (reconnect) {
      ++fig_.reconnects;
      if (reconnects_) reconnects_->inc();
    }
    if (connected_) connected_->set(up ? 1 : 0);
  }

  const ClientFigures& figures() const { return fig_; }

 private:
  ClientFigures fig_;
  metrics::Gauge* connected_ = nullptr;
  metrics::Gauge* in_flight_ = nullptr;
  metrics::Counter* commands_ = nullptr;
  metrics::Counter* errors_ = nullptr;
  metrics::Counter* reconnects_ = nullptr;
};

}  // namespace dine::redis::detail
