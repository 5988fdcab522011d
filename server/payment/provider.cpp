#include "server/payment/provider.hpp"

#include <random>

#include <fmt/format.h>

#include "server/payment/config.hpp"

namespace dine::payment {
namespace {

// FNV-1a then a splitmix finish: a well-mixed, stable hash of the key.
uint64_t hash_of(const std::string& key) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ULL;
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

double unit(uint64_t h) { return static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53); }

}  // namespace

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::Captured: return "captured";
    case Outcome::Declined: return "declined";
    case Outcome::Unknown: return "unknown";
  }
  return "unknown";
}

Outcome final_outcome(const std::string& key, double decline_rate) {
  return unit(hash_of(key)) < decline_rate ? Outcome::Declined : Outcome::Captured;
}

std::string provider_ref(const std::string& key) { return fmt::format("sim-{:016x}", hash_of("ref:" + key)); }

Task<Outcome> Provider::charge(Context ctx, const std::string& key, int64_t) {
  const milliseconds delay(cfg_.provider_delay_ms);
  if (ctx.remaining() < delay) {
    co_await sleep_for(ctx.remaining());
    co_return Outcome::Unknown;  // the caller's deadline came first: the charge may have gone through
  }
  co_await sleep_for(delay);
  thread_local std::minstd_rand rng(std::random_device{}());
  if (std::uniform_real_distribution<double>(0, 1)(rng) < cfg_.unknown_rate) co_return Outcome::Unknown;
  co_return final_outcome(key, cfg_.decline_rate);
}

Task<Outcome> Provider::query(Context, const std::string& key) {
  co_return final_outcome(key, cfg_.decline_rate);
}

Task<void> Provider::refund(Context, const std::string&) { co_return; }

}  // namespace dine::payment
