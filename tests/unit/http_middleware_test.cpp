// Bearer auth as a handler wrapper, called with a Request (no network): the
// subject reaches the handler; every refusal is the right 401/403 with the
// Bearer challenge, never reaches the handler and never echoes the token; the
// refusal counters; and the three middlewares composed behind a Router.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/errors.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/http/middleware_inflight.hpp"
#include "core/http/middleware_rate.hpp"
#include "core/jwt.hpp"
#include "tests/unit/http_middleware_support.hpp"

namespace dine::http {
namespace {

using namespace mwtest;
using nlohmann::json;

constexpr int64_t kNow = 1'700'000'000;
const std::string kSecret = "unit-test-secret-of-at-least-32-bytes!";

std::shared_ptr<const BearerAuth> auth_at(int64_t now, std::vector<std::string> kinds = {},
                                          metrics::Registry* reg = nullptr) {
  BearerConfig c;
  c.secret = kSecret;
  c.kinds = std::move(kinds);
  c.now_unix = [now] { return now; };
  return std::make_shared<const BearerAuth>(std::move(c), reg);
}

std::string token(json claims, const std::string& secret = kSecret) { return jwt::sign(std::move(claims), secret); }

json user_claims() { return {{"sub", "user:42"}, {"uid", 42}, {"iat", kNow - 10}, {"exp", kNow + 600}}; }

// A token whose header and signature use `alg` over HMAC `md` (nullptr: no signature).
std::string token_alg(const std::string& alg, const EVP_MD* md, const json& claims) {
  std::string input = jwt::base64url_encode(json{{"alg", alg}, {"typ", "JWT"}}.dump()) + "." +
                      jwt::base64url_encode(claims.dump());
  std::string sig;
  if (md != nullptr) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, kSecret.data(), int(kSecret.size()), reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         out, &len);
    sig = jwt::base64url_encode(std::string(reinterpret_cast<char*>(out), len));
  }
  return input + "." + sig;
}

struct Refused {
  int status;
  std::string code;
};

// Sends `authorization`; checks that a refusal never reaches the handler,
// names the Bearer challenge and never echoes the token.
Refused refused(const std::shared_ptr<const BearerAuth>& auth, const std::string& authorization,
                const std::string& tok) {
  int calls = 0;
  Handler h = require_bearer(Echo{&calls}, auth);
  Request req = request_with(authorization);
  Response r = call(h, req);
  if (r.status == 200) return {200, ""};
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(req.principal.has_value());
  EXPECT_EQ(header(r, "WWW-Authenticate").rfind("Bearer realm=\"dine\"", 0), 0u) << header(r, "WWW-Authenticate");
  if (!tok.empty()) {
    EXPECT_EQ(r.body.find(tok), std::string::npos) << r.body;
    std::string sig = tok.substr(tok.rfind('.') + 1);
    if (sig.size() >= 16) {
      EXPECT_EQ(r.body.find(sig), std::string::npos) << r.body;  // nor its signature
    }
    for (const auto& [k, v] : r.headers) EXPECT_EQ(v.find(tok), std::string::npos) << k;
  }
  json body = json::parse(r.body);
  EXPECT_EQ(body["request_id"], "rid-1");
  return {r.status, body["error"].get<std::string>()};
}

void expect_refused(const std::string& tok, int status, const std::string& code, int64_t now = kNow) {
  Refused r = refused(auth_at(now), "Bearer " + tok, tok);
  EXPECT_EQ(r.status, status) << code;
  EXPECT_EQ(r.code, code);
}

TEST(HttpBearer, ValidTokenReachesHandlerWithSubject) {
  int calls = 0;
  Handler h = require_bearer(Echo{&calls}, auth_at(kNow));
  Request req = request_with("Bearer " + token(user_claims()));
  Response r = call(h, req);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(json::parse(r.body), json({{"sub", "user:42"}, {"kind", "user"}, {"uid", 42}}));
  // The scheme is case-insensitive; surrounding spaces are tolerated.
  Request lower = request_with("bearer   " + token(user_claims()) + " ");
  EXPECT_EQ(call(h, lower).status, 200);
}

TEST(HttpBearer, MissingHeaderOrOtherSchemeIsUnauthorized) {
  auto auth = auth_at(kNow);
  std::string tok = token(user_claims());
  for (const std::string& a : {std::string(), std::string("Basic dXNlcjpwYXNz"), "Token " + tok,
                               std::string("Bearer"), std::string("Bearer   "), tok}) {
    Refused r = refused(auth, a, tok);
    EXPECT_EQ(r.status, 401) << a;
    EXPECT_EQ(r.code, "unauthorized") << a;
  }
}

