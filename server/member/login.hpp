#pragma once
// The login request's validation: pure, unit-tested.
#include <string>
#include <string_view>

namespace dine::member {

inline constexpr std::size_t kMaxOpenidBytes = 128;

// The openid of a login body {"openid": "..."}: 1..128 printable ASCII
// characters. Throws dine::Error (400 invalid_json, unknown_field,
// missing_field, invalid_openid) otherwise.
std::string parse_login(std::string_view body);

}  // namespace dine::member
