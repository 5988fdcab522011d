#include "core/runtime/role.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dine::runtime {

std::any load_config(const RoleDescriptor& role, const Topology& topo, const Node& node) {
  auto section = topo.roles.find(role.name);
  const bool has_section = section != topo.roles.end();
  if (!role.config) {
    if (has_section)
      throw TopologyError(fmt::format("{}: roles.{}: the {} role takes no configuration; fix: remove the section",
                                      topo.source, role.name, role.name));
    if (!node.config.empty())
      throw TopologyError(fmt::format("{}: nodes.{}.config: the {} role takes no configuration; fix: remove it",
                                      topo.source, node.id, role.name));
    return {};
  }
  std::any cfg;
  nlohmann::json empty = nlohmann::json::object();
  if (has_section) {
    nlohmann::json j = nlohmann::json::parse(section->second);
    config::Reader r(j, topo.source, "roles." + role.name);
    cfg = role.config(r, cfg);
  } else {
    config::Reader r(empty, topo.source, "roles." + role.name);
    cfg = role.config(r, cfg);
  }
  if (!node.config.empty()) {
    nlohmann::json j = nlohmann::json::parse(node.config);
    config::Reader r(j, topo.source, "nodes." + node.id + ".config");
    cfg = role.config(r, cfg);
  }
  return cfg;
}

void check_node(const RoleDescriptor& role, const Topology& topo, const Node& node) {
  load_config(role, topo, node);
  for (const Dependency& d : role.dependencies) {
    auto nodes = topo.uses(node, d.purpose);  // throws naming nodes.<id>.uses.<purpose>
    NodeKind want = d.kind == Dependency::Kind::Redis ? NodeKind::Redis
                    : d.kind == Dependency::Kind::Http ? NodeKind::Dine
                                                       : NodeKind::Postgres;
    for (const Node* n : nodes)
      if (n->kind != want)
        throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: \"{}\" is a {} node, the {} role needs {} here; fix: "
                                        "list {} nodes under \"{}\"",
                                        topo.source, node.id, d.purpose, n->id, to_string(n->kind), role.name,
                                        to_string(want), to_string(want), d.purpose));
    bool single = d.kind == Dependency::Kind::Postgres || d.kind == Dependency::Kind::Redis;
    if (single && nodes.size() != 1)
      throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: {} nodes listed, the {} role uses exactly one here; "
                                      "fix: list one node",
                                      topo.source, node.id, d.purpose, nodes.size(), role.name));
    if (d.kind == Dependency::Kind::ShardedPostgres && 16 % nodes.size() != 0)
      throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: {} shards; fix: use 1, 2, 4, 8 or 16 shards "
                                      "(the shard count must divide 16)",
                                      topo.source, node.id, d.purpose, nodes.size()));
    if (d.kind != Dependency::Kind::Http && d.kind != Dependency::Kind::Redis)
      for (const Node* n : nodes)
        if (std::find(n->databases.begin(), n->databases.end(), d.database) == n->databases.end())
          throw TopologyError(fmt::format("{}: nodes.{}.databases: has no \"{}\" database, which {} uses; fix: add "
                                          "\"{}\" to its databases",
                                          topo.source, n->id, d.database, node.id, d.database));
  }
}

}  // namespace dine::runtime
