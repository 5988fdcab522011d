#include "server/member/login.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/json_body.hpp"

namespace dine::member {

std::string parse_login(std::string_view text) {
  auto j = body::object(text);
  body::only_keys(j, {"openid"});
  if (!j.contains("openid")) throw bad_request("missing_field", "openid is required");
  const auto& v = j["openid"];
  const std::string what = fmt::format("openid must be a string of 1..{} printable ASCII characters", kMaxOpenidBytes);
  if (!v.is_string()) throw bad_request("invalid_openid", what);
  std::string openid = v.get<std::string>();
  if (openid.empty() || openid.size() > kMaxOpenidBytes) throw bad_request("invalid_openid", what);
  for (unsigned char c : openid)
    if (c < 0x21 || c > 0x7e) throw bad_request("invalid_openid", what);
  return openid;
}

}  // namespace dine::member
