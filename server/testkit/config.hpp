#pragma once
// The testkit role's section of the topology: "roles": {"testkit": {...}},
// and a node's own "config" over it. Every key is optional; unknown keys are
// errors (naming the file, the key and the fix).
#include <string>

#include "core/config.hpp"

namespace dine::testkit {

struct TestkitConfig {
  std::string greeting = "hello";  // what GET /test/hello answers
  int fail_first_n = 0;            // the flaky component throws on its first n starts

  static TestkitConfig parse(config::Reader& r, const TestkitConfig& defaults);
};

}  // namespace dine::testkit
