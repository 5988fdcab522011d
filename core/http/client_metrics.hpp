#pragma once
// The HTTP client's figures for one upstream (host:port) on one worker: answers
// by status class, failures by kind, retries, connections closed unused, and
// open and idle connections. Registered once per upstream when a Client first
// calls it; updated lock-free. Without a registry every update is a no-op.
#include <array>
#include <string>

#include "core/metrics.hpp"

namespace dine::http {

enum class UpstreamFailure {
  Connect,  // could not connect (refused, unreachable, unresolved)
  Timeout,  // the call's deadline passed
  Broken,   // the connection failed after it was made (reset, EOF, malformed answer)
};

// Why an idle keep-alive connection was closed instead of reused.
enum class Discard { ClosedByPeer, IdleTimeout };

class UpstreamMetrics {
 public:
  UpstreamMetrics() = default;  // counts nothing
  UpstreamMetrics(metrics::Registry& registry, const std::string& upstream, const std::string& worker);

  void answer(int status);  // 1xx..5xx
  void failure(UpstreamFailure kind);
  void retry();
  void discard(Discard why);
  void open_delta(int d);  // connections open or being opened
  void idle_delta(int d);  // idle keep-alive connections

 private:
  std::array<metrics::Counter*, 5> by_class_{};
  std::array<metrics::Counter*, 3> failures_{};
  std::array<metrics::Counter*, 2> discards_{};
  metrics::Counter* retries_ = nullptr;
  metrics::Gauge* open_ = nullptr;
  metrics::Gauge* idle_ = nullptr;
};

}  // namespace dine::http
