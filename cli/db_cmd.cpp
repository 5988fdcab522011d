// dine db migrate: create every database of the topology, apply the embedded
// migrations, then create the consumer groups the roles read streams with;
// safe to run twice. (dine db seed: cli/seed_cmd.cpp.)
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "server/registry.hpp"

namespace dine::cli {

std::string group_line(const GroupResult& g) {
  std::string readers;
  for (const auto& r : g.site.readers) readers += (readers.empty() ? "" : ", ") + r;
  return fmt::format("group {} on {} {} (read by {})", g.site.group, g.site.stream,
                     g.created ? "created from id 0" : "present", readers);
}

namespace {

void migrate(const Globals& g, bool json) {
  Topology topo = load_topology(g.topology_path);
  server::check_topology(topo);  // a bad role section fails before anything is touched
  auto report = migrate_with_groups(
      topo, server::find_role,
      [json](const MigrationStep& s) {
        if (!json)
          fmt::print("  {:<12} {:<10} {:<24} {}\n", s.node, s.database, s.version, s.applied ? "applied" : "present");
      },
      [json](const GroupResult& r) {
        if (!json) fmt::print("  {:<12} {}\n", r.site.redis->id, group_line(r));
      });
  int applied = 0, created = 0;
  for (const auto& s : report.steps) applied += s.applied;
  for (const auto& r : report.groups) created += r.created;
  if (json) {
    nlohmann::json steps = nlohmann::json::array(), groups = nlohmann::json::array();
    for (const auto& s : report.steps)
      steps.push_back({{"node", s.node}, {"database", s.database}, {"version", s.version}, {"applied", s.applied}});
    for (const auto& r : report.groups)
      groups.push_back({{"node", r.site.redis->id}, {"stream", r.site.stream}, {"group", r.site.group},
                        {"created", r.created}, {"readers", r.site.readers}});
    fmt::print("{}\n", nlohmann::json{{"topology", topo.name}, {"applied", applied}, {"steps", steps},
                                      {"groups_created", created}, {"groups", groups}}.dump(2));
  } else {
    fmt::print("migrated topology '{}': {} migration(s) applied, {} already present; {} consumer group(s) "
               "created, {} already present\n", topo.name, applied, report.steps.size() - applied, created,
               report.groups.size() - created);
  }
}

}  // namespace

void setup_db(CLI::App& app, Globals& g) {
  auto* db = app.add_subcommand("db", "database administration");
  db->require_subcommand(1);
  auto json = std::make_shared<bool>(false);
  auto* m = db->add_subcommand(
      "migrate", "create the databases of the topology, apply the embedded migrations, create the consumer groups");
  m->add_flag("--json", *json, "print the steps and groups as JSON");
  m->footer("Example:\n  dine up && dine db migrate --json");
  m->callback([&g, json] {
    init_cli_logs(g);
    migrate(g, *json);
  });
  setup_db_seed(*db, g);
}

}  // namespace dine::cli
