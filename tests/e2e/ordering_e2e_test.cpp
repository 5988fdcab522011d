// The ordering path end to end behind nginx: a whole stack of its own (one
// PostgreSQL holding every database but the order shard's, which has its own;
// redis-mq and redis-cache; member, store, menu, coupon, payment, order (two
// workers, test-only fault routes on), app; one gateway)
// started by `dine up`, seeded by `dine db seed`, and driven through the
// gateway only: login, stores, menu, campaigns, claim, an order with the
// coupon at the campaign price, pay, PAID and order.paid in the stream; one
// coupon for two concurrent orders; a cancel giving it back; isolation; bad
// input and bad tokens on the public routes; internal routes 404 through the
// gateway; a write without the service credential refused; a basic service
// stopped answered 503 at once. OrderingHealth (the same stack, a fresh one):
// the health board all green when idle; a frozen cache, order shard and order
// node, and one wedged worker of the order node, each found as the root cause
// and green again after; every --json checked against its schema.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/client.hpp"
#include "core/jwt.hpp"
#include "core/stack/process.hpp"
#include "tests/e2e/e2e_support.hpp"

namespace dine {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSecret = "ordering-e2e-secret-0123456789abcdef";

struct Answer {
  int status = 0;
  json body;
  std::string raw;
};

std::ostream& operator<<(std::ostream& os, const Answer& a) { return os << "HTTP " << a.status << ": " << a.raw; }

Answer call(int port, std::string method, std::string target, std::string body = "", http::Headers headers = {}) {
  Answer out;
  try {
    auto r = e2e::http_call(port, std::move(method), std::move(target), std::move(body), std::move(headers));
    out.status = r.status;
    out.raw = std::move(r.body);
  } catch (const std::exception&) {
    out.status = -1;  // nothing answered
  }
  out.body = json::parse(out.raw, nullptr, false);
  return out;
}

std::string code(const Answer& a) { return a.body.is_object() ? a.body.value("error", "") : ""; }

class OrderingE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto p = [] { return stack::free_port(); };
    gw_ = p();
    int id = 0;
    json nodes = json::array();
    nodes.push_back({{"id", "pg"}, {"kind", "postgres"}, {"port", p()},
                     {"databases", {"member", "store", "menu", "coupon", "payment", "order"}}});
    redis_mq_ = p();
    nodes.push_back({{"id", "mq"}, {"kind", "redis"}, {"port", redis_mq_}, {"appendonly", true}});
    nodes.push_back({{"id", "cache"}, {"kind", "redis"}, {"port", p()}});
    nodes.push_back({{"id", "pg-order"}, {"kind", "postgres"}, {"port", p()}, {"databases", {"order"}}});
    auto dine = [&](std::string node, std::string role, json uses, int threads = 1) {
      int port = p();
      ports_[node] = port;
      nodes.push_back({{"id", node}, {"kind", "dine"}, {"role", role}, {"port", port}, {"node_id", ++id},
                       {"threads", threads}, {"uses", uses}});
    };
    dine("member-1", "member", {{"db", {"pg"}}});
    dine("store-1", "store", {{"db", {"pg"}}});
    dine("menu-1", "menu", {{"db", {"pg"}}, {"cache", {"cache"}}});
    // Two workers: the health board must find one of them wedged.
    dine("order-1", "order", {{"shards", {"pg-order"}}, {"mq", {"mq"}}}, 2);
    dine("coupon-1", "coupon", {{"db", {"pg"}}, {"mq", {"mq"}}, {"orders", {"order-1"}}});
    dine("payment-1", "payment", {{"db", {"pg"}}, {"orders", {"order-1"}}});
    dine("app-1", "app", {{"member", {"member-1"}}, {"store", {"store-1"}}, {"menu", {"menu-1"}},
                          {"coupon", {"coupon-1"}}, {"order", {"order-1"}}, {"payment", {"payment-1"}}});
    nodes.push_back({{"id", "gw-1"}, {"kind", "nginx"}, {"port", gw_}, {"uses", {{"app", {"app-1"}}}}});
    stack_ = e2e::SuiteStack::make("ordering-e2e",
                                   json{{"name", "ordering-e2e"},
                                        {"secret", kSecret},
                                        {"gateway", {{"qps_cap", 5000}}},
                                        {"roles", {{"payment", {{"decline_rate", 0}, {"unknown_rate", 0}}}}},
                                        {"nodes", nodes}});
    topology_ = stack_.topology;
    state_ = stack_.state;
    // The nodes' test-only POST /test/wedge (a worker blocked on purpose).
    ::setenv("DINE_TEST_ROUTES", "1", 1);
    auto up = stack_.dine("up");
    ::unsetenv("DINE_TEST_ROUTES");
    ASSERT_EQ(up.code, 0) << up.out;
    auto seed = e2e::run_dine(fmt::format("--topology {} db seed --stores 20 --products 5 --stock 3 --closed-every 10 "
                                          "--tokens-file {}/tokens.json",
                                          topology_, stack_.root.string()));
    ASSERT_EQ(seed.code, 0) << seed.out;
  }
  static void TearDownTestSuite() { stack_.down_and_remove(); }
  static std::string token(const std::string& openid) {
    auto r = call(gw_, "POST", "/api/v1/login", json{{"openid", openid}}.dump());
    EXPECT_TRUE(r.status == 200 || r.status == 201) << r;
    return r.body.value("token", "");
  }
  static http::Headers bearer(const std::string& t, const std::string& key = "") {
    http::Headers h{{"Authorization", "Bearer " + t}};
    if (!key.empty()) h.emplace_back("Idempotency-Key", key);
    return h;
  }
  static std::string claim(const std::string& t) {
    auto r = call(gw_, "POST", "/api/v1/coupons/claim", R"({"campaign_id": 1})", bearer(t));
    EXPECT_EQ(r.status, 200) << r;
    return r.body.value("coupon_id", "");
  }
  static Answer order(const std::string& t, const std::string& key, const std::string& coupon, int store = 1) {
    json b = {{"store_id", store}, {"items", json::array({{{"product_id", 1}, {"qty", 1}}})}};
    if (!coupon.empty()) b["coupon_id"] = coupon;
    return call(gw_, "POST", "/api/v1/orders", b.dump(), bearer(t, key));
  }

  static inline e2e::SuiteStack stack_;
  static inline std::string topology_, state_;
  static inline int gw_ = 0, redis_mq_ = 0;
  static inline std::map<std::string, int> ports_;
};

