#pragma once
// JSON Web Tokens signed with HS256 (OpenSSL HMAC-SHA256), for member and
// store tokens. Verification checks the algorithm, the signature in constant
// time and the expiry.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dine::jwt {

// Signs `claims` (an object). Adds "iat" and "exp" = now + ttl_seconds when ttl > 0.
std::string sign(nlohmann::json claims, const std::string& secret, int64_t ttl_seconds = 0);

// Returns the claims. Throws dine::Error(Unauthorized, "invalid_token" | "token_expired").
nlohmann::json verify(const std::string& token, const std::string& secret);
nlohmann::json verify_at(const std::string& token, const std::string& secret, int64_t now_unix);

std::string base64url_encode(std::string_view data);
std::string base64url_decode(std::string_view data);  // throws std::invalid_argument

}  // namespace dine::jwt
