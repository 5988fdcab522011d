#pragma once
// The public API's request shapes and the order's lines: pure, unit-tested.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dine::app {

struct Line {
  int64_t product_id = 0;
  int64_t qty = 0;
};

struct NewOrder {
  int64_t store_id = 0;
  std::vector<Line> items;
  std::optional<int64_t> coupon_id;
};

// {"store_id", "items": [{"product_id", "qty"}], "coupon_id"?}: a price (or
// anything else) sent by the client is 400 unknown_field. Each product once;
// qty 1..max_qty; 1..max_items lines.
NewOrder parse_order(std::string_view body, int max_items, int max_qty);

struct Priced {
  int64_t product_id = 0;
  int64_t price_cents = 0;
  bool available = true;
};

struct Coupon {
  int64_t coupon_id = 0;
  int64_t product_id = 0;   // the meal set it buys
  int64_t price_cents = 0;  // at this price
};

// The order role's items: every line at the menu's price, except one unit of
// the coupon's product at the campaign price (its other units at the menu's).
// Throws 400 coupon_not_applicable when the order has no line of the coupon's product.
nlohmann::json order_items(const NewOrder& o, const std::vector<Priced>& prices, const std::optional<Coupon>& coupon);

// The menu role's menu JSON as the public API shows it: "products" is "items".
std::string public_menu(std::string menu_json);

}  // namespace dine::app
