// The order role's internal API over HTTP against two real order nodes and
// four real PostgreSQL shards: placement, idempotency, the state machine,
// "my orders".
#include <set>

#include "core/ids.hpp"
#include "tests/integration/order_support.hpp"

namespace dine::order::test {
namespace {

int64_t rows_of_order(std::size_t shard, const std::string& order_id) {
  pg::Params p{order_id};
  return count(shard, "SELECT count(*) AS n FROM orders WHERE order_id = $1::bigint", p);
}

int64_t rows_of_user(std::size_t shard, uint64_t user) {
  pg::Params p{std::to_string(user)};
  return count(shard, "SELECT count(*) AS n FROM orders WHERE user_id = $1::bigint", p);
}

int64_t outbox_rows(const std::string& order_id) {
  pg::Params p{order_id};
  return count(shard_of(order_id), "SELECT count(*) AS n FROM outbox WHERE key = $1", p);
}

int64_t events_of(const std::string& order_id, const std::string& type) {
  pg::Params p{order_id, type};
  return count(shard_of(order_id), "SELECT count(*) AS n FROM outbox WHERE key = $1 AND event_type = $2", p);
}

using OrderApi = OrderTest;

// An unpaid order older than the TTL (900 s here) is cancelled by the nodes'
// expiry walk, with order.cancelled (reason "expired"); a paid order of the
// same age and a fresh unpaid one are left alone. The old orders are written
// straight into the shard with ids of two hours ago (ids begin with their time).
TEST_F(OrderApi, UnpaidOrdersExpireAfterTheirTtl) {
  const std::size_t shard = 3;
  const uint64_t user = new_user(shard);
  const uint64_t old_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count()) -
                          2 * 3600 * 1000;
  const uint64_t base = ids::first_id_at(old_ms) | (uint64_t{200} << 14) | ids::gene_of_user(user);
  const std::string unpaid = std::to_string(base), paid = std::to_string(base + (uint64_t{1} << 4));
  for (const auto& [id, status] : std::vector<std::pair<std::string, std::string>>{{unpaid, "CREATED"}, {paid, "PAID"}}) {
    pg::Params p{id, std::to_string(user), status, "exp-" + id};
    query(shard,
          "INSERT INTO orders (order_id, user_id, store_id, items, amount_cents, status, idempotency_key, request_hash)"
          " VALUES ($1::bigint, $2::bigint, 1, '[]', 100, $3, $4, 'h')",
          p);
  }
  ASSERT_EQ(shard_of(unpaid), shard);
  std::string fresh = create_order(1, user);
  ASSERT_FALSE(fresh.empty());

