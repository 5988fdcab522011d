#pragma once
// The roles `dine serve` can run: a list, one entry per role folder.
#include <span>
#include <string_view>

#include "core/runtime/role.hpp"

namespace dine::server {

std::span<const runtime::RoleDescriptor* const> roles();
const runtime::RoleDescriptor* find_role(std::string_view name);

// Checks every dine node of the topology against its role (config section,
// dependencies). Throws TopologyError naming the file, the key and the fix.
void check_topology(const Topology& topo);

}  // namespace dine::server
