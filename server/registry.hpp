#pragma once
// The roles `dine serve` can run: a list, one entry per role folder.
#include <functional>
#include <span>
#include <string_view>

#include "core/runtime/runtime.hpp"

namespace dine::server {

struct Role {
  std::string_view name;
  std::string_view summary;
  std::function<std::function<void(runtime::Worker&)>(const Topology&, const Node&)> make;
};

std::span<const Role> roles();
const Role* find_role(std::string_view name);

}  // namespace dine::server
