// The menu role's pure parts: the price lookup's request and answer, the
// refresh request, and the body checks they share (core/json_body).
#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "server/menu/prices.hpp"

namespace dine::menu {
namespace {

std::string code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadRequest);
    return e.code();
  }
  return "";
}

TEST(MenuPrices, ParsesAStoreAndItsProducts) {
  auto q = parse_prices(R"({"store_id": 7, "product_ids": [3, "4"]})", 10);
  EXPECT_EQ(q.store_id, 7);
  EXPECT_EQ(q.product_ids, (std::vector<int64_t>{3, 4}));
}

TEST(MenuPrices, RefusesBadRequestsByName) {
  EXPECT_EQ(code_of([] { parse_prices("{", 10); }), "invalid_json");
  EXPECT_EQ(code_of([] { parse_prices("[1]", 10); }), "invalid_json");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 1, "product_ids": [1], "price": 1})", 10); }), "unknown_field");
  EXPECT_EQ(code_of([] { parse_prices(R"({"product_ids": [1]})", 10); }), "missing_field");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": -1, "product_ids": [1]})", 10); }), "invalid_field");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 1.5, "product_ids": [1]})", 10); }), "invalid_field");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 1, "product_ids": []})", 10); }), "invalid_field");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 1, "product_ids": [1, "x"]})", 10); }), "invalid_field");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 1, "product_ids": [1, 2, 3]})", 2); }), "too_many");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 1, "product_ids": [2, 1, 2]})", 10); }), "duplicate_id");
  EXPECT_EQ(code_of([] { parse_prices(R"({"store_id": 99999999999999999999, "product_ids": [1]})", 10); }),
            "invalid_field");
  EXPECT_EQ(code_of([] { parse_refresh(R"({"store_ids": 5})", 10); }), "invalid_field");
  EXPECT_EQ(parse_refresh(R"({"store_ids": [5, 6]})", 10), (std::vector<int64_t>{5, 6}));
}

TEST(MenuPrices, PicksTheAskedProductsInOrderAndNamesTheMissing) {
  const std::string menu = R"({"store_id":7,"version":3,"products":[
    {"product_id":1,"name":"Meal set A","price_cents":3900,"available":true,"image":null},
    {"product_id":2,"name":"Cola","price_cents":800,"available":false,"image":"/static/img/2.png"}]})";
  auto a = pick_prices(menu, {2, 9, 1});
  EXPECT_EQ(a["store_id"], 7);
  EXPECT_EQ(a["version"], 3);
  ASSERT_EQ(a["products"].size(), 2u);
  EXPECT_EQ(a["products"][0]["product_id"], 2);
  EXPECT_EQ(a["products"][0]["available"], false);
  EXPECT_EQ(a["products"][1]["price_cents"], 3900);
  EXPECT_EQ(a["missing"], nlohmann::json::array({9}));
}

}  // namespace
}  // namespace dine::menu
