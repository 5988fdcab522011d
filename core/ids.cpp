#include "core/ids.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

namespace dine::ids {
namespace {

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

constexpr uint64_t kSeqMask = (1ULL << kSeqBits) - 1;

}  // namespace

Parts decode(uint64_t id) {
  Parts p;
  p.gene = static_cast<uint32_t>(id & 15);
  p.seq = static_cast<uint32_t>((id >> kGeneBits) & kSeqMask);
  p.node = static_cast<uint32_t>((id >> (kGeneBits + kSeqBits)) & 0xff);
  p.ms = (id >> (kGeneBits + kSeqBits + kNodeBits)) + kEpochMs;
  return p;
}

std::optional<uint64_t> parse(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return v;
}

OrderIdGenerator::OrderIdGenerator(uint32_t node_id) : node_(node_id) {
  if (node_id > 255) throw std::invalid_argument("node_id must be 0..255, got " + std::to_string(node_id));
}

uint64_t OrderIdGenerator::next(uint64_t user_id) { return next_at(now_ms(), user_id); }

uint64_t OrderIdGenerator::next_at(uint64_t unix_ms, uint64_t user_id) {
  uint64_t ms = unix_ms < kEpochMs ? 0 : unix_ms - kEpochMs;
  uint64_t old = state_.load(std::memory_order_relaxed);
  uint64_t next;
  for (;;) {
    uint64_t old_ms = old >> kSeqBits;
    if (ms > old_ms) {
      next = ms << kSeqBits;  // new millisecond: sequence 0
    } else if ((old & kSeqMask) < kSeqMask) {
      next = old + 1;  // same (or earlier: clock went back) millisecond: keep the last one
    } else {
      // 1024 ids in this millisecond already: borrow the next one rather
      // than wait (after a clock step back, waiting would stall every loop).
      next = (old_ms + 1) << kSeqBits;
    }
    if (state_.compare_exchange_weak(old, next, std::memory_order_relaxed)) break;
  }
  uint64_t t = next >> kSeqBits, seq = next & kSeqMask;
  return (t << (kGeneBits + kSeqBits + kNodeBits)) | (static_cast<uint64_t>(node_) << (kGeneBits + kSeqBits)) |
         (seq << kGeneBits) | gene_of_user(user_id);
}

}  // namespace dine::ids
