#include "core/http/middleware_rate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
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

}  // namespace

RateLimit share_per_worker(RateLimit node_wide, int workers) {
  if (workers < 1) throw std::invalid_argument("share_per_worker: workers must be at least 1");
  auto n = static_cast<std::size_t>(workers);
  return {node_wide.per_second / workers, std::max<std::size_t>(1, node_wide.burst / n)};
}

TokenBucket::TokenBucket(RateLimit limit, Now now) : limit_(limit), now_(std::move(now)) {
  using std::chrono::duration;
  if (!(limit.per_second > 0) || !std::isfinite(limit.per_second) || limit.burst < 1)
    throw std::invalid_argument("TokenBucket: per_second must be > 0 and burst >= 1");
  if (!now_) throw std::invalid_argument("TokenBucket: a clock is required");
  interval_ = std::max(Clock::duration(1), std::chrono::round<Clock::duration>(duration<double>(1.0 / limit.per_second)));
  // Checked in floating point first, so the product below cannot overflow.
  if (duration<double>(interval_) * double(limit.burst) >= std::chrono::hours(24 * 365))
    throw std::invalid_argument("TokenBucket: burst / per_second must be under a year");
  capacity_ = interval_ * static_cast<Clock::rep>(limit.burst);
  full_at_ = Clock::time_point::min();
}

bool TokenBucket::try_take() {
  Clock::time_point now = now_();
  // The debt: how much of the capacity is used, as time until full again.
  Clock::time_point from = std::max(full_at_, now);
  if ((from - now) + interval_ > capacity_) return false;
  full_at_ = from + interval_;
  return true;
}

Clock::duration TokenBucket::wait() const {
  Clock::time_point now = now_();
  Clock::duration debt = std::max(full_at_, now) - now;
  return std::max(Clock::duration::zero(), debt + interval_ - capacity_);
}

double TokenBucket::available() const {
  Clock::time_point now = now_();
  Clock::duration debt = std::max(full_at_, now) - now;
  return double((capacity_ - debt).count()) / double(interval_.count());
}

int retry_after_seconds(Clock::duration wait) {
  auto s = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return static_cast<int>(std::clamp<decltype(s)>(s, 1, 365 * 24 * 3600));
}

RateLimiter::RateLimiter(RateLimit per_worker, metrics::Registry* registry, TokenBucket::Now now)
    : bucket_(per_worker, std::move(now)), refused_(refused_counter(registry, "rate_limited")) {}

std::optional<Response> RateLimiter::admit(const Request& req) {
  if (bucket_.try_take()) return std::nullopt;
  if (refused_ != nullptr) refused_->inc();
  int seconds = retry_after_seconds(bucket_.wait());
  logger().warn_limited("rate_limited", {{"route", req.route}, {"request_id", req.ctx.request_id}});
  Response r = Response::error(429, "rate_limited", "too many requests; retry after " + std::to_string(seconds) + " s",
                               req.ctx.request_id);
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

Handler rate_limit(Handler inner, std::shared_ptr<RateLimiter> limiter) {
  if (!inner || !limiter) throw std::invalid_argument("rate_limit: a handler and a RateLimiter are required");
  // Not a coroutine: the token is taken now and the inner Task handed on.
  return [inner = std::move(inner), limiter = std::move(limiter)](Request& req) -> Task<Response> {
    if (auto refused = limiter->admit(req)) return ready(std::move(*refused));
    return inner(req);
  };
}

}  // namespace dine::http
