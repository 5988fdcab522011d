#include "server/member/login.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"

namespace dine::member {

std::string parse_login(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) throw bad_request("invalid_json", "the body is not valid JSON");
  if (!j.is_object()) throw bad_request("invalid_json", "the body must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "openid") throw bad_request("unknown_field", fmt::format("{} is not a known field", it.key()));
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
