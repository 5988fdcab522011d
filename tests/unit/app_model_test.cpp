// The app role's pure parts: the public order request (prices sent by a
// client refused), the order's lines priced on the server with the coupon's
// unit at the campaign price, the public menu's shape.
#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "server/app/model.hpp"

namespace dine::app {
namespace {

std::string code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return "";
}

TEST(AppModel, AnOrderNamesProductsAndQuantitiesOnly) {
  NewOrder o = parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": 2}], "coupon_id": "77"})", 20, 20);
  EXPECT_EQ(o.store_id, 3);
  ASSERT_EQ(o.items.size(), 1u);
  EXPECT_EQ(o.items[0].qty, 2);
  EXPECT_EQ(o.coupon_id, 77);
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": 1, "price_cents": 1}]})", 20, 20); }),
            "unknown_field");
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "amount_cents": 1, "items": [{"product_id": 1, "qty": 1}]})", 20, 20); }),
            "unknown_field");
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": 0}]})", 20, 20); }),
            "invalid_qty");
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": "2"}]})", 20, 20); }),
            "invalid_field");
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "items": []})", 20, 20); }), "invalid_field");
  EXPECT_EQ(code_of([] { parse_order(R"({"items": [{"product_id": 1, "qty": 1}]})", 20, 20); }), "missing_field");
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": 1}, {"product_id": 1, "qty": 1}]})", 20, 20); }),
            "duplicate_id");
  EXPECT_EQ(code_of([] { parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": 1}, {"product_id": 2, "qty": 1}]})", 1, 20); }),
            "too_many_items");
  EXPECT_EQ(code_of([] { parse_order("[]", 20, 20); }), "invalid_json");
}

TEST(AppModel, LinesArePricedFromTheMenuAndOneUnitFromTheCoupon) {
  NewOrder o = parse_order(R"({"store_id": 3, "items": [{"product_id": 1, "qty": 3}, {"product_id": 2, "qty": 1}]})", 20, 20);
  std::vector<Priced> prices = {{1, 3900, true}, {2, 700, true}};
  auto plain = order_items(o, prices, std::nullopt);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0]["price_cents"], 3900);
  EXPECT_EQ(plain[0]["qty"], 3);
  auto with = order_items(o, prices, Coupon{9, 1, 100});
  ASSERT_EQ(with.size(), 3u);
  EXPECT_EQ(with[0], (nlohmann::json{{"product_id", 1}, {"qty", 1}, {"price_cents", 100}}));
  EXPECT_EQ(with[1], (nlohmann::json{{"product_id", 1}, {"qty", 2}, {"price_cents", 3900}}));
  EXPECT_EQ(with[2]["price_cents"], 700);
  EXPECT_EQ(code_of([&] { order_items(o, prices, Coupon{9, 5, 100}); }), "coupon_not_applicable");
}

TEST(AppModel, ThePublicMenuCallsProductsItems) {
  EXPECT_EQ(public_menu(R"({"products":[{"name":"\"products\":"}],"store_id":1,"version":2})"),
            R"({"items":[{"name":"\"products\":"}],"store_id":1,"version":2})");
}

}  // namespace
}  // namespace dine::app
