// Router: matching, parameters, 404/405, and the mapping of handler errors.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/router.hpp"

namespace dine::http {
namespace {

using nlohmann::json;

Response run(const Router& router, Request& req) {
  asio::io_context ctx;
  std::optional<Response> out;
  std::exception_ptr error;
  asio::co_spawn(ctx, router.handle(req), [&](std::exception_ptr e, Response r) {
    error = e;
    out = std::move(r);
  });
  ctx.run();
  if (error) std::rethrow_exception(error);
  return *out;
}

Request make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

Task<Response> echo_params(Request& req) {
  json j = json::object();
  for (const auto& [k, v] : req.params) j[k] = v;
  j["route"] = req.route;
  co_return Response::json(200, j);
}

Router sample() {
  Router r;
  r.get("/healthz", [](Request&) -> Task<Response> { co_return Response::text(200, "ok"); });
  r.get("/v1/orders/{order_id}", echo_params);
  r.get("/v1/orders/mine", echo_params);
  r.post("/v1/orders/{order_id}/pay", echo_params);
  r.get("/v1/stores/{store_id}/items/{item_id}", echo_params);
  r.get("/", echo_params);
  return r;
}

TEST(HttpRouter, MatchesLiteralRoute) {
  Router r = sample();
  Request req = make("GET", "/healthz");
  Response res = run(r, req);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok");
  EXPECT_EQ(req.route, "/healthz");
}

TEST(HttpRouter, FillsParamsAndRoutePattern) {
  Router r = sample();
  Request req = make("GET", "/v1/stores/12/items/a%20b");
  Response res = run(r, req);
  ASSERT_EQ(res.status, 200);
  json j = json::parse(res.body);
  EXPECT_EQ(j["store_id"], "12");
  EXPECT_EQ(j["item_id"], "a b");  // percent-decoded
  EXPECT_EQ(j["route"], "/v1/stores/{store_id}/items/{item_id}");
  EXPECT_EQ(req.param("store_id"), "12");
  EXPECT_EQ(req.param("missing"), "");
}

TEST(HttpRouter, LiteralSegmentBeatsParameter) {
  Router r = sample();
  auto m = r.match("GET", "/v1/orders/mine");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/v1/orders/mine");
  EXPECT_TRUE(m.params.empty());
  m = r.match("GET", "/v1/orders/42");
  EXPECT_EQ(m.pattern, "/v1/orders/{order_id}");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].second, "42");
}

TEST(HttpRouter, SegmentCountMustMatch) {
  Router r = sample();
  EXPECT_EQ(r.match("GET", "/v1/orders").handler, nullptr);
  EXPECT_EQ(r.match("GET", "/v1/orders/1/extra").handler, nullptr);
  EXPECT_EQ(r.match("GET", "/v1/orders/").handler, nullptr);  // empty parameter
  EXPECT_EQ(r.match("GET", "/healthz/").handler, nullptr);
  EXPECT_NE(r.match("GET", "/").handler, nullptr);
}

TEST(HttpRouter, UnknownPathIs404Json) {
  Router r = sample();
  Request req = make("GET", "/nope");
  Response res = run(r, req);
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(json::parse(res.body)["error"], "not_found");
  EXPECT_EQ(req.route, "unmatched");
}

TEST(HttpRouter, KnownPathOtherMethodIs405) {
  Router r = sample();
  Request req = make("POST", "/healthz");
  Response res = run(r, req);
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(json::parse(res.body)["error"], "method_not_allowed");
  req = make("GET", "/v1/orders/7/pay");
  EXPECT_EQ(run(r, req).status, 405);
  EXPECT_TRUE(r.match("DELETE", "/v1/orders/7").method_mismatch);
}

TEST(HttpRouter, DineErrorMapsToItsStatusAndCode) {
  Router r;
  r.post("/coupons/claim", [](Request&) -> Task<Response> {
    throw conflict("sold_out", "campaign 3 is sold out");
    co_return Response{};
  });
  r.get("/slow", [](Request&) -> Task<Response> {
    throw Error(ErrorKind::Timeout, "upstream_timeout", "menu timed out");
    co_return Response{};
  });
  Request req = make("POST", "/coupons/claim");
  Response res = run(r, req);
  EXPECT_EQ(res.status, 409);
  json j = json::parse(res.body);
  EXPECT_EQ(j["error"], "sold_out");
  EXPECT_EQ(j["message"], "campaign 3 is sold out");
  req = make("GET", "/slow");
  res = run(r, req);
  EXPECT_EQ(res.status, 504);
  EXPECT_EQ(json::parse(res.body)["error"], "upstream_timeout");
}

TEST(HttpRouter, OtherExceptionIs500WithoutDetails) {
  Router r;
  r.get("/bug", [](Request&) -> Task<Response> {
    throw std::runtime_error("secret pointer 0xdeadbeef");
    co_return Response{};
  });
  Request req = make("GET", "/bug");
  Response res = run(r, req);
  EXPECT_EQ(res.status, 500);
  json j = json::parse(res.body);
  EXPECT_EQ(j["error"], "internal");
  EXPECT_EQ(j["message"], "internal error");
  EXPECT_EQ(res.body.find("deadbeef"), std::string::npos);
}

TEST(HttpRouter, ErrorAfterSuspensionIsMapped) {
  Router r;
  r.get("/later", [](Request&) -> Task<Response> {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
    co_await t.async_wait(asio::use_awaitable);
    throw not_found("order_not_found", "no order 9");
  });
  Request req = make("GET", "/later");
  Response res = run(r, req);
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(json::parse(res.body)["error"], "order_not_found");
}

}  // namespace
}  // namespace dine::http
