#pragma once
// JSON Web Tokens signed with HS256 (OpenSSL HMAC-SHA256), for member and
// store tokens. Verification checks the algorithm, the signature in constant
// time and the expiry; verify_bearer also requires exp and sub and checks
// nbf and iat, with a small allowance for clock skew.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dine::jwt {

// Signs `claims` (an object). Adds "iat" and "exp" = now + ttl_seconds when ttl > 0.
std::string sign(nlohmann::json claims, const std::string& secret, int64_t ttl_seconds = 0);

// Returns the claims. Throws dine::Error(Unauthorized, "invalid_token" | "token_expired").
nlohmann::json verify(const std::string& token, const std::string& secret);
nlohmann::json verify_at(const std::string& token, const std::string& secret, int64_t now_unix);

// How far apart the issuer's clock and ours may be.
inline constexpr int64_t kDefaultSkewSeconds = 30;

// Verification for a bearer token on the request path: HS256 only (the header's
// alg; "none" and every other alg refused), the signature, then the claims:
// "exp" required and not passed more than `skew` seconds ago, "nbf" and "iat"
// (when present) not more than `skew` seconds in the future, "sub" a non-empty
// string. Returns the claims. Throws dine::Error(Unauthorized, "invalid_token"
// | "token_expired"); the message never contains the token.
nlohmann::json verify_bearer(const std::string& token, const std::string& secret,
                             int64_t skew_seconds = kDefaultSkewSeconds);
nlohmann::json verify_bearer_at(const std::string& token, const std::string& secret, int64_t now_unix,
                                int64_t skew_seconds = kDefaultSkewSeconds);

std::string base64url_encode(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string base64url_decode(std::string_view data);  // throws std::invalid_argument

}  // namespace dine::jwt
