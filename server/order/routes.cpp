#include "server/order/routes.hpp"

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/middleware_auth.hpp"

namespace dine::order {
namespace {

http::Response respond(const Outcome& o) {
  auto r = http::Response::json(o.status, o.body);
  if (o.replayed) r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

int parse_limit(const http::Request& req) {
  auto v = req.query_param("limit");
  if (!v) return 20;
  if (v->empty() || v->size() > 3 || v->find_first_not_of("0123456789") != std::string::npos)
    throw bad_request("invalid_limit", "limit must be a number 1..100");
  int n = std::stoi(*v);
  if (n < 1 || n > 100) throw bad_request("invalid_limit", "limit must be a number 1..100");
  return n;
}

}  // namespace

void add_routes(http::Router& router, std::shared_ptr<OrderService> svc, const std::string& secret,
                metrics::Registry* registry) {
  // Writes take calls from dine services only (the app, payment, the POS
  // gateway): a port reached is not a meal paid for.
  auto service = [&](http::Handler h) { return http::require_service(std::move(h), secret, registry); };
  router.post("/v1/orders", service([svc](http::Request& req) -> Task<http::Response> {
    auto create = parse_create(req.body, req.header("idempotency-key"), svc->config());
    co_return respond(co_await svc->create(req.ctx, std::move(create)));
  }));
  router.get("/v1/orders/{order_id}", [svc](http::Request& req) -> Task<http::Response> {
    co_return respond(co_await svc->get(req.ctx, parse_order_id(req.param("order_id"))));
  });
  router.get("/v1/users/{user_id}/orders", [svc](http::Request& req) -> Task<http::Response> {
    auto user = parse_user_id(req.param("user_id"));
    if (auto key = req.query_param("idempotency_key")) {
      if (key->empty() || key->size() > 128)
        throw bad_request("invalid_idempotency_key", "idempotency_key must be 1..128 characters");
      co_return respond(co_await svc->find_by_key(req.ctx, user, std::move(*key)));
    }
    co_return respond(co_await svc->list_for_user(req.ctx, user, parse_limit(req)));
  });
  router.post("/v1/orders/{order_id}/paid", service([svc](http::Request& req) -> Task<http::Response> {
    auto id = parse_order_id(req.param("order_id"));
    co_return respond(co_await svc->pay(req.ctx, id, parse_payment_id(req.body)));
  }));
  router.post("/v1/orders/{order_id}/cancel", service([svc](http::Request& req) -> Task<http::Response> {
    co_return respond(co_await svc->cancel(req.ctx, parse_order_id(req.param("order_id"))));
  }));
  router.post("/v1/orders/{order_id}/accepted", service([svc](http::Request& req) -> Task<http::Response> {
    auto id = parse_order_id(req.param("order_id"));
    co_return respond(co_await svc->accept(req.ctx, id, parse_pickup_code(req.body)));
  }));
}

}  // namespace dine::order
