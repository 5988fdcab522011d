// The transactional outbox: a payment's order.paid event reaches the Redis
// stream once, and waits in PostgreSQL while Redis is down.
#include <set>

#include "tests/integration/harness.hpp"
#include "tests/integration/order_support.hpp"

namespace dine::order::test {
namespace {

using dine::test::Harness;

// `n` new orders spread over every shard, created through both nodes.
std::vector<std::string> create_orders(int n) {
  std::vector<Call> calls;
  for (int i = 0; i < n; ++i) {
    uint64_t user = new_user(static_cast<std::size_t>(i) % kShards);
    calls.push_back(create_call(1 + i % 2, new_key("ob"), order_body(user, 3, 1, 100 + i)));
  }
  std::vector<std::string> ids;
  for (const auto& r : call_many(calls, 8)) {
    EXPECT_EQ(r.status, 201) << r;
    if (r.status == 201) ids.push_back(r.j()["order_id"]);
  }
  return ids;
}

std::vector<Call> pay_calls(const std::vector<std::string>& ids) {
  std::vector<Call> calls;
  for (std::size_t i = 0; i < ids.size(); ++i) calls.push_back(pay_call(1 + i % 2, ids[i], "pay-" + ids[i]));
  return calls;
}

// Outbox rows of `ids` (over their shards), all or only those still unsent.
int64_t outbox_rows(const std::vector<std::string>& ids, bool only_unsent) {
  int64_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) {
    std::string list = "{";
    for (const auto& id : ids)
      if (shard_of(id) == s) list += (list.size() > 1 ? "," : "") + id;
    list += "}";
    pg::Params p{list};
    n += count(s, std::string("SELECT count(*) AS n FROM outbox WHERE key = ANY($1::text[])") +
                      (only_unsent ? " AND sent_at IS NULL" : ""),
               p);
  }
  return n;
}

int64_t unsent_of(const std::vector<std::string>& ids) { return outbox_rows(ids, true); }
int64_t outbox_of(const std::vector<std::string>& ids) { return outbox_rows(ids, false); }

bool all_present(const std::map<std::string, int>& counts) {
  for (const auto& [id, n] : counts)
    if (n == 0) return false;
  return true;
}

using OrderOutbox = OrderTest;

TEST_F(OrderOutbox, PaidOrdersReachTheStreamExactlyOnce) {
  constexpr int kOrders = 50;
  auto ids = create_orders(kOrders);
  ASSERT_EQ(ids.size(), std::size_t(kOrders));
  // Earlier tests' events are out of the way: the stream only grows by ours.
  ASSERT_TRUE(wait_outbox_drained(milliseconds(10000))) << unsent_all() << " rows still unsent";
  int64_t before = stream_len();

  for (const auto& r : call_many(pay_calls(ids), 10)) {
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_FALSE(r.replayed()) << r;
  }
  std::set<std::string> want(ids.begin(), ids.end());
  std::map<std::string, int> counts;
  bool arrived = eventually([&] { return all_present(counts = stream_counts(want)); }, milliseconds(10000));
  ASSERT_TRUE(arrived) << "not every paid order reached the stream within 10 s";
  EXPECT_TRUE(wait_outbox_drained(milliseconds(5000)));
  EXPECT_EQ(stream_len(), before + kOrders);
  for (const auto& [id, n] : stream_counts(want)) EXPECT_EQ(n, 1) << "order " << id;
  EXPECT_EQ(unsent_of(ids), 0);
  EXPECT_EQ(outbox_of(ids), kOrders);

  // Each entry carries the event as written in the outbox.
  for (const auto& e : stream_entries()) {
    if (!want.count(e.order_id)) continue;
    EXPECT_EQ(e.type, "order.paid");
    auto data = json::parse(e.data, nullptr, false);
    ASSERT_TRUE(data.is_object()) << e.data;
    EXPECT_EQ(data["type"], "order.paid");
    EXPECT_EQ(data["order_id"], e.order_id);
    EXPECT_EQ(data["store_id"], 3);
    EXPECT_EQ(data["user_id"].get<uint64_t>() % 16, std::stoull(e.order_id) % 16);
    EXPECT_TRUE(data["amount_cents"].is_number_integer()) << e.data;
    EXPECT_TRUE(data["at"].is_string()) << e.data;
  }
}

// Restarts Redis however the test ends.
struct RedisBack {
  ~RedisBack() { Harness::get().redis_start(); }
};

TEST_F(OrderOutbox, EventsWaitWhileRedisIsDownThenArriveOnce) {
  constexpr int kOrders = 20;
  auto ids = create_orders(kOrders);
  ASSERT_EQ(ids.size(), std::size_t(kOrders));
  ASSERT_TRUE(wait_outbox_drained(milliseconds(10000)));
  {
    RedisBack guard;
    Harness::get().redis_stop();
    // Payments need PostgreSQL only: the event waits in the outbox.
    for (const auto& r : call_many(pay_calls(ids), 5)) EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(outbox_of(ids), kOrders);
    // For a while (1.5 s of relay retries) nothing is marked sent.
    bool sent_meanwhile = eventually([&] { return unsent_of(ids) != kOrders; }, milliseconds(1500), milliseconds(100));
    EXPECT_FALSE(sent_meanwhile) << "outbox rows were marked sent while Redis was down";
  }
  // Redis is back (the guard restarted it): every event arrives, once.
  std::set<std::string> want(ids.begin(), ids.end());
  std::map<std::string, int> counts;
  bool arrived = eventually([&] { return unsent_of(ids) == 0 && all_present(counts = stream_counts(want)); },
                            milliseconds(15000));
  ASSERT_TRUE(arrived) << unsent_of(ids) << " rows unsent 15 s after Redis came back";
  for (const auto& [id, n] : stream_counts(want)) EXPECT_EQ(n, 1) << "order " << id;
}

}  // namespace
}  // namespace dine::order::test
