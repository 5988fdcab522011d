#pragma once
// A node-wide cap on the requests being handled at once: one InFlightLimit
// shared by every worker of the node (an atomic count, no lock), and the
// middleware that answers 503 overloaded above it.
//
//   // once per node, in the first worker's setup (the registry exists by then):
//   if (!shared.cap) shared.cap = std::make_shared<InFlightLimit>(512, w.metrics);
//   router.post("/v1/orders", limit_in_flight(create_order, shared.cap));
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include "core/http/message.hpp"
#include "core/http/router.hpp"
#include "core/metrics.hpp"

namespace dine::http {

class InFlightLimit {
 public:
  // Registers dine_http_refused_total{reason="overloaded"} and the gauges
  // dine_http_in_flight_admitted and dine_http_in_flight_max when given a
  // registry. Throws std::invalid_argument when max is 0.
  explicit InFlightLimit(std::size_t max, metrics::Registry* registry = nullptr);
  InFlightLimit(const InFlightLimit&) = delete;
  InFlightLimit& operator=(const InFlightLimit&) = delete;

  // A held place under the cap, given back when destroyed (the handler
  // finished, threw or was cancelled). The limit must outlive its slots.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

   private:
    friend class InFlightLimit;
    explicit Slot(InFlightLimit* owner) : owner_(owner) {}
    void release() noexcept;
    InFlightLimit* owner_;
  };

  // A slot, or nothing (counted as refused) when `max` are held.
  std::optional<Slot> try_acquire();

  // Nothing with `slot` filled, or the 503 overloaded response (Retry-After: 1).
  std::optional<Response> admit(const Request& req, std::optional<Slot>& slot);

  std::size_t current() const { return count_->load(std::memory_order_relaxed); }
  std::size_t max() const { return max_; }

 private:
  std::size_t max_;
  // Shared with the registry's gauge, which may be read after this is gone.
  std::shared_ptr<std::atomic<std::size_t>> count_;
  metrics::Counter* refused_ = nullptr;
};

// Runs `inner` holding a slot of `limit` until its Task completes.
Handler limit_in_flight(Handler inner, std::shared_ptr<InFlightLimit> limit);

}  // namespace dine::http
