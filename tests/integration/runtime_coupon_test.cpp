// The coupon role as a real `dine serve coupon` process on the harness's
// PostgreSQL (database "coupon") and Redis (as redis-mq): claims granted once
// per user and never oversold, also with the persisting consumer killed while
// it holds entries; reservations, confirmations and releases by order events;
// a restart of Redis that lost recent writes reconciled before any grant.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <sys/wait.h>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include "core/pg/connection.hpp"
#include "core/stack/process.hpp"
#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

namespace fs = std::filesystem;

// Campaign `id` on sale from an hour ago for `seconds_left` seconds, `stock` coupons.
void campaign(int64_t id, int stock, int seconds_left = 3600, int starts_in = -3600) {
  pg_exec("coupon", fmt::format(
                        "DELETE FROM coupons WHERE campaign_id = {0}; DELETE FROM campaigns WHERE campaign_id = {0};"
                        "INSERT INTO campaigns (campaign_id, name, product_id, price_cents, stock, starts_at, ends_at)"
                        " VALUES ({0}, 'Campaign {0}', 1, 100, {1}, now() + interval '{3} seconds',"
                        " now() + interval '{2} seconds');",
                        id, stock, seconds_left, starts_in));
  redis_cmd({"DEL", fmt::format("coupon:campaign:{}", id), fmt::format("coupon:campaign:{}:users", id)});
  redis_cmd({"SREM", "coupon:campaigns", std::to_string(id)});
}

int64_t db_count(const std::string& where) {
  auto& pg = dine::test::Harness::get().pg(0);
  return dine::test::run([&](asio::any_io_executor ex) -> Task<int64_t> {
    auto c = co_await pg::Connection::connect(ex, pg.dsn("coupon"), deadline_in(milliseconds(5000)));
    auto r = co_await c->simple("SELECT count(*) FROM coupons WHERE " + where, deadline_in(milliseconds(5000)));
    co_return r.int64(0, "count");
  });
}

std::string claim_body(int64_t user) { return fmt::format(R"({{"user_id": {}}})", user); }
std::string use_body(int64_t user, const std::string& key) {
  return fmt::format(R"({{"user_id": {}, "order_key": "{}"}})", user, key);
}

// An order event as the order role's relay writes it to dine:orders.
void order_event(const std::string& type, int64_t coupon, int64_t user, const std::string& key) {
  json data = {{"type", type}, {"order_id", "42"}, {"user_id", user}, {"coupon_id", std::to_string(coupon)},
               {"idempotency_key", key}};
  redis_cmd({"XADD", "dine:orders", "*", "type", type, "order_id", "42", "data", data.dump()});
}

std::string coupon_state(int port, int64_t user, const std::string& coupon) {
  const json page = get(port, fmt::format("/v1/users/{}/coupons", user)).j();
  for (const auto& c : page["coupons"])
    if (c["coupon_id"] == coupon) return c["state"];
  return "";
}

class CouponRole : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The groups `dine db migrate` makes.
    redis_cmd({"XGROUP", "CREATE", "dine:coupons", "coupon-db", "0", "MKSTREAM"});
    redis_cmd({"XGROUP", "CREATE", "dine:orders", "coupon", "0", "MKSTREAM"});
    node_ = new Serve("cp-1", 2);
    ASSERT_TRUE(node_->wait_ready()) << node_->log_tail();
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  static int port() { return node_->port(); }
  static Serve* node_;
};
Serve* CouponRole::node_ = nullptr;

