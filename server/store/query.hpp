#pragma once
// The list query's parameters, from the query string: pure, unit-tested.
#include <cstdint>
#include <optional>
#include <string>

namespace dine::store {

struct ListQuery {
  std::optional<std::string> city;  // none: every city
  int limit = 20;                   // 1..100
  int64_t after = 0;                // the cursor: stores with a larger id
};

// Throws dine::Error 400 invalid_city, invalid_limit or invalid_cursor.
ListQuery parse_list(const std::optional<std::string>& city, const std::optional<std::string>& limit,
                     const std::optional<std::string>& cursor);
// A store id from a path: 1..2^63-1 in decimal; 400 invalid_store_id otherwise.
int64_t parse_store_id(const std::string& text);

}  // namespace dine::store
