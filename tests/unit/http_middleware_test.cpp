// Middleware, called as handlers with a Request (no network): bearer auth and
// its refusals, the secret policy, the token bucket and the rate limiter, the
// in-flight cap (concurrency, throw, cancellation) and the refusal counters.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <future>
#include <stdexcept>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/errors.hpp"
#include "core/http/middleware.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/http/middleware_inflight.hpp"
#include "core/http/middleware_rate.hpp"
#include "core/jwt.hpp"
#include "core/topology.hpp"

namespace dine::http {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kNow = 1'700'000'000;
const std::string kSecret = "unit-test-secret-of-at-least-32-bytes!";

// Runs a handler to completion on a local io_context.
Response call(const Handler& h, Request& req) {
  asio::io_context io;
  std::future<Response> f = asio::co_spawn(io, h(req), asio::use_future);
  io.run();
  return f.get();
}

Request request_with(std::string authorization = {}) {
  Request r;
  r.method = "GET";
  r.path = r.target = "/v1/orders/1";
  r.route = "/v1/orders/{order_id}";
  r.ctx.request_id = "rid-1";
  if (!authorization.empty()) r.headers.emplace_back("authorization", std::move(authorization));
  return r;
}

std::string header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

// Echoes the principal, and counts the calls that got through.
struct Echo {
  int* calls;
  Task<Response> operator()(Request& req) const {
    ++*calls;
    json j = {{"sub", req.principal ? req.principal->subject : ""},
              {"kind", req.principal ? req.principal->kind : ""},
              {"uid", req.principal ? req.principal->claims->value("uid", 0) : 0}};
    return ready(Response::json(200, j));
  }
};

// ---- bearer ----------------------------------------------------------------

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

// ---- secret policy ---------------------------------------------------------

TEST(HttpSecretPolicy, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost", "::ffff:127.0.0.1"})
    EXPECT_TRUE(is_loopback_host(h)) << h;
  for (const char* h : {"", "0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "example.com", "localhost.example.com"})
    EXPECT_FALSE(is_loopback_host(h)) << h;
}

TEST(HttpSecretPolicy, WeakSecretIsAllowedOnLoopback) {
  EXPECT_NO_THROW(check_token_secret("", "127.0.0.1", "deploy/local.json: secret"));
  EXPECT_NO_THROW(check_token_secret("local-dev-secret-change-me", "localhost", "deploy/local.json: secret"));
  EXPECT_NO_THROW(check_token_secret("s", "::1", "DINE_SECRET"));
}

// The message of the TopologyError check_token_secret throws, or "" when it accepts.
std::string refusal_of(std::string_view secret, std::string_view host) {
  try {
    check_token_secret(secret, host, "deploy/prod.json: secret");
  } catch (const TopologyError& e) {
    return e.what();
  }
  return "";
}

TEST(HttpSecretPolicy, WeakSecretIsRefusedOffLoopback) {
  const std::string weak[] = {"", "short-secret", "local-dev-secret-change-me",
                              "a-long-secret-that-says-CHANGE-ME-somewhere-1234", std::string(40, 'a'), "secret"};
  for (const std::string& s : weak) {
    for (const char* host : {"0.0.0.0", "10.1.2.3", ""}) {
      std::string msg = refusal_of(s, host);
      ASSERT_FALSE(msg.empty()) << "accepted '" << s << "' on " << host;
      EXPECT_NE(msg.find("deploy/prod.json: secret"), std::string::npos) << msg;  // where it came from
      EXPECT_NE(msg.find("DINE_SECRET"), std::string::npos) << msg;               // the fix
      if (s.size() > std::string_view("secret").size()) {  // the word itself is in the message
        EXPECT_EQ(msg.find(s), std::string::npos) << msg;   // never the secret
      }
    }
  }
  EXPECT_NE(refusal_of("0123456789abcdef0123456789abcde", "0.0.0.0").find("31 bytes"), std::string::npos);
}

TEST(HttpSecretPolicy, RandomSecretIsAcceptedEverywhere) {
  // 32 random bytes (fixed here so the test is repeatable).
  const std::string random32 = "\x8f\x1c\xe2\x07\x5a\xb3\x99\x41\xd0\x6e\x2f\xc8\x13\x7d\xa4\x5b"
                               "\xee\x02\x91\x38\x6c\xf5\x4a\xbd\x27\x80\x1f\xd9\x63\xae\x54\xc7";
  ASSERT_EQ(random32.size(), 32u);
  EXPECT_EQ(refusal_of(random32, "0.0.0.0"), "");
  EXPECT_EQ(refusal_of("q3V9lZ0cKx7rT2mN8bWp4sYf1hJd6gEa", "10.1.2.3"), "");  // 32 printable
}

// ---- token bucket and rate limit -------------------------------------------

struct FakeClock {
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1);
  TokenBucket::Now fn() {
    return [this] { return t; };
  }
};

TEST(HttpRateLimit, BucketRefusesBeyondBurstAndRefillsAtItsRate) {
  FakeClock clock;
  TokenBucket b({.per_second = 2, .burst = 3}, clock.fn());
  EXPECT_EQ(b.available(), 3.0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take()) << i;
  EXPECT_FALSE(b.try_take());
  EXPECT_EQ(b.wait(), milliseconds(500));
  clock.t += milliseconds(499);
  EXPECT_FALSE(b.try_take());
  clock.t += milliseconds(1);
  EXPECT_TRUE(b.try_take());  // one token per 500 ms
  EXPECT_FALSE(b.try_take());
  clock.t += seconds(1);
  EXPECT_TRUE(b.try_take());
  EXPECT_TRUE(b.try_take());
  EXPECT_FALSE(b.try_take());
  // A long quiet spell fills it to the burst, no further.
  clock.t += std::chrono::hours(1);
  EXPECT_EQ(b.available(), 3.0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take()) << i;
  EXPECT_FALSE(b.try_take());
}

TEST(HttpRateLimit, ThirdsOfASecondAddUpExactly) {
  // Integer ticks: three tokens of 1/3 s each are back after one second, not 2.999...
  FakeClock clock;
  TokenBucket b({.per_second = 3, .burst = 3}, clock.fn());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take());
  EXPECT_FALSE(b.try_take());
  clock.t += seconds(1);
  EXPECT_EQ(b.available(), 3.0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.try_take()) << i;
  EXPECT_FALSE(b.try_take());
}

TEST(HttpRateLimit, RetryAfterIsWholeSecondsRoundedUpAtLeastOne) {
  EXPECT_EQ(retry_after_seconds(Clock::duration::zero()), 1);
  EXPECT_EQ(retry_after_seconds(milliseconds(1)), 1);
  EXPECT_EQ(retry_after_seconds(milliseconds(1000)), 1);
  EXPECT_EQ(retry_after_seconds(milliseconds(1001)), 2);
  EXPECT_EQ(retry_after_seconds(milliseconds(2500)), 3);
}

TEST(HttpRateLimit, MiddlewareAnswers429WithRetryAfter) {
  FakeClock clock;
  metrics::Registry reg;
  auto limiter = std::make_shared<RateLimiter>(RateLimit{.per_second = 0.4, .burst = 2}, &reg, clock.fn());
  int calls = 0;
  Handler h = rate_limit(Echo{&calls}, limiter);
  Request req = request_with();
  EXPECT_EQ(call(h, req).status, 200);
  EXPECT_EQ(call(h, req).status, 200);
  Response r = call(h, req);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(json::parse(r.body)["error"], "rate_limited");
  EXPECT_EQ(header(r, "Retry-After"), "3");  // a token every 2.5 s
  clock.t += milliseconds(2000);
  EXPECT_EQ(header(call(h, req), "Retry-After"), "1");  // 0.5 s left: at least 1
  clock.t += milliseconds(500);
  EXPECT_EQ(call(h, req).status, 200);
  EXPECT_NE(reg.render().find("dine_http_refused_total{reason=\"rate_limited\"} 2\n"), std::string::npos);
}

TEST(HttpRateLimit, WorkerShare) {
  RateLimit s = share_per_worker({.per_second = 100, .burst = 10}, 4);
  EXPECT_DOUBLE_EQ(s.per_second, 25);
  EXPECT_EQ(s.burst, 2u);
  RateLimit tiny = share_per_worker({.per_second = 1, .burst = 2}, 4);
  EXPECT_DOUBLE_EQ(tiny.per_second, 0.25);
  EXPECT_EQ(tiny.burst, 1u);  // at least one
  EXPECT_THROW(share_per_worker({.per_second = 1, .burst = 1}, 0), std::invalid_argument);
  EXPECT_THROW(TokenBucket({.per_second = 0, .burst = 1}), std::invalid_argument);
  EXPECT_THROW(TokenBucket({.per_second = 1, .burst = 0}), std::invalid_argument);
}

// ---- in-flight cap ---------------------------------------------------------

// Waits until the gate opens (is cancelled), then answers 200.
Task<Response> wait_for(asio::steady_timer* gate) {
  boost::system::error_code ec;
  co_await gate->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return Response::text(200, "done");
}

Task<Response> throw_now() {
  throw Error(ErrorKind::Conflict, "conflict", "boom");
  co_return Response{};
}

TEST(HttpInFlight, RefusesAboveTheCapAndFreesSlotsWhenHandlersFinish) {
  metrics::Registry reg;
  auto cap = std::make_shared<InFlightLimit>(3, &reg);
  asio::io_context io;
  asio::steady_timer gate(io, Clock::time_point::max());
  Handler h = limit_in_flight([g = &gate](Request&) { return wait_for(g); }, cap);

  std::deque<Request> reqs;
  std::vector<std::future<Response>> held;
  for (int i = 0; i < 3; ++i) held.push_back(asio::co_spawn(io, h(reqs.emplace_back(request_with())), asio::use_future));
  io.poll();
  EXPECT_EQ(cap->current(), 3u);
  EXPECT_NE(reg.render().find("dine_http_in_flight_admitted 3\n"), std::string::npos) << reg.render();

  auto over = asio::co_spawn(io, h(reqs.emplace_back(request_with())), asio::use_future);
  io.poll();
  Response r = over.get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"], "overloaded");
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_EQ(cap->current(), 3u);  // a refusal holds nothing

  gate.cancel();
  io.run();
  for (auto& f : held) EXPECT_EQ(f.get().status, 200);
  EXPECT_EQ(cap->current(), 0u);
  EXPECT_NE(reg.render().find("dine_http_refused_total{reason=\"overloaded\"} 1\n"), std::string::npos);
}

TEST(HttpInFlight, SlotIsFreedWhenTheHandlerThrows) {
  auto cap = std::make_shared<InFlightLimit>(1);
  Handler h = limit_in_flight([](Request&) { return throw_now(); }, cap);
  for (int i = 0; i < 3; ++i) {  // with one slot, a leak would refuse the second
    Request req = request_with();
    EXPECT_THROW(call(h, req), Error);
    EXPECT_EQ(cap->current(), 0u);
  }
  Handler sync = limit_in_flight([](Request&) -> Task<Response> { throw std::runtime_error("before the task"); }, cap);
  Request req = request_with();
  EXPECT_THROW(sync(req), std::runtime_error);
  EXPECT_EQ(cap->current(), 0u);
}

TEST(HttpInFlight, SlotIsFreedWhenTheRequestIsAbandoned) {
  auto cap = std::make_shared<InFlightLimit>(3);
  std::deque<Request> reqs;
  {
    asio::io_context io;
    asio::steady_timer gate(io, Clock::time_point::max());
    Handler h = limit_in_flight([g = &gate](Request&) { return wait_for(g); }, cap);
    for (int i = 0; i < 2; ++i) asio::co_spawn(io, h(reqs.emplace_back(request_with())), [](std::exception_ptr, Response) {});
    io.poll();
    EXPECT_EQ(cap->current(), 2u);
    // A Task never awaited gives its slot back too.
    {
      Task<Response> dropped = h(reqs.emplace_back(request_with()));
      EXPECT_EQ(cap->current(), 3u);
    }
    EXPECT_EQ(cap->current(), 2u);
  }  // the io_context goes with the suspended handlers: their frames are destroyed
  EXPECT_EQ(cap->current(), 0u);
}

}  // namespace
}  // namespace dine::http
