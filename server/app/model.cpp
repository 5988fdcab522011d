#include "server/app/model.hpp"

#include <set>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/json_body.hpp"

namespace dine::app {

using nlohmann::json;

NewOrder parse_order(std::string_view text, int max_items, int max_qty) {
  json j = body::object(text);
  body::only_keys(j, {"store_id", "items", "coupon_id"});
  NewOrder o;
  o.store_id = body::id(j, "store_id");
  if (body::has(j, "coupon_id")) o.coupon_id = body::id(j, "coupon_id");
  if (!body::has(j, "items")) throw bad_request("missing_field", "items is required");
  const json& items = j["items"];
  if (!items.is_array() || items.empty()) throw bad_request("invalid_field", "items must be a non-empty list");
  if (items.size() > static_cast<std::size_t>(max_items))
    throw bad_request("too_many_items", fmt::format("an order holds at most {} lines", max_items));
  std::set<int64_t> seen;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string where = fmt::format("items[{}].", i);
    if (!items[i].is_object()) throw bad_request("invalid_field", fmt::format("items[{}] must be an object", i));
    body::only_keys(items[i], {"product_id", "qty"}, where);
    Line l{body::id(items[i], "product_id", where), body::integer(items[i], "qty", 1, max_qty, "invalid_qty", where)};
    if (!seen.insert(l.product_id).second)
      throw bad_request("duplicate_id", fmt::format("product {} is listed twice; give its qty once", l.product_id));
    o.items.push_back(l);
  }
  return o;
}

json order_items(const NewOrder& o, const std::vector<Priced>& prices, const std::optional<Coupon>& coupon) {
  json items = json::array();
  bool applied = false;
  for (const Line& l : o.items) {
    int64_t price = -1;
    for (const Priced& p : prices)
      if (p.product_id == l.product_id) price = p.price_cents;
    if (price < 0) throw Error(ErrorKind::Internal, "price_missing", "a line has no price");
    int64_t qty = l.qty;
    if (coupon && !applied && l.product_id == coupon->product_id) {
      items.push_back({{"product_id", l.product_id}, {"qty", 1}, {"price_cents", coupon->price_cents}});
      applied = true;
      --qty;
    }
    if (qty > 0) items.push_back({{"product_id", l.product_id}, {"qty", qty}, {"price_cents", price}});
  }
  if (coupon && !applied)
    throw bad_request("coupon_not_applicable",
                      fmt::format("coupon {} buys product {}, which this order does not have", coupon->coupon_id,
                                  coupon->product_id));
  return items;
}

std::string public_menu(std::string menu) {
  // The menu role writes "products" once, as a top-level key; inside a string
  // a quote is escaped, so the sequence cannot appear in a name.
  auto at = menu.find("\"products\":");
  if (at != std::string::npos) menu.replace(at, 11, "\"items\":");
  return menu;
}

}  // namespace dine::app
