#include "core/runtime/liveness.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace dine::runtime {

namespace {
int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }
}  // namespace

Liveness::Liveness(int workers, milliseconds wedged_after, metrics::Registry& metrics)
    : slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(workers))), workers_(workers), wedged_after_(wedged_after) {
  for (int i = 0; i < workers; ++i) {
    slots_[i].last_tick_ns.store(now_ns());
    metrics.gauge_fn("dine_event_loop_lag_seconds", "How far behind this worker's event loop is (computed at scrape)",
                     {{"worker", std::to_string(i)}}, [this, i] { return lag_seconds(i); });
  }
}

Task<void> Liveness::tick(int i) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  Slot& s = slots_[i];
  for (;;) {
    auto planned = Clock::now() + kPeriod;
    timer.expires_at(planned);
    co_await timer.async_wait(asio::use_awaitable);
    int64_t now = now_ns();
    s.late_ns.store(std::max<int64_t>(0, now - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   planned.time_since_epoch()).count()),
                    std::memory_order_relaxed);
    s.last_tick_ns.store(now, std::memory_order_relaxed);
  }
}

double Liveness::lag_seconds(int i) const {
  const Slot& s = slots_[i];
  int64_t since = now_ns() - s.last_tick_ns.load(std::memory_order_relaxed) -
                  std::chrono::duration_cast<std::chrono::nanoseconds>(kPeriod).count();
  int64_t lag = std::max<int64_t>({since, s.late_ns.load(std::memory_order_relaxed), 0});
  return static_cast<double>(lag) / 1e9;
}

std::pair<int, nlohmann::json> Liveness::report() const {
  nlohmann::json wedged = nlohmann::json::array();
  for (int i = 0; i < workers_; ++i) {
    int64_t stalled_ms = (now_ns() - slots_[i].last_tick_ns.load(std::memory_order_relaxed)) / 1'000'000;
    if (stalled_ms > wedged_after_.count()) wedged.push_back({{"worker", i}, {"stalled_ms", stalled_ms}});
  }
  if (wedged.empty()) return {200, {{"status", "ok"}, {"workers", workers_}}};
  return {503, {{"status", "wedged"}, {"workers", workers_}, {"wedged", wedged}}};
}

}  // namespace dine::runtime
