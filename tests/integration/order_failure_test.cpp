// Failures: a shard's PostgreSQL server stops (its users get 503, the others
// are served), an order node is killed -9 in the middle of payments (no
// payment is lost, each event is relayed at least once).
#include <iostream>
#include <set>

#include "core/stack/process.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/order_support.hpp"

namespace dine::order::test {
namespace {

using dine::test::Harness;

// Starts shard `k` again however the test ends.
struct ShardBack {
  std::size_t k;
  ~ShardBack() { Harness::get().pg_start(k); }
};

// Polls until `make()` answers `status` `times` times in a row (every worker's
// pool of both nodes has dropped its dead connections), or the deadline.
bool serves_again(const std::function<Resp()>& make, int status, int times, milliseconds limit, Resp& last) {
  int streak = 0;
  return eventually(
      [&] {
        last = make();
        streak = last.status == status ? streak + 1 : 0;
        return streak >= times;
      },
      limit, milliseconds(50));
}

using OrderFailure = OrderTest;

TEST_F(OrderFailure, StoppedShardAnswers503AndOthersServe) {
  constexpr std::size_t kDown = 2;
  uint64_t down_user = new_user(kDown);
  std::string down_order = create_order(1, down_user);
  std::string up_order = create_order(2, new_user(1));
  ASSERT_FALSE(down_order.empty());
  ASSERT_FALSE(up_order.empty());
  {
    ShardBack guard{kDown};
    Harness::get().pg_stop(kDown);

    // Every request for the stopped shard fails fast with a JSON 503, on both nodes.
    std::vector<Resp> answers;
    for (int node = 1; node <= kNodes; ++node) {
      for (int i = 0; i < 3; ++i) {
        answers.push_back(call(create_call(node, new_key("down"), order_body(down_user))));
        answers.push_back(get(node, "/v1/orders/" + down_order));
        answers.push_back(get(node, "/v1/users/" + std::to_string(down_user) + "/orders"));
        answers.push_back(post(node, "/v1/orders/" + down_order + "/paid", R"({"payment_id":"p-down"})"));
      }
    }
    for (const auto& r : answers) {
      EXPECT_EQ(r.status, 503) << r;
      EXPECT_FALSE(r.error_code().empty()) << r;
      EXPECT_LT(r.took.count(), 5000) << r;
    }

    // The other shards do not notice.
    for (std::size_t s = 0; s < kShards; ++s) {
      if (s == kDown) continue;
      for (int node = 1; node <= kNodes; ++node) {
        uint64_t u = new_user(s);
        auto r = call(create_call(node, new_key("up"), order_body(u)));
        EXPECT_EQ(r.status, 201) << "shard " << s << ": " << r;
      }
    }
    auto g = get(1, "/v1/orders/" + up_order);
    EXPECT_EQ(g.status, 200) << g;
    // Readiness tells the truth: one shard of four down leaves the node
    // ready (the other shards serve) and degraded, naming the shard.
    Resp ready;
    EXPECT_TRUE(eventually(
        [&] {
          ready = get(1, "/readyz");
          auto d = ready.j().value("degraded", json::array());
          return ready.status == 200 && d == json::array({fmt::format("pg-order-{}", kDown)});
        },
        milliseconds(5000)))
        << ready;
    EXPECT_EQ(ready.j()["status"], "degraded") << ready;
    // Nothing of the server leaks into it: no host, no port, no server text.
    EXPECT_EQ(ready.body.find("127.0.0.1"), std::string::npos) << ready;
    EXPECT_EQ(ready.body.find("port="), std::string::npos) << ready;
  }

  // Back up: the shard serves again once the pools have replaced their dead connections.
  Resp last;
  for (int node = 1; node <= kNodes; ++node) {
    EXPECT_TRUE(serves_again([&] { return get(node, "/v1/orders/" + down_order); }, 200, 8,
                             milliseconds(30000), last))
        << "order-" << node << " still failing for shard " << kDown << ": " << last;
  }
  uint64_t u = new_user(kDown);
  std::string key = new_key("after");
  EXPECT_TRUE(serves_again([&] { return call(create_call(1, key, order_body(u))); }, 201, 2,
                           milliseconds(10000), last))
      << last;
  auto pay = post(2, "/v1/orders/" + down_order + "/paid", R"({"payment_id":"p-after"})");
  EXPECT_EQ(pay.status, 200) << pay;
  EXPECT_TRUE(wait_outbox_drained(milliseconds(15000))) << "the relay of shard " << kDown << " did not recover";
}

// A client that asks for no time at all (X-Request-Budget-Ms: 0) gets its own
// 504 and harms nobody: no pooled connection is broken, no circuit opens, the
// next requests are served.
TEST_F(OrderFailure, ARequestWithNoBudgetLeftHarmsNobodyElse) {
  const std::string id = create_order(1, new_user(0));
  ASSERT_FALSE(id.empty());
  // Raw requests: dine's own client always states its real budget.
  const std::string hasty = "GET /v1/orders/" + id +
                            " HTTP/1.1\r\nHost: t\r\nX-Request-Budget-Ms: 0\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 40; ++i) {
    int node = 1 + i % kNodes;
    EXPECT_EQ(stack::tcp_first_line("127.0.0.1", Cluster::get().port(node), hasty, milliseconds(5000)),
              "HTTP/1.1 504 Gateway Timeout");
  }
  for (int node = 1; node <= kNodes; ++node) {
    for (int i = 0; i < 10; ++i) EXPECT_EQ(get(node, "/v1/orders/" + id).status, 200);
    std::string m = get(node, "/metrics").body;
    EXPECT_EQ(m.find("dine_pg_pool_circuit_opens_total{pool=\"pg-order-0/order\",worker=\"0\"} 1"), std::string::npos)
        << "a circuit opened on order-" << node;
    EXPECT_NE(m.find("dine_pg_query_cancels_total{pool=\"pg-order-0/order\",worker=\"0\"} 0"), std::string::npos)
        << "a connection was broken on order-" << node;
  }
}

// Thaws shard `k` however the test ends.
struct ShardThawed {
  std::size_t k;
  ~ShardThawed() { Harness::get().pg_thaw(k); }
};

// A frozen shard (postmaster and every backend SIGSTOPped: TCP accepts,
// nothing answers) must never turn into a hang: its own requests get 503 or
// 504 inside the request deadline, the other shards serve as before, the node
// stays ready (degraded), and the shard serves again once it thaws.
TEST_F(OrderFailure, FrozenShardAnswersInsideTheDeadlineAndOthersServe) {
  constexpr std::size_t kFrozen = 1;
  const std::string frozen_order = create_order(1, new_user(kFrozen));
  ASSERT_FALSE(frozen_order.empty());
  const int request_timeout = Cluster::get().topo().node("order-1").limits.request_timeout_ms;
  {
    Harness::get().pg_freeze(kFrozen);
    ShardThawed thaw{kFrozen};

    std::vector<Call> calls;
    for (int node = 1; node <= kNodes; ++node)
      for (int i = 0; i < 4; ++i) calls.push_back({node, "GET", "/v1/orders/" + frozen_order, "", {}});
    for (int node = 1; node <= kNodes; ++node)
      calls.push_back(create_call(node, new_key("frozen"), order_body(new_user(kFrozen))));
    for (const auto& r : call_many(calls, 16, {}, milliseconds(request_timeout + 10000))) {
      EXPECT_TRUE(r.status == 503 || r.status == 504) << r;
      EXPECT_LE(r.took.count(), request_timeout + 2000) << "not answered inside the deadline: " << r;
      EXPECT_FALSE(r.error_code().empty()) << r;
      EXPECT_EQ(r.body.find("port="), std::string::npos) << r;
    }
    // The other shards do not notice.
    for (std::size_t s = 0; s < kShards; ++s) {
      if (s == kFrozen) continue;
      for (int node = 1; node <= kNodes; ++node) {
        auto r = call(create_call(node, new_key("beside"), order_body(new_user(s))));
        EXPECT_EQ(r.status, 201) << "shard " << s << ": " << r;
        EXPECT_LT(r.took.count(), 3000) << r;
      }
    }
    Resp ready;
    EXPECT_TRUE(eventually(
        [&] {
          ready = get(2, "/readyz");
          return ready.status == 200 && ready.j().value("degraded", json::array()) ==
                                            json::array({fmt::format("pg-order-{}", kFrozen)});
        },
        milliseconds(5000)))
        << ready;
  }
  // Thawed: its requests succeed again.
  Resp last;
  for (int node = 1; node <= kNodes; ++node)
    EXPECT_TRUE(serves_again([&] { return get(node, "/v1/orders/" + frozen_order); }, 200, 6, milliseconds(30000),
                             last))
        << "order-" << node << " still failing for the thawed shard: " << last;
  // And no query abandoned while it was frozen is left running there.
  EXPECT_TRUE(eventually(
      [&] {
        return count(kFrozen,
                     "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND"
                     " application_name LIKE 'order-%' AND pid <> pg_backend_pid()") == 0;
      },
      milliseconds(10000)));
}

TEST_F(OrderFailure, KillDuringPaymentsLosesNoPaymentAndNoEvent) {
  constexpr int kOrders = 300;
  constexpr int kKillAfter = 100;
  auto& cluster = Cluster::get();

  std::vector<Call> creates;
  for (int i = 0; i < kOrders; ++i) {
    uint64_t user = new_user(static_cast<std::size_t>(i) % kShards);
    creates.push_back(create_call(2, new_key("kill"), order_body(user, 5, 1, 1000 + i)));
  }
  std::vector<std::string> ids;
  for (const auto& r : call_many(creates, 16)) {
    ASSERT_EQ(r.status, 201) << r;
    ids.push_back(r.j()["order_id"]);
  }

  // Pay everything through order-1 and kill it -9 once ~100 payments are acknowledged.
  std::vector<Call> pays;
  for (const auto& id : ids) pays.push_back(pay_call(1, id, "pay-" + id));
  int ok = 0;
  bool killed = false;
  auto answers = call_many(
      pays, 16,
      [&](std::size_t, const Resp& r) {
        if (r.status == 200) ++ok;
        if (ok >= kKillAfter && !killed) {
          killed = true;
          cluster.kill_hard(1);
        }
      },
      milliseconds(5000));
  ASSERT_TRUE(killed);
  EXPECT_FALSE(stack::alive(cluster.pid(1)));
  std::vector<std::size_t> retry;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].status == 200) continue;
    EXPECT_EQ(answers[i].status, 0) << "only unreachable is expected: " << answers[i];
    retry.push_back(i);
  }
  std::cout << "[ kill -9 ] " << ok << " payments acknowledged before the kill, " << retry.size()
            << " to re-send\n";
  EXPECT_GE(retry.size(), std::size_t(kOrders - kKillAfter - 16));

  cluster.start(1);  // same args, waits for /readyz
  std::vector<Call> again;
  for (auto i : retry) again.push_back(pays[i]);
  int replayed = 0;
  for (const auto& r : call_many(again, 16)) {
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.j()["status"], "PAID") << r;
    replayed += r.replayed() ? 1 : 0;
  }
  std::cout << "[ kill -9 ] " << replayed << " re-sent payments had been committed before the kill\n";

  // Every order is paid once, with one outbox row each.
  for (std::size_t s = 0; s < kShards; ++s) {
    std::string list = "{";
    int mine = 0;
    for (const auto& id : ids)
      if (shard_of(id) == s) {
        list += (mine++ ? "," : "") + id;
      }
    list += "}";
    pg::Params p{list};
    auto r = query(s,
                   "SELECT o.order_id::text AS order_id, o.status, o.payment_id,"
                   " (SELECT count(*) FROM outbox b WHERE b.key = o.order_id::text) AS events"
                   " FROM orders o WHERE o.order_id = ANY($1::bigint[])",
                   p);
    ASSERT_EQ(r.rows(), mine);
    for (int i = 0; i < r.rows(); ++i) {
      std::string id(r.text(i, "order_id"));
      EXPECT_EQ(r.text(i, "status"), "PAID") << id;
      EXPECT_EQ(r.text(i, "payment_id"), "pay-" + id);
      EXPECT_EQ(r.int64(i, "events"), 1) << id;
    }
  }

  // And every event reaches the stream at least once.
  std::set<std::string> want(ids.begin(), ids.end());
  std::map<std::string, int> counts;
  bool arrived = eventually(
      [&] {
        if (unsent_all() != 0) return false;
        counts = stream_counts(want);
        for (const auto& [id, n] : counts)
          if (n == 0) return false;
        return true;
      },
      milliseconds(20000));
  int missing = 0, duplicates = 0;
  for (const auto& [id, n] : counts) {
    missing += n == 0 ? 1 : 0;
    duplicates += n > 1 ? n - 1 : 0;
  }
  EXPECT_TRUE(arrived) << missing << " paid orders missing from the stream 20 s after the restart";
  std::cout << "[ kill -9 ] stream: " << want.size() - missing << " orders delivered, " << duplicates
            << " duplicate entries (at-least-once)\n";
}

}  // namespace
}  // namespace dine::order::test
