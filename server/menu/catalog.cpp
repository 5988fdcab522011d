#include "server/menu/catalog.hpp"

#include <charconv>
#include <functional>
#include <random>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/redis/client.hpp"
#include "core/single_flight.hpp"
#include "server/menu/config.hpp"
#include "server/menu/documents.hpp"

namespace dine::menu {
namespace {

// Rows of one or more stores' menus: a store without products gives one row
// with NULL product columns; no row: no such store.
constexpr pg::Statement kMenus{
    "menu_of_stores",
    "SELECT m.store_id, m.version, p.product_id, p.name, p.price_cents, p.available, p.image_path"
    " FROM menus m LEFT JOIN products p ON p.store_id = m.store_id"
    " WHERE m.store_id = ANY($1::bigint[]) ORDER BY m.store_id, p.product_id"};
constexpr pg::Statement kProduct{
    "menu_product",
    "SELECT m.store_id, m.version, p.product_id, p.name, p.price_cents, p.available, p.image_path"
    " FROM products p JOIN menus m ON m.store_id = p.store_id"
    " WHERE p.store_id = $1 AND p.product_id = $2"};

// Column positions of a kMenus or kProduct result, looked up once per result.
struct Columns {
  int store_id, version, product_id, name, price_cents, available, image_path;
  explicit Columns(const pg::Result& r)
      : store_id(r.column("store_id")), version(r.column("version")), product_id(r.column("product_id")),
        name(r.column("name")), price_cents(r.column("price_cents")), available(r.column("available")),
        image_path(r.column("image_path")) {}
};

// A product's menu entry (documents.hpp), from the database's text.
std::string entry_of(const pg::Result& r, const Columns& c, int row) {
  ProductRow p;
  p.product_id = r.text(row, c.product_id);
  p.name = r.text(row, c.name);
  p.price_cents = r.text(row, c.price_cents);
  p.available = r.text(row, c.available) == "t";
  if (!r.is_null(row, c.image_path)) p.image = r.text(row, c.image_path);
  std::string e;
  e.reserve(64 + p.name.size() + (p.image ? p.image->size() : 0));
  append_entry(e, p);
  return e;
}

int64_t id_of(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    throw Error(ErrorKind::Internal, "db_bad_value", "an id column is not a number");
  return v;
}

// One store's rows [begin, end) of a kMenus result: its menu, and the entry of
// each of its products (none for a menu without products: one row of NULLs).
struct StoreRows {
  std::string_view store_id, version;
  std::vector<std::string> entries;
  std::vector<std::string_view> product_ids;
  std::string menu() const { return menu_document(store_id, version, entries); }
};

StoreRows store_rows(const pg::Result& r, const Columns& c, int begin, int end) {
  StoreRows s{r.text(begin, c.store_id), r.text(begin, c.version), {}, {}};
  s.entries.reserve(static_cast<std::size_t>(end - begin));
  for (int i = begin; i < end; ++i) {
    if (r.is_null(i, c.product_id)) continue;
    s.entries.push_back(entry_of(r, c, i));
    s.product_ids.push_back(r.text(i, c.product_id));
  }
  return s;
}

std::string array_of(const std::vector<int64_t>& ids) {
  std::string s = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  s += '}';
  return s;
}

bool cache_failure(const std::exception& e) {
  auto* err = dynamic_cast<const Error*>(&e);
  return err && (err->kind() == ErrorKind::Unavailable || err->kind() == ErrorKind::Timeout);
}

}  // namespace

std::string menu_key(int64_t store_id) { return fmt::format("menu:{}", store_id); }
std::string product_key(int64_t store_id, int64_t product_id) {
  return fmt::format("product:{}:{}", store_id, product_id);
}

CatalogMeters CatalogMeters::in(metrics::Registry& r) {
  auto c = [&](const char* name, const char* help) { return &r.counter(name, help); };
  return {c("dine_menu_cache_hits_total", "reads answered from redis-cache"),
          c("dine_menu_cache_null_hits_total", "reads answered from a cached absence (unknown store or product)"),
          c("dine_menu_cache_misses_total", "reads that found no key in redis-cache"),
          c("dine_menu_coalesced_total", "misses that joined a load already in flight on this node"),
          c("dine_menu_db_reads_total", "loads that read PostgreSQL (cache misses after single-flight)"),
          c("dine_menu_nulls_cached_total", "absences written to the cache"),
          c("dine_menu_cache_errors_total", "redis-cache calls that failed (the read went to the database)"),
          c("dine_menu_keys_refreshed_total", "keys rewritten by refresh reads")};
}

Catalog::Catalog(pg::Pool& db, redis::Client& cache, SingleFlight& flight, const MenuConfig& cfg, CatalogMeters m,
                 milliseconds load_budget)
    : db_(db), cache_(cache), flight_(flight), cfg_(cfg), m_(m), load_budget_(load_budget) {}

std::string Catalog::ttl_seconds() {
  thread_local std::minstd_rand rng(std::random_device{}());
  int jitter = cfg_.cache_jitter_s > 0 ? static_cast<int>(rng() % static_cast<unsigned>(cfg_.cache_jitter_s + 1)) : 0;
  return std::to_string(cfg_.cache_ttl_s + jitter);
}

Task<std::optional<std::string>> Catalog::read(Context ctx, std::string key,
                                               std::function<Task<std::optional<std::string>>(Context)> load) {
  try {
    redis::Argv get{"GET", key};
    redis::Reply r = co_await cache_.command(ctx, std::move(get));
    if (r.type == redis::Reply::Type::String) {
      if (r.str == kAbsent) {
        m_.null_hits->inc();
        co_return std::nullopt;
      }
      m_.hits->inc();
      co_return std::move(r.str);
    }
  } catch (const std::exception& e) {
    if (!cache_failure(e)) throw;
    m_.cache_errors->inc();
  }
  m_.misses->inc();
  // The load is shared by every caller of this key on the node, so it runs
  // under its own budget, not this caller's deadline.
  SingleFlight::Loader loader = [this, key, load = std::move(load), rid = ctx.request_id]() -> Task<SingleFlight::Value> {
    Context lctx{rid, deadline_in(load_budget_)};
    bool cache_up = true;
    try {
      redis::Argv get{"GET", key};
      redis::Reply again = co_await cache_.command(lctx, std::move(get));
      if (again.type == redis::Reply::Type::String)
        co_return again.str == kAbsent ? SingleFlight::Value{} : SingleFlight::Value{std::move(again.str)};
    } catch (const std::exception& e) {
      if (!cache_failure(e)) throw;
      m_.cache_errors->inc();
      cache_up = false;
    }
    m_.db_reads->inc();
    std::optional<std::string> value = co_await load(lctx);
    if (cache_up) {
      try {
        redis::Argv set = value ? redis::Argv{"SET", key, *value, "EX", ttl_seconds()}
                                : redis::Argv{"SET", key, std::string(kAbsent), "EX", std::to_string(cfg_.null_ttl_s)};
        co_await cache_.command(lctx, std::move(set));
        if (!value) m_.nulls_cached->inc();
      } catch (const std::exception& e) {
        if (!cache_failure(e)) throw;
        m_.cache_errors->inc();
      }
    }
    co_return value;
  };
  SingleFlight::Outcome out = co_await flight_.run(ctx, key, std::move(loader));
  if (!out.loaded) m_.coalesced->inc();
  co_return std::move(out.value);
}

Task<std::optional<std::string>> Catalog::menu(Context ctx, int64_t store_id) {
  return read(ctx, menu_key(store_id), [this, store_id](Context lctx) -> Task<std::optional<std::string>> {
    pg::Params p = pg::params(array_of({store_id}));
    pg::Result r = co_await db_.execute(lctx, kMenus, p);
    if (r.rows() == 0) co_return std::nullopt;
    const Columns c(r);
    co_return store_rows(r, c, 0, r.rows()).menu();
  });
}

Task<std::optional<std::string>> Catalog::product(Context ctx, int64_t store_id, int64_t product_id) {
  return read(ctx, product_key(store_id, product_id),
              [this, store_id, product_id](Context lctx) -> Task<std::optional<std::string>> {
                pg::Params p = pg::params(store_id, product_id);
                pg::Result r = co_await db_.execute(lctx, kProduct, p);
                if (r.rows() == 0) co_return std::nullopt;
                const Columns c(r);
                co_return product_document(entry_of(r, c, 0), r.text(0, c.store_id), r.text(0, c.version));
              });
}

Task<RefreshReport> Catalog::refresh(Context ctx, std::vector<int64_t> store_ids) {
  m_.db_reads->inc();
  pg::Params p = pg::params(array_of(store_ids));
  pg::Result r = co_await db_.execute(ctx, kMenus, p);
  RefreshReport rep;
  std::vector<redis::Argv> sets;
  std::vector<int64_t> found;
  const Columns c(r);
  for (int begin = 0; begin < r.rows();) {
    const std::string_view store_text = r.text(begin, c.store_id);
    int end = begin;
    while (end < r.rows() && r.text(end, c.store_id) == store_text) ++end;
    const int64_t store = id_of(store_text);
    StoreRows rows = store_rows(r, c, begin, end);
    sets.push_back({"SET", menu_key(store), rows.menu(), "EX", ttl_seconds()});
    for (std::size_t i = 0; i < rows.entries.size(); ++i) {
      sets.push_back({"SET", product_key(store, id_of(rows.product_ids[i])),
                      product_document(rows.entries[i], rows.store_id, rows.version), "EX", ttl_seconds()});
      ++rep.products;
    }
    found.push_back(store);
    ++rep.stores;
    begin = end;
  }
  std::sort(found.begin(), found.end());
  for (int64_t id : store_ids)
    if (!std::binary_search(found.begin(), found.end(), id)) rep.missing.push_back(id);
  if (!sets.empty()) {
    Context wctx = ctx;
    std::vector<redis::Reply> replies = co_await cache_.pipeline(wctx, std::move(sets));
    for (const auto& reply : replies)
      if (reply.is_error()) throw Error(ErrorKind::Unavailable, "cache_write_failed", "redis-cache refused a write");
    rep.keys = static_cast<int>(replies.size());
    m_.keys_refreshed->inc(replies.size());
  }
  co_return rep;
}

}  // namespace dine::menu