TEST_F(OrderingE2E, LoginStoresMenuCampaignClaimOrderWithTheCouponPayPaid) {
  const std::string t = token("wx-e2e-alice");
  auto stores = call(gw_, "GET", "/api/v1/stores?limit=5");
  ASSERT_EQ(stores.status, 200) << stores;
  EXPECT_EQ(stores.body["stores"].size(), 5u);
  auto menu = call(gw_, "GET", "/api/v1/stores/1/menu");
  ASSERT_EQ(menu.status, 200) << menu;
  ASSERT_FALSE(menu.body["items"].empty());
  const int64_t list_price = menu.body["items"][0]["price_cents"];
  // A campaign seeded just now is on sale once a coupon node has loaded it
  // (its sync loop looks every sync_every_ms, 2 s).
  Answer campaigns;
  ASSERT_TRUE(test::eventually(
      [&] {
        campaigns = call(gw_, "GET", "/api/v1/campaigns");
        return campaigns.status == 200 && !campaigns.body["campaigns"].empty();
      },
      milliseconds(10000)))
      << campaigns;
  ASSERT_EQ(campaigns.body["campaigns"].size(), 1u) << campaigns;
  EXPECT_EQ(campaigns.body["campaigns"][0]["product_id"], 1);
  const int64_t campaign_price = campaigns.body["campaigns"][0]["price_cents"];
  EXPECT_LT(campaign_price, list_price);

  const std::string coupon = claim(t);
  ASSERT_FALSE(coupon.empty());
  auto again = call(gw_, "POST", "/api/v1/coupons/claim", R"({"campaign_id": 1})", bearer(t));
  EXPECT_EQ(again.status, 409) << again;
  EXPECT_EQ(code(again), "already_claimed");

  auto made = order(t, "e2e-alice-1", coupon);
  ASSERT_EQ(made.status, 201) << made;
  EXPECT_EQ(made.body["amount_cents"], campaign_price) << "the meal set at the campaign price";
  const std::string id = made.body["order_id"];
  auto paid = call(gw_, "POST", "/api/v1/orders/" + id + "/pay", "", bearer(t));
  ASSERT_EQ(paid.status, 200) << paid;
  EXPECT_EQ(paid.body["status"], "PAID");
  auto mine = call(gw_, "GET", "/api/v1/orders/" + id, "", bearer(t));
  EXPECT_EQ(mine.body["status"], "PAID") << mine;
  // order.paid is in the stream (the relay moves it within its linger).
  bool in_stream = test::eventually(
      [&] {
        auto r = test::run([&](auto) { return e2e::redis_task(redis_mq_, {"XRANGE", "dine:orders", "-", "+"}); });
        for (const auto& e : r.elements)
          if (e.elements.size() == 2)
            for (std::size_t i = 0; i + 1 < e.elements[1].elements.size(); i += 2)
              if (e.elements[1].elements[i].str == "order_id" && e.elements[1].elements[i + 1].str == id) return true;
        return false;
      },
      milliseconds(10000));
  EXPECT_TRUE(in_stream);
  // The coupon is used: the same coupon on another order is refused.
  auto reuse = order(t, "e2e-alice-2", coupon);
  EXPECT_EQ(reuse.status, 409) << reuse;
  EXPECT_EQ(code(reuse), "coupon_in_use");
}

