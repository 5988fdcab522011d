// The pool's circuit breaker, on a fake clock: closed, open after repeated
// failures, one probe when half-open, longer waits after each opening.
#include <gtest/gtest.h>

#include "core/pg/circuit.hpp"

namespace dine::pg {
namespace {

using State = Circuit::State;

TEST(PgCircuit, OpensAfterThresholdFailuresAndFailsFast) {
  Circuit c({.threshold = 3, .first_backoff = milliseconds(1000), .max_backoff = milliseconds(8000)}, 42);
  auto t = Clock::now();
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(c.allow(t));
    c.failure(t);
    EXPECT_EQ(c.state(t), State::Closed);
  }
  c.failure(t);
  EXPECT_EQ(c.state(t), State::Open);
  EXPECT_FALSE(c.allow(t));
  EXPECT_FALSE(c.allow(t + milliseconds(700)));  // 1000 ms -20 % at least
  EXPECT_GT(c.retry_in(t), milliseconds(700));
  EXPECT_LE(c.retry_in(t), milliseconds(1200));
  EXPECT_EQ(c.opened(), 1u);
}

TEST(PgCircuit, HalfOpenLetsExactlyOneProbeThrough) {
  Circuit c({.threshold = 1, .first_backoff = milliseconds(100), .max_backoff = milliseconds(1000)}, 7);
  auto t = Clock::now();
  c.failure(t);
  auto later = t + milliseconds(200);
  EXPECT_EQ(c.state(later), State::HalfOpen);
  EXPECT_TRUE(c.allow(later));   // the probe
  EXPECT_FALSE(c.allow(later));  // everyone else still fails fast
  c.success();
  EXPECT_EQ(c.state(later), State::Closed);
  EXPECT_TRUE(c.allow(later));
  EXPECT_TRUE(c.allow(later));
}

TEST(PgCircuit, AFailedProbeReopensForLonger) {
  Circuit c({.threshold = 1, .first_backoff = milliseconds(100), .max_backoff = milliseconds(350)}, 9);
  auto t = Clock::now();
  c.failure(t);
  milliseconds first = c.retry_in(t);
  t += milliseconds(200);
  ASSERT_TRUE(c.allow(t));
  c.failure(t);  // the probe failed
  EXPECT_EQ(c.state(t), State::Open);
  milliseconds second = c.retry_in(t);
  EXPECT_GT(second, first);
  for (int i = 0; i < 10; ++i) {  // bounded by max_backoff (+20 % jitter)
    t += milliseconds(1000);
    ASSERT_TRUE(c.allow(t));
    c.failure(t);
    EXPECT_LE(c.retry_in(t), milliseconds(420));
  }
  EXPECT_EQ(c.opened(), 12u);
}

// The node's readiness probe saw the database answer: probe now, not after the backoff.
TEST(PgCircuit, ADatabaseSeenBackLetsTheProbeGoAtOnce) {
  Circuit c({.threshold = 1, .first_backoff = milliseconds(5000), .max_backoff = milliseconds(10000)}, 5);
  auto t = Clock::now();
  c.failure(t);
  EXPECT_FALSE(c.allow(t + milliseconds(10)));
  c.probe_now(t + milliseconds(20));
  EXPECT_EQ(c.state(t + milliseconds(20)), State::HalfOpen);
  EXPECT_TRUE(c.allow(t + milliseconds(20)));   // one probe
  EXPECT_FALSE(c.allow(t + milliseconds(20)));  // the others wait for its outcome
  c.success();
  EXPECT_EQ(c.state(t + milliseconds(30)), State::Closed);
  c.probe_now(t + milliseconds(40));  // closed: nothing to do
  EXPECT_EQ(c.state(t + milliseconds(40)), State::Closed);
}

TEST(PgCircuit, LateFailuresWhileOpenDoNotExtendIt) {
  Circuit c({.threshold = 1, .first_backoff = milliseconds(1000), .max_backoff = milliseconds(10000)}, 3);
  auto t = Clock::now();
  c.failure(t);
  milliseconds open = c.retry_in(t);
  for (int i = 0; i < 8; ++i) c.failure(t);  // connections of before the outage, failing one by one
  EXPECT_EQ(c.retry_in(t), open);
  EXPECT_EQ(c.opened(), 1u);
}

}  // namespace
}  // namespace dine::pg
