#include "core/http/middleware_auth.hpp"


#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <stdexcept>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/middleware.hpp"
#include "core/log.hpp"
#include "core/service_auth.hpp"
#include "core/topology.hpp"

namespace dine::http {

namespace {

const log::Logger& logger() {
  static const log::Logger l("auth");
  return l;
}

constexpr std::string_view kChallenge = R"(Bearer realm="dine")";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The token of "Bearer <token>" (the scheme is case-insensitive), or nothing.
std::optional<std::string_view> bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  std::size_t sp = authorization.find_first_of(" \t");
  if (sp == std::string_view::npos || lower(authorization.substr(0, sp)) != "bearer") return std::nullopt;
  std::string_view token = trim(authorization.substr(sp + 1));
  if (token.empty()) return std::nullopt;
  return token;
}

Response refusal(const Request& req, int status, std::string_view code, std::string_view message,
                 std::string challenge) {
  Response r = Response::error(status, code, message, req.ctx.request_id);
  r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return r;
}

void count(metrics::Counter* c) {
  if (c != nullptr) c->inc();
}

}  // namespace

BearerAuth::BearerAuth(BearerConfig config, metrics::Registry* registry)
    : config_(std::move(config)),
      unauthorized_(refused_counter(registry, "unauthorized")),
      forbidden_(refused_counter(registry, "forbidden")) {
  if (config_.secret.empty()) throw std::invalid_argument("BearerAuth: the token secret is empty");
  if (config_.skew_seconds < 0) throw std::invalid_argument("BearerAuth: the clock skew is negative");
}

std::optional<Response> BearerAuth::admit(Request& req) const {
  std::optional<std::string_view> token = bearer_token(req.header("authorization"));
  if (!token) {
    count(unauthorized_);
    return refusal(req, 401, "unauthorized", "this route needs an Authorization: Bearer token",
                   std::string(kChallenge));
  }
  nlohmann::json claims;
  try {
    std::string t(*token);
    claims = config_.now_unix ? jwt::verify_bearer_at(t, config_.secret, config_.now_unix(), config_.skew_seconds)
                              : jwt::verify_bearer(t, config_.secret, config_.skew_seconds);
    auto kind = claims.find("kind");
    if (kind != claims.end() && (!kind->is_string() || kind->get_ref<const std::string&>().empty()))
      throw Error(ErrorKind::Unauthorized, "invalid_token", "the token kind must be a non-empty string");
  } catch (const Error& e) {
    // jwt's messages describe the token's fault, never its text.
    count(unauthorized_);
    logger().warn_limited("bearer_refused", {{"route", req.route},
                                             {"request_id", req.ctx.request_id},
                                             {"code", e.code()},
                                             {"reason", e.what()}});
    return refusal(req, 401, e.code(), e.what(), std::string(kChallenge) + R"(, error="invalid_token")");
  }

  Principal p;
  p.subject = claims["sub"].get<std::string>();
  p.kind = claims.value("kind", std::string("user"));
  const auto& kinds = config_.kinds;
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), p.kind) == kinds.end()) {
    count(forbidden_);
    logger().warn_limited("bearer_forbidden",
                          {{"route", req.route}, {"request_id", req.ctx.request_id}, {"kind", p.kind}});
    return refusal(req, 403, "forbidden", "this route is not open to " + p.kind + " tokens",
                   std::string(kChallenge) + R"(, error="insufficient_scope")");
  }
  p.claims = std::make_shared<const nlohmann::json>(std::move(claims));
  req.principal = std::move(p);
  return std::nullopt;
}

Handler require_bearer(Handler inner, std::shared_ptr<const BearerAuth> auth) {
  if (!inner || !auth) throw std::invalid_argument("require_bearer: a handler and a BearerAuth are required");
  // Not a coroutine: the check runs now, then the inner handler's Task is
  // handed on, so nothing here outlives this call.
  return [inner = std::move(inner), auth = std::move(auth)](Request& req) -> Task<Response> {
    req.principal.reset();
    if (auto refused = auth->admit(req)) return ready(std::move(*refused));
    return inner(req);
  };
}

Handler require_service(Handler inner, std::string secret, metrics::Registry* registry) {
  if (!inner) throw std::invalid_argument("require_service: a handler is required");
  metrics::Counter* refused = refused_counter(registry, "service");
  return [inner = std::move(inner), secret = std::move(secret), refused](Request& req) -> Task<Response> {
    std::string_view given = req.header("x-dine-service");
    if (given.empty() || !verify_service(secret, given)) {
      if (refused) refused->inc();
      return ready(Response::error(401, "service_credential_required",
                                   "this internal route takes calls from dine services only", req.ctx.request_id));
    }
    return inner(req);
  };
}

// ---- the secret policy -------------------------------------------------------

bool is_loopback_host(std::string_view host) {
  std::string h = lower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (h == "localhost") return true;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(h, ec);
  if (ec) return false;
  if (addr.is_v4()) return addr.to_v4().is_loopback();
  auto v6 = addr.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).is_loopback();
  return v6.is_loopback();
}

namespace {

constexpr std::array<std::string_view, 3> kDefaultMarks = {"change-me", "changeme", "change_me"};
constexpr std::array<std::string_view, 9> kKnownDefaults = {
    "local-dev-secret-change-me", "secret", "your-256-bit-secret", "your-secret", "jwt-secret",
    "dine-secret", "password", "test-secret", "dev-secret"};

// Why `secret` is too weak for a node others can reach, or "" when it is not.
std::string weakness(std::string_view secret) {
  if (secret.empty()) return "is empty";
  std::string l = lower(secret);
  for (auto mark : kDefaultMarks)
    if (l.find(mark) != std::string::npos) return "is a placeholder default (it says \"change me\")";
  for (auto known : kKnownDefaults)
    if (l == known) return "is a well-known default";
  if (secret.size() < kMinSecretBytes)
    return fmt::format("is {} bytes long; at least {} are needed", secret.size(), kMinSecretBytes);
  std::bitset<256> seen;
  for (unsigned char c : secret) seen.set(c);
  if (seen.count() < 8) return "repeats too few distinct bytes to be random";
  return {};
}

}  // namespace

void check_token_secret(std::string_view secret, std::string_view bind_host, std::string_view source) {
  if (is_loopback_host(bind_host)) return;  // a laptop: anything goes
  std::string why = weakness(secret);
  if (why.empty()) return;
  throw TopologyError(fmt::format(
      "{}: the token secret {}, and this node binds {} (not loopback), so anyone who guesses it can mint "
      "tokens; fix: set DINE_SECRET to {} or more random bytes, e.g. DINE_SECRET=$(openssl rand -base64 48)",
      source, why, bind_host.empty() ? std::string("every interface") : std::string(bind_host), kMinSecretBytes));
}

bool admin_allowed(std::string_view peer, std::string_view authorization, std::string_view token) {
  if (is_loopback_host(peer)) return true;
  if (token.empty()) return false;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() != kScheme.size() + token.size() || authorization.substr(0, kScheme.size()) != kScheme)
    return false;
  return CRYPTO_memcmp(authorization.data() + kScheme.size(), token.data(), token.size()) == 0;
}

}  // namespace dine::http
