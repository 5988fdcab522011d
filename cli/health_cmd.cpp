// dine health: the topology's live health board (docs/health.md). Probes every
// node each --interval, in parallel, each under --deadline; prints the board
// once (--once, the default), redraws it in place (--watch), or prints JSON
// (--json). Exit code by the worst state: 2 red/down/hung, 3 unknown/stale,
// 1 yellow, 0 all green.
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "core/topology.hpp"
#include "monitor/board.hpp"
#include "monitor/monitor.hpp"

namespace dine::cli {
namespace {

struct HealthArgs {
  bool once = false, watch = false, json = false;
  int interval_ms = 1000, deadline_ms = 800, rounds = 2;
  std::string state_dir;
};

int health(const Globals& g, const HealthArgs& a) {
  Topology topo = load_topology(g.topology_path);
  monitor::ProbeOptions po;
  po.deadline = milliseconds(a.deadline_ms);
  po.state_dir = a.state_dir;
  asio::io_context io;  // before the monitor: its HTTP client lives on this loop and must go first
  monitor::Monitor mon(topo, monitor::thresholds_of(topo), po);
  int code = 0;
  bool stop = false;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) stop = true;
  });
  const bool colour = use_colour();
  auto run = [&]() -> Task<void> {
    if (!a.watch) {
      // A few rounds, --interval apart: rates need two scrapes, and a
      // timeout stays visible.
      for (int i = 0; i < a.rounds && !stop; ++i) {
        if (i > 0) co_await sleep_for(milliseconds(a.interval_ms));
        co_await mon.round();
      }
      monitor::Snapshot s = mon.snapshot();
      if (a.json) fmt::print("{}\n", s.to_json().dump(2));
      else fmt::print("{}", monitor::render_board(s, topo.name, terminal_width(), colour));
      code = s.exit_code();
      co_return;
    }
    if (colour) fmt::print("\x1b[?25l");  // cursor hidden while redrawing
    while (!stop) {
      const auto next = Clock::now() + milliseconds(a.interval_ms);
      co_await mon.round();
      monitor::Snapshot s = mon.snapshot();
      code = s.exit_code();
      if (a.json) {
        fmt::print("{}\n", s.to_json().dump());
      } else {
        std::string board = monitor::render_board(s, topo.name, terminal_width(), colour);
        fmt::print("{}{}", ::isatty(STDOUT_FILENO) ? "\x1b[H\x1b[2J" : "\n", board);
      }
      std::fflush(stdout);
      const auto left = std::chrono::duration_cast<milliseconds>(next - Clock::now());
      if (left.count() > 0) co_await sleep_for(left);
    }
    signals.cancel();
  };
  asio::co_spawn(io, run(), [&](std::exception_ptr e) {
    signals.cancel();
    if (e) std::rethrow_exception(e);
  });
  io.run();
  if (a.watch && colour) fmt::print("\x1b[?25h\x1b[0m\n");  // the terminal as it was
  return code;
}

}  // namespace

void setup_health(CLI::App& app, Globals& g) {
  auto a = std::make_shared<HealthArgs>();
  auto* h = app.add_subcommand("health", "the topology's live health board: every node probed, states, root cause");
  h->add_flag("--once", a->once, "probe, print the board once and exit (the default)");
  h->add_flag("--watch", a->watch, "redraw the board in place every --interval until Ctrl-C");
  h->add_flag("--json", a->json, "print the state as JSON (every node, the root causes, the timeline)");
  h->add_option("--interval", a->interval_ms, "milliseconds between rounds")->check(CLI::Range(100, 600'000));
  h->add_option("--deadline", a->deadline_ms, "milliseconds each probe may take")->check(CLI::Range(50, 60'000));
  h->add_option("--rounds", a->rounds, "rounds before printing, without --watch")->check(CLI::Range(1, 100));
  h->add_option("--state-dir", a->state_dir, "where the gateways' access logs are (default .dine/<topology name>)")
      ->envname("DINE_STATE_DIR");
  h->footer(
      "States: GREEN, YELLOW, RED, DOWN (nothing listens), HUNG (the port accepts, nothing answers in time),\n"
      "STALE/UNKNOWN (no fresh data: never shown green).\n"
      "Exit codes: 2 a node is red, down or hung; else 3 one is unknown or stale; else 1 one is yellow; else 0.\n"
      "Examples:\n  dine health              the board, once\n  dine health --watch      live, redrawn each second\n"
      "  dine health --json | jq '.summary'");
  h->callback([&g, a] {
    init_cli_logs(g);
    if (a->once && a->watch) throw Failure{"--once and --watch: choose one", 2};
    int code = health(g, *a);
    if (code != 0) throw Failure{"", code};
  });
}

}  // namespace dine::cli
