// dine: one binary for every role of the ordering platform, its local stack,
// its load simulation and its drills.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/topology.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dine: run, load and rehearse the mini-program ordering platform"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  dine up                      start the local stack (PostgreSQL x5, Redis x2, order x2)\n"
      "  dine ps --json               list its nodes\n"
      "  dine sim orders --orders 3000 --users 300\n"
      "  dine outbox redrive --since 2h   send the events of the last two hours again\n"
      "  dine gen nginx -o out/       the nginx.conf of each gateway node\n"
      "  dine prewarm menu            reload every menu and product into the cache\n"
      "  dine down\n"
      "Environment: DINE_TOPOLOGY, DINE_SECRET, DINE_STATE_DIR, DINE_THREADS, DINE_LOG_LEVEL");

  dine::cli::Globals g;
  app.add_option("--topology", g.topology_path, "topology file (JSON, comments allowed)")
      ->envname("DINE_TOPOLOGY");
  app.add_option("--log-level", g.log_level, "debug, info, warn or error")
      ->envname("DINE_LOG_LEVEL");
  app.add_flag("--json-logs", g.json_logs, "log lines as JSON instead of key=value");

  dine::cli::setup_serve(app, g);
  dine::cli::setup_db(app, g);
  dine::cli::setup_stack(app, g);
  dine::cli::setup_sim(app, g);
  dine::cli::setup_demo(app, g);
  dine::cli::setup_outbox(app, g);
  dine::cli::setup_stream(app, g);
  dine::cli::setup_audit(app, g);
  dine::cli::setup_health(app, g);
  dine::cli::setup_gen(app, g);
  dine::cli::setup_gateway(app, g);
  dine::cli::setup_prewarm(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dine::cli::Failure& f) {
    if (!f.message.empty()) fmt::print(stderr, "dine: {}\n", f.message);
    return f.code;
  } catch (const dine::TopologyError& e) {  // the file, the key and the fix: a usage error
    fmt::print(stderr, "dine: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dine: {}\n", e.what());
    return 1;
  }
  return 0;
}
