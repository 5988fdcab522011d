#pragma once
// Order ids: 63-bit integers, sent in JSON as strings.
//
//   bit 62 ............ 22 | 21 .. 14 | 13 .. 4  | 3 .. 0
//   ms since 2024-01-01    | node id  | sequence | gene = user_id mod 16
//   (41 bits, ~69 years)   | (8 bits) | (10 bits)| (4 bits)
//
// The gene in the low bits makes id mod N == user_id mod N for any N dividing
// 16, so a user's orders live on one shard and "my orders" never fans out, and
// low traffic (sequence 0) still spreads over every shard.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dine::ids {

inline constexpr uint64_t kEpochMs = 1704067200000ULL;  // 2024-01-01T00:00:00Z
inline constexpr int kGeneBits = 4, kSeqBits = 10, kNodeBits = 8, kTimeBits = 41;

struct Parts {
  uint64_t ms;  // unix ms
  uint32_t node;
  uint32_t seq;
  uint32_t gene;
};

inline uint32_t gene_of_user(uint64_t user_id) { return static_cast<uint32_t>(user_id & 15); }
inline std::size_t shard_of(uint64_t id, std::size_t shards) { return id % shards; }
Parts decode(uint64_t id);
// The smallest id made at unix time `ms` (0 before the epoch): every id below
// it was made earlier, whatever its node, sequence and gene.
inline uint64_t first_id_at(uint64_t unix_ms) {
  return unix_ms <= kEpochMs ? 0 : (unix_ms - kEpochMs) << (kNodeBits + kSeqBits + kGeneBits);
}

// Strict decimal parse of an id from a path or JSON string: digits only, no
// sign, no leading '+', fits 63 bits, not zero. nullopt otherwise.
std::optional<uint64_t> parse(std::string_view s);

// Thread-safe generator for one node.
class OrderIdGenerator {
 public:
  explicit OrderIdGenerator(uint32_t node_id);  // throws std::invalid_argument when > 255
  uint64_t next(uint64_t user_id);
  // For tests: make an id at a given unix ms (advances internal state).
  uint64_t next_at(uint64_t unix_ms, uint64_t user_id);

 private:
  uint32_t node_;
  std::atomic<uint64_t> state_{0};  // (ms - epoch) << kSeqBits | seq
};

}  // namespace dine::ids
