#include "server/app/role.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/http/nodes.hpp"
#include "core/http/router.hpp"
#include "core/json_body.hpp"
#include "core/log.hpp"
#include "server/app/config.hpp"
#include "server/app/model.hpp"
#include "server/app/upstreams.hpp"

namespace dine::app {
namespace {

using nlohmann::json;

struct Site {
  std::unique_ptr<Upstreams> up;
  const AppConfig* cfg = nullptr;
};
using SiteP = std::shared_ptr<Site>;

// An upstream's answer as ours: its status and JSON body (its error codes and
// messages name no internal address: core/errors).
http::Response relay(const http::ClientResponse& r) {
  http::Response out;
  out.status = r.status;
  out.body = r.body;
  if (auto replayed = r.header("idempotent-replayed"); !replayed.empty())
    out.headers.emplace_back("Idempotent-Replayed", std::string(replayed));
  return out;
}

json body_of(const http::ClientResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) throw Error(ErrorKind::Unavailable, "dependency_unavailable", "a service answered nonsense");
  return j;
}

int64_t user_of(const http::Request& req) {
  // require_bearer admitted it: sub is the member's user id.
  return body::path_id(req.principal->subject, "invalid_token");
}


std::string service_body(const json& j) { return j.dump(); }

// ---- public, no token --------------------------------------------------------

Task<http::Response> login(SiteP s, http::Request& req) {
  http::ClientResponse r = co_await s->up->call(req.ctx, "member", "POST", "/v1/login", req.body);
  co_return relay(r);
}

Task<http::Response> stores(SiteP s, http::Request& req) {
  std::string target = "/v1/stores";
  char sep = '?';
  for (const char* k : {"city", "limit", "cursor"})
    if (auto v = req.query_param(k)) {
      target += fmt::format("{}{}={}", sep, k, http::url_encode(*v));
      sep = '&';
    }
  http::ClientResponse r = co_await s->up->call(req.ctx, "store", "GET", target);
  co_return relay(r);
}

Task<http::Response> store(SiteP s, http::Request& req) {
  const int64_t id = body::path_id(req.param("store_id"), "invalid_store_id");
  std::string target = fmt::format("/v1/stores/{}", id);
  http::ClientResponse r = co_await s->up->call(req.ctx, "store", "GET", target);
  co_return relay(r);
}

Task<http::Response> menu(SiteP s, http::Request& req) {
  const int64_t id = body::path_id(req.param("store_id"), "invalid_store_id");
  std::string target = fmt::format("/v1/stores/{}/menu", id);
  http::ClientResponse r = co_await s->up->call(req.ctx, "menu", "GET", target);
  http::Response out = relay(r);
  if (r.status == 200) out.body = public_menu(std::move(out.body));
  co_return out;
}

Task<http::Response> campaigns(SiteP s, http::Request& req) {
  http::ClientResponse r = co_await s->up->call(req.ctx, "coupon", "GET", "/v1/campaigns");
  if (r.status != 200) co_return relay(r);
  json in = body_of(r);
  json out = json::array();
  for (const auto& c : in["campaigns"])
    out.push_back({{"campaign_id", c["campaign_id"]}, {"name", c["name"]}, {"product_id", c["product_id"]},
                   {"price_cents", c["price_cents"]}, {"stock_left", c["stock"]}, {"starts_at", c["starts_at"]},
                   {"ends_at", c["ends_at"]}});
  co_return http::Response::json(200, {{"campaigns", std::move(out)}});
}

// ---- a member's own ----------------------------------------------------------

Task<http::Response> claim(SiteP s, http::Request& req) {
  json j = body::object(req.body);
  body::only_keys(j, {"campaign_id"});
  const int64_t campaign = body::id(j, "campaign_id");
  const int64_t user = user_of(req);
  // (Arguments made before the co_await: GCC 12 mishandles braced
  // temporaries inside a co_await expression.)
  std::string target = fmt::format("/v1/campaigns/{}/claims", campaign);
  std::string payload = service_body({{"user_id", user}});
  http::ClientResponse r = co_await s->up->call(req.ctx, "coupon", "POST", target, payload);
  if (r.status != 200 && r.status != 201) co_return relay(r);
  json c = body_of(r);
  json out = {{"coupon_id", c["coupon_id"]}, {"campaign_id", campaign}, {"expires_at", c["expires_at"]}};
  if (r.status == 200) {  // the user holds one already: never two
    out["error"] = "already_claimed";
    out["message"] = "you hold a coupon of this campaign already";
    out["request_id"] = req.ctx.request_id;
    co_return http::Response::json(409, out);
  }
  co_return http::Response::json(200, out);
}

Task<http::Response> my_coupons(SiteP s, http::Request& req) {
  std::string target = fmt::format("/v1/users/{}/coupons", user_of(req));
  http::ClientResponse r = co_await s->up->call(req.ctx, "coupon", "GET", target);
  co_return relay(r);
}

// The order of `id` if it is this user's: someone else's is not found.
Task<json> own_order(SiteP s, Context ctx, int64_t id, int64_t user) {
  std::string target = fmt::format("/v1/orders/{}", id);
  http::ClientResponse r = co_await s->up->call(ctx, "order", "GET", target);
  if (r.status == 404) throw not_found("order_not_found", fmt::format("order {} does not exist", id));
  if (r.status != 200) throw Error(ErrorKind::Unavailable, "dependency_unavailable", "the order service failed");
  json o = body_of(r);
  if (o.value("user_id", int64_t{0}) != user)
    throw not_found("order_not_found", fmt::format("order {} does not exist", id));
  co_return o;
}

Task<http::Response> get_order(SiteP s, http::Request& req) {
  const int64_t id = body::path_id(req.param("order_id"), "invalid_order_id");
  json o = co_await own_order(s, req.ctx, id, user_of(req));
  co_return http::Response::json(200, o);
}

Task<http::Response> my_orders(SiteP s, http::Request& req) {
  std::string target = fmt::format("/v1/users/{}/orders", user_of(req));
  if (auto limit = req.query_param("limit")) target += "?limit=" + http::url_encode(*limit);
  http::ClientResponse r = co_await s->up->call(req.ctx, "order", "GET", target);
  co_return relay(r);
}

Task<http::Response> pay(SiteP s, http::Request& req) {
  const int64_t id = body::path_id(req.param("order_id"), "invalid_order_id");
  const int64_t user = user_of(req);
  std::string payload = service_body({{"order_id", std::to_string(id)}, {"user_id", user}});
  http::ClientResponse r = co_await s->up->call(req.ctx, "payment", "POST", "/v1/payments", payload);
  co_return relay(r);
}

Task<http::Response> cancel(SiteP s, http::Request& req) {
  const int64_t id = body::path_id(req.param("order_id"), "invalid_order_id");
  co_await own_order(s, req.ctx, id, user_of(req));
  std::string target = fmt::format("/v1/orders/{}/cancel", id);
  http::ClientResponse r = co_await s->up->call(req.ctx, "order", "POST", target);
  co_return relay(r);
}

Task<void> release(SiteP s, Context ctx, int64_t coupon, int64_t user, const std::string& key) {
  try {
    std::string target = fmt::format("/v1/coupons/{}/release", coupon);
    std::string payload = service_body({{"user_id", user}, {"order_key", key}});
    co_await s->up->call(ctx, "coupon", "POST", target, payload);
  } catch (const Error& e) {
    log::write(log::Level::Warn, "app", "coupon_release_failed",
               {{"request_id", ctx.request_id}, {"coupon_id", std::to_string(coupon)}, {"error", e.code()}});
  }
}

// Prices from the menu, the coupon reserved for this order's key, then the
// order made with the server's lines; a failure the order role answered
// gives the coupon back (a timeout keeps it: the order may exist, and a retry
// with the same key finds it).
Task<http::Response> create_order(SiteP s, http::Request& req) {
  const std::string key(req.header("idempotency-key"));
  if (key.empty())
    throw bad_request("missing_idempotency_key", "the Idempotency-Key header is required on order creation");
  if (key.size() > 128) throw bad_request("invalid_idempotency_key", "the Idempotency-Key is at most 128 characters");
  for (unsigned char c : key)
    if (c < 0x21 || c > 0x7e)
      throw bad_request("invalid_idempotency_key", "the Idempotency-Key must be printable ASCII without spaces");
  NewOrder o = parse_order(req.body, s->cfg->max_items, s->cfg->max_qty);
  const int64_t user = user_of(req);

  std::string store_target = fmt::format("/v1/stores/{}", o.store_id);
  http::ClientResponse st = co_await s->up->call(req.ctx, "store", "GET", store_target);
  if (st.status != 200) co_return relay(st);
  if (!body_of(st).value("open", false))
    throw conflict("store_closed", fmt::format("store {} is closed", o.store_id));

  json ask = {{"store_id", o.store_id}, {"product_ids", json::array()}};
  for (const Line& l : o.items) ask["product_ids"].push_back(l.product_id);
  std::string ask_body = ask.dump();
  http::ClientResponse pr = co_await s->up->call(req.ctx, "menu", "POST", "/v1/prices", ask_body);
  if (pr.status != 200) co_return relay(pr);
  json priced = body_of(pr);
  if (!priced["missing"].empty())
    throw bad_request("product_not_in_store", fmt::format("store {} does not sell product {}", o.store_id,
                                                          priced["missing"][0].get<int64_t>()));
  std::vector<Priced> prices;
  for (const auto& p : priced["products"]) {
    prices.push_back({p["product_id"].get<int64_t>(), p["price_cents"].get<int64_t>(), p["available"].get<bool>()});
    if (!prices.back().available)
      throw conflict("product_unavailable", fmt::format("product {} is not available now", prices.back().product_id));
  }

  std::optional<Coupon> coupon;
  bool reserved_now = false;
  if (o.coupon_id) {
    std::string target = fmt::format("/v1/coupons/{}/reserve", *o.coupon_id);
    std::string payload = service_body({{"user_id", user}, {"order_key", key}});
    http::ClientResponse cr = co_await s->up->call(req.ctx, "coupon", "POST", target, payload);
    if (cr.status != 200) co_return relay(cr);
    json c = body_of(cr);
    coupon = Coupon{*o.coupon_id, c.value("product_id", int64_t{0}), c.value("price_cents", int64_t{0})};
    reserved_now = !c.value("replayed", false);
  }
  json items;
  std::exception_ptr refused;
  try {
    items = order_items(o, prices, coupon);
  } catch (const Error&) {
    refused = std::current_exception();
  }
  if (refused) {  // (no co_await inside a handler)
    if (reserved_now) co_await release(s, req.ctx, *o.coupon_id, user, key);
    std::rethrow_exception(refused);
  }
  json create = {{"user_id", user}, {"store_id", o.store_id}, {"items", std::move(items)}};
  if (o.coupon_id) create["coupon_id"] = *o.coupon_id;
  std::string payload = create.dump();
  http::Headers headers{{"Idempotency-Key", key}};
  http::ClientResponse r = co_await s->up->call(req.ctx, "order", "POST", "/v1/orders", payload, headers);
  if (r.status != 200 && r.status != 201) {
    if (reserved_now && r.status < 500) co_await release(s, req.ctx, *o.coupon_id, user, key);
    co_return relay(r);
  }
  json made = body_of(r);
  http::Response out = http::Response::json(
      r.status, {{"order_id", made["order_id"]}, {"amount_cents", made["amount_cents"]}, {"status", made["status"]}});
  if (auto replayed = r.header("idempotent-replayed"); !replayed.empty())
    out.headers.emplace_back("Idempotent-Replayed", std::string(replayed));
  co_return out;
}

void setup(runtime::WorkerContext& w) {
  auto site = std::make_shared<Site>();
  site->cfg = &w.config<AppConfig>();
  std::map<std::string, std::vector<const Node*>> nodes;
  for (const char* p : {"member", "store", "menu", "coupon", "order", "payment"}) nodes[p] = w.nodes(p);
  http::Client& client = w.http("order");  // one client per worker: its pools are per host
  site->up = std::make_unique<Upstreams>(client, std::move(nodes));
  w.keep(site);

  http::BearerConfig bc;
  bc.secret = w.topology().secret;
  bc.kinds = {"user"};
  auto auth = std::make_shared<const http::BearerAuth>(bc, &w.metrics());
  auto member = [auth](http::Handler h) { return http::require_bearer(std::move(h), auth); };
  auto& r = w.router();
  r.post("/api/v1/login", [site](http::Request& q) { return login(site, q); });
  r.get("/api/v1/stores", [site](http::Request& q) { return stores(site, q); });
  r.get("/api/v1/stores/{store_id}", [site](http::Request& q) { return store(site, q); });
  r.get("/api/v1/stores/{store_id}/menu", [site](http::Request& q) { return menu(site, q); });
  r.get("/api/v1/campaigns", [site](http::Request& q) { return campaigns(site, q); });
  r.post("/api/v1/coupons/claim", member([site](http::Request& q) { return claim(site, q); }));
  r.get("/api/v1/coupons", member([site](http::Request& q) { return my_coupons(site, q); }));
  r.post("/api/v1/orders", member([site](http::Request& q) { return create_order(site, q); }));
  r.get("/api/v1/orders", member([site](http::Request& q) { return my_orders(site, q); }));
  r.get("/api/v1/orders/{order_id}", member([site](http::Request& q) { return get_order(site, q); }));
  r.post("/api/v1/orders/{order_id}/pay", member([site](http::Request& q) { return pay(site, q); }));
  r.post("/api/v1/orders/{order_id}/cancel", member([site](http::Request& q) { return cancel(site, q); }));
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "app";
    r.summary = "the public API (/api/v1) of the mini-program: bearer tokens, server-side prices";
    // Each basic service is degradable: one down gives 503 dependency_unavailable
    // on the routes that need it; the others keep serving.
    for (const char* p : {"member", "store", "menu", "coupon", "order", "payment"})
      r.dependencies.push_back(runtime::http(p, runtime::Need::Degradable));
    r.config = runtime::typed_config<AppConfig>();
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::app
