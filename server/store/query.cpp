#include "server/store/query.hpp"

#include <charconv>

#include "core/errors.hpp"

namespace dine::store {
namespace {

std::optional<int64_t> positive(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return {};
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) return {};
  return v;
}

}  // namespace

ListQuery parse_list(const std::optional<std::string>& city, const std::optional<std::string>& limit,
                     const std::optional<std::string>& cursor) {
  ListQuery q;
  if (city) {
    if (city->empty() || city->size() > 64) throw bad_request("invalid_city", "city must be 1..64 characters");
    q.city = *city;
  }
  if (limit) {
    auto n = positive(*limit);
    if (!n || *n > 100) throw bad_request("invalid_limit", "limit must be a number 1..100");
    q.limit = static_cast<int>(*n);
  }
  if (cursor) {
    auto c = positive(*cursor);
    if (!c) throw bad_request("invalid_cursor", "cursor must be the next_cursor of a previous page");
    q.after = *c;
  }
  return q;
}

int64_t parse_store_id(const std::string& text) {
  auto v = positive(text);
  if (!v) throw bad_request("invalid_store_id", "a store id is a positive integer");
  return *v;
}

}  // namespace dine::store
