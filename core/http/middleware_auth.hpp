#pragma once
// Bearer-token authentication (JWT HS256, core/jwt.hpp) and the policy for
// the secret that signs the tokens.
//
//   auto auth = std::make_shared<const BearerAuth>(BearerConfig{topo.secret}, w.metrics);
//   router.get("/v1/users/{user_id}/orders", require_bearer(list_orders, auth));
//
// A refused request never reaches the handler; an admitted one carries
// req.principal. The token never appears in a response or a log line.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/message.hpp"
#include "core/http/router.hpp"
#include "core/jwt.hpp"
#include "core/metrics.hpp"

namespace dine::http {

struct BearerConfig {
  std::string secret;                             // the HS256 secret; must not be empty
  int64_t skew_seconds = jwt::kDefaultSkewSeconds;  // allowance on exp, nbf and iat
  std::vector<std::string> kinds;                 // principal kinds a route admits; empty: any
  std::function<int64_t()> now_unix;              // empty: the system clock (tests set it)
};

// Shared by every worker of a node (immutable; its counters are atomic).
class BearerAuth {
 public:
  // Registers dine_http_refused_total{reason="unauthorized"|"forbidden"} when
  // given a registry. Throws std::invalid_argument on an empty secret or a
  // negative skew.
  explicit BearerAuth(BearerConfig config, metrics::Registry* registry = nullptr);

  // Reads "Authorization: Bearer <token>". Admitted: sets req.principal and
  // returns nothing. Refused: the response to send, with WWW-Authenticate:
  //   401 unauthorized   no Authorization header, or not the Bearer scheme
  //   401 invalid_token  malformed, bad signature, not HS256, no exp or sub, nbf/iat ahead
  //   401 token_expired  exp passed more than skew_seconds ago
  //   403 forbidden      a valid token whose kind the route does not admit
  std::optional<Response> admit(Request& req) const;

  const BearerConfig& config() const { return config_; }

 private:
  BearerConfig config_;
  metrics::Counter* unauthorized_ = nullptr;
  metrics::Counter* forbidden_ = nullptr;
};

// Runs `inner` only for requests `auth` admits.
Handler require_bearer(Handler inner, std::shared_ptr<const BearerAuth> auth);

// An internal write route: the caller must present a service credential
// (core/service_auth.hpp) made with `secret`; otherwise 401
// service_credential_required, counted as refused{reason="service"}.
Handler require_service(Handler inner, std::string secret, metrics::Registry* registry = nullptr);

// 127.0.0.0/8, ::1 (also [::1] and ::ffff:127.x.x.x) and "localhost". An empty
// host, 0.0.0.0, :: and every other name are not loopback.
bool is_loopback_host(std::string_view host);

// Admin endpoints (/metrics): a peer on this machine, or one presenting
// `Authorization: Bearer <token>` when a token is configured (constant-time
// compare). An empty token lets in loopback peers only.
bool admin_allowed(std::string_view peer, std::string_view authorization, std::string_view token);

// Minimum length of a token secret on a node reachable from other hosts.
inline constexpr std::size_t kMinSecretBytes = 32;

// Refuses a weak token secret on a node that binds a non-loopback host: empty,
// shorter than kMinSecretBytes, a known default (anything containing
// "change-me" / "changeme", "secret", the jwt.io example...) or of fewer than
// 8 distinct bytes. Throws TopologyError naming `source` (where the secret came
// from: "deploy/prod.json: secret", "DINE_SECRET") and the fix. On loopback any
// secret is allowed. The secret itself is never part of the message.
void check_token_secret(std::string_view secret, std::string_view bind_host, std::string_view source);

}  // namespace dine::http
