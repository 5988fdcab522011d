#include "core/context.hpp"

#include <algorithm>
#include <cstdint>
#include <random>

#include <fmt/format.h>


namespace dine {

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = kHex[v & 15];
  return s;
}

Context Context::background(std::string_view what, milliseconds budget) {
  return Context{fmt::format("bg-{}-{}", what, new_request_id().substr(0, 8)), deadline_in(budget)};
}

milliseconds Context::remaining() const {
  if (deadline == Deadline::max()) return milliseconds::max();
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  return std::max(left, milliseconds(0));
}

Deadline Context::cap(milliseconds limit) const {
  Deadline own = Clock::now() + limit;
  return std::min(own, deadline);
}

}  // namespace dine