  EXPECT_TRUE(eventually([&] { return get(1, "/v1/orders/" + unpaid).j()["status"] == "CANCELLED"; },
                         milliseconds(30000)))
      << "the expiry walk runs every 5 s";
  pg::Params p{unpaid};
  EXPECT_EQ(count(shard,
                  "SELECT count(*) AS n FROM outbox WHERE key = $1 AND event_type = 'order.cancelled'"
                  " AND payload->>'reason' = 'expired'",
                  p),
            1);
  EXPECT_EQ(get(2, "/v1/orders/" + paid).j()["status"], "PAID");
  EXPECT_EQ(get(2, "/v1/orders/" + fresh).j()["status"], "CREATED");
  auto pay = post(1, "/v1/orders/" + unpaid + "/paid", R"({"payment_id":"too-late"})");
  EXPECT_EQ(pay.status, 409) << pay;
  EXPECT_EQ(pay.error_code(), "illegal_transition") << pay;
}

// CREATED -> CANCELLED once, with one order.cancelled event; a repeat is a
// no-op; a cancelled order cannot be paid; a paid one cannot be cancelled.
TEST_F(OrderApi, CancelOnlyFromCreatedAndOnce) {
  uint64_t user = new_user(1);
  std::string id = create_order(1, user);
  ASSERT_FALSE(id.empty());
  auto c = post(1, "/v1/orders/" + id + "/cancel", "");
  ASSERT_EQ(c.status, 200) << c;
  EXPECT_EQ(c.j()["status"], "CANCELLED");
  EXPECT_FALSE(c.replayed());
  auto again = post(2, "/v1/orders/" + id + "/cancel", "");
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_TRUE(again.replayed()) << again;
  EXPECT_EQ(events_of(id, "order.cancelled"), 1);
  EXPECT_EQ(get(1, "/v1/orders/" + id).j()["status"], "CANCELLED");
  auto pay = post(1, "/v1/orders/" + id + "/paid", R"({"payment_id":"pay-c"})");
  EXPECT_EQ(pay.status, 409) << pay;
  EXPECT_EQ(pay.error_code(), "illegal_transition") << pay;
  EXPECT_EQ(events_of(id, "order.paid"), 0);

  std::string paid = create_order(2, new_user(2));
  ASSERT_EQ(post(2, "/v1/orders/" + paid + "/paid", R"({"payment_id":"pay-p"})").status, 200);
  auto late = post(1, "/v1/orders/" + paid + "/cancel", "");
  EXPECT_EQ(late.status, 409) << late;
  EXPECT_EQ(late.error_code(), "illegal_transition") << late;
  EXPECT_EQ(get(1, "/v1/orders/" + paid).j()["status"], "PAID");
  EXPECT_EQ(events_of(paid, "order.cancelled"), 0);

  auto unknown = post(1, "/v1/orders/1234567/cancel", "");
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(unknown.error_code(), "order_not_found") << unknown;
}

TEST_F(OrderApi, CreatePlacesTheOrderOnTheShardOfItsUser) {
  // Two users per shard, each node: every gene 0..15 is not needed, but each shard is.
  for (std::size_t shard = 0; shard < kShards; ++shard) {
    for (int node = 1; node <= kNodes; ++node) {
      uint64_t user = new_user(shard);
      auto r = call(create_call(node, new_key(), order_body(user, 7, 3, 250)));
      ASSERT_EQ(r.status, 201) << r;
      auto b = r.j();
      ASSERT_TRUE(b["order_id"].is_string()) << r;
      EXPECT_EQ(b["status"], "CREATED");
      EXPECT_EQ(b["amount_cents"], 3 * 250 + 99);
      std::string id = b["order_id"].get<std::string>();
      uint64_t n = std::stoull(id);
      EXPECT_EQ(n & 15, user % 16) << "gene of " << id;
      EXPECT_EQ(ids::decode(n).node, static_cast<uint32_t>(node)) << id;
      EXPECT_EQ(shard_of(id), shard);
      for (std::size_t s = 0; s < kShards; ++s)
        EXPECT_EQ(rows_of_order(s, id), s == shard ? 1 : 0) << "order " << id << " on shard " << s;

      // What the shard holds is what was asked for.
      pg::Params p{id};
      auto row = query(shard,
                       "SELECT user_id, store_id, amount_cents, status, jsonb_array_length(items) AS n_items"
                       " FROM orders WHERE order_id = $1::bigint",
                       p);
      ASSERT_EQ(row.rows(), 1);
      EXPECT_EQ(row.int64(0, "user_id"), static_cast<int64_t>(user));
      EXPECT_EQ(row.int64(0, "store_id"), 7);
      EXPECT_EQ(row.int64(0, "amount_cents"), 3 * 250 + 99);
      EXPECT_EQ(row.text(0, "status"), "CREATED");
      EXPECT_EQ(row.int64(0, "n_items"), 2);

      // And the API reads it back from either node.
      auto g = get(3 - node, "/v1/orders/" + id);
      ASSERT_EQ(g.status, 200) << g;
      EXPECT_EQ(g.j()["order_id"], id);
      EXPECT_EQ(g.j()["user_id"], user);
      EXPECT_EQ(g.j()["status"], "CREATED");
    }
  }
}

TEST_F(OrderApi, SameIdempotencyKeyGivesTheSameOrderOnEitherNode) {
  uint64_t user = new_user(1);
  auto body = order_body(user);
  std::string key = new_key("idem");
  auto first = call(create_call(1, key, body));
  ASSERT_EQ(first.status, 201) << first;
  EXPECT_FALSE(first.replayed());
  std::string id = first.j()["order_id"];

  auto again = call(create_call(1, key, body));
  ASSERT_EQ(again.status, 201) << again;
  EXPECT_EQ(again.j()["order_id"], id);
  EXPECT_TRUE(again.replayed()) << again;

  auto other_node = call(create_call(2, key, body));
  ASSERT_EQ(other_node.status, 201) << other_node;
  EXPECT_EQ(other_node.j()["order_id"], id);
  EXPECT_TRUE(other_node.replayed()) << other_node;
  EXPECT_EQ(rows_of_user(1, user), 1);

  // The same key for a different order is a client bug: refused, nothing written.
  auto changed = order_body(user, 7, 5);
  auto reused = call(create_call(2, key, changed));
  EXPECT_EQ(reused.status, 409) << reused;
  EXPECT_EQ(reused.error_code(), "idempotency_key_reused") << reused;
  EXPECT_EQ(rows_of_user(1, user), 1);
  auto g = get(1, "/v1/orders/" + id);
  EXPECT_EQ(g.j()["amount_cents"], first.j()["amount_cents"]);
}

TEST_F(OrderApi, ConcurrentCreatesWithOneKeyMakeOneOrder) {
  uint64_t user = new_user(3);
  std::string key = new_key("race");
  std::vector<Call> calls;
  for (int i = 0; i < 16; ++i) calls.push_back(create_call(1 + i % 2, key, order_body(user)));
  auto answers = call_many(calls, 16);
  std::set<std::string> ids;
  int fresh = 0;
  for (const auto& r : answers) {
    EXPECT_EQ(r.status, 201) << r;
    if (r.status != 201) continue;
    ids.insert(r.j()["order_id"].get<std::string>());
    fresh += r.replayed() ? 0 : 1;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(fresh, 1) << "exactly one call created the order, the others replayed it";
  EXPECT_EQ(rows_of_user(3, user), 1);
}

// Payments of one order race (on both nodes, so in one node's batch and across
// nodes): one payment wins, a repeat of it is a no-op, every other is refused,
// and one event is written. Payments of many orders at once each land.
TEST_F(OrderApi, ConcurrentPaymentsChargeEachOrderOnce) {
  uint64_t user = new_user(1);
  std::string id = create_order(1, user);
  ASSERT_FALSE(id.empty());
  std::vector<Call> calls;
  for (int i = 0; i < 12; ++i) calls.push_back(pay_call(1 + i % 2, id, "pay-" + std::to_string(i % 4)));
  auto answers = call_many(calls, 12);
  std::set<std::string> winners;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const auto& r = answers[i];
    if (r.status == 200) {
      winners.insert("pay-" + std::to_string(i % 4));
    } else {
      EXPECT_EQ(r.status, 409) << r;
      EXPECT_EQ(r.error_code(), "already_paid") << r;
    }
  }
  ASSERT_EQ(winners.size(), 1u) << "one payment id won";
  EXPECT_EQ(get(1, "/v1/orders/" + id).j()["payment_id"], *winners.begin());
  EXPECT_EQ(outbox_rows(id), 1);

  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i) ids.push_back(create_order(1 + i % 2, new_user(2)));
  std::vector<Call> pays;
  for (std::size_t i = 0; i < ids.size(); ++i) pays.push_back(pay_call(1 + static_cast<int>(i % 2), ids[i], "p-" + ids[i]));
  auto paid = call_many(pays, 24);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(paid[i].status, 200) << paid[i];
    EXPECT_EQ(outbox_rows(ids[i]), 1);
    EXPECT_EQ(get(2, "/v1/orders/" + ids[i]).j()["payment_id"], "p-" + ids[i]);
  }
}

