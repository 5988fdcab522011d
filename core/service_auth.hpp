#pragma once
// The service credential: what a dine node (or a dine tool) presents on the
// internal write routes of another (an order's /paid, a coupon's claim), so
// that reaching a port is not enough to pay for a meal. It is
//
//   X-Dine-Service: <caller>.<base64url HMAC-SHA256(secret, "dine-service/v1:" + caller)>
//
// keyed by the topology's secret, which members' JWTs are signed with too, but
// a JWT is never a service credential nor the other way round. The runtime's
// HTTP clients send it on every call; `require_service` checks it.
#include <optional>
#include <string>
#include <string_view>

namespace dine {

inline constexpr std::string_view kServiceHeader = "X-Dine-Service";

std::string service_credential(const std::string& secret, const std::string& caller);
// The caller named by a valid credential (constant-time check); nullopt otherwise.
std::optional<std::string> verify_service(const std::string& secret, std::string_view credential);

}  // namespace dine
