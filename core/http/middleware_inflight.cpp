#include "core/http/middleware_inflight.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include "core/http/middleware.hpp"
#include "core/log.hpp"

namespace dine::http {

namespace {

const log::Logger& logger() {
  static const log::Logger l("http");
  return l;
}

// Holds `slot` while `inner` runs: the frame, and the slot with it, goes when
// the Task completes, throws or is destroyed unfinished (cancellation).
Task<Response> holding(InFlightLimit::Slot slot, Task<Response> inner) { co_return co_await std::move(inner); }

}  // namespace

InFlightLimit::InFlightLimit(std::size_t max, metrics::Registry* registry)
    : max_(max), count_(std::make_shared<std::atomic<std::size_t>>(0)), refused_(refused_counter(registry, "overloaded")) {
  if (max == 0) throw std::invalid_argument("InFlightLimit: max must be at least 1");
  if (registry != nullptr) {
    registry->gauge_fn("dine_http_in_flight_admitted", "Requests holding a place under the node's in-flight cap", {},
                       [count = count_] { return double(count->load(std::memory_order_relaxed)); });
    registry->gauge_fn("dine_http_in_flight_max", "The node's cap on requests in flight", {},
                       [max] { return double(max); });
  }
}

InFlightLimit::Slot& InFlightLimit::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
  }
  return *this;
}

void InFlightLimit::Slot::release() noexcept {
  if (owner_ != nullptr) owner_->count_->fetch_sub(1, std::memory_order_relaxed);
  owner_ = nullptr;
}

std::optional<InFlightLimit::Slot> InFlightLimit::try_acquire() {
  // Compare-and-swap rather than add-then-undo: a refused request never
  // raises the count, so it never makes another one look over the cap.
  std::size_t cur = count_->load(std::memory_order_relaxed);
  while (cur < max_) {
    if (count_->compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) return Slot(this);
  }
  if (refused_ != nullptr) refused_->inc();
  return std::nullopt;
}

std::optional<Response> InFlightLimit::admit(const Request& req, std::optional<Slot>& slot) {
  slot = try_acquire();
  if (slot) return std::nullopt;
  logger().warn_limited("overloaded", {{"route", req.route},
                                       {"request_id", req.ctx.request_id},
                                       {"max_in_flight", std::to_string(max_)}});
  Response r = Response::error(503, "overloaded", "the server is busy; retry in a second", req.ctx.request_id);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

Handler limit_in_flight(Handler inner, std::shared_ptr<InFlightLimit> limit) {
  if (!inner || !limit) throw std::invalid_argument("limit_in_flight: a handler and an InFlightLimit are required");
  // Not a coroutine itself: the slot is taken now and moves into holding()'s
  // frame; if inner throws before returning its Task, the slot goes with this call.
  return [inner = std::move(inner), limit = std::move(limit)](Request& req) -> Task<Response> {
    std::optional<InFlightLimit::Slot> slot;
    if (auto refused = limit->admit(req, slot)) return ready(std::move(*refused));
    return holding(std::move(*slot), inner(req));
  };
}

}  // namespace dine::http