// Writes take dine services only: a /paid (or a create) without the service
// credential, or with a member's token in its place, is refused and changes nothing.
TEST_F(OrderApi, WritesWithoutTheServiceCredentialAreRefused) {
  uint64_t user = new_user(1);
  std::string id = create_order(1, user);
  ASSERT_FALSE(id.empty());
  auto bare = post(1, "/v1/orders/" + id + "/paid", R"({"payment_id": "free-meal"})", {{"X-Dine-Service", ""}});
  EXPECT_EQ(bare.status, 401) << bare;
  EXPECT_EQ(bare.error_code(), "service_credential_required");
  auto forged = post(2, "/v1/orders/" + id + "/paid", R"({"payment_id": "free-meal"})",
                     {{"X-Dine-Service", "payment-1.bm90LWEtbWFj"}});
  EXPECT_EQ(forged.status, 401) << forged;
  auto create = post(1, "/v1/orders", order_body(user).dump(), {{"Idempotency-Key", new_key("bare")}, {"X-Dine-Service", ""}});
  EXPECT_EQ(create.status, 401) << create;
  EXPECT_EQ(get(1, "/v1/orders/" + id).j()["status"], "CREATED");
  EXPECT_EQ(outbox_rows(id), 0);
}

TEST_F(OrderApi, StateMachinePayThenAccept) {
  uint64_t user = new_user(2);
  std::string id = create_order(1, user);
  ASSERT_FALSE(id.empty());
  std::string paid = "/v1/orders/" + id + "/paid";
  std::string accepted = "/v1/orders/" + id + "/accepted";

  // Not paid yet: cannot be accepted.
  auto early = post(2, accepted, R"({"pickup_code":"A17"})");
  EXPECT_EQ(early.status, 409) << early;
  EXPECT_EQ(early.error_code(), "illegal_transition") << early;
  EXPECT_EQ(get(1, "/v1/orders/" + id).j()["status"], "CREATED");

  auto pay = post(1, paid, R"({"payment_id":"pay-1"})");
  ASSERT_EQ(pay.status, 200) << pay;
  EXPECT_EQ(pay.j()["status"], "PAID");
  EXPECT_FALSE(pay.replayed());
  EXPECT_EQ(outbox_rows(id), 1);

  auto repeat = post(2, paid, R"({"payment_id":"pay-1"})");
  EXPECT_EQ(repeat.status, 200) << repeat;
  EXPECT_EQ(repeat.j()["status"], "PAID");
  EXPECT_TRUE(repeat.replayed()) << repeat;
  EXPECT_EQ(outbox_rows(id), 1) << "a repeated payment writes no second event";

  auto other = post(1, paid, R"({"payment_id":"pay-2"})");
  EXPECT_EQ(other.status, 409) << other;
  EXPECT_EQ(other.error_code(), "already_paid") << other;
  EXPECT_EQ(outbox_rows(id), 1);
  auto g = get(2, "/v1/orders/" + id);
  EXPECT_EQ(g.j()["status"], "PAID");
  EXPECT_EQ(g.j()["payment_id"], "pay-1");

  auto acc = post(2, accepted, R"({"pickup_code":"A17"})");
  ASSERT_EQ(acc.status, 200) << acc;
  EXPECT_EQ(acc.j()["status"], "ACCEPTED");
  g = get(1, "/v1/orders/" + id);
  EXPECT_EQ(g.j()["status"], "ACCEPTED") << g;
  EXPECT_EQ(g.j()["pickup_code"], "A17") << g;
  EXPECT_TRUE(g.j()["accepted_at"].is_string()) << g;

  auto acc_again = post(1, accepted, R"({"pickup_code":"A17"})");
  EXPECT_EQ(acc_again.status, 200) << acc_again;
  EXPECT_TRUE(acc_again.replayed()) << acc_again;

  auto acc_other = post(1, accepted, R"({"pickup_code":"B99"})");
  EXPECT_EQ(acc_other.status, 409) << acc_other;
  EXPECT_EQ(acc_other.error_code(), "pickup_code_mismatch") << acc_other;
  EXPECT_EQ(get(2, "/v1/orders/" + id).j()["pickup_code"], "A17");

  // Paying an accepted order with its own payment is still a harmless repeat.
  auto late_pay = post(2, paid, R"({"payment_id":"pay-1"})");
  EXPECT_EQ(late_pay.status, 200) << late_pay;
  EXPECT_EQ(late_pay.j()["status"], "ACCEPTED");
  EXPECT_EQ(outbox_rows(id), 1);
  pg::Params p{id};
  EXPECT_EQ(query(shard_of(id), "SELECT version FROM orders WHERE order_id = $1::bigint", p).int64(0, "version"), 3)
      << "created, paid, accepted: two changes, repeats change nothing";
}

