// dine db migrate: create every database of the topology and apply the
// embedded migrations; safe to run twice.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/pg/migrate.hpp"

namespace dine::cli {
namespace {

void migrate(const Globals& g, bool json) {
  Topology topo = load_topology(g.topology_path);
  auto steps = migrate_all(topo, [json](const MigrationStep& s) {
    if (!json)
      fmt::print("  {:<12} {:<10} {:<24} {}\n", s.node, s.database, s.version, s.applied ? "applied" : "present");
  });
  int applied = 0;
  for (const auto& s : steps) applied += s.applied;
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : steps)
      out.push_back({{"node", s.node}, {"database", s.database}, {"version", s.version}, {"applied", s.applied}});
    fmt::print("{}\n", nlohmann::json{{"topology", topo.name}, {"applied", applied}, {"steps", out}}.dump(2));
  } else {
    fmt::print("migrated topology '{}': {} migration(s) applied, {} already present\n", topo.name, applied,
               steps.size() - applied);
  }
}

}  // namespace

void setup_db(CLI::App& app, Globals& g) {
  auto* db = app.add_subcommand("db", "database administration");
  db->require_subcommand(1);
  auto json = std::make_shared<bool>(false);
  auto* m = db->add_subcommand("migrate", "create the databases of the topology and apply the embedded migrations");
  m->add_flag("--json", *json, "print the steps as JSON");
  m->footer("Example:\n  dine up && dine db migrate --json");
  m->callback([&g, json] {
    init_cli_logs(g);
    migrate(g, *json);
  });
}

}  // namespace dine::cli
