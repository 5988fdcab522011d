// The store list's query parameters and store ids (pure logic).
#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "server/store/query.hpp"

namespace dine::store {
namespace {

std::string code_of(std::optional<std::string> city, std::optional<std::string> limit,
                    std::optional<std::string> cursor) {
  try {
    parse_list(city, limit, cursor);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadRequest);
    return e.code();
  }
  return "";
}

TEST(StoreQuery, DefaultsAndValues) {
  auto d = parse_list(std::nullopt, std::nullopt, std::nullopt);
  EXPECT_FALSE(d.city);
  EXPECT_EQ(d.limit, 20);
  EXPECT_EQ(d.after, 0);
  auto q = parse_list("Shanghai", "100", "42");
  EXPECT_EQ(q.city, "Shanghai");
  EXPECT_EQ(q.limit, 100);
  EXPECT_EQ(q.after, 42);
  EXPECT_EQ(parse_store_id("9223372036854775807"), INT64_MAX);
}

TEST(StoreQuery, RefusesBadValuesByName) {
  EXPECT_EQ(code_of("", std::nullopt, std::nullopt), "invalid_city");
  EXPECT_EQ(code_of(std::string(65, 'c'), std::nullopt, std::nullopt), "invalid_city");
  for (const char* l : {"0", "101", "-1", "ten", "", "1e2"}) EXPECT_EQ(code_of(std::nullopt, l, std::nullopt), "invalid_limit") << l;
  for (const char* c : {"0", "-5", "abc", "", "99999999999999999999"})
    EXPECT_EQ(code_of(std::nullopt, std::nullopt, c), "invalid_cursor") << c;
  for (const char* id : {"0", "x", "", "-1", "9223372036854775808"}) {
    try {
      parse_store_id(id);
      ADD_FAILURE() << id << " was taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), "invalid_store_id");
    }
  }
}

}  // namespace
}  // namespace dine::store
