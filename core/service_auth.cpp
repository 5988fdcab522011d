#include "core/service_auth.hpp"

#include <openssl/crypto.h>

#include "core/jwt.hpp"

namespace dine {
namespace {

std::string mac(const std::string& secret, std::string_view caller) {
  std::string data = "dine-service/v1:";
  data.append(caller);
  return jwt::base64url_encode(jwt::hmac_sha256(secret, data));
}

}  // namespace

std::string service_credential(const std::string& secret, const std::string& caller) {
  return caller + "." + mac(secret, caller);
}

std::optional<std::string> verify_service(const std::string& secret, std::string_view credential) {
  const auto dot = credential.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 128 || secret.empty()) return std::nullopt;
  const std::string_view caller = credential.substr(0, dot);
  const std::string_view given = credential.substr(dot + 1);
  const std::string expected = mac(secret, caller);
  if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0)
    return std::nullopt;
  return std::string(caller);
}

}  // namespace dine