TEST_F(CouponRole, AClaimIsGrantedOncePerUserInsideItsWindow) {
  campaign(601, 5);
  campaign(602, 5, 3600, 600);  // starts in ten minutes
  campaign(603, 5, -10, -3600);  // ended ten seconds ago
  auto first = post_json(port(), "/v1/campaigns/601/claims", claim_body(1));
  ASSERT_EQ(first.status, 201) << first;
  const std::string id = first.j()["coupon_id"];
  auto again = post_json(port(), "/v1/campaigns/601/claims", claim_body(1));
  ASSERT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.j()["coupon_id"], id);
  EXPECT_EQ(again.j()["replayed"], true);
  EXPECT_EQ(post_json(port(), "/v1/campaigns/602/claims", claim_body(1)).error_code(), "campaign_not_started");
  EXPECT_EQ(post_json(port(), "/v1/campaigns/603/claims", claim_body(1)).error_code(), "campaign_ended");
  auto missing = post_json(port(), "/v1/campaigns/699/claims", claim_body(1));
  EXPECT_EQ(missing.status, 404) << missing;
  EXPECT_EQ(missing.error_code(), "campaign_not_found");
  EXPECT_EQ(post_json(port(), "/v1/campaigns/601/claims", R"({"user_id": "x"})").error_code(), "invalid_field");
  EXPECT_EQ(post_json(port(), "/v1/campaigns/601/claims", R"({"user_id": 2, "stock": 9})").error_code(),
            "unknown_field");
  EXPECT_EQ(post_json(port(), "/v1/campaigns/abc/claims", claim_body(2)).error_code(), "invalid_campaign_id");
  // A claim without the service credential (only dine services may write).
  auto bare = call(port(), "POST", "/v1/campaigns/601/claims", {{"X-Dine-Service", ""}}, milliseconds(5000),
                   claim_body(3));
  EXPECT_EQ(bare.status, 401) << bare;
  EXPECT_EQ(bare.error_code(), "service_credential_required");
  auto forged = call(port(), "POST", "/v1/campaigns/601/claims", {{"X-Dine-Service", "app-1.AAAA"}},
                     milliseconds(5000), claim_body(3));
  EXPECT_EQ(forged.status, 401) << forged;

  const json list = get(port(), "/v1/campaigns").j()["campaigns"];
  bool listed = false;
  for (const auto& c : list) {
    EXPECT_NE(c["campaign_id"], 602) << "not started";
    EXPECT_NE(c["campaign_id"], 603) << "ended";
    if (c["campaign_id"] == 601) {
      listed = true;
      EXPECT_EQ(c["stock"], 4);
      EXPECT_EQ(c["price_cents"], 100);
    }
  }
  EXPECT_TRUE(listed) << list.dump();
  EXPECT_EQ(coupon_state(port(), 1, id), "granted");
  EXPECT_TRUE(eventually([&] { return db_count("campaign_id = 601") == 1; }, milliseconds(10000)))
      << "the claim reaches the database";
}

TEST_F(CouponRole, AReservationIsConfirmedByThePaymentAndReleasedByACancellation) {
  campaign(611, 10);
  const std::string a = post_json(port(), "/v1/campaigns/611/claims", claim_body(11)).j()["coupon_id"];
  const std::string b = post_json(port(), "/v1/campaigns/611/claims", claim_body(12)).j()["coupon_id"];
  const std::string use_a = "/v1/coupons/" + a;
  auto r = post_json(port(), use_a + "/reserve", use_body(11, "k1"));
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j()["state"], "reserved");
  EXPECT_EQ(r.j()["price_cents"], 100);
  EXPECT_EQ(r.j()["product_id"], 1);
  EXPECT_EQ(post_json(port(), use_a + "/reserve", use_body(11, "k1")).j()["replayed"], true);
  EXPECT_EQ(post_json(port(), use_a + "/reserve", use_body(11, "k2")).error_code(), "coupon_in_use");
  auto theirs = post_json(port(), use_a + "/reserve", use_body(12, "k1"));
  EXPECT_EQ(theirs.status, 404) << "someone else's coupon is not found";
  EXPECT_EQ(theirs.error_code(), "coupon_not_found");
  EXPECT_EQ(post_json(port(), use_a + "/release", use_body(11, "k2")).j()["state"], "reserved") << "not k2's";
  EXPECT_EQ(post_json(port(), use_a + "/release", use_body(11, "k1")).j()["state"], "granted");
  ASSERT_EQ(post_json(port(), use_a + "/reserve", use_body(11, "k2")).status, 200);

  order_event("order.paid", std::stoll(a), 11, "k2");
  EXPECT_TRUE(eventually([&] { return coupon_state(port(), 11, a) == "used"; }, milliseconds(10000)));
  EXPECT_EQ(post_json(port(), use_a + "/reserve", use_body(11, "k3")).error_code(), "coupon_in_use")
      << "never used twice";

  ASSERT_EQ(post_json(port(), "/v1/coupons/" + b + "/reserve", use_body(12, "k9")).status, 200);
  order_event("order.cancelled", std::stoll(b), 12, "k9");
  EXPECT_TRUE(eventually([&] { return coupon_state(port(), 12, b) == "granted"; }, milliseconds(10000)));
  EXPECT_TRUE(eventually([&] { return db_count("coupon_id = " + a + " AND state = 'used'") == 1; },
                         milliseconds(10000)));
  EXPECT_TRUE(eventually([&] { return db_count("coupon_id = " + b + " AND state = 'granted' AND seq = 3") == 1; },
                         milliseconds(10000)));
}

