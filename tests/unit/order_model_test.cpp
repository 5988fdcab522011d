// The order role's strict request parsing: every bad input is a BadRequest with
// its own code, amounts are summed, and the request hash identifies a replay.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "server/order/model.hpp"

namespace dine::order {
namespace {

using nlohmann::json;

const std::string kKey = "key-1";

json valid_body() {
  return {{"user_id", 42},
          {"store_id", 7},
          {"items", json::array({{{"product_id", 100}, {"qty", 2}, {"price_cents", 450}},
                                 {{"product_id", 101}, {"qty", 1}, {"price_cents", 1200}}})}};
}

// The code of the BadRequest that parse_create throws; fails the test otherwise.
std::string code_of(const std::string& body, std::string_view key = kKey, const OrderConfig& limits = {}) {
  try {
    parse_create(body, key, limits);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadRequest) << e.what();
    EXPECT_NE(std::string(e.what()), "");
    return e.code();
  }
  ADD_FAILURE() << "accepted: " << body;
  return "";
}
std::string code_of(const json& body, std::string_view key = kKey, const OrderConfig& limits = {}) {
  return code_of(body.dump(), key, limits);
}

template <typename F>
std::string code_of_call(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadRequest) << e.what();
    return e.code();
  }
  ADD_FAILURE() << "accepted";
  return "";
}

TEST(ParseCreate, ValidBody) {
  auto o = parse_create(valid_body().dump(), kKey, OrderConfig{});
  EXPECT_EQ(o.user_id, 42u);
  EXPECT_EQ(o.store_id, 7u);
  ASSERT_EQ(o.items.size(), 2u);
  EXPECT_EQ(o.items[0].product_id, 100u);
  EXPECT_EQ(o.items[0].qty, 2);
  EXPECT_EQ(o.items[0].price_cents, 450);
  EXPECT_EQ(o.amount_cents, 2 * 450 + 1 * 1200);
  EXPECT_FALSE(o.coupon_id.has_value());
  EXPECT_EQ(o.idempotency_key, kKey);
  EXPECT_EQ(o.request_hash.size(), 64u);  // sha256 hex
  EXPECT_EQ(o.items_json(), valid_body()["items"]);
}

TEST(ParseCreate, StringIdsAndCouponAreAccepted) {
  json b = valid_body();
  b["user_id"] = "12";
  b["store_id"] = "9223372036854775807";
  b["coupon_id"] = "5";
  b["items"][0]["product_id"] = "100";
  auto o = parse_create(b.dump(), kKey, OrderConfig{});
  EXPECT_EQ(o.user_id, 12u);
  EXPECT_EQ(o.store_id, 9223372036854775807u);
  EXPECT_EQ(o.coupon_id, 5u);
  EXPECT_EQ(o.items[0].product_id, 100u);
  b["coupon_id"] = nullptr;  // null: no coupon
  EXPECT_FALSE(parse_create(b.dump(), kKey, OrderConfig{}).coupon_id.has_value());
}

TEST(ParseCreate, FreeItemsAndLimitsAtTheEdge) {
  OrderConfig l;
  json b = valid_body();
  b["items"] = json::array({{{"product_id", 1}, {"qty", l.max_qty}, {"price_cents", 0}}});
  EXPECT_EQ(parse_create(b.dump(), kKey, l).amount_cents, 0);
  b["items"] = json::array({{{"product_id", 1}, {"qty", 1}, {"price_cents", l.max_amount_cents}}});
  EXPECT_EQ(parse_create(b.dump(), kKey, l).amount_cents, l.max_amount_cents);
  b["items"] = json::array();
  for (int i = 0; i < l.max_items; ++i) b["items"].push_back({{"product_id", i + 1}, {"qty", 1}, {"price_cents", 1}});
  EXPECT_EQ(parse_create(b.dump(), kKey, l).amount_cents, l.max_items);
  EXPECT_EQ(parse_create(b.dump(), std::string(128, 'k'), l).idempotency_key.size(), 128u);
}

TEST(ParseCreate, InvalidJson) {
  EXPECT_EQ(code_of(std::string("")), "invalid_json");
  EXPECT_EQ(code_of(std::string("{")), "invalid_json");
  EXPECT_EQ(code_of(std::string("{\"user_id\": 1,}")), "invalid_json");
  EXPECT_EQ(code_of(std::string("[1,2]")), "invalid_json");
  EXPECT_EQ(code_of(std::string("\"order\"")), "invalid_json");
  EXPECT_EQ(code_of(std::string("null")), "invalid_json");
  EXPECT_EQ(code_of(std::string("\xff\xfe")), "invalid_json");
}

TEST(ParseCreate, MissingFields) {
  for (const char* k : {"user_id", "store_id", "items"}) {
    json b = valid_body();
    b.erase(k);
    EXPECT_EQ(code_of(b), "missing_field") << k;
    b[k] = nullptr;
    EXPECT_EQ(code_of(b), "missing_field") << k << " = null";
  }
  for (const char* k : {"product_id", "qty", "price_cents"}) {
    json b = valid_body();
    b["items"][1].erase(k);
    EXPECT_EQ(code_of(b), "missing_field") << k;
  }
}

