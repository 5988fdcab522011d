#include "core/pg/circuit.hpp"

#include <algorithm>
#include <random>

namespace dine::pg {

Circuit::Circuit(CircuitConfig cfg, uint64_t seed)
    : cfg_(cfg), rng_(seed ? seed : std::random_device{}() | 1ULL) {}

double Circuit::jitter() {
  // xorshift64: 0.8 .. 1.2
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return 0.8 + 0.4 * static_cast<double>(rng_ % 10001) / 10000.0;
}

Circuit::State Circuit::state(Clock::time_point now) const {
  if (failures_ < cfg_.threshold) return State::Closed;
  return now < open_until_ ? State::Open : State::HalfOpen;
}

bool Circuit::allow(Clock::time_point now) {
  switch (state(now)) {
    case State::Closed: return true;
    case State::Open: return false;
    case State::HalfOpen:
      if (probing_) return false;
      probing_ = true;
      return true;
  }
  return false;
}

void Circuit::success() {
  failures_ = 0;
  opens_in_a_row_ = 0;
  probing_ = false;
}

void Circuit::failure(Clock::time_point now) {
  const State before = state(now);
  ++failures_;
  probing_ = false;
  // Already open: late news of attempts that started before it opened.
  if (before == State::Open || failures_ < cfg_.threshold) return;
  // Open (again): each opening in a row doubles the wait.
  auto base = cfg_.first_backoff * (1LL << std::min(opens_in_a_row_, 16));
  auto wait = std::min<milliseconds>(std::chrono::duration_cast<milliseconds>(base), cfg_.max_backoff);
  open_until_ = now + milliseconds(static_cast<int64_t>(static_cast<double>(wait.count()) * jitter()));
  ++opens_in_a_row_;
  ++opened_;
}

void Circuit::probe_now(Clock::time_point now) {
  if (state(now) == State::Open) open_until_ = now;
}

milliseconds Circuit::retry_in(Clock::time_point now) const {
  if (state(now) != State::Open) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(open_until_ - now);
}

const char* to_string(Circuit::State s) {
  switch (s) {
    case Circuit::State::Closed: return "closed";
    case Circuit::State::Open: return "open";
    case Circuit::State::HalfOpen: return "half_open";
  }
  return "?";
}

}  // namespace dine::pg