TEST_F(CouponRole, ACouponOfAnEndedCampaignCannotBeReserved) {
  campaign(621, 10, 2);  // ends in two seconds
  auto c = post_json(port(), "/v1/campaigns/621/claims", claim_body(21));
  ASSERT_EQ(c.status, 201) << c;
  const std::string id = c.j()["coupon_id"];
  std::string code;
  EXPECT_TRUE(eventually(
      [&] {
        code = post_json(port(), "/v1/coupons/" + id + "/reserve", use_body(21, "k")).error_code();
        if (code.empty()) post_json(port(), "/v1/coupons/" + id + "/release", use_body(21, "k"));
        return code == "coupon_expired";
      },
      milliseconds(10000), milliseconds(200)))
      << code;
}

// A reservation whose order was never made is released once it is older than
// reservation_ttl_ms (cp-1: 1.5 s); one whose order exists is left to the
// order's events. The sweeper asks the order role (od-1) which is which.
TEST_F(CouponRole, AReservationWhoseOrderNeverCameIsReleased) {
  Serve orders("od-1", 1);
  ASSERT_TRUE(orders.wait_ready()) << orders.log_tail();
  campaign(651, 10);
  const std::string kept = post_json(port(), "/v1/campaigns/651/claims", claim_body(51)).j()["coupon_id"];
  const std::string orphan = post_json(port(), "/v1/campaigns/651/claims", claim_body(52)).j()["coupon_id"];
  // The first: reserved, and its order made (on od-1) with the same key.
  ASSERT_EQ(post_json(port(), "/v1/coupons/" + kept + "/reserve", use_body(51, "made")).status, 200);
  json order = {{"user_id", 51}, {"store_id", 1}, {"coupon_id", kept},
                {"items", json::array({{{"product_id", 1}, {"qty", 1}, {"price_cents", 100}}})}};
  auto made = call(orders.port(), "POST", "/v1/orders", {{"Idempotency-Key", "made"}}, milliseconds(5000), order.dump());
  ASSERT_EQ(made.status, 201) << made;
  // The second: reserved by an app that then stopped.
  ASSERT_EQ(post_json(port(), "/v1/coupons/" + orphan + "/reserve", use_body(52, "never")).status, 200);
  EXPECT_TRUE(eventually([&] { return coupon_state(port(), 52, orphan) == "granted"; }, milliseconds(15000)))
      << "released";
  EXPECT_EQ(coupon_state(port(), 51, kept), "reserved") << "its order exists: left to the order's events";
  EXPECT_GE(metric(get(port(), "/metrics").body, "dine_coupon_reservations_released_total", {}).value_or(0), 1);
}

// An order made with a coupon that expires unpaid (od-2: unpaid orders live
// 10 s) gives its coupon back: order.cancelled (reason expired) carries the
// coupon and the reservation's key, and the coupon role releases it.
TEST_F(CouponRole, AnOrderThatExpiresUnpaidGivesItsCouponBack) {
  Serve orders("od-2", 1);
  ASSERT_TRUE(orders.wait_ready()) << orders.log_tail();
  campaign(661, 10);
  const std::string coupon = post_json(port(), "/v1/campaigns/661/claims", claim_body(61)).j()["coupon_id"];
  ASSERT_EQ(post_json(port(), "/v1/coupons/" + coupon + "/reserve", use_body(61, "expiring")).status, 200);
  json order = {{"user_id", 61}, {"store_id", 1}, {"coupon_id", coupon},
                {"items", json::array({{{"product_id", 1}, {"qty", 1}, {"price_cents", 100}}})}};
  auto made = call(orders.port(), "POST", "/v1/orders", {{"Idempotency-Key", "expiring"}}, milliseconds(5000),
                   order.dump());
  ASSERT_EQ(made.status, 201) << made;
  const std::string id = made.j()["order_id"];
  EXPECT_TRUE(eventually([&] { return get(orders.port(), "/v1/orders/" + id).j()["status"] == "CANCELLED"; },
                         milliseconds(30000)))
      << "expired";
  EXPECT_TRUE(eventually([&] { return coupon_state(port(), 61, coupon) == "granted"; }, milliseconds(10000)))
      << "the coupon is back";
  // And usable again by another order of the same user.
  EXPECT_EQ(post_json(port(), "/v1/coupons/" + coupon + "/reserve", use_body(61, "again")).status, 200);
}

