// dine health: the topology's live health board (docs/health.md). Probes every
// node each --interval, in parallel, each under --deadline; prints the board
// once (--once, the default), redraws it in place (--watch), prints JSON
// (--json), or serves it to a browser (--serve ADDR). Exit code by the worst
// state: 2 red/down/hung, 3 unknown/stale, 1 yellow, 0 all green.
#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "core/http/router.hpp"
#include "core/http/server.hpp"
#include "core/metrics.hpp"
#include "core/topology.hpp"
#include "monitor/board.hpp"
#include "monitor/monitor.hpp"
#include "monitor/web.hpp"

namespace dine::cli {
namespace {

struct HealthArgs {
  bool once = false, watch = false, json = false, serve_public = false;
  int interval_ms = 1000, deadline_ms = 800, rounds = 2;
  std::string state_dir, serve;
};

// What one `dine health` run works with; it outlives the coroutines below.
struct Run {
  Run(const HealthArgs& a, const Topology& t, monitor::Monitor& m, asio::io_context& io)
      : args(a), topo(t), mon(m), wake(io) {}
  const HealthArgs& args;
  const Topology& topo;
  monitor::Monitor& mon;
  asio::steady_timer wake;  // the pause between rounds: a signal cancels it
  bool colour = false;
  bool stop = false;
  std::string last_board;  // --watch: left on the terminal at exit
  int code = 0;
  monitor::WebBoard* web = nullptr;  // --serve
  http::Server* server = nullptr;    // --serve
  std::optional<monitor::ServeAddress> address;
};

// A few rounds, --interval apart (rates need two scrapes, and a timeout
// stays visible), then the board or the JSON once.
Task<void> once(Run* r) {
  for (int i = 0; i < r->args.rounds && !r->stop; ++i) {
    if (i > 0) co_await sleep_for(milliseconds(r->args.interval_ms));
    co_await r->mon.round();
  }
  monitor::Snapshot s = r->mon.snapshot();
  if (r->args.json) fmt::print("{}\n", s.to_json().dump(2));
  else fmt::print("{}", monitor::render_board(s, r->topo.name, terminal_width(), r->colour));
  r->code = s.exit_code();
}

// --watch and --serve: a round every --interval until a signal; each snapshot
// drawn on the terminal (--watch) and served (--serve). The exit code is the
// last snapshot's.
Task<void> rounds(Run* r) {
  // On a terminal: the alternate screen, cursor hidden, redrawn in place
  // (home, each line cleared to its end, the rest cleared): no flicker.
  const bool in_place = r->args.watch && !r->args.json && ::isatty(STDOUT_FILENO);
  if (in_place) fmt::print("\x1b[?1049h\x1b[?25l");
  bool first = true;
  while (!r->stop) {
    const auto next = Clock::now() + milliseconds(r->args.interval_ms);
    co_await r->mon.round();
    monitor::Snapshot s = r->mon.snapshot();
    r->code = s.exit_code();
    if (r->web) {
      r->web->update(s);
      if (first) {  // the address once there is a board to show: a script reads it and asks at once
        fmt::print("health board: {}\n", r->address->url(r->server->port()));
        std::fflush(stdout);
      }
    }
    first = false;
    if (r->args.watch) {
      if (r->args.json) {
        fmt::print("{}\n", s.to_json().dump());
      } else {
        std::string board = monitor::render_board(s, r->topo.name, terminal_width(), r->colour);
        r->last_board = board;
        if (in_place) {
          std::string framed = "\x1b[H";
          for (std::size_t at = 0, nl; at < board.size(); at = nl + 1) {
            nl = board.find('\n', at);
            if (nl == std::string::npos) nl = board.size();
            framed.append(board, at, nl - at).append("\x1b[K\n");
          }
          fmt::print("{}\x1b[J", framed);
        } else {
          fmt::print("\n{}", board);
        }
      }
      std::fflush(stdout);
    }
    if (r->stop) break;
    r->wake.expires_at(next);
    boost::system::error_code ec;
    co_await r->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (r->server) {
    r->server->stop();  // idle keep-alive connections closed, a request in flight answered
    co_await r->server->drained(deadline_in(milliseconds(2000)));
  }
}

monitor::ServeAddress serve_address(const HealthArgs& a) {
  monitor::ServeAddress addr;
  try {
    addr = monitor::parse_serve_address(a.serve);
  } catch (const std::invalid_argument& e) {
    throw Failure{e.what(), 2};
  }
  if (!addr.loopback && !a.serve_public)
    throw Failure{fmt::format("--serve {}: not a loopback address, and the board shows the topology's internal "
                              "addresses and state to whoever can reach it; fix: serve on 127.0.0.1 (and tunnel "
                              "to it), or add --serve-public to mean it",
                              a.serve),
                  2};
  return addr;
}

int health(const Globals& g, const HealthArgs& a) {
  // Each round, every node's answers (a /metrics of tens of KB each) are
  // allocated together and freed together: glibc would give the heap back to
  // the kernel after each round and fault it in again (zeroed) the next one,
  // a quarter of the board's CPU for 500 nodes. This process keeps what a
  // round needs.
  ::mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
  Topology topo = load_topology(g.topology_path);
  monitor::ProbeOptions po;
  po.deadline = milliseconds(a.deadline_ms);
  po.state_dir = a.state_dir;
  asio::io_context io;  // before the monitor and the server: both live on this loop and must go first
  monitor::Monitor mon(topo, monitor::thresholds_of(topo), po);
  Run run(a, topo, mon, io);
  run.colour = use_colour();

  monitor::WebBoard web(topo.name);
  http::Router router;
  metrics::Registry registry;
  std::optional<http::Server> server;
  if (!a.serve.empty()) {
    run.address = serve_address(a);
    web.add_routes(router);
    server.emplace(io.get_executor(), router, registry, http::ServerLimits{});
    try {
      server->listen(run.address->host, run.address->port, /*reuse_port=*/false);
    } catch (const std::system_error& e) {
      throw Failure{fmt::format("--serve {}: {}; fix: an address of this host and a port nobody listens on "
                                "(0: any free one)",
                                a.serve, e.what()),
                    1};
    }
    if (!run.address->loopback)
      fmt::print(stderr, "dine health: warning: serving the board on {} (--serve-public): anyone who reaches it "
                         "sees the topology\n", a.serve);
    server->start();
    run.web = &web;
    run.server = &*server;
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&run](const boost::system::error_code& ec, int) {
    if (ec) return;
    run.stop = true;
    run.wake.cancel();
  });
  const bool looping = a.watch || run.server;
  Task<void> task = looping ? rounds(&run) : once(&run);
  asio::co_spawn(io, std::move(task), [&signals](std::exception_ptr e) {
    signals.cancel();
    if (e) std::rethrow_exception(e);
  });
  io.run();
  // The terminal as it was, and the last board left on it.
  if (a.watch && !a.json && ::isatty(STDOUT_FILENO)) fmt::print("\x1b[0m\x1b[?25h\x1b[?1049l{}", run.last_board);
  return run.code;
}

}  // namespace

void setup_health(CLI::App& app, Globals& g) {
  auto a = std::make_shared<HealthArgs>();
  auto* h = app.add_subcommand("health", "the topology's live health board: every node probed, states, root cause");
  h->add_flag("--once", a->once, "probe, print the board once and exit (the default)");
  h->add_flag("--watch", a->watch, "redraw the board in place every --interval until Ctrl-C");
  h->add_flag("--json", a->json, "print the state as JSON (every node, the root causes, the timeline)");
  h->add_option("--serve", a->serve,
                "serve the board to a browser on ADDR (127.0.0.1:8090, port 0: any free one) until Ctrl-C; "
                "prints its URL first")
      ->type_name("ADDR");
  h->add_flag("--serve-public", a->serve_public, "allow --serve on an address other than loopback");
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
      "  dine health --json | jq '.summary'\n"
      "  dine health --serve 127.0.0.1:8090   the board in a browser (GET /, GET /api/health) until Ctrl-C");
  h->callback([&g, a] {
    init_cli_logs(g);
    if (a->once && a->watch) throw Failure{"--once and --watch: choose one", 2};
    if (a->once && !a->serve.empty()) throw Failure{"--once and --serve: choose one", 2};
    if (a->serve_public && a->serve.empty()) throw Failure{"--serve-public without --serve; fix: add --serve ADDR", 2};
    int code = health(g, *a);
    if (code != 0) throw Failure{"", code};
  });
}

}  // namespace dine::cli
