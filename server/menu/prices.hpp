#pragma once
// The batch price lookup's pure parts: the request, and the answer picked out
// of a cached menu. Unit-tested.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dine::menu {

struct PriceQuery {
  int64_t store_id = 0;
  std::vector<int64_t> product_ids;
};

// {"store_id": 1, "product_ids": [1, 2]}; 400 naming the field otherwise.
PriceQuery parse_prices(std::string_view body, std::size_t max_ids);
// {"store_ids": [1, 2, ...]}: the refresh read's stores.
std::vector<int64_t> parse_refresh(std::string_view body, std::size_t max_ids);

// {"store_id", "version", "products": [the asked products found, in the
// order asked], "missing": [ids the menu does not have]} from a menu's JSON.
nlohmann::json pick_prices(const std::string& menu_json, const std::vector<int64_t>& product_ids);

}  // namespace dine::menu