// 10,000 claims by distinct users, 2,000 in flight at once, on 1,000 coupons,
// while the database row of the campaign is locked (FOR UPDATE blocks the
// consumer's foreign-key checks): the consumer holds entries it cannot write
// when it is killed; started again, it writes exactly what Redis granted.
TEST_F(CouponRole, TenThousandClaimsOnAThousandCouponsGrantExactlyAThousandAlsoWithTheConsumerKilled) {
  campaign(631, 1000);
  ASSERT_EQ(post_json(port(), "/v1/campaigns/631/claims", claim_body(900000)).status, 201);
  ASSERT_TRUE(eventually([&] { return db_count("campaign_id = 631") == 1; }, milliseconds(10000)));

  auto& pg = dine::test::Harness::get().pg(0);
  std::vector<Resp> answers;
  std::atomic<bool> release{false};
  std::atomic<bool> locked{false};
  std::thread holder([&] {
    dine::test::run([&](asio::any_io_executor ex) -> Task<void> {
      auto lock = co_await pg::Connection::connect(ex, pg.dsn("coupon"), deadline_in(milliseconds(5000)));
      co_await lock->simple("BEGIN; SELECT 1 FROM campaigns WHERE campaign_id = 631 FOR UPDATE",
                            deadline_in(milliseconds(5000)));
      locked = true;
      asio::steady_timer t(ex);
      while (!release) {
        t.expires_after(milliseconds(20));
        co_await t.async_wait(asio::use_awaitable);
      }
      co_await lock->simple("COMMIT", deadline_in(milliseconds(5000)));
    });
  });
  ASSERT_TRUE(eventually([&] { return locked.load(); }, milliseconds(10000)));

  std::vector<std::string> bodies;
  for (int u = 0; u < 10000; ++u) bodies.push_back(claim_body(1'000'000 + u));
  answers = call_each(port(), "POST", "/v1/campaigns/631/claims", bodies, 2000);
  int granted = 0, sold_out = 0;
  for (const auto& r : answers) {
    if (r.status == 201) ++granted;
    else if (r.error_code() == "sold_out") ++sold_out;
    else ADD_FAILURE() << r;
  }
  EXPECT_EQ(granted, 999) << "one of the 1,000 went to the first claim";
  EXPECT_EQ(sold_out, 9001);
  EXPECT_EQ(redis_cmd({"HLEN", "coupon:campaign:631:users"}).integer, 1000);
  EXPECT_EQ(redis_cmd({"HGET", "coupon:campaign:631", "stock"}).str, "0");

  // The consumer is stuck on the locked row with entries in hand: kill it.
  EXPECT_EQ(db_count("campaign_id = 631"), 1);
  ::kill(node_->pid(), SIGKILL);
  ASSERT_TRUE(node_->wait_exit(milliseconds(10000)).has_value());
  release = true;
  holder.join();
  delete node_;
  node_ = new Serve("cp-1", 2);
  ASSERT_TRUE(node_->wait_ready()) << node_->log_tail();
  EXPECT_TRUE(eventually([&] { return db_count("campaign_id = 631") == 1000; }, milliseconds(30000)))
      << db_count("campaign_id = 631");

  // Exactly the grants of Redis: every (user, coupon) pair, no more.
  redis::Reply users = redis_cmd({"HGETALL", "coupon:campaign:631:users"});
  std::set<std::string> in_redis;
  for (std::size_t i = 0; i + 1 < users.elements.size(); i += 2)
    in_redis.insert(users.elements[i].str + ":" + users.elements[i + 1].str);
  std::set<std::string> in_db;
  dine::test::run([&](asio::any_io_executor ex) -> Task<void> {
    auto c = co_await pg::Connection::connect(ex, pg.dsn("coupon"), deadline_in(milliseconds(5000)));
    auto r = co_await c->simple("SELECT user_id || ':' || coupon_id AS pair FROM coupons WHERE campaign_id = 631",
                                deadline_in(milliseconds(5000)));
    for (int i = 0; i < r.rows(); ++i) in_db.insert(std::string(r.text(i, "pair")));
  });
  EXPECT_EQ(in_db, in_redis);
}