TEST_F(OrderingE2E, OneCouponForTwoConcurrentOrdersOneWinsAndACancelGivesItBack) {
  const std::string t = token("wx-e2e-bob");
  const std::string coupon = claim(t);
  ASSERT_FALSE(coupon.empty());
  Answer a, b;
  std::thread ta([&] { a = order(t, "e2e-bob-1", coupon); });
  std::thread tb([&] { b = order(t, "e2e-bob-2", coupon); });
  ta.join();
  tb.join();
  const Answer& won = a.status == 201 ? a : b;
  const Answer& lost = a.status == 201 ? b : a;
  ASSERT_EQ(won.status, 201) << a << " / " << b;
  EXPECT_EQ(lost.status, 409) << lost;
  EXPECT_EQ(code(lost), "coupon_in_use");
  EXPECT_EQ(won.body["amount_cents"], 100);
  const std::string id = won.body["order_id"];
  auto cancelled = call(gw_, "POST", "/api/v1/orders/" + id + "/cancel", "", bearer(t));
  ASSERT_EQ(cancelled.status, 200) << cancelled;
  EXPECT_EQ(cancelled.body["status"], "CANCELLED");
  // The coupon comes back (order.cancelled, read by the coupon role).
  EXPECT_TRUE(test::eventually([&] { return order(t, "e2e-bob-3", coupon).status == 201; }, milliseconds(10000)));
}

TEST_F(OrderingE2E, AUserSeesAndPaysOnlyTheirOwnOrders) {
  const std::string alice = token("wx-e2e-carol"), eve = token("wx-e2e-eve");
  auto made = order(alice, "e2e-carol-1", "");
  ASSERT_EQ(made.status, 201) << made;
  const std::string id = made.body["order_id"];
  EXPECT_EQ(call(gw_, "GET", "/api/v1/orders/" + id, "", bearer(eve)).status, 404);
  EXPECT_EQ(call(gw_, "POST", "/api/v1/orders/" + id + "/pay", "", bearer(eve)).status, 404);
  EXPECT_EQ(call(gw_, "POST", "/api/v1/orders/" + id + "/cancel", "", bearer(eve)).status, 404);
  auto list = call(gw_, "GET", "/api/v1/orders", "", bearer(eve));
  ASSERT_EQ(list.status, 200) << list;
  EXPECT_TRUE(list.body["orders"].empty());
  EXPECT_EQ(call(gw_, "GET", "/api/v1/orders/" + id, "", bearer(alice)).body["status"], "CREATED");
}