TEST(ParseCreate, InvalidFields) {
  auto with = [](const char* k, json v) {
    json b = valid_body();
    b[k] = std::move(v);
    return b;
  };
  for (json v : {json(0), json(-1), json(1.5), json("0"), json("-3"), json("+3"), json("12a"), json(""), json(true),
                 json::array({1}), json::object(), json("9223372036854775808"), json(9223372036854775808ULL)}) {
    EXPECT_EQ(code_of(with("user_id", v)), "invalid_field") << "user_id " << v;
    EXPECT_EQ(code_of(with("store_id", v)), "invalid_field") << "store_id " << v;
    EXPECT_EQ(code_of(with("coupon_id", v)), "invalid_field") << "coupon_id " << v;
  }
  EXPECT_EQ(code_of(with("items", json::array())), "invalid_field");
  EXPECT_EQ(code_of(with("items", json::object())), "invalid_field");
  EXPECT_EQ(code_of(with("items", "x")), "invalid_field");
  EXPECT_EQ(code_of(with("items", json::array({1}))), "invalid_field");
  json b = valid_body();
  b["items"][0]["product_id"] = 0;
  EXPECT_EQ(code_of(b), "invalid_field");
  b = valid_body();
  b["items"][0]["qty"] = "2";
  EXPECT_EQ(code_of(b), "invalid_field");
  b["items"][0]["qty"] = 1.5;
  EXPECT_EQ(code_of(b), "invalid_field");
  b = valid_body();
  b["items"][0]["price_cents"] = 4.5;
  EXPECT_EQ(code_of(b), "invalid_field");
  b["items"][0]["price_cents"] = "450";
  EXPECT_EQ(code_of(b), "invalid_field");
}

TEST(ParseCreate, InvalidPrice) {
  json b = valid_body();
  b["items"][0]["price_cents"] = -1;
  EXPECT_EQ(code_of(b), "invalid_price");
  b["items"][0]["price_cents"] = OrderConfig{}.max_amount_cents + 1;
  EXPECT_EQ(code_of(b), "invalid_price");
}

TEST(ParseCreate, UnknownFields) {
  json b = valid_body();
  b["amount_cents"] = 1;  // the server computes the amount; a client may not send one
  EXPECT_EQ(code_of(b), "unknown_field");
  b = valid_body();
  b["items"][0]["discount"] = 5;
  EXPECT_EQ(code_of(b), "unknown_field");
  b = valid_body();
  b["User_id"] = 42;
  EXPECT_EQ(code_of(b), "unknown_field");
}

TEST(ParseCreate, InvalidQty) {
  OrderConfig l;
  for (json q : {json(0), json(-1), json(l.max_qty + 1), json(INT64_MIN), json(INT64_MAX), json(UINT64_MAX)}) {
    json b = valid_body();
    b["items"][0]["qty"] = q;
    EXPECT_EQ(code_of(b), "invalid_qty") << q;
  }
  l.max_qty = 3;
  json b = valid_body();
  b["items"][0]["qty"] = 4;
  EXPECT_EQ(code_of(b, kKey, l), "invalid_qty");
  b["items"][0]["qty"] = 3;
  EXPECT_NO_THROW(parse_create(b.dump(), kKey, l));
}

TEST(ParseCreate, AmountTooLarge) {
  OrderConfig l;
  json b = valid_body();
  b["items"] = json::array({{{"product_id", 1}, {"qty", 2}, {"price_cents", l.max_amount_cents / 2 + 1}}});
  EXPECT_EQ(code_of(b), "amount_too_large");
  // The largest possible items, many times: the sum must not overflow into a small number.
  b["items"] = json::array();
  for (int i = 0; i < l.max_items; ++i)
    b["items"].push_back({{"product_id", i + 1}, {"qty", l.max_qty}, {"price_cents", l.max_amount_cents}});
  EXPECT_EQ(code_of(b), "amount_too_large");
  l.max_amount_cents = 1000;
  b = valid_body();
  b["items"] = json::array({{{"product_id", 1}, {"qty", 3}, {"price_cents", 400}}});  // each price fits, 1200 not
  EXPECT_EQ(code_of(b, kKey, l), "amount_too_large");
  b["items"][0]["qty"] = 2;  // 800 fits
  EXPECT_EQ(parse_create(b.dump(), kKey, l).amount_cents, 800);
}

TEST(ParseCreate, TooManyItems) {
  OrderConfig l;
  json b = valid_body();
  b["items"] = json::array();
  for (int i = 0; i <= l.max_items; ++i) b["items"].push_back({{"product_id", i + 1}, {"qty", 1}, {"price_cents", 1}});
  EXPECT_EQ(code_of(b), "too_many_items");
  l.max_items = 1;
  EXPECT_EQ(code_of(valid_body(), kKey, l), "too_many_items");
}

