#include "server/payment/role.hpp"

#include <memory>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/http/router.hpp"
#include "core/json_body.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "server/payment/config.hpp"
#include "server/payment/provider.hpp"
#include "server/payment/service.hpp"

namespace dine::payment {
namespace {

using nlohmann::json;

Task<http::Response> pay(std::shared_ptr<PaymentService> s, http::Request& req) {
  json j = body::object(req.body);
  body::only_keys(j, {"order_id", "user_id"});
  const int64_t order = body::id(j, "order_id");
  const int64_t user = body::id(j, "user_id");
  co_return co_await s->pay(req.ctx, order, user);
}

Task<http::Response> get(std::shared_ptr<PaymentService> s, http::Request& req) {
  const int64_t order = body::path_id(req.param("order_id"), "invalid_order_id");
  json p = co_await s->get(req.ctx, order);
  co_return http::Response::json(200, p);
}

// Worker 0's loops: the relay hands off (or refunds) captures; the resolver
// settles payments an unknown outcome left pending.
Task<void> relay_loop(std::shared_ptr<PaymentService> s, milliseconds every) {
  for (;;) {
    Context ctx = Context::background("payment-relay", milliseconds(30'000));
    int settled = 0;
    try {
      settled = co_await s->relay_round(ctx);
    } catch (const Error& e) {
      log::write(log::Level::Warn, "payment", "relay_failed", {{"error", e.code()}, {"message", e.what()}});
    }
    if (settled == 0) co_await sleep_for(every);
  }
}

Task<void> resolve_loop(std::shared_ptr<PaymentService> s, milliseconds every) {
  for (;;) {
    Context ctx = Context::background("payment-resolve", milliseconds(30'000));
    try {
      co_await s->resolve_round(ctx);
    } catch (const Error& e) {
      log::write(log::Level::Warn, "payment", "resolve_failed", {{"error", e.code()}, {"message", e.what()}});
    }
    co_await sleep_for(every);
  }
}

void setup(runtime::WorkerContext& w) {
  const auto& cfg = w.config<PaymentConfig>();
  auto provider = std::make_shared<Provider>(cfg);
  auto service = std::make_shared<PaymentService>(w.postgres("db"), w.http("orders"), w.nodes("orders"), cfg,
                                                  *provider, w.metrics());
  w.keep(provider);
  w.keep(service);
  const std::string& secret = w.topology().secret;
  w.router().post("/v1/payments", http::require_service([service](http::Request& q) { return pay(service, q); },
                                                        secret, &w.metrics()));
  w.router().get("/v1/payments/{order_id}", [service](http::Request& q) { return get(service, q); });
  if (w.index() != 0) return;
  if (cfg.relay) {
    const milliseconds every(cfg.relay_every_ms);
    w.background("payment_relay", [service, every] { return relay_loop(service, every); });
  }
  const milliseconds resolve_every(std::max(100, cfg.resolve_after_ms / 2));
  w.background("payment_resolver", [service, resolve_every] { return resolve_loop(service, resolve_every); });
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "payment";
    r.summary = "payments: the simulated provider, captures handed off to the order role through an outbox";
    // The order role down: captures wait in the outbox, the node stays ready.
    r.dependencies = {runtime::postgres("db", "payment", runtime::Need::Required),
                      runtime::http("orders", runtime::Need::Degradable)};
    r.config = runtime::typed_config<PaymentConfig>();
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::payment