// `dine audit coupons` on the suite's topology: clean after the runs above;
// a coupon the database lost (or holds in another state) is named, exit 1.
TEST_F(CouponRole, TheAuditFindsNoDifferenceThenNamesOne) {
  auto audit = [] {
    std::string cmd = fmt::format("{} --topology {} audit coupons --settle 20 --json 2>&1",
                                  dine::test::Harness::dine_binary(), Kit::get().topology_path());
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = p ? pclose(p) : -1;
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  auto [code, out] = audit();
  EXPECT_EQ(code, 0) << out;
  json report = json::parse(out.substr(std::min(out.find('{'), out.size())), nullptr, false);
  ASSERT_TRUE(report.is_object()) << out;
  EXPECT_EQ(report["clean"], true) << out;
  EXPECT_EQ(report["in_flight"], 0);

  const json page = get(port(), "/v1/users/1000007/coupons").j();  // one of the 10,000 claimants
  std::string lost;
  for (const auto& c : page["coupons"]) lost = c["coupon_id"];
  if (lost.empty()) {  // that user was sold out: take the first claimant's
    lost = get(port(), "/v1/users/900000/coupons").j()["coupons"][0]["coupon_id"];
  }
  pg_exec("coupon", "DELETE FROM coupons WHERE coupon_id = " + lost);
  auto [code2, out2] = audit();
  EXPECT_EQ(code2, 1) << out2;
  EXPECT_NE(out2.find("coupon " + lost + ": granted in Redis"), std::string::npos) << out2;
}

// Redis restarted from an older copy of its append-only file: the grants made
// after the copy are gone from Redis but persisted in the database. Nothing is
// granted before the coupon role has reconciled; then the stock is total -
// persisted, and a user whose grant Redis lost gets the same coupon back.
TEST_F(CouponRole, ARedisThatLostRecentWritesIsReconciledBeforeItGrantsAgain) {
  campaign(641, 100);
  std::map<int64_t, std::string> coupons;
  auto claim_users = [&](int64_t from, int64_t to) {
    for (int64_t u = from; u < to; ++u) {
      auto r = post_json(port(), "/v1/campaigns/641/claims", claim_body(u));
      ASSERT_EQ(r.status, 201) << r;
      coupons[u] = r.j()["coupon_id"];
    }
  };
  claim_users(2'000'000, 2'000'040);
  ASSERT_TRUE(eventually([&] { return db_count("campaign_id = 641") == 40; }, milliseconds(10000)));
  auto& h = dine::test::Harness::get();
  const std::string dir = h.redis().dir;
  const std::string copy = h.temp_dir() + "/redis-aof-copy";
  fs::remove_all(copy);
  redis_cmd({"BGREWRITEAOF"});
  ASSERT_TRUE(eventually([&] { return redis_cmd({"INFO", "persistence"}).str.find("aof_rewrite_in_progress:0") !=
                                      std::string::npos; }, milliseconds(10000)));
  fs::copy(dir + "/appendonlydir", copy, fs::copy_options::recursive);

  claim_users(2'000'040, 2'000'070);  // these 30 Redis will lose
  ASSERT_TRUE(eventually([&] { return db_count("campaign_id = 641") == 70; }, milliseconds(10000)));
  h.redis_stop();
  fs::remove_all(dir + "/appendonlydir");
  fs::copy(copy, dir + "/appendonlydir", fs::copy_options::recursive);
  h.redis_start();
  ASSERT_EQ(redis_cmd({"HLEN", "coupon:campaign:641:users"}).integer, 40) << "Redis lost the last 30 grants";
  // Each worker's client reconnects on its own (until then that worker
  // answers 503 redis_unavailable, which a client retries). Twenty answers
  // in a row, each on a new connection (a worker drawn anew), say both have.
  int in_a_row = 0;
  ASSERT_TRUE(eventually(
      [&] {
        in_a_row = get(port(), "/v1/users/1/coupons").status == 200 ? in_a_row + 1 : 0;
        return in_a_row >= 20;
      },
      milliseconds(15000), milliseconds(5)));

  std::vector<std::string> bodies;
  for (int u = 0; u < 100; ++u) bodies.push_back(claim_body(3'000'000 + u));
  auto answers = call_each(port(), "POST", "/v1/campaigns/641/claims", bodies, 20);
  int granted = 0;
  for (const auto& r : answers) {
    if (r.status == 201) ++granted;
    else if (r.error_code() != "sold_out") ADD_FAILURE() << r;
  }
  EXPECT_EQ(granted, 30) << "stock = 100 - 70 persisted";
  for (int64_t u = 2'000'040; u < 2'000'070; ++u) {
    auto r = post_json(port(), "/v1/campaigns/641/claims", claim_body(u));
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.j()["coupon_id"], coupons[u]) << "the lost grant is back, not a new one";
  }
  EXPECT_EQ(redis_cmd({"HLEN", "coupon:campaign:641:users"}).integer, 100);
  EXPECT_TRUE(eventually([&] { return db_count("campaign_id = 641") == 100; }, milliseconds(10000)));
}

}  // namespace
}  // namespace dine::runtime_test
