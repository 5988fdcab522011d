#pragma once
// A circuit breaker per database pool (pure logic, no I/O, unit-tested).
//
// Closed: every attempt may go. After `threshold` consecutive failures
// (connects that failed, connections lost or timed out) it opens: attempts
// fail fast for a backoff (250 ms doubling to 10 s, jittered +-20 %). Then it
// is half-open: exactly one attempt (the probe) may go; its success closes the
// circuit, its failure opens it again for a longer backoff. So a database that
// comes back sees one probe per pool, not a storm of reconnects.
#include <cstdint>

#include "core/async.hpp"

namespace dine::pg {

struct CircuitConfig {
  int threshold = 3;
  milliseconds first_backoff{250};
  milliseconds max_backoff{10000};
};

class Circuit {
 public:
  enum class State { Closed, Open, HalfOpen };

  explicit Circuit(CircuitConfig cfg = {}, uint64_t seed = 0);

  // May an attempt start now? In HalfOpen, true once (the probe) until its outcome.
  bool allow(Clock::time_point now);
  void success();
  void failure(Clock::time_point now);
  // Open: go half-open now (someone saw the database answer again), so the
  // next attempt probes instead of waiting out the backoff.
  void probe_now(Clock::time_point now);

  State state(Clock::time_point now) const;
  // While open: how long until the probe may go (for Retry-After). 0 otherwise.
  milliseconds retry_in(Clock::time_point now) const;
  int consecutive_failures() const { return failures_; }
  uint64_t opened() const { return opened_; }  // times it opened since start

 private:
  CircuitConfig cfg_;
  int failures_ = 0;
  int opens_in_a_row_ = 0;
  Clock::time_point open_until_{};
  bool probing_ = false;
  uint64_t opened_ = 0;
  uint64_t rng_;
  double jitter();
};

const char* to_string(Circuit::State s);

}  // namespace dine::pg
