// The menu role as a real `dine serve menu` process with two worker threads,
// on the harness's PostgreSQL (database "menu") and Redis (as redis-cache):
// cache-aside reads, one database read for a thousand concurrent cold reads,
// cached absences, the price lookup, the refresh read, bad input.
#include <gtest/gtest.h>

#include <set>

#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

// Store 7001: SKUs 1..5 (SKU 4 unavailable), version 3. Store 7002: a menu
// with no products. 7999 has no menu.
void seed() {
  pg_exec("menu",
          "DELETE FROM products WHERE store_id BETWEEN 7000 AND 7999;"
          "DELETE FROM menus WHERE store_id BETWEEN 7000 AND 7999;"
          "INSERT INTO menus (store_id, version) VALUES (7001, 3), (7002, 1);"
          "INSERT INTO products (store_id, product_id, name, price_cents, available, image_path)"
          " SELECT 7001, g, 'Dish ' || g, 1000 + g, g <> 4, '/static/img/' || g || '.png'"
          " FROM generate_series(1, 5) g;");
  redis_cmd({"DEL", "menu:7001", "menu:7002", "menu:7999", "product:7001:1", "product:7001:2", "product:7001:3",
             "product:7001:4", "product:7001:5", "product:7001:77"});
}

class MenuRole : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    node_ = new Serve("mn-1", 2);
    ASSERT_TRUE(node_->wait_ready()) << node_->log_tail();
    seed();
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  static double figure(const std::string& name) {
    auto m = get(node_->port(), "/metrics");
    return metric(m.body, name, {}).value_or(-1);
  }
  static Serve* node_;
};
Serve* MenuRole::node_ = nullptr;

TEST_F(MenuRole, AMenuIsLoadedOnceThenServedFromTheCacheWithAJitteredExpiry) {
  redis_cmd({"DEL", "menu:7001"});
  const double reads = figure("dine_menu_db_reads_total");
  const double hits = figure("dine_menu_cache_hits_total");
  auto first = get(node_->port(), "/v1/stores/7001/menu");
  ASSERT_EQ(first.status, 200) << first;
  const json menu = first.j();
  EXPECT_EQ(menu["store_id"], 7001);
  EXPECT_EQ(menu["version"], 3);
  ASSERT_EQ(menu["products"].size(), 5u);
  EXPECT_EQ(menu["products"][0]["name"], "Dish 1");
  EXPECT_EQ(menu["products"][3]["available"], false);
  EXPECT_EQ(menu["products"][2]["image"], "/static/img/3.png");
  EXPECT_EQ(figure("dine_menu_db_reads_total"), reads + 1);
  auto second = get(node_->port(), "/v1/stores/7001/menu");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(figure("dine_menu_db_reads_total"), reads + 1);
  EXPECT_EQ(figure("dine_menu_cache_hits_total"), hits + 1);
  // mn-1: cache_ttl_s 100, cache_jitter_s 50.
  const int64_t ttl = redis_cmd({"TTL", "menu:7001"}).integer;
  EXPECT_GE(ttl, 95);
  EXPECT_LE(ttl, 150);
  auto empty = get(node_->port(), "/v1/stores/7002/menu");
  ASSERT_EQ(empty.status, 200) << empty;
  EXPECT_EQ(empty.j()["products"].size(), 0u);
}

TEST_F(MenuRole, AThousandConcurrentColdReadsOnTwoWorkersCostOneDatabaseRead) {
  redis_cmd({"DEL", "menu:7001"});
  const double reads = figure("dine_menu_db_reads_total");
  const double coalesced = figure("dine_menu_coalesced_total");
  auto answers = call_many(node_->port(), "GET", "/v1/stores/7001/menu", 1000);
  std::set<std::string> bodies;
  int ok = 0;
  for (const auto& r : answers) {
    ok += r.status == 200;
    if (r.status != 200) ADD_FAILURE() << r;
    bodies.insert(r.body);
  }
  EXPECT_EQ(ok, 1000);
  EXPECT_EQ(bodies.size(), 1u);
  EXPECT_EQ(figure("dine_menu_db_reads_total"), reads + 1) << "one load for the node, whatever the worker";
  EXPECT_GT(figure("dine_menu_coalesced_total"), coalesced) << "some reads joined the load in flight";
}

