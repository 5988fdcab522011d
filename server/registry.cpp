#include "server/registry.hpp"

#include <array>

#include "server/order/role.hpp"

namespace dine::server {
namespace {

const std::array<Role, 1> kRoles = {{
    {"order", "orders on 4 PostgreSQL shards, state machine, outbox relay to the dine:orders stream",
     order::make_role},
}};

}  // namespace

std::span<const Role> roles() { return kRoles; }

const Role* find_role(std::string_view name) {
  for (const auto& r : kRoles)
    if (r.name == name) return &r;
  return nullptr;
}

}  // namespace dine::server
