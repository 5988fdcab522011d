#pragma once
// Menus and products, read cache-aside from redis-cache (docs/serve-menu.md):
//
//   menu:{store_id}               the store's whole menu, JSON, as served
//   product:{store_id}:{sku}      one product of that store, JSON
//
// A read tries the cache; a miss goes through the node's single-flight, whose
// one load checks the cache again (a load that just ended has filled it),
// reads PostgreSQL and writes the key with expiry cache_ttl_s + random
// jitter. An unknown store or product is cached as absent ("-") for
// null_ttl_s. Redis is degradable: when it fails, reads go to the database
// (still one load per key at a time) and nothing is cached.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/fwd.hpp"

namespace dine::menu {

struct MenuConfig;

std::string menu_key(int64_t store_id);
std::string product_key(int64_t store_id, int64_t product_id);
inline constexpr std::string_view kAbsent = "-";  // the cached value of an unknown store or product

struct CatalogMeters {
  metrics::Counter* hits;
  metrics::Counter* null_hits;
  metrics::Counter* misses;
  metrics::Counter* coalesced;
  metrics::Counter* db_reads;
  metrics::Counter* nulls_cached;
  metrics::Counter* cache_errors;
  metrics::Counter* keys_refreshed;
  static CatalogMeters in(metrics::Registry& r);
};

struct RefreshReport {
  int stores = 0;    // found and rewritten
  int products = 0;  // product keys rewritten
  int keys = 0;      // keys written in all (menus + products)
  std::vector<int64_t> missing;  // store ids with no menu
};

// One per worker: its Redis client and pool, the node's single-flight.
class Catalog {
 public:
  Catalog(pg::Pool& db, redis::Client& cache, SingleFlight& flight, const MenuConfig& cfg, CatalogMeters m,
          milliseconds load_budget);

  // The menu JSON of a store; nullopt when the store has no menu.
  Task<std::optional<std::string>> menu(Context ctx, int64_t store_id);
  // One product of a store; nullopt when the store does not sell it.
  Task<std::optional<std::string>> product(Context ctx, int64_t store_id, int64_t product_id);
  // Reloads these stores' menus and every product of them from the database
  // and rewrites their keys with fresh jitter, in one pipeline.
  Task<RefreshReport> refresh(Context ctx, std::vector<int64_t> store_ids);

 private:
  struct Loaded;
  Task<std::optional<std::string>> read(Context ctx, std::string key, std::function<Task<std::optional<std::string>>(Context)> load);
  std::string ttl_seconds();

  pg::Pool& db_;
  redis::Client& cache_;
  SingleFlight& flight_;
  const MenuConfig& cfg_;
  CatalogMeters m_;
  milliseconds load_budget_;
};

}  // namespace dine::menu
