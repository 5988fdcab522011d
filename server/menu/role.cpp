#include "server/menu/role.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/router.hpp"
#include "core/json_body.hpp"
#include "core/metrics.hpp"
#include "core/single_flight.hpp"
#include "server/menu/catalog.hpp"
#include "server/menu/config.hpp"
#include "server/menu/prices.hpp"

namespace dine::menu {
namespace {

using nlohmann::json;

http::Response cached(std::string body) {
  http::Response r;
  r.status = 200;
  r.body = std::move(body);
  return r;
}

Task<http::Response> get_menu(std::shared_ptr<Catalog> c, http::Request& req) {
  const int64_t store = body::path_id(req.param("store_id"), "invalid_store_id");
  auto menu = co_await c->menu(req.ctx, store);
  if (!menu) throw not_found("menu_not_found", fmt::format("store {} has no menu", store));
  co_return cached(std::move(*menu));
}

Task<http::Response> get_product(std::shared_ptr<Catalog> c, http::Request& req) {
  const int64_t store = body::path_id(req.param("store_id"), "invalid_store_id");
  const int64_t product = body::path_id(req.param("product_id"), "invalid_product_id");
  auto p = co_await c->product(req.ctx, store, product);
  if (!p) throw not_found("product_not_found", fmt::format("store {} does not sell product {}", store, product));
  co_return cached(std::move(*p));
}

Task<http::Response> prices(std::shared_ptr<Catalog> c, const MenuConfig* cfg, http::Request& req) {
  PriceQuery q = parse_prices(req.body, static_cast<std::size_t>(cfg->max_lookup));
  auto menu = co_await c->menu(req.ctx, q.store_id);
  if (!menu) throw not_found("menu_not_found", fmt::format("store {} has no menu", q.store_id));
  co_return http::Response::json(200, pick_prices(*menu, q.product_ids));
}

Task<http::Response> refresh(std::shared_ptr<Catalog> c, const MenuConfig* cfg, http::Request& req) {
  std::vector<int64_t> stores = parse_refresh(req.body, static_cast<std::size_t>(cfg->max_refresh));
  RefreshReport rep = co_await c->refresh(req.ctx, std::move(stores));
  co_return http::Response::json(
      200, {{"stores", rep.stores}, {"products", rep.products}, {"keys", rep.keys}, {"missing", rep.missing}});
}

void setup(runtime::WorkerContext& w) {
  const auto& cfg = w.config<MenuConfig>();
  auto catalog = std::make_shared<Catalog>(w.postgres("db"), w.redis("cache"), w.node_state<SingleFlight>(), cfg,
                                           CatalogMeters::in(w.metrics()),
                                           milliseconds(w.node().limits.db_query_timeout_ms));
  w.keep(catalog);
  const MenuConfig* c = &cfg;
  auto& r = w.router();
  r.get("/v1/stores/{store_id}/menu", [catalog](http::Request& q) { return get_menu(catalog, q); });
  r.get("/v1/stores/{store_id}/products/{product_id}",
        [catalog](http::Request& q) { return get_product(catalog, q); });
  r.post("/v1/prices", [catalog, c](http::Request& q) { return prices(catalog, c, q); });
  r.post("/v1/refresh", [catalog, c](http::Request& q) { return refresh(catalog, c, q); });
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "menu";
    r.summary = "menus and products per store, cache-aside on redis-cache with single-flight loads";
    r.dependencies = {runtime::postgres("db", "menu", runtime::Need::Required),
                      runtime::redis("cache", runtime::Need::Degradable)};
    r.config = runtime::typed_config<MenuConfig>();
    r.node_state = [](const Topology&, const Node&, const std::any&) -> std::shared_ptr<void> {
      return std::make_shared<SingleFlight>();
    };
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::menu
