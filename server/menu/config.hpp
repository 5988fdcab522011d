#pragma once
// The menu role's section of the topology: "roles": {"menu": {...}}, and a
// node's own "config" over it. Every key is optional; unknown keys are errors.
#include "core/config.hpp"

namespace dine::menu {

struct MenuConfig {
  // A cached menu or product lives cache_ttl_s plus a random 0..cache_jitter_s
  // (drawn per write), so keys written together (a prewarm) do not all expire
  // in the same second and send every store to the database at once.
  int cache_ttl_s = 600;
  int cache_jitter_s = 120;
  // An unknown store or product is cached as absent this long, so a flood of
  // lookups of ids that do not exist stays off the database.
  int null_ttl_s = 10;
  int max_lookup = 100;   // product ids in one price lookup
  int max_refresh = 500;  // store ids in one refresh call

  static MenuConfig parse(config::Reader& r, const MenuConfig& defaults);
};

}  // namespace dine::menu