TEST_F(OrderingE2E, BadInputAndBadTokensAreRefusedByName) {
  const std::string t = token("wx-e2e-dave");
  auto price = call(gw_, "POST", "/api/v1/orders",
                    R"({"store_id": 1, "items": [{"product_id": 1, "qty": 1, "price_cents": 1}]})", bearer(t, "k-1"));
  EXPECT_EQ(price.status, 400) << price;
  EXPECT_EQ(code(price), "unknown_field");
  EXPECT_EQ(code(call(gw_, "POST", "/api/v1/orders", "{nope", bearer(t, "k-2"))), "invalid_json");
  EXPECT_EQ(code(call(gw_, "POST", "/api/v1/orders", R"({"store_id": "x", "items": []})", bearer(t, "k-3"))),
            "invalid_field");
  EXPECT_EQ(code(order(t, "", "")), "missing_idempotency_key");
  EXPECT_EQ(code(order(t, "k-4", "", 10)), "store_closed");  // --closed-every 10
  auto other = call(gw_, "POST", "/api/v1/orders", R"({"store_id": 1, "items": [{"product_id": 999, "qty": 1}]})",
                    bearer(t, "k-5"));
  EXPECT_EQ(other.status, 400) << other;
  EXPECT_EQ(code(other), "product_not_in_store");
  auto huge = call(gw_, "POST", "/api/v1/orders", std::string(200 * 1024, 'x'), bearer(t, "k-6"));
  EXPECT_EQ(huge.status, 413) << huge.status;
  EXPECT_EQ(code(huge), "body_too_large");
  EXPECT_EQ(code(call(gw_, "POST", "/api/v1/login", R"({"openid": 7})")), "invalid_openid");

  EXPECT_EQ(call(gw_, "GET", "/api/v1/orders").status, 401);
  const std::string expired = jwt::sign({{"sub", "1"}, {"exp", 1000}}, kSecret);
  EXPECT_EQ(code(call(gw_, "GET", "/api/v1/orders", "", bearer(expired))), "token_expired");
  const std::string forged = jwt::sign({{"sub", "1"}}, "another-secret-another-secret-12345", 3600);
  EXPECT_EQ(code(call(gw_, "GET", "/api/v1/orders", "", bearer(forged))), "invalid_token");
  const std::string none = jwt::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                           jwt::base64url_encode(R"({"sub":"1","exp":9999999999})") + ".";
  EXPECT_EQ(code(call(gw_, "GET", "/api/v1/orders", "", bearer(none))), "invalid_token");
}

TEST_F(OrderingE2E, InternalRoutesAreNotReachableAndWritesNeedTheServiceCredential) {
  for (const char* path : {"/v1/orders/1", "/metrics", "/readyz", "/v1/stores"}) {
    auto r = call(gw_, "GET", path);
    EXPECT_EQ(r.status, 404) << path << ": " << r;
  }
  const std::string t = token("wx-e2e-frank");
  auto made = order(t, "e2e-frank-1", "");
  ASSERT_EQ(made.status, 201) << made;
  const std::string id = made.body["order_id"];
  auto free_meal = call(ports_["order-1"], "POST", "/v1/orders/" + id + "/paid", R"({"payment_id": "free"})");
  EXPECT_EQ(free_meal.status, 401) << free_meal;
  EXPECT_EQ(code(free_meal), "service_credential_required");
  EXPECT_EQ(call(gw_, "GET", "/api/v1/orders/" + id, "", bearer(t)).body["status"], "CREATED");
}

