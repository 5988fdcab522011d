#pragma once
// The app role's section of the topology: "roles": {"app": {...}}, and a
// node's own "config" over it. Every key is optional; unknown keys are errors.
#include "core/config.hpp"

namespace dine::app {

struct AppConfig {
  int max_items = 20;  // lines in one order
  int max_qty = 20;    // units of one line

  static AppConfig parse(config::Reader& r, const AppConfig& defaults);
};

}  // namespace dine::app
