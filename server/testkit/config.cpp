#include "server/testkit/config.hpp"

namespace dine::testkit {

TestkitConfig TestkitConfig::parse(config::Reader& r, const TestkitConfig& d) {
  TestkitConfig c;
  c.greeting = r.str("greeting", d.greeting);
  if (c.greeting.empty() || c.greeting.size() > 200)
    r.fail(r.key("greeting"), "must be 1..200 characters", "write a short greeting");
  c.fail_first_n = r.integer("fail_first_n", d.fail_first_n, 0, 20);
  r.reject_unknown();
  return c;
}

}  // namespace dine::testkit
