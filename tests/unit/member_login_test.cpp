// The member login body's validation (pure logic).
#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "server/member/login.hpp"

namespace dine::member {
namespace {

std::string code_of(std::string_view body) {
  try {
    parse_login(body);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadRequest) << body;
    return e.code();
  }
  return "";
}

TEST(MemberLogin, TakesAnOpenid) {
  EXPECT_EQ(parse_login(R"({"openid": "o-abc_123"})"), "o-abc_123");
  EXPECT_EQ(parse_login(R"({"openid": ")" + std::string(kMaxOpenidBytes, 'x') + R"("})").size(), kMaxOpenidBytes);
}

TEST(MemberLogin, RefusesEverythingElseByName) {
  EXPECT_EQ(code_of("not json"), "invalid_json");
  EXPECT_EQ(code_of("[1]"), "invalid_json");
  EXPECT_EQ(code_of("{}"), "missing_field");
  EXPECT_EQ(code_of(R"({"openid": "a", "user_id": 7})"), "unknown_field");
  EXPECT_EQ(code_of(R"({"openid": 12})"), "invalid_openid");
  EXPECT_EQ(code_of(R"({"openid": ""})"), "invalid_openid");
  EXPECT_EQ(code_of(R"({"openid": "has space"})"), "invalid_openid");
  EXPECT_EQ(code_of(R"({"openid": "tab\there"})"), "invalid_openid");
  EXPECT_EQ(code_of(R"({"openid": "ünï"})"), "invalid_openid");
  EXPECT_EQ(code_of(R"({"openid": ")" + std::string(kMaxOpenidBytes + 1, 'x') + R"("})"), "invalid_openid");
}

}  // namespace
}  // namespace dine::member
