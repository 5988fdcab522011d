// The store role as a real `dine serve store` process on the harness's
// PostgreSQL (database "store"): stores by city a page at a time, one store,
// bad input a 400.
#include <gtest/gtest.h>

#include <set>

#include "core/pg/connection.hpp"
#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

// 25 stores in "Testville" (ids 9001..9025, 9013 closed), 3 in "Elsewhere".
void seed() {
  auto& pg = dine::test::Harness::get().pg(0);
  dine::test::run([&](asio::any_io_executor ex) -> Task<void> {
    auto c = co_await pg::Connection::connect(ex, pg.dsn("store"), deadline_in(milliseconds(5000)));
    co_await c->simple(
        "DELETE FROM stores WHERE store_id BETWEEN 9001 AND 9103;"
        "INSERT INTO stores (store_id, name, city, open)"
        " SELECT g, 'Store ' || g, 'Testville', g <> 9013 FROM generate_series(9001, 9025) g;"
        "INSERT INTO stores (store_id, name, city) SELECT g, 'Store ' || g, 'Elsewhere' FROM generate_series(9101, 9103) g;",
        deadline_in(milliseconds(5000)));
  });
}

class StoreRole : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    node_ = new Serve("st-1");
    ASSERT_TRUE(node_->wait_ready()) << node_->log_tail();
    seed();
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  static Serve* node_;
};
Serve* StoreRole::node_ = nullptr;

TEST_F(StoreRole, ListsACityPageByPageInIdOrder) {
  std::vector<int64_t> ids;
  std::string target = "/v1/stores?city=Testville&limit=10";
  int pages = 0;
  for (;;) {
    auto r = get(node_->port(), target);
    ASSERT_EQ(r.status, 200) << r;
    ++pages;
    const json page = r.j();  // (a range-for over r.j()["stores"] would outlive its temporary)
    for (const auto& s : page["stores"]) {
      EXPECT_EQ(s["city"], "Testville");
      ids.push_back(s["store_id"].get<int64_t>());
    }
    if (page["next_cursor"].is_null()) break;
    ASSERT_LT(pages, 10);
    target = "/v1/stores?city=Testville&limit=10&cursor=" + page["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 25u);
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], 9001 + static_cast<int64_t>(i));
  auto other = get(node_->port(), "/v1/stores?city=Elsewhere");
  ASSERT_EQ(other.status, 200) << other;
  EXPECT_EQ(other.j()["stores"].size(), 3u);
  EXPECT_TRUE(other.j()["next_cursor"].is_null());
  auto none = get(node_->port(), "/v1/stores?city=Nowhere");
  EXPECT_EQ(none.j()["stores"].size(), 0u);
}

TEST_F(StoreRole, OneStoreOr404) {
  auto r = get(node_->port(), "/v1/stores/9013");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j()["name"], "Store 9013");
  EXPECT_EQ(r.j()["open"], false);
  auto missing = get(node_->port(), "/v1/stores/8999");
  EXPECT_EQ(missing.status, 404) << missing;
  EXPECT_EQ(missing.error_code(), "store_not_found");
}

TEST_F(StoreRole, BadInputIs400) {
  for (const auto& [target, code] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/stores?limit=0", "invalid_limit"},
           {"/v1/stores?limit=500", "invalid_limit"},
           {"/v1/stores?cursor=abc", "invalid_cursor"},
           {"/v1/stores?city=", "invalid_city"},
           {"/v1/stores/abc", "invalid_store_id"}}) {
    auto r = get(node_->port(), target);
    EXPECT_EQ(r.status, 400) << target << " " << r;
    EXPECT_EQ(r.error_code(), code) << target << " " << r;
  }
}

}  // namespace
}  // namespace dine::runtime_test
