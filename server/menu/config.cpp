#include "server/menu/config.hpp"

namespace dine::menu {

MenuConfig MenuConfig::parse(config::Reader& r, const MenuConfig& d) {
  MenuConfig c;
  c.cache_ttl_s = r.integer("cache_ttl_s", d.cache_ttl_s, 1, 30 * 86400);
  c.cache_jitter_s = r.integer("cache_jitter_s", d.cache_jitter_s, 0, 86400);
  c.null_ttl_s = r.integer("null_ttl_s", d.null_ttl_s, 1, 3600);
  c.max_lookup = r.integer("max_lookup", d.max_lookup, 1, 10'000);
  c.max_refresh = r.integer("max_refresh", d.max_refresh, 1, 100'000);
  r.reject_unknown();
  return c;
}

}  // namespace dine::menu