TEST(HttpBearer, BadSignatureOrAlgorithmIsInvalid) {
  expect_refused(token(user_claims(), "another-secret-of-at-least-32-bytes!!"), 401, "invalid_token");
  std::string tok = token(user_claims());
  tok.back() = tok.back() == 'A' ? 'Q' : 'A';
  expect_refused(tok, 401, "invalid_token");
  expect_refused(token_alg("none", nullptr, user_claims()), 401, "invalid_token");
  expect_refused(token_alg("HS512", EVP_sha512(), user_claims()), 401, "invalid_token");
  expect_refused("not.a.token", 401, "invalid_token");
  // The same construction with HS256 is accepted: the refusals above are about the alg.
  Refused ok = refused(auth_at(kNow), "Bearer " + token_alg("HS256", EVP_sha256(), user_claims()), "");
  EXPECT_EQ(ok.status, 200);
}

TEST(HttpBearer, ExpiryIsRequiredAndAllowsSkew) {
  json no_exp = user_claims();
  no_exp.erase("exp");
  expect_refused(token(no_exp), 401, "invalid_token");

  json c = user_claims();
  c["exp"] = kNow - 31;  // beyond the 30 s skew
  expect_refused(token(c), 401, "token_expired");
  c["exp"] = kNow - 29;  // within it: accepted
  EXPECT_EQ(refused(auth_at(kNow), "Bearer " + token(c), "").status, 200);
}

TEST(HttpBearer, NotBeforeAndIssuedInTheFutureAreInvalid) {
  json c = user_claims();
  c["nbf"] = kNow + 120;
  expect_refused(token(c), 401, "invalid_token");
  c["nbf"] = kNow + 20;  // within the skew
  EXPECT_EQ(refused(auth_at(kNow), "Bearer " + token(c), "").status, 200);
  json i = user_claims();
  i["iat"] = kNow + 120;
  expect_refused(token(i), 401, "invalid_token");
}

TEST(HttpBearer, SubjectIsRequired) {
  json c = user_claims();
  c.erase("sub");
  expect_refused(token(c), 401, "invalid_token");
  c["sub"] = "";
  expect_refused(token(c), 401, "invalid_token");
  c["sub"] = 42;
  expect_refused(token(c), 401, "invalid_token");
}

TEST(HttpBearer, KindsLimitWhoMayCall) {
  auto stores_only = auth_at(kNow, {"store"});
  json store = user_claims();
  store["sub"] = "store:7";
  store["kind"] = "store";
  EXPECT_EQ(refused(stores_only, "Bearer " + token(store), "").status, 200);
  std::string user = token(user_claims());  // no kind: a user
  Refused r = refused(stores_only, "Bearer " + user, user);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.code, "forbidden");
  store["kind"] = 1;
  Refused bad = refused(stores_only, "Bearer " + token(store), "");
  EXPECT_EQ(bad.code, "invalid_token");
}

TEST(HttpBearer, RefusalsAreCountedByReason) {
  metrics::Registry reg;
  auto auth = auth_at(kNow, {"store"}, &reg);
  refused(auth, "", "");
  refused(auth, "Bearer x.y.z", "");
  refused(auth, "Bearer " + token(user_claims()), "");
  std::string text = reg.render();
  EXPECT_NE(text.find("dine_http_refused_total{reason=\"unauthorized\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dine_http_refused_total{reason=\"forbidden\"} 1\n"), std::string::npos) << text;
}

TEST(HttpBearer, EmptySecretIsAConfigurationError) {
  EXPECT_THROW(BearerAuth(BearerConfig{}), std::invalid_argument);
}
// ---- composed, behind a Router ---------------------------------------------

Task<Response> conflict_for_store(Request& req) {
  if (req.principal->kind == "store") throw Error(ErrorKind::Conflict, "already_accepted", "already accepted");
  co_return Response::text(200, req.principal->subject);
}

TEST(HttpMiddleware, ComposedBehindTheRouter) {
  FakeClock clock;
  auto cap = std::make_shared<InFlightLimit>(1);
  auto limiter = std::make_shared<RateLimiter>(RateLimit{.per_second = 1, .burst = 3}, nullptr, clock.fn());
  Router router;
  router.post("/v1/orders/{order_id}/accepted",
              rate_limit(limit_in_flight(require_bearer(conflict_for_store, auth_at(kNow)), cap), limiter));
  auto send = [&](std::string authorization) {
    Request req = request_with(std::move(authorization));
    req.method = "POST";
    req.path = req.target = "/v1/orders/9/accepted";
    asio::io_context io;
    auto f = asio::co_spawn(io, router.handle(req), asio::use_future);
    io.run();
    return f.get();
  };
  Response ok = send("Bearer " + token(user_claims()));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "user:42");
  Response no_token = send("");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(header(no_token, "WWW-Authenticate"), "Bearer realm=\"dine\"");
  json store = user_claims();
  store["kind"] = "store";
  Response thrown = send("Bearer " + token(store));  // the router maps the handler's error
  EXPECT_EQ(thrown.status, 409);
  EXPECT_EQ(cap->current(), 0u);  // and the slot came back
  Response limited = send("Bearer " + token(user_claims()));  // the fourth within the burst of 3
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(header(limited, "Retry-After"), "1");
}

}  // namespace
}  // namespace dine::http