TEST(ParseCreate, IdempotencyKey) {
  std::string body = valid_body().dump();
  EXPECT_EQ(code_of(body, ""), "missing_idempotency_key");
  EXPECT_EQ(code_of(body, "has space"), "invalid_idempotency_key");
  EXPECT_EQ(code_of(body, "tab\there"), "invalid_idempotency_key");
  EXPECT_EQ(code_of(body, "new\nline"), "invalid_idempotency_key");
  EXPECT_EQ(code_of(body, std::string("nul\0x", 5)), "invalid_idempotency_key");
  EXPECT_EQ(code_of(body, "caf\xc3\xa9"), "invalid_idempotency_key");
  EXPECT_EQ(code_of(body, std::string(129, 'k')), "invalid_idempotency_key");
  // The key is checked before the body: a bad key with a bad body names the key.
  EXPECT_EQ(code_of(std::string("{"), ""), "missing_idempotency_key");
  EXPECT_NO_THROW(parse_create(body, "550e8400-e29b-41d4-a716-446655440000", OrderConfig{}));
  EXPECT_NO_THROW(parse_create(body, "a!~:/", OrderConfig{}));
}

TEST(ParseCreate, RequestHashIdentifiesTheLogicalBody) {
  OrderConfig l;
  auto hash = [&](const std::string& body) { return parse_create(body, kKey, l).request_hash; };
  std::string base = hash(valid_body().dump());
  // Same logical body: key order, whitespace, string ids, the key itself.
  EXPECT_EQ(hash(valid_body().dump(2)), base);
  EXPECT_EQ(hash(R"({"items": [{"price_cents": 450, "qty": 2, "product_id": "100"},
                               {"product_id": 101, "price_cents": 1200, "qty": 1}],
                     "store_id": "7", "user_id": 42})"),
            base);
  EXPECT_EQ(parse_create(valid_body().dump(), "another-key", l).request_hash, base);
  json b = valid_body();
  b["coupon_id"] = nullptr;
  EXPECT_EQ(hash(b.dump()), base);

  // Different content: different hash.
  std::set<std::string> hashes{base};
  b = valid_body();
  b["items"][0]["qty"] = 3;
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "qty";
  b = valid_body();
  b["items"][1]["product_id"] = 102;
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "product";
  b = valid_body();
  b["items"][0]["price_cents"] = 451;
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "price";
  b = valid_body();
  std::swap(b["items"][0], b["items"][1]);
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "item order";
  b = valid_body();
  b["items"].erase(1);
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "fewer items";
  b = valid_body();
  b["store_id"] = 8;
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "store";
  b = valid_body();
  b["coupon_id"] = 5;
  EXPECT_TRUE(hashes.insert(hash(b.dump())).second) << "coupon";
}

TEST(ParsePayment, PaymentId) {
  EXPECT_EQ(parse_payment_id(R"({"payment_id": "pay_123-abc.9"})"), "pay_123-abc.9");
  EXPECT_EQ(parse_payment_id(R"({"payment_id": ")" + std::string(64, 'p') + "\"}"), std::string(64, 'p'));
  EXPECT_EQ(code_of_call([] { parse_payment_id("nope"); }), "invalid_json");
  EXPECT_EQ(code_of_call([] { parse_payment_id("[]"); }), "invalid_json");
  EXPECT_EQ(code_of_call([] { parse_payment_id("{}"); }), "missing_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": null})"); }), "missing_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": 5})"); }), "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": ""})"); }), "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": "a b"})"); }), "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": "a'--"})"); }), "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": ")" + std::string(65, 'p') + "\"}"); }),
            "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_payment_id(R"({"payment_id": "p1", "amount": 3})"); }), "unknown_field");
}

TEST(ParsePayment, PickupCode) {
  EXPECT_EQ(parse_pickup_code(R"({"pickup_code": "A7K2"})"), "A7K2");
  EXPECT_EQ(code_of_call([] { parse_pickup_code("{}"); }), "missing_field");
  EXPECT_EQ(code_of_call([] { parse_pickup_code(R"({"pickup_code": ")" + std::string(17, '1') + "\"}"); }),
            "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_pickup_code(R"({"pickup_code": ["1"]})"); }), "invalid_field");
  EXPECT_EQ(code_of_call([] { parse_pickup_code(R"({"code": "1"})"); }), "unknown_field");
}

TEST(ParsePathIds, OrderAndUserIds) {
  EXPECT_EQ(parse_order_id("1"), 1u);
  EXPECT_EQ(parse_order_id("9223372036854775807"), 9223372036854775807u);
  EXPECT_EQ(parse_user_id("42"), 42u);
  for (const char* bad : {"", "0", "-1", "+1", "1a", "1.0", " 1", "9223372036854775808", "12345678901234567890"}) {
    EXPECT_EQ(code_of_call([&] { parse_order_id(bad); }), "invalid_order_id") << bad;
    EXPECT_EQ(code_of_call([&] { parse_user_id(bad); }), "invalid_user_id") << bad;
  }
}

}  // namespace
}  // namespace dine::order
