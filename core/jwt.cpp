#include "core/jwt.hpp"

#include <chrono>
#include <limits>
#include <optional>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/errors.hpp"

namespace dine::jwt {
std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

Error invalid(const std::string& why) { return Error(ErrorKind::Unauthorized, "invalid_token", why); }

}  // namespace

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buf >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buf << (6 - bits)) & 63]);
  return out;
}

std::string base64url_decode(std::string_view data) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : data) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else throw std::invalid_argument("not base64url");
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  if (data.size() % 4 == 1) throw std::invalid_argument("bad base64url length");
  // The leftover bits are padding and must be zero: one spelling per value, so a
  // token (its signature) cannot be altered without being refused.
  if (bits > 0 && (buf & ((1u << bits) - 1)) != 0) throw std::invalid_argument("non-canonical base64url");
  return out;
}

std::string sign(nlohmann::json claims, const std::string& secret, int64_t ttl_seconds) {
  if (ttl_seconds > 0) {
    auto now = unix_now();
    claims["iat"] = now;
    claims["exp"] = now + ttl_seconds;
  }
  std::string head = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  std::string body = base64url_encode(claims.dump());
  std::string signing_input = head + "." + body;
  return signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
}

nlohmann::json verify(const std::string& token, const std::string& secret) {
  return verify_at(token, secret, unix_now());
}

namespace {

// A NumericDate claim (whole seconds since the epoch) or nothing when absent.
std::optional<int64_t> numeric_date(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  // An unsigned value above INT64_MAX would wrap to a date in the past.
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())))
    throw invalid(std::string(name) + " must be a whole number of seconds");
  return it->get<int64_t>();
}

Error expired() { return Error(ErrorKind::Unauthorized, "token_expired", "the token has expired; log in again"); }

// The claims of a token whose header names HS256 and whose signature matches.
nlohmann::json verified_claims(const std::string& token, const std::string& secret) {
  auto d1 = token.find('.');
  auto d2 = d1 == std::string::npos ? std::string::npos : token.find('.', d1 + 1);
  if (d2 == std::string::npos || token.find('.', d2 + 1) != std::string::npos)
    throw invalid("a token has three dot-separated parts");
  std::string_view tv(token);
  nlohmann::json header, claims;
  std::string sig;
  try {
    header = nlohmann::json::parse(base64url_decode(tv.substr(0, d1)));
    claims = nlohmann::json::parse(base64url_decode(tv.substr(d1 + 1, d2 - d1 - 1)));
    sig = base64url_decode(tv.substr(d2 + 1));
  } catch (const std::exception&) {
    throw invalid("the token is not well-formed");
  }
  auto alg = header.is_object() ? header.find("alg") : header.end();
  if (alg == header.end() || !alg->is_string() || *alg != "HS256") throw invalid("only HS256 tokens are accepted");
  // RFC 7515 4.1.11: extensions we do not know that the issuer marked critical.
  if (header.contains("crit")) throw invalid("critical header extensions are not supported");
  if (!claims.is_object()) throw invalid("the token claims are not an object");
  std::string expected = hmac_sha256(secret, tv.substr(0, d2));
  if (sig.size() != expected.size() || CRYPTO_memcmp(sig.data(), expected.data(), sig.size()) != 0)
    throw invalid("the token signature does not match");
  return claims;
}

}  // namespace

nlohmann::json verify_at(const std::string& token, const std::string& secret, int64_t now_unix) {
  nlohmann::json claims = verified_claims(token, secret);
  if (auto exp = numeric_date(claims, "exp"); exp && *exp <= now_unix) throw expired();
  return claims;
}

nlohmann::json verify_bearer(const std::string& token, const std::string& secret, int64_t skew_seconds) {
  return verify_bearer_at(token, secret, unix_now(), skew_seconds);
}

nlohmann::json verify_bearer_at(const std::string& token, const std::string& secret, int64_t now_unix,
                                int64_t skew_seconds) {
  if (skew_seconds < 0) throw std::invalid_argument("jwt: clock skew must not be negative");
  nlohmann::json claims = verified_claims(token, secret);
  // The arithmetic is on `now`, which is sane; a claim may be any int64.
  auto exp = numeric_date(claims, "exp");
  if (!exp) throw invalid("the token has no expiry (exp)");
  if (*exp <= now_unix - skew_seconds) throw expired();
  if (auto nbf = numeric_date(claims, "nbf"); nbf && *nbf > now_unix + skew_seconds)
    throw invalid("the token is not valid yet (nbf)");
  if (auto iat = numeric_date(claims, "iat"); iat && *iat > now_unix + skew_seconds)
    throw invalid("the token was issued in the future (iat)");
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty())
    throw invalid("the token has no subject (sub)");
  return claims;
}

}  // namespace dine::jwt
