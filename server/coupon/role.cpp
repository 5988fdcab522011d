#include "server/coupon/role.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/http/router.hpp"
#include "core/json_body.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/redis/client.hpp"
#include "core/redis/stream_consumer.hpp"
#include "server/coupon/authority.hpp"
#include "server/coupon/config.hpp"
#include "server/coupon/events.hpp"
#include "server/coupon/scripts.hpp"
#include "server/coupon/sweeper.hpp"

namespace dine::coupon {
namespace {

using nlohmann::json;

struct UseBody {
  int64_t user_id;
  std::string order_key;
};

UseBody parse_use(std::string_view text) {
  json j = body::object(text);
  body::only_keys(j, {"user_id", "order_key"});
  UseBody b{body::id(j, "user_id"), ""};
  if (!body::has(j, "order_key") || !j["order_key"].is_string())
    throw bad_request("missing_field", "order_key (the order's Idempotency-Key) is required");
  b.order_key = j["order_key"].get<std::string>();
  if (b.order_key.empty() || b.order_key.size() > 128)
    throw bad_request("invalid_field", "order_key must be 1..128 characters");
  return b;
}

json use_json(int64_t coupon_id, const Use& u) {
  json j = {{"coupon_id", std::to_string(coupon_id)}, {"state", u.state}, {"replayed", u.replayed}};
  if (!u.campaign_id.empty()) {
    j["campaign_id"] = std::stoll(u.campaign_id);
    j["product_id"] = u.product_id;
    j["price_cents"] = u.price_cents;
  }
  return j;
}

Task<http::Response> claim(std::shared_ptr<Authority> a, http::Request& req) {
  const int64_t campaign = body::path_id(req.param("campaign_id"), "invalid_campaign_id");
  json j = body::object(req.body);
  body::only_keys(j, {"user_id"});
  const int64_t user = body::id(j, "user_id");
  Claim c = co_await a->claim(req.ctx, campaign, user);
  co_return http::Response::json(c.replayed ? 200 : 201, {{"coupon_id", c.coupon_id},
                                                          {"campaign_id", campaign},
                                                          {"user_id", user},
                                                          {"state", c.replayed ? "held" : "granted"},
                                                          {"expires_at", iso_time(c.expires_ms)},
                                                          {"replayed", c.replayed}});
}

Task<http::Response> use(std::shared_ptr<Authority> a, std::string op, http::Request& req) {
  const int64_t coupon = body::path_id(req.param("coupon_id"), "invalid_coupon_id");
  UseBody b = parse_use(req.body);
  Use u = co_await a->transition(req.ctx, op, coupon, b.user_id, b.order_key);
  co_return http::Response::json(200, use_json(coupon, u));
}

Task<http::Response> campaigns(std::shared_ptr<Authority> a, http::Request& req) {
  json list = co_await a->active_campaigns(req.ctx);
  // None on sale: a campaign added to the database since the sync loop last
  // looked is loaded now rather than up to sync_every_ms later.
  if (list.empty() && co_await a->load_new_campaigns(req.ctx) > 0) list = co_await a->active_campaigns(req.ctx);
  co_return http::Response::json(200, {{"campaigns", std::move(list)}});
}

Task<http::Response> user_coupons(std::shared_ptr<Authority> a, http::Request& req) {
  const int64_t user = body::path_id(req.param("user_id"), "invalid_user_id");
  json list = co_await a->user_coupons(req.ctx, user);
  co_return http::Response::json(200, {{"coupons", std::move(list)}});
}

// Worker 0's loop: new campaigns from the database, and a reconciliation as
// soon as redis-mq turns out to be a process that was not reconciled (a
// restart), before any claim has to wait for it.
Task<void> sync_loop(std::shared_ptr<Authority> a, milliseconds every) {
  for (;;) {
    Context ctx = Context::background("coupon-sync", milliseconds(60'000));
    try {
      if (!co_await a->in_sync(ctx)) co_await a->reconcile(ctx);
      co_await a->load_new_campaigns(ctx);
    } catch (const Error& e) {
      log::write(log::Level::Warn, "coupon", "sync_failed", {{"error", e.code()}, {"message", e.what()}});
    }
    co_await sleep_for(every);
  }
}

redis::ConsumerConfig consumer_config(runtime::WorkerContext& w, const char* stream, const char* group) {
  redis::ConsumerConfig c;
  c.stream = stream;
  c.group = group;
  c.consumer = fmt::format("{}/w{}", w.node().id, w.index());
  c.batch = 64;
  c.metrics = &w.metrics();
  return c;
}

void setup(runtime::WorkerContext& w) {
  const auto& cfg = w.config<CouponConfig>();
  auto& state = w.node_state<NodeState>();
  redis::Client& mq = w.redis("mq");
  auto authority = std::make_shared<Authority>(mq, w.postgres("db"), state, cfg, w.metrics());
  w.keep(authority);
  auto& r = w.router();
  // Writes take calls from dine services only (the app): a port reached is
  // not a coupon granted.
  const std::string& secret = w.topology().secret;
  metrics::Registry* reg = &w.metrics();
  auto service = [&](http::Handler h) { return http::require_service(std::move(h), secret, reg); };
  r.get("/v1/campaigns", [authority](http::Request& q) { return campaigns(authority, q); });
  r.post("/v1/campaigns/{campaign_id}/claims",
         service([authority](http::Request& q) { return claim(authority, q); }));
  r.get("/v1/users/{user_id}/coupons", [authority](http::Request& q) { return user_coupons(authority, q); });
  r.post("/v1/coupons/{coupon_id}/reserve",
         service([authority](http::Request& q) { return use(authority, "reserve", q); }));
  r.post("/v1/coupons/{coupon_id}/confirm",
         service([authority](http::Request& q) { return use(authority, "confirm", q); }));
  r.post("/v1/coupons/{coupon_id}/release",
         service([authority](http::Request& q) { return use(authority, "release", q); }));

  if (w.index() != 0) return;
  const milliseconds every(cfg.sync_every_ms);
  w.background("coupon_sync", [authority, every] { return sync_loop(authority, every); });
  auto sweeper = std::make_shared<Sweeper>(*authority, w.http("orders"), w.nodes("orders"), cfg, w.metrics());
  w.keep(sweeper);
  Sweeper* sw = sweeper.get();
  w.background("coupon_sweeper", [sw] { return sw->run(); });
  if (!cfg.consume) return;
  redis::ClientConfig own = mq.config();
  own.metrics = nullptr;
  auto persister = std::make_shared<redis::StreamConsumer>(w.executor(), own,
                                                           consumer_config(w, lua::kStream, kPersistGroup));
  auto follower = std::make_shared<redis::StreamConsumer>(w.executor(), own,
                                                          consumer_config(w, kOrdersStream, kOrdersGroup));
  w.keep(persister);
  w.keep(follower);
  pg::Pool* db = &w.postgres("db");
  metrics::Registry* m = &w.metrics();
  redis::StreamConsumer* p = persister.get();
  redis::StreamConsumer* f = follower.get();
  w.background("coupon_persist", [p, db] {
    return p->run([db](redis::Entry e) { return persist(*db, std::move(e)); });
  });
  w.background("coupon_follow_orders", [f, authority, m] {
    return f->run([authority, m](redis::Entry e) { return follow_order(*authority, *m, std::move(e)); });
  });
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "coupon";
    r.summary = "campaigns and coupons: claims and uses decided atomically on redis-mq, persisted to PostgreSQL";
    r.dependencies = {runtime::postgres("db", "coupon", runtime::Need::Required),
                      runtime::redis("mq", runtime::Need::Required),
                      // Asked only by the sweeper of reservations whose order never came.
                      runtime::http("orders", runtime::Need::Degradable)};
    r.consumes = {{"mq", lua::kStream, kPersistGroup}, {"mq", kOrdersStream, kOrdersGroup}};
    r.config = runtime::typed_config<CouponConfig>();
    r.node_state = [](const Topology&, const Node& node, const std::any&) -> std::shared_ptr<void> {
      auto s = std::make_shared<NodeState>(static_cast<uint32_t>(node.node_id));
      s->node = node.id;
      return s;
    };
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::coupon
