#pragma once
// Per-route rate limits: a token bucket per route and worker (nothing shared
// between threads), and the middleware that answers 429 when it is empty.
//
//   RateLimit node_wide{.per_second = 200, .burst = 50};
//   auto limiter = std::make_shared<RateLimiter>(share_per_worker(node_wide, w.count), w.metrics);
//   router.post("/v1/orders", rate_limit(create_order, limiter));
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "core/async.hpp"
#include "core/http/message.hpp"
#include "core/http/router.hpp"
#include "core/metrics.hpp"

namespace dine::http {

struct RateLimit {
  double per_second = 0;  // sustained rate; > 0
  std::size_t burst = 1;  // requests allowed at once after a quiet spell; >= 1
};

// One worker's share of a node-wide limit: per_second / workers (a rate needs
// no rounding) and burst / workers rounded down, at least 1. The sum over the
// workers never exceeds the node-wide burst unless that is below the worker count.
RateLimit share_per_worker(RateLimit node_wide, int workers);

// A token bucket of `burst` tokens refilled at `per_second`; it starts full.
// Kept as the time at which it will be full again (GCRA), so it is integer
// arithmetic on the clock's ticks and needs no refill step. One thread only.
class TokenBucket {
 public:
  using Now = std::function<Clock::time_point()>;

  // Throws std::invalid_argument unless per_second > 0 (and finite), burst >= 1,
  // and burst / per_second is under a year.
  explicit TokenBucket(RateLimit limit, Now now = &Clock::now);

  // Takes a token when there is one.
  bool try_take();
  // How long until a token is available; zero when one is.
  Clock::duration wait() const;
  // Tokens available now (fractional while refilling).
  double available() const;

  const RateLimit& limit() const { return limit_; }

 private:
  RateLimit limit_;
  Now now_;
  Clock::duration interval_;   // one token's worth of time: 1 / per_second
  Clock::duration capacity_;   // burst * interval_
  Clock::time_point full_at_;  // when the bucket is full again; in the past when it is full
};

// Whole seconds a client should wait for `wait`: rounded up, at least 1.
int retry_after_seconds(Clock::duration wait);

// One route's limit on one worker, with its refusal counter.
class RateLimiter {
 public:
  // Registers dine_http_refused_total{reason="rate_limited"} when given a registry.
  explicit RateLimiter(RateLimit per_worker, metrics::Registry* registry = nullptr,
                       TokenBucket::Now now = &Clock::now);

  // Nothing when a token was taken; otherwise the 429 rate_limited response
  // with Retry-After (seconds until the next token, rounded up, at least 1).
  std::optional<Response> admit(const Request& req);

  TokenBucket& bucket() { return bucket_; }

 private:
  TokenBucket bucket_;
  metrics::Counter* refused_ = nullptr;
};

// Runs `inner` when `limiter` has a token for the request. The limiter belongs
// to one worker (one Router): make one per route in each worker's setup.
Handler rate_limit(Handler inner, std::shared_ptr<RateLimiter> limiter);

}  // namespace dine::http
