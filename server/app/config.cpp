#include "server/app/config.hpp"

namespace dine::app {

AppConfig AppConfig::parse(config::Reader& r, const AppConfig& d) {
  AppConfig c;
  c.max_items = r.integer("max_items", d.max_items, 1, 1000);
  c.max_qty = r.integer("max_qty", d.max_qty, 1, 1000);
  r.reject_unknown();
  return c;
}

}  // namespace dine::app