TEST_F(OrderApi, UnknownOrderIs404) {
  // A well-formed id of a user who never ordered.
  uint64_t user = new_user(0);
  uint64_t id = (uint64_t{123456789} << 22) | (uint64_t{9} << 14) | (user & 15);
  std::string s = std::to_string(id);
  for (auto r : {get(1, "/v1/orders/" + s), post(2, "/v1/orders/" + s + "/paid", R"({"payment_id":"p"})"),
                 post(1, "/v1/orders/" + s + "/accepted", R"({"pickup_code":"X1"})")}) {
    EXPECT_EQ(r.status, 404) << r;
    EXPECT_EQ(r.error_code(), "order_not_found") << r;
  }
  for (std::size_t sh = 0; sh < kShards; ++sh) EXPECT_EQ(rows_of_order(sh, s), 0);
}

TEST_F(OrderApi, MyOrdersNewestFirst) {
  uint64_t user = new_user(1);
  uint64_t neighbour = user + kShards;  // same shard, other user
  std::vector<std::string> made;
  for (int i = 0; i < 4; ++i) {
    made.push_back(create_order(1 + i % 2, user));
    ASSERT_FALSE(made.back().empty());
  }
  ASSERT_FALSE(create_order(1, neighbour).empty());

  auto r = get(2, "/v1/users/" + std::to_string(user) + "/orders");
  ASSERT_EQ(r.status, 200) << r;
  auto orders = r.j()["orders"];
  ASSERT_EQ(orders.size(), made.size()) << r;
  for (std::size_t i = 0; i < made.size(); ++i) {
    EXPECT_EQ(orders[i]["order_id"], made[made.size() - 1 - i]) << "position " << i << r;
    EXPECT_EQ(orders[i]["user_id"], user);
  }

  auto two = get(1, "/v1/users/" + std::to_string(user) + "/orders?limit=2");
  ASSERT_EQ(two.status, 200) << two;
  ASSERT_EQ(two.j()["orders"].size(), 2u) << two;
  EXPECT_EQ(two.j()["orders"][0]["order_id"], made[3]);
  EXPECT_EQ(two.j()["orders"][1]["order_id"], made[2]);

  auto none = get(1, "/v1/users/" + std::to_string(new_user(0)) + "/orders");
  ASSERT_EQ(none.status, 200) << none;
  EXPECT_TRUE(none.j()["orders"].empty()) << none;
}

