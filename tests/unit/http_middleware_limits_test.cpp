// The token bucket (fake clock), the rate-limit middleware's 429 and
// Retry-After, the worker share; the in-flight cap under concurrency, and its
// slot given back after a return, a throw, or an abandoned request.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <stdexcept>
#include <vector>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/middleware_inflight.hpp"
#include "core/http/middleware_rate.hpp"
#include "tests/unit/http_middleware_support.hpp"

namespace dine::http {
namespace {

using namespace mwtest;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- token bucket and rate limit -------------------------------------------

TEST(HttpRateLimit, BucketRefusesBeyondBurstAndRefillsAtItsRate) {
  FakeClock clock;
  TokenBucket b({.per_second = 2, .burst = 3}, clock.fn());
  EXPECT_EQ(b.available(), 3.0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take()) << i;
  EXPECT_FALSE(b.try_take());
  EXPECT_EQ(b.wait(), milliseconds(500));
  clock.t += milliseconds(499);
  EXPECT_FALSE(b.try_take());
  clock.t += milliseconds(1);
  EXPECT_TRUE(b.try_take());  // one token per 500 ms
  EXPECT_FALSE(b.try_take());
  clock.t += seconds(1);
  EXPECT_TRUE(b.try_take());
  EXPECT_TRUE(b.try_take());
  EXPECT_FALSE(b.try_take());
  // A long quiet spell fills it to the burst, no further.
  clock.t += std::chrono::hours(1);
  EXPECT_EQ(b.available(), 3.0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take()) << i;
  EXPECT_FALSE(b.try_take());
}

TEST(HttpRateLimit, ThirdsOfASecondAddUpExactly) {
  // Integer ticks: three tokens of 1/3 s each are back after one second, not 2.999...
  FakeClock clock;
  TokenBucket b({.per_second = 3, .burst = 3}, clock.fn());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take());
  EXPECT_FALSE(b.try_take());
  clock.t += seconds(1);
  EXPECT_EQ(b.available(), 3.0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take()) << i;
  EXPECT_FALSE(b.try_take());
}

TEST(HttpRateLimit, RetryAfterIsWholeSecondsRoundedUpAtLeastOne) {
  EXPECT_EQ(retry_after_seconds(Clock::duration::zero()), 1);
  EXPECT_EQ(retry_after_seconds(milliseconds(1)), 1);
  EXPECT_EQ(retry_after_seconds(milliseconds(1000)), 1);
  EXPECT_EQ(retry_after_seconds(milliseconds(1001)), 2);
  EXPECT_EQ(retry_after_seconds(milliseconds(2500)), 3);
}

TEST(HttpRateLimit, MiddlewareAnswers429WithRetryAfter) {
  FakeClock clock;
  metrics::Registry reg;
  auto limiter = std::make_shared<RateLimiter>(RateLimit{.per_second = 0.4, .burst = 2}, &reg, clock.fn());
  int calls = 0;
  Handler h = rate_limit(Echo{&calls}, limiter);
  Request req = request_with();
  EXPECT_EQ(call(h, req).status, 200);
  EXPECT_EQ(call(h, req).status, 200);
  Response r = call(h, req);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(json::parse(r.body)["error"], "rate_limited");
  EXPECT_EQ(header(r, "Retry-After"), "3");  // a token every 2.5 s
  clock.t += milliseconds(2000);
  EXPECT_EQ(header(call(h, req), "Retry-After"), "1");  // 0.5 s left: at least 1
  clock.t += milliseconds(500);
  EXPECT_EQ(call(h, req).status, 200);
  EXPECT_NE(reg.render().find("dine_http_refused_total{reason=\"rate_limited\"} 2\n"), std::string::npos);
}

TEST(HttpRateLimit, WorkerShare) {
  RateLimit s = share_per_worker({.per_second = 100, .burst = 10}, 4);
  EXPECT_DOUBLE_EQ(s.per_second, 25);
  EXPECT_EQ(s.burst, 2u);
  RateLimit tiny = share_per_worker({.per_second = 1, .burst = 2}, 4);
  EXPECT_DOUBLE_EQ(tiny.per_second, 0.25);
  EXPECT_EQ(tiny.burst, 1u);  // at least one
  EXPECT_THROW(share_per_worker({.per_second = 1, .burst = 1}, 0), std::invalid_argument);
  EXPECT_THROW(TokenBucket({.per_second = 0, .burst = 1}), std::invalid_argument);
  EXPECT_THROW(TokenBucket({.per_second = 1, .burst = 0}), std::invalid_argument);
}

// ---- in-flight cap ---------------------------------------------------------

// Waits until the gate opens (is cancelled), then answers 200.
Task<Response> wait_for(asio::steady_timer* gate) {
  boost::system::error_code ec;
  co_await gate->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return Response::text(200, "done");
}

Task<Response> throw_now() {
  throw Error(ErrorKind::Conflict, "conflict", "boom");
  co_return Response{};
}

TEST(HttpInFlight, RefusesAboveTheCapAndFreesSlotsWhenHandlersFinish) {
  metrics::Registry reg;
  auto cap = std::make_shared<InFlightLimit>(3, &reg);
  asio::io_context io;
  asio::steady_timer gate(io, Clock::time_point::max());
  Handler h = limit_in_flight([g = &gate](Request&) { return wait_for(g); }, cap);

  std::deque<Request> reqs;
  std::vector<std::future<Response>> held;
  for (int i = 0; i < 3; ++i) held.push_back(asio::co_spawn(io, h(reqs.emplace_back(request_with())), asio::use_future));
  io.poll();
  EXPECT_EQ(cap->current(), 3u);
  EXPECT_NE(reg.render().find("dine_http_in_flight_admitted 3\n"), std::string::npos) << reg.render();

  auto over = asio::co_spawn(io, h(reqs.emplace_back(request_with())), asio::use_future);
  io.poll();
  Response r = over.get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"], "overloaded");
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_EQ(cap->current(), 3u);  // a refusal holds nothing

  gate.cancel();
  io.run();
  for (auto& f : held) EXPECT_EQ(f.get().status, 200);
  EXPECT_EQ(cap->current(), 0u);
  EXPECT_NE(reg.render().find("dine_http_refused_total{reason=\"overloaded\"} 1\n"), std::string::npos);
}

TEST(HttpInFlight, SlotIsFreedWhenTheHandlerThrows) {
  auto cap = std::make_shared<InFlightLimit>(1);
  Handler h = limit_in_flight([](Request&) { return throw_now(); }, cap);
  for (int i = 0; i < 3; ++i) {  // with one slot, a leak would refuse the second
    Request req = request_with();
    EXPECT_THROW(call(h, req), Error);
    EXPECT_EQ(cap->current(), 0u);
  }
  Handler sync = limit_in_flight([](Request&) -> Task<Response> { throw std::runtime_error("before the task"); }, cap);
  Request req = request_with();
  EXPECT_THROW(sync(req), std::runtime_error);
  EXPECT_EQ(cap->current(), 0u);
}

TEST(HttpInFlight, SlotIsFreedWhenTheRequestIsAbandoned) {
  auto cap = std::make_shared<InFlightLimit>(3);
  std::deque<Request> reqs;
  {
    asio::io_context io;
    asio::steady_timer gate(io, Clock::time_point::max());
    Handler h = limit_in_flight([g = &gate](Request&) { return wait_for(g); }, cap);
    for (int i = 0; i < 2; ++i) asio::co_spawn(io, h(reqs.emplace_back(request_with())), [](std::exception_ptr, Response) {});
    io.poll();
    EXPECT_EQ(cap->current(), 2u);
    // A Task never awaited gives its slot back too.
    {
      Task<Response> dropped = h(reqs.emplace_back(request_with()));
      EXPECT_EQ(cap->current(), 3u);
    }
    EXPECT_EQ(cap->current(), 2u);
  }  // the io_context goes with the suspended handlers: their frames are destroyed
  EXPECT_EQ(cap->current(), 0u);
}

}  // namespace
}  // namespace dine::http