// dine health on this stack: all green (exit 0); the cache frozen (SIGSTOP):
// HUNG and the ranked root cause, exit 2, no green node labelled affected;
// then the same for the order node;
// thawed: green again (each run is a process of its own: the timeline is --watch's).
// The health board's tests share these: a one-shot `dine health --json` (two
// rounds 300 ms apart, each probe under 500 ms), its output checked against
// schemas/json/health.schema.json each time; and `dine health --watch --json`
// left running, for the timeline of one process.
struct Board {
  int code = -1;
  json doc;
};

// Validates `doc` against the --json schema with Debian's python3-jsonschema
// ("" when valid, else what is wrong).
std::string schema_errors(const json& doc) {
  const fs::path file = fs::temp_directory_path() / fmt::format("dine-health-{}.json", getpid());
  std::ofstream(file) << doc.dump();
  auto r = e2e::run_command(fmt::format(
      "/usr/bin/python3 -c 'import json, sys, jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), "
      "json.load(open(sys.argv[2])))' {} {}/schemas/json/health.schema.json",
      file.string(), DINE_SOURCE_DIR));
  fs::remove(file);
  if (r.code == 0) return "";
  return r.out.find("No module named") != std::string::npos
             ? "python3-jsonschema missing; fix: bash scripts/install-deps.sh"
             : r.out.substr(r.out.size() > 2000 ? r.out.size() - 2000 : 0);
}

const json* node_of(const json& board, const std::string& id) {
  for (const auto& n : board["nodes"])
    if (n["id"] == id) return &n;
  return nullptr;
}

// Every pid of a PostgreSQL: its postmaster and the postmaster's children (backends, workers).
std::vector<pid_t> postgres_pids(pid_t postmaster) {
  std::vector<pid_t> out{postmaster};
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == postmaster) out.push_back(std::stoi(name));
  }
  return out;
}

class OrderingHealth : public OrderingE2E {
 protected:
  Board health() {
    auto r = e2e::run_dine(fmt::format("--topology {} health --json --deadline 500 --interval 300 --state-dir {}",
                                       topology_, state_));
    Board b{r.code, json::parse(e2e::json_part(r.out), nullptr, false)};
    EXPECT_TRUE(b.doc.is_object()) << r.out;
    if (b.doc.is_object()) {
      EXPECT_EQ(schema_errors(b.doc), "") << "dine health --json against its schema";
    }
    return b;
  }
  pid_t pid_of(const std::string& id) {
    const pid_t pid = stack_.pid_of(id);
    if (pid == 0) ADD_FAILURE() << "no pid for " << id << " in: " << stack_.dine("ps").out;
    return pid;
  }
  // Waits (deadline) until the board is all green again: the next test starts from a healthy stack.
  void expect_all_green_again() {
    Board last;
    EXPECT_TRUE(test::eventually(
        [&] {
          last = health();
          return last.code == 0;
        },
        milliseconds(20000), milliseconds(100)))
        << last.doc.dump(2);
  }
  // The sick board's common checks: exit 2, `id` the first root cause in
  // `state`, no green node labelled affected.
  void expect_root_cause(const Board& b, const std::string& id, const std::string& state) {
    EXPECT_EQ(b.code, 2) << b.doc.dump(2);
    ASSERT_FALSE(b.doc["summary"]["root_causes"].empty()) << b.doc.dump(2);
    EXPECT_EQ(b.doc["summary"]["root_causes"][0]["node"], id) << b.doc.dump(2);
    EXPECT_EQ(b.doc["summary"]["root_causes"][0]["state"], state) << b.doc.dump(2);
    for (const auto& n : b.doc["nodes"])
      if (n["state"] == "green") {
        EXPECT_TRUE(n["affected_by"].is_null()) << "a node that copes: " << n.dump();
      }
  }
};

