#include "server/menu/prices.hpp"

#include <unordered_map>

#include "core/json_body.hpp"

namespace dine::menu {

using nlohmann::json;

PriceQuery parse_prices(std::string_view text, std::size_t max_ids) {
  json j = body::object(text);
  body::only_keys(j, {"store_id", "product_ids"});
  return {body::id(j, "store_id"), body::id_list(j, "product_ids", max_ids)};
}

std::vector<int64_t> parse_refresh(std::string_view text, std::size_t max_ids) {
  json j = body::object(text);
  body::only_keys(j, {"store_ids"});
  return body::id_list(j, "store_ids", max_ids);
}

json pick_prices(const std::string& menu_json, const std::vector<int64_t>& product_ids) {
  json menu = json::parse(menu_json);
  std::unordered_map<int64_t, const json*> by_id;
  for (const auto& p : menu["products"]) by_id[p["product_id"].get<int64_t>()] = &p;
  json products = json::array(), missing = json::array();
  for (int64_t id : product_ids) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      missing.push_back(id);
      continue;
    }
    const json& p = *it->second;
    products.push_back({{"product_id", id}, {"name", p["name"]}, {"price_cents", p["price_cents"]},
                        {"available", p["available"]}});
  }
  return {{"store_id", menu["store_id"]}, {"version", menu["version"]}, {"products", std::move(products)},
          {"missing", std::move(missing)}};
}

}  // namespace dine::menu