TEST_F(MenuRole, UnknownStoresAndProductsAreCachedAsAbsentForAShortWhile) {
  redis_cmd({"DEL", "menu:7999", "product:7001:77"});
  const double reads = figure("dine_menu_db_reads_total");
  for (int i = 0; i < 5; ++i) {
    auto r = get(node_->port(), "/v1/stores/7999/menu");
    EXPECT_EQ(r.status, 404) << r;
    EXPECT_EQ(r.error_code(), "menu_not_found");
    auto p = get(node_->port(), "/v1/stores/7001/products/77");
    EXPECT_EQ(p.status, 404) << p;
    EXPECT_EQ(p.error_code(), "product_not_found");
  }
  EXPECT_EQ(figure("dine_menu_db_reads_total"), reads + 2);
  EXPECT_GE(figure("dine_menu_cache_null_hits_total"), 8);
  EXPECT_EQ(redis_cmd({"GET", "menu:7999"}).str, "-");
  EXPECT_LE(redis_cmd({"TTL", "menu:7999"}).integer, 2);  // mn-1: null_ttl_s 2
}

TEST_F(MenuRole, OneProductAndABatchPriceLookup) {
  auto p = get(node_->port(), "/v1/stores/7001/products/2");
  ASSERT_EQ(p.status, 200) << p;
  EXPECT_EQ(p.j()["price_cents"], 1002);
  EXPECT_EQ(p.j()["store_id"], 7001);
  EXPECT_EQ(p.j()["version"], 3);
  auto prices = post_json(node_->port(), "/v1/prices", R"({"store_id": 7001, "product_ids": [5, 42, 1]})");
  ASSERT_EQ(prices.status, 200) << prices;
  const json a = prices.j();
  ASSERT_EQ(a["products"].size(), 2u);
  EXPECT_EQ(a["products"][0]["product_id"], 5);
  EXPECT_EQ(a["products"][0]["price_cents"], 1005);
  EXPECT_EQ(a["missing"], json::array({42}));
  auto none = post_json(node_->port(), "/v1/prices", R"({"store_id": 7999, "product_ids": [1]})");
  EXPECT_EQ(none.status, 404) << none;
}

TEST_F(MenuRole, BadInputIsA400ThatNamesTheProblem) {
  EXPECT_EQ(get(node_->port(), "/v1/stores/abc/menu").error_code(), "invalid_store_id");
  EXPECT_EQ(get(node_->port(), "/v1/stores/0/menu").error_code(), "invalid_store_id");
  EXPECT_EQ(get(node_->port(), "/v1/stores/7001/products/-1").error_code(), "invalid_product_id");
  auto bad = post_json(node_->port(), "/v1/prices", R"({"store_id": 7001, "product_ids": [1], "price_cents": 1})");
  EXPECT_EQ(bad.status, 400) << bad;
  EXPECT_EQ(bad.error_code(), "unknown_field");
  EXPECT_EQ(post_json(node_->port(), "/v1/prices", "{not json").error_code(), "invalid_json");
  EXPECT_EQ(post_json(node_->port(), "/v1/refresh", R"({"store_ids": []})").error_code(), "invalid_field");
}

TEST_F(MenuRole, ARefreshReloadsFromTheDatabaseAndRewritesEveryKeyWithFreshJitter) {
  ASSERT_EQ(get(node_->port(), "/v1/stores/7001/menu").status, 200);  // cached
  pg_exec("menu",
          "UPDATE products SET price_cents = 555 WHERE store_id = 7001 AND product_id = 1;"
          "UPDATE menus SET version = version + 1 WHERE store_id = 7001;");
  EXPECT_EQ(get(node_->port(), "/v1/stores/7001/menu").j()["products"][0]["price_cents"], 1001) << "still cached";
  auto r = post_json(node_->port(), "/v1/refresh", R"({"store_ids": [7001, 7002, 7998]})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j()["stores"], 2);
  EXPECT_EQ(r.j()["products"], 5);
  EXPECT_EQ(r.j()["keys"], 7);
  EXPECT_EQ(r.j()["missing"], json::array({7998}));
  const json menu = get(node_->port(), "/v1/stores/7001/menu").j();
  EXPECT_EQ(menu["products"][0]["price_cents"], 555);
  EXPECT_EQ(menu["version"], 4);
  EXPECT_EQ(get(node_->port(), "/v1/stores/7001/products/1").j()["price_cents"], 555);
  std::set<int64_t> ttls;
  for (int sku = 1; sku <= 5; ++sku) {
    int64_t ttl = redis_cmd({"TTL", "product:7001:" + std::to_string(sku)}).integer;
    EXPECT_GE(ttl, 95);
    EXPECT_LE(ttl, 150);
    ttls.insert(ttl);
  }
  EXPECT_GT(ttls.size(), 1u) << "each key drew its own jitter";
}

}  // namespace
}  // namespace dine::runtime_test
