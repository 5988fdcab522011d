// Order ids: bit layout, the user gene that picks the shard, uniqueness under
// threads, monotonicity, sequence rollover and the strict parser.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.hpp"

namespace dine::ids {
namespace {

constexpr uint64_t kJune2024 = 1717200000000ULL;  // 2024-06-01T00:00:00Z, in the past

TEST(Ids, LayoutRoundTrips) {
  OrderIdGenerator gen(7);
  uint64_t id = gen.next_at(kJune2024 + 123, 12345);
  Parts p = decode(id);
  EXPECT_EQ(p.ms, kJune2024 + 123);
  EXPECT_EQ(p.node, 7u);
  EXPECT_EQ(p.seq, 0u);
  EXPECT_EQ(p.gene, 12345u % 16);
  EXPECT_LT(id, 1ULL << 63);  // fits a signed bigint
  uint64_t second = gen.next_at(kJune2024 + 123, 99);
  EXPECT_EQ(decode(second).seq, 1u);
  EXPECT_EQ(decode(second).gene, 99u % 16);
  // Exact bit positions of the header's diagram.
  uint64_t expected = ((kJune2024 + 123 - kEpochMs) << 22) | (7ULL << 14) | (0ULL << 4) | (12345 % 16);
  EXPECT_EQ(id, expected);
}

TEST(Ids, GeneIsTheLowBitsAndPicksTheUsersShard) {
  OrderIdGenerator gen(3);
  for (uint64_t user = 1; user <= 5000; ++user) {
    uint64_t id = gen.next(user);
    ASSERT_EQ(id & 15, user % 16) << user;
    ASSERT_EQ(shard_of(id, 4), user % 4) << user;
    ASSERT_EQ(shard_of(id, 2), user % 2) << user;
    ASSERT_EQ(shard_of(id, 16), user % 16) << user;
    ASSERT_EQ(gene_of_user(user), user % 16);
  }
}

TEST(Ids, ManyIdsFromTwoThreadsAreUnique) {
  OrderIdGenerator gen(1);
  constexpr int kPerThread = 50'000;
  std::vector<uint64_t> a, b;
  a.reserve(kPerThread);
  b.reserve(kPerThread);
  std::thread t1([&] {
    for (int i = 0; i < kPerThread; ++i) a.push_back(gen.next(static_cast<uint64_t>(i)));
  });
  std::thread t2([&] {
    for (int i = 0; i < kPerThread; ++i) b.push_back(gen.next(static_cast<uint64_t>(i)));
  });
  t1.join();
  t2.join();
  // Within a thread, ids grow (time and sequence are the high bits).
  for (const auto* v : {&a, &b})
    for (std::size_t i = 1; i < v->size(); ++i) ASSERT_GT((*v)[i] >> 4, (*v)[i - 1] >> 4) << i;
  std::set<uint64_t> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 2u * kPerThread);
  // Even ignoring the gene, (time, node, sequence) never repeats.
  std::set<uint64_t> no_gene;
  for (uint64_t id : all) no_gene.insert(id >> 4);
  EXPECT_EQ(no_gene.size(), 2u * kPerThread);
}

TEST(Ids, MonotonicForOneUser) {
  OrderIdGenerator gen(2);
  uint64_t prev = 0;
  for (int i = 0; i < 20'000; ++i) {
    uint64_t id = gen.next(42);
    ASSERT_GT(id, prev);
    prev = id;
  }
}

TEST(Ids, ClockGoingBackKeepsIdsGrowing) {
  OrderIdGenerator gen(2);
  uint64_t a = gen.next_at(kJune2024 + 1000, 5);
  uint64_t b = gen.next_at(kJune2024 + 10, 5);  // earlier ms: stays on the last one
  EXPECT_GT(b, a);
  EXPECT_EQ(decode(b).ms, kJune2024 + 1000);
  EXPECT_EQ(decode(b).seq, 1u);
}

TEST(Ids, SequenceRollsOverAfter1024InOneMillisecond) {
  OrderIdGenerator gen(9);
  std::set<uint64_t> seen;
  uint64_t prev = 0;
  for (uint32_t i = 0; i < 1024; ++i) {
    uint64_t id = gen.next_at(kJune2024, 1);
    Parts p = decode(id);
    ASSERT_EQ(p.ms, kJune2024);
    ASSERT_EQ(p.seq, i);
    ASSERT_GT(id, prev);
    prev = id;
    seen.insert(id);
  }
  // The 1025th cannot fit that millisecond: it borrows the next one (no
  // waiting for the clock, which may have stepped back), sequence 0.
  uint64_t id = gen.next_at(kJune2024, 1);
  Parts p = decode(id);
  EXPECT_EQ(p.ms, kJune2024 + 1);
  EXPECT_EQ(p.seq, 0u);
  EXPECT_GT(id, prev);
  EXPECT_EQ(p.node, 9u);
  EXPECT_TRUE(seen.insert(id).second);
}

TEST(Ids, NodeIdMustFitEightBits) {
  EXPECT_NO_THROW(OrderIdGenerator(0));
  EXPECT_NO_THROW(OrderIdGenerator(255));
  EXPECT_THROW(OrderIdGenerator(256), std::invalid_argument);
  EXPECT_THROW(OrderIdGenerator(100000), std::invalid_argument);
  OrderIdGenerator max(255);
  EXPECT_EQ(decode(max.next_at(kJune2024, 0)).node, 255u);
}

TEST(Ids, ParseAcceptsPositiveDecimalsOnly) {
  EXPECT_EQ(parse("1"), 1u);
  EXPECT_EQ(parse("12"), 12u);
  EXPECT_EQ(parse("007"), 7u);
  EXPECT_EQ(parse("9223372036854775807"), uint64_t(std::numeric_limits<int64_t>::max()));
  OrderIdGenerator gen(1);
  uint64_t id = gen.next(77);
  EXPECT_EQ(parse(std::to_string(id)), id);

  for (const char* bad : {"", "0", "000", "-1", "+1", "1a", "a1", " 1", "1 ", "1.0", "0x10", "1e3",
                          "9223372036854775808",    // INT64_MAX + 1
                          "18446744073709551615",   // UINT64_MAX, 20 digits
                          "18446744073709551616",   // overflows 64 bits
                          "12345678901234567890",   // 20 digits
                          "99999999999999999999"})
    EXPECT_EQ(parse(bad), std::nullopt) << "'" << bad << "'";
  EXPECT_EQ(parse(std::string_view("1\0", 2)), std::nullopt);
}

}  // namespace
}  // namespace dine::ids

namespace dine::ids {
namespace {

TEST(Ids, FirstIdAtBoundsEveryIdOfThatMillisecond) {
  OrderIdGenerator g(255);
  const uint64_t t = kEpochMs + 123'456'789;
  const uint64_t id = g.next_at(t, 15);
  EXPECT_LE(first_id_at(t), id);
  EXPECT_LT(id, first_id_at(t + 1));
  EXPECT_EQ(decode(first_id_at(t)).ms, t);
  EXPECT_EQ(first_id_at(kEpochMs - 5), 0u);
}

}  // namespace
}  // namespace dine::ids
