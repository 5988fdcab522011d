#include "server/registry.hpp"

#include <array>

#include <fmt/format.h>

#include "server/app/role.hpp"
#include "server/coupon/role.hpp"
#include "server/member/role.hpp"
#include "server/menu/role.hpp"
#include "server/order/role.hpp"
#include "server/payment/role.hpp"
#include "server/store/role.hpp"
#include "server/testkit/role.hpp"

namespace dine::server {
namespace {

const std::array<const runtime::RoleDescriptor*, 8>& all() {
  static const std::array<const runtime::RoleDescriptor*, 8> kRoles = {
      &app::role(),
      &coupon::role(),
      &member::role(),
      &menu::role(),
      &order::role(),
      &payment::role(),
      &store::role(),
      &testkit::role(),  // hidden; `dine serve` runs it only with DINE_TEST_ROLES=1
  };
  return kRoles;
}

}  // namespace

std::span<const runtime::RoleDescriptor* const> roles() { return all(); }

const runtime::RoleDescriptor* find_role(std::string_view name) {
  for (const auto* r : all())
    if (r->name == name) return r;
  return nullptr;
}

void check_topology(const Topology& topo) {
  for (const Node& n : topo.nodes) {
    if (n.kind != NodeKind::Dine) continue;
    const runtime::RoleDescriptor* r = find_role(n.role);
    if (!r) {
      std::string known;
      for (const auto* d : all()) known += (known.empty() ? "" : ", ") + d->name;
      throw TopologyError(fmt::format("{}: nodes.{}.role: \"{}\" is not a role of dine; fix: use one of: {}",
                                      topo.source, n.id, n.role, known));
    }
    runtime::check_node(*r, topo, n);
  }
  for (const auto& [name, section] : topo.roles)
    if (!find_role(name))
      throw TopologyError(fmt::format("{}: roles.{}: no such role; fix: remove the section or check its spelling",
                                      topo.source, name));
}

}  // namespace dine::server
