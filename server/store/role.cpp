#include "server/store/role.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/router.hpp"
#include "core/pg/pool.hpp"
#include "server/store/query.hpp"

namespace dine::store {
namespace {

using nlohmann::json;

// $1 city (NULL: every city) $2 after id $3 limit + 1 (the extra row says whether a next page exists).
constexpr pg::Statement kList{
    "store_list",
    "SELECT store_id, name, city, open FROM stores"
    " WHERE ($1::text IS NULL OR city = $1::text) AND store_id > $2::bigint"
    " ORDER BY store_id LIMIT $3::int"};
constexpr pg::Statement kGet{"store_get", "SELECT store_id, name, city, open FROM stores WHERE store_id = $1"};

json store_json(const pg::Result& r, int row) {
  return {{"store_id", r.int64(row, "store_id")},
          {"name", std::string(r.text(row, "name"))},
          {"city", std::string(r.text(row, "city"))},
          {"open", r.text(row, "open") == "t"}};
}

Task<http::Response> list(pg::Pool* db, http::Request& req) {
  ListQuery q = parse_list(req.query_param("city"), req.query_param("limit"), req.query_param("cursor"));
  pg::Params p{q.city, std::to_string(q.after), std::to_string(q.limit + 1)};
  pg::Result r = co_await db->execute(req.ctx, kList, p);
  json stores = json::array();
  const int shown = std::min(r.rows(), q.limit);
  for (int i = 0; i < shown; ++i) stores.push_back(store_json(r, i));
  json next = r.rows() > q.limit ? json(std::to_string(r.int64(shown - 1, "store_id"))) : json(nullptr);
  co_return http::Response::json(200, {{"stores", std::move(stores)}, {"next_cursor", next}});
}

Task<http::Response> one(pg::Pool* db, http::Request& req) {
  const int64_t id = parse_store_id(std::string(req.param("store_id")));
  pg::Params p{std::to_string(id)};
  pg::Result r = co_await db->execute(req.ctx, kGet, p);
  if (r.rows() == 0) throw not_found("store_not_found", fmt::format("store {} does not exist", id));
  co_return http::Response::json(200, store_json(r, 0));
}

void setup(runtime::WorkerContext& w) {
  pg::Pool* db = &w.postgres("db");
  w.router().get("/v1/stores", [db](http::Request& req) { return list(db, req); });
  w.router().get("/v1/stores/{store_id}", [db](http::Request& req) { return one(db, req); });
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "store";
    r.summary = "stores: by city a page at a time, one store";
    r.dependencies = {runtime::postgres("db", "store", runtime::Need::Required)};
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::store