struct BadCase {
  std::string name;
  Call call;
  int status;
  std::string code;
};

std::vector<BadCase> bad_cases(const std::string& existing_order) {
  uint64_t u = new_user(0);
  auto with = [&](const json& body, std::string key = "") {
    return Call{1, "POST", "/v1/orders", body.dump(),
                {{"Idempotency-Key", key.empty() ? new_key("bad") : key}}};
  };
  auto raw = [&](std::string body) {
    return Call{2, "POST", "/v1/orders", std::move(body), {{"Idempotency-Key", new_key("bad")}}};
  };
  json ok = order_body(u);
  auto without = [&](const char* k) {
    json b = ok;
    b.erase(k);
    return b;
  };
  auto item = [&](json qty, json price) {
    json b = ok;
    b["items"] = json::array({{{"product_id", 1}, {"qty", qty}, {"price_cents", price}}});
    return b;
  };
  json unknown = ok;
  unknown["discount"] = 100;
  json unknown_item = ok;
  unknown_item["items"][0]["colour"] = "red";
  json abc = ok;
  abc["user_id"] = "abc";
  json neg_user = ok;
  neg_user["user_id"] = -5;
  json empty = ok;
  empty["items"] = json::array();
  json big = ok;
  big["items"][0]["product_id"] = std::string(70 * 1024, '7');
  std::string o = existing_order;

  return {
      {"malformed json", raw(R"({"user_id": 1, "store_id": )"), 400, "invalid_json"},
      {"body not an object", raw("[1,2,3]"), 400, "invalid_json"},
      {"empty body", raw(""), 400, "invalid_json"},
      {"missing user_id", with(without("user_id")), 400, "missing_field"},
      {"missing store_id", with(without("store_id")), 400, "missing_field"},
      {"missing items", with(without("items")), 400, "missing_field"},
      {"user_id abc", with(abc), 400, "invalid_field"},
      {"user_id negative", with(neg_user), 400, "invalid_field"},
      {"qty negative", with(item(-1, 100)), 400, "invalid_qty"},
      {"qty zero", with(item(0, 100)), 400, "invalid_qty"},
      {"qty 1.5", with(item(1.5, 100)), 400, "invalid_field"},
      {"qty as string", with(item("2", 100)), 400, "invalid_field"},
      {"price negative", with(item(1, -1)), 400, "invalid_price"},
      {"price absurd", with(item(1, 10'000'001)), 400, "invalid_price"},
      {"amount over the limit", with(item(2, 5'000'001)), 400, "amount_too_large"},
      {"empty items", with(empty), 400, "invalid_field"},
      {"unknown field", with(unknown), 400, "unknown_field"},
      {"unknown item field", with(unknown_item), 400, "unknown_field"},
      {"missing idempotency key", Call{1, "POST", "/v1/orders", ok.dump(), {}}, 400, "missing_idempotency_key"},
      {"idempotency key too long", with(ok, std::string(200, 'k')), 400, "invalid_idempotency_key"},
      {"body over 64 KiB", with(big), 413, "payload_too_large"},
      {"order id abc", Call{1, "GET", "/v1/orders/abc", "", {}}, 400, "invalid_order_id"},
      {"order id 0", Call{2, "GET", "/v1/orders/0", "", {}}, 400, "invalid_order_id"},
      {"order id negative", Call{2, "GET", "/v1/orders/-3", "", {}}, 400, "invalid_order_id"},
      {"order id too big", Call{2, "GET", "/v1/orders/99999999999999999999", "", {}}, 400, "invalid_order_id"},
      {"pay order 0", Call{1, "POST", "/v1/orders/0/paid", R"({"payment_id":"p1"})", {}}, 400, "invalid_order_id"},
      {"pay without payment_id", Call{1, "POST", "/v1/orders/" + o + "/paid", "{}", {}}, 400, "missing_field"},
      {"pay with bad payment_id", Call{1, "POST", "/v1/orders/" + o + "/paid", R"({"payment_id":"a b"})", {}}, 400,
       "invalid_field"},
      {"pay with numeric payment_id", Call{2, "POST", "/v1/orders/" + o + "/paid", R"({"payment_id":5})", {}}, 400,
       "invalid_field"},
      {"pay with extra field", Call{2, "POST", "/v1/orders/" + o + "/paid",
                                    R"({"payment_id":"p1","amount":5})", {}}, 400, "unknown_field"},
      {"pay malformed", Call{2, "POST", "/v1/orders/" + o + "/paid", "{", {}}, 400, "invalid_json"},
      {"accept without code", Call{1, "POST", "/v1/orders/" + o + "/accepted", "{}", {}}, 400, "missing_field"},
      {"list limit 0", Call{1, "GET", "/v1/users/" + std::to_string(u) + "/orders?limit=0", "", {}}, 400,
       "invalid_limit"},
      {"list limit 1000", Call{1, "GET", "/v1/users/" + std::to_string(u) + "/orders?limit=1000", "", {}}, 400,
       "invalid_limit"},
      {"list limit abc", Call{2, "GET", "/v1/users/" + std::to_string(u) + "/orders?limit=abc", "", {}}, 400,
       "invalid_limit"},
      {"list user abc", Call{2, "GET", "/v1/users/abc/orders", "", {}}, 400, "invalid_user_id"},
  };
}

TEST_F(OrderApi, BadInputIsRefusedAndWritesNothing) {
  std::string existing = create_order(1, new_user(3));
  ASSERT_FALSE(existing.empty());
  for (const auto& c : bad_cases(existing)) {
    SCOPED_TRACE(c.name);
    int64_t orders = count_all("orders"), outbox = count_all("outbox");
    auto r = call(c.call);
    EXPECT_EQ(r.status, c.status) << r;
    EXPECT_EQ(r.error_code(), c.code) << r;
    auto b = r.j();
    EXPECT_TRUE(b.is_object() && b.contains("message") && b["message"].is_string()) << r;
    EXPECT_EQ(count_all("orders"), orders);
    EXPECT_EQ(count_all("outbox"), outbox);
  }
  // The order the bad payments aimed at is untouched.
  auto g = get(1, "/v1/orders/" + existing);
  EXPECT_EQ(g.j()["status"], "CREATED") << g;
  EXPECT_EQ(g.j()["version"], 1) << g;
}

}  // namespace
}  // namespace dine::order::test