// `dine health --watch --json` left running; `until` reads its rounds.
class Watch {
 public:
  explicit Watch(const std::string& args) : log_(fs::temp_directory_path() / fmt::format("dine-watch-{}.log", getpid())) {
    stack::SpawnOptions o;
    o.argv = {DINE_BINARY};
    std::istringstream words(args);
    for (std::string w; words >> w;) o.argv.push_back(w);
    o.log_file = log_.string();
    o.die_with_parent = true;
    pid_ = stack::spawn(o);
  }
  ~Watch() {
    stack::terminate(pid_, milliseconds(3000));
    std::error_code ec;
    fs::remove(log_, ec);
  }
  // The first round (from now on) for which `pred` holds, or the last one read at the deadline.
  json until(const std::function<bool(const json&)>& pred, milliseconds limit) {
    json last;
    test::eventually(
        [&] {
          std::ifstream in(log_);
          in.seekg(offset_);
          for (std::string line; std::getline(in, line);) {
            if (in.eof()) break;  // a line still being written
            offset_ += static_cast<std::streamoff>(line.size() + 1);
            if (line.rfind("{\"nodes\"", 0) != 0) continue;
            last = json::parse(line, nullptr, false);
            if (last.is_object() && pred(last)) return true;
          }
          return false;
        },
        limit, milliseconds(50));
    return last;
  }

 private:
  fs::path log_;
  pid_t pid_ = 0;
  std::streamoff offset_ = 0;
};

std::string state_of(const json& board, const std::string& id) {
  const json* n = node_of(board, id);
  return n ? n->value("state", "") : "";
}

TEST_F(OrderingHealth, IdleStackAllGreenThenAFrozenCacheIsTheRootCauseAndRecovers) {
  for (int i = 0; i < 30; ++i) call(gw_, "GET", "/api/v1/stores?limit=1");  // traffic for the gateway's figures
  Board idle = health();
  EXPECT_EQ(idle.code, 0) << idle.doc.dump(2);
  EXPECT_EQ(idle.doc["summary"]["worst"], "green");
  const json* gw = node_of(idle.doc, "gw-1");
  ASSERT_NE(gw, nullptr);
  EXPECT_GE((*gw)["figures"].value("requests_per_s", 0.0), 1.0) << "from its access log: " << gw->dump();
  // The order node's pools to its shard show on the shard.
  const json* shard = node_of(idle.doc, "pg-order");
  ASSERT_NE(shard, nullptr);
  EXPECT_GT((*shard)["figures"].value("role_pool_size", 0.0), 0.0) << shard->dump();
  // Per interface (route), summed over the gateways: the stores route is among them.
  bool stores = false;
  for (const auto& i : idle.doc["summary"]["interfaces"])
    stores = stores || (i["route"].get<std::string>().find("/api/v1/stores") != std::string::npos &&
                        i["requests_per_s"].get<double>() > 0);
  EXPECT_TRUE(stores) << idle.doc["summary"].dump(2);

  Watch watch(fmt::format("--topology {} health --watch --json --deadline 500 --interval 300 --state-dir {}",
                          topology_, state_));
  json first = watch.until([](const json& b) { return state_of(b, "cache") == "green"; }, milliseconds(10000));
  ASSERT_EQ(state_of(first, "cache"), "green") << first.dump(2);

  const pid_t cache = pid_of("cache");
  ASSERT_GT(cache, 0);
  ::kill(cache, SIGSTOP);
  const auto frozen_at = Clock::now();
  Board sick = health();
  json watched = watch.until([](const json& b) { return state_of(b, "cache") == "hung"; }, milliseconds(3000));
  ::kill(cache, SIGCONT);
  EXPECT_LT(Clock::now() - frozen_at, std::chrono::seconds(3)) << "found within 3 s";
  expect_root_cause(sick, "cache", "hung");
  EXPECT_EQ(state_of(watched, "cache"), "hung") << watched.dump(2);

  // Thawed: green again after its good rounds, and the watching board's
  // timeline holds both changes.
  json back = watch.until([](const json& b) { return state_of(b, "cache") == "green"; }, milliseconds(15000));
  ASSERT_EQ(state_of(back, "cache"), "green") << back.dump(2);
  bool to_hung = false, to_green = false;
  for (const auto& c : back["timeline"]) {
    if (c["node"] != "cache") continue;
    to_hung = to_hung || c["to"] == "hung";
    to_green = to_green || (to_hung && c["to"] == "green");
  }
  EXPECT_TRUE(to_hung && to_green) << back["timeline"].dump(2);
  expect_all_green_again();
}

