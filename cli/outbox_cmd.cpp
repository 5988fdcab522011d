// dine outbox redrive --since T: rows of every outbox of the topology sent
// since T are made unsent again, so the relays send them once more
// (consumers dedupe by key). See docs/outbox.md.
#include <chrono>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "cli/since.hpp"
#include "server/registry.hpp"

namespace dine::cli {
namespace {

struct RedriveArgs {
  std::string since;
  bool json = false;
};

void redrive(const Globals& g, const RedriveArgs& a) {
  // The value first: a bad one is refused before anything is looked at.
  auto since = parse_since(a.since, std::chrono::system_clock::now());
  if (!since)
    throw Failure{fmt::format("--since \"{}\" is not a time dine understands; fix: give {}", a.since, kSinceForms),
                  2};
  Topology topo = load_topology(g.topology_path);
  server::check_topology(topo);
  auto dbs = outbox_databases(topo, server::find_role);
  if (!a.json) {
    if (dbs.empty()) fmt::print("no role of topology '{}' keeps an outbox: nothing to redrive\n", topo.name);
    else fmt::print("dine outbox redrive: rows sent since {} become unsent again\n", since->utc);
  }
  auto results = redrive_outboxes(topo, dbs, since->utc, [&a](const RedriveResult& r) {
    if (a.json) return;
    if (r.error.empty())
      fmt::print("  {:<12} {:<10} {:>8} row(s) re-queued\n", r.db.pg->id, r.db.database, r.requeued);
    else
      fmt::print("  {:<12} {:<10} failed: {}\n", r.db.pg->id, r.db.database, r.error);
    std::fflush(stdout);
  });
  int64_t total = 0;
  int failed = 0;
  for (const auto& r : results) {
    total += r.requeued;
    failed += !r.error.empty();
  }
  if (a.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : results) {
      nlohmann::json j = {{"node", r.db.pg->id}, {"address", r.db.pg->address()}, {"database", r.db.database},
                          {"writers", r.db.writers}, {"requeued", r.requeued}};
      if (!r.error.empty()) j["error"] = r.error;
      list.push_back(j);
    }
    fmt::print("{}\n", nlohmann::json{{"topology", topo.name}, {"since", since->utc}, {"total", total},
                                      {"failed", failed}, {"databases", list}}.dump(2));
  } else if (!dbs.empty()) {
    fmt::print("re-queued {} row(s) sent since {} on {} of {} outbox database(s); the relays send them again\n",
               total, since->utc, results.size() - static_cast<std::size_t>(failed), results.size());
  }
  if (failed > 0)
    throw Failure{fmt::format("the redrive failed on {} of {} outbox database(s) (the others were re-queued); "
                              "fix what the lines above say and run it again: rows re-queued twice are only "
                              "sent twice, and consumers dedupe them", failed, results.size()), 1};
}

}  // namespace

void setup_outbox(CLI::App& app, Globals& g) {
  auto* outbox = app.add_subcommand("outbox", "the transactional outboxes of the roles (docs/outbox.md)");
  outbox->require_subcommand(1);
  auto a = std::make_shared<RedriveArgs>();
  auto* r = outbox->add_subcommand(
      "redrive", "make the outbox rows sent since a time unsent again, on every outbox database of the topology, "
                 "so the relays send them once more");
  r->add_option("--since", a->since, "an RFC 3339 time (2026-11-30T12:00:00Z) or a duration back from now "
                                     "(90s, 10m, 2h, 1d)")
      ->required();
  r->add_flag("--json", a->json, "print the result per database as JSON");
  r->footer("Examples:\n"
            "  dine outbox redrive --since 2h                 events of the last two hours go out again\n"
            "  dine outbox redrive --since 2026-11-30T12:00:00Z --json\n"
            "Rows are kept for the role's outbox retention (order: outbox_retention_s, a day): older ones are gone.");
  r->callback([&g, a] {
    init_cli_logs(g);
    redrive(g, *a);
  });
}

}  // namespace dine::cli
