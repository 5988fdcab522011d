// The topology walks of cli/admin.hpp: no I/O.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "cli/admin.hpp"

namespace dine::cli {
namespace {

void add_once(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// The Redis nodes under nodes.<id>.uses.<purpose>.
std::vector<const Node*> redis_nodes(const Topology& topo, const Node& n, const std::string& purpose) {
  auto nodes = topo.uses(n, purpose);
  for (const Node* r : nodes)
    if (r->kind != NodeKind::Redis)
      throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: \"{}\" is a {} node, the {} role reads streams there; "
                                      "fix: list a redis node under \"{}\"",
                                      topo.source, n.id, purpose, r->id, to_string(r->kind), n.role, purpose));
  return nodes;
}

// The dine nodes with their roles, skipping nodes whose role `lookup` does not know.
template <class Fn>
void each_role_node(const Topology& topo, const RoleLookup& lookup, Fn fn) {
  for (const Node& n : topo.nodes) {
    if (n.kind != NodeKind::Dine) continue;
    if (const runtime::RoleDescriptor* role = lookup(n.role)) fn(n, *role);
  }
}

StreamHome& home_of(std::vector<StreamHome>& homes, const Node* redis) {
  auto it = std::find_if(homes.begin(), homes.end(), [&](const StreamHome& h) { return h.redis == redis; });
  if (it != homes.end()) return *it;
  homes.push_back({redis, {}});
  return homes.back();
}

}  // namespace

std::vector<GroupSite> consumer_groups(const Topology& topo, const RoleLookup& lookup) {
  std::vector<GroupSite> out;
  each_role_node(topo, lookup, [&](const Node& n, const runtime::RoleDescriptor& role) {
    for (const runtime::StreamGroup& g : role.consumes)
      for (const Node* r : redis_nodes(topo, n, g.purpose)) {
        auto it = std::find_if(out.begin(), out.end(), [&](const GroupSite& s) {
          return s.redis == r && s.stream == g.stream && s.group == g.group;
        });
        if (it == out.end()) it = out.insert(out.end(), GroupSite{r, g.stream, g.group, {}});
        add_once(it->readers, n.id);
      }
  });
  return out;
}

std::vector<OutboxDb> outbox_databases(const Topology& topo, const RoleLookup& lookup) {
  std::vector<OutboxDb> out;
  each_role_node(topo, lookup, [&](const Node& n, const runtime::RoleDescriptor& role) {
    for (const runtime::OutboxSite& site : role.outboxes) {
      auto dep = std::find_if(role.dependencies.begin(), role.dependencies.end(), [&](const runtime::Dependency& d) {
        return d.purpose == site.purpose && (d.kind == runtime::Dependency::Kind::Postgres ||
                                             d.kind == runtime::Dependency::Kind::ShardedPostgres);
      });
      if (dep == role.dependencies.end())
        throw std::logic_error(fmt::format("the {} role declares an outbox under \"{}\" but no PostgreSQL "
                                           "dependency of that purpose", role.name, site.purpose));
      for (const Node* pg : topo.uses(n, site.purpose)) {
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const OutboxDb& o) { return o.pg == pg && o.database == dep->database; });
        if (it == out.end()) it = out.insert(out.end(), OutboxDb{pg, dep->database, {}});
        add_once(it->writers, n.id);
      }
    }
  });
  return out;
}

std::vector<StreamHome> stream_homes(const Topology& topo, const RoleLookup& lookup, const std::string& stream) {
  std::vector<StreamHome> readers;
  each_role_node(topo, lookup, [&](const Node& n, const runtime::RoleDescriptor& role) {
    for (const runtime::StreamGroup& g : role.consumes)
      if (g.stream == stream)
        for (const Node* r : redis_nodes(topo, n, g.purpose))
          add_once(home_of(readers, r).why, fmt::format("read by group {} of {} (uses.{})", g.group, n.id, g.purpose));
  });
  if (!readers.empty()) return readers;
  // Nobody reads it: the relays of the roles with an outbox write to their Redis dependencies.
  std::vector<StreamHome> writers;
  each_role_node(topo, lookup, [&](const Node& n, const runtime::RoleDescriptor& role) {
    if (role.outboxes.empty()) return;
    for (const runtime::Dependency& d : role.dependencies)
      if (d.kind == runtime::Dependency::Kind::Redis)
        for (const Node* r : topo.uses(n, d.purpose))
          if (r->kind == NodeKind::Redis)
            add_once(home_of(writers, r).why,
                     fmt::format("written by the outbox relay of {} (uses.{})", n.id, d.purpose));
  });
  return writers;
}

}  // namespace dine::cli