TEST_F(OrderingHealth, AFrozenOrderShardIsTheRootCause) {
  const pid_t postmaster = pid_of("pg-order");
  ASSERT_GT(postmaster, 0);
  const std::vector<pid_t> pids = postgres_pids(postmaster);
  ASSERT_GT(pids.size(), 1u) << "the postmaster and its backends";
  for (pid_t p : pids) ::kill(p, SIGSTOP);
  const auto frozen_at = Clock::now();
  Board sick = health();
  for (pid_t p : pids) ::kill(p, SIGCONT);
  EXPECT_LT(Clock::now() - frozen_at, std::chrono::seconds(3)) << "found within 3 s";
  expect_root_cause(sick, "pg-order", "hung");
  EXPECT_NE(state_of(sick.doc, "pg"), "hung") << "the other PostgreSQL answers";
  expect_all_green_again();
}

TEST_F(OrderingHealth, AFrozenOrderNodeIsTheRootCause) {
  const pid_t order = pid_of("order-1");
  ASSERT_GT(order, 0);
  ::kill(order, SIGSTOP);
  Board sick = health();
  ::kill(order, SIGCONT);
  expect_root_cause(sick, "order-1", "hung");
  expect_all_green_again();
}

// One of order-1's two worker threads blocked by the test-only route: the node
// reads HUNG although its other worker answers.
TEST_F(OrderingHealth, OneWedgedWorkerOfAnOrderNodeMakesItHung) {
  std::thread wedge([] {
    auto r = call(ports_["order-1"], "POST", "/test/wedge?ms=5000");
    EXPECT_EQ(r.status, 200) << r;
  });
  Board sick;
  EXPECT_TRUE(test::eventually(
      [&] {
        sick = health();
        return state_of(sick.doc, "order-1") == "hung";
      },
      milliseconds(4500), milliseconds(50)))
      << sick.doc.dump(2);
  wedge.join();
  expect_root_cause(sick, "order-1", "hung");
  const json* n = node_of(sick.doc, "order-1");
  ASSERT_NE(n, nullptr);
  // A probe that reached the wedged worker waited out its deadline; one that
  // reached the other worker read /healthz naming the wedged one. HUNG either way.
  const std::string reasons = (*n)["reasons"].dump();
  EXPECT_TRUE(reasons.find("worker") != std::string::npos || reasons.find("nothing answered") != std::string::npos)
      << n->dump();
  expect_all_green_again();
}

TEST_F(OrderingHealth, TheTestOnlyWedgeRouteRefusesBadInput) {
  auto r = call(ports_["order-1"], "POST", "/test/wedge?ms=0");
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(code(r), "invalid_ms");
  EXPECT_EQ(call(ports_["order-1"], "POST", "/test/wedge?ms=40000").status, 400);
  EXPECT_EQ(call(gw_, "POST", "/test/wedge?ms=100").status, 404) << "never through the gateway";
}

// Last: it stops a node. The menu node stopped: its route answers 503 at once,
// the others still serve.
TEST_F(OrderingE2E, ABasicServiceStoppedIsA503WithinTheDeadline) {
  const pid_t menu = stack_.pid_of("menu-1");
  ASSERT_GT(menu, 0) << stack_.dine("ps").out;
  ::kill(menu, SIGKILL);
  ASSERT_TRUE(test::eventually([&] { return ::kill(menu, 0) != 0; }, milliseconds(5000)));
  const auto start = Clock::now();
  auto r = call(gw_, "GET", "/api/v1/stores/2/menu");
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(code(r), "dependency_unavailable");
  EXPECT_EQ(r.raw.find("127.0.0.1"), std::string::npos) << "no internal address: " << r.raw;
  EXPECT_EQ(call(gw_, "GET", "/api/v1/stores?limit=1").status, 200) << "the others still serve";
}

}  // namespace
}  // namespace dine
