// dine demo: the platform in one command: up, seed, prewarm, users of the mini-program
// through the gateways (login, claim, order with the coupon, pay), a few
// thousand orders straight to the order nodes, where they landed, the event
// stream, the gateways' figures, the health board as it was during the load,
// the coupon audit, down.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "cli/order_report.hpp"
#include "cli/progress.hpp"
#include "core/stack/access_log.hpp"
#include "core/stack/local_stack.hpp"
#include "core/stack/nginx_conf.hpp"
#include "monitor/board.hpp"
#include "monitor/monitor.hpp"
#include "server/registry.hpp"
#include "sim/seed/seed.hpp"
#include "sim/stream_probe.hpp"

namespace dine::cli {
namespace {

struct DemoArgs {
  int users = 300, orders = 3000, concurrency = 64;
  int journeys = 300;  // users through the gateways
  bool keep = false;
};

// The gateways' access logs since `from`: per route, as `dine gateway stats`.
void print_gateway_figures(const Topology& topo, const std::string& state_dir, double from) {
  const double to = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  stack::AccessStats acc(from, to);
  int read = 0;
  for (const Node* n : topo.by_kind(NodeKind::Nginx))
    read += stack::read_access_log(stack::nginx_paths(topo, *n, state_dir).access_log(), from, acc);
  if (read == 0) return;
  const auto s = acc.summary();
  fmt::print("gateways ({} node(s), access logs over the last {:.0f} s):\n", read, to - from);
  fmt::print("  {:<28} {:>7} {:>8} {:>6} {:>6} {:>6} {:>8} {:>8}\n", "ROUTE", "REQS", "REQ/S", "4XX", "5XX", "429",
             "P50 MS", "P99 MS");
  auto row = [](const stack::RouteFigures& f) {
    fmt::print("  {:<28} {:>7} {:>8.1f} {:>6} {:>6} {:>6} {:>8.1f} {:>8.1f}\n", f.route, f.requests, f.per_second,
               f.status_4xx, f.status_5xx, f.rate_limited, f.p50_ms, f.p99_ms);
  };
  for (const auto& r : s.routes) row(r);
  row(s.total);
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw Failure{"cannot find the dine executable (/proc/self/exe)"};
  return std::string(buf, static_cast<std::size_t>(n));
}

void print_event(const stack::StackEvent& e) {
  fmt::print("  {} {:<12} {}\n", e.done ? "\u2713" : "\u00b7", e.node, e.message);
  std::fflush(stdout);
}

// `dine health` on a thread of its own while the load runs, a round a second;
// stop() gives the board of the last round that ended during the load (the
// first one after it when the load was shorter than a round).
class BoardDuringLoad {
 public:
  BoardDuringLoad(const Topology& topo, const std::string& state_dir) : topo_(topo) {
    monitor::ProbeOptions po;
    po.state_dir = state_dir;
    thread_ = std::thread([this, po] { run(po); });
  }
  ~BoardDuringLoad() { stop(); }
  std::optional<monitor::Snapshot> stop() {
    loading_ = false;
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  void run(monitor::ProbeOptions po) {
    asio::io_context io;  // before the monitor: its HTTP client lives on this loop
    monitor::Monitor mon(topo_, monitor::thresholds_of(topo_), po);
    asio::co_spawn(io, rounds(mon), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        fmt::print(stderr, "dine demo: the health board stopped: {}\n", ex.what());
      }
    });
    io.run();
  }
  Task<void> rounds(monitor::Monitor& mon) {
    bool after_load = false;
    while (!after_load) {
      const auto next = Clock::now() + milliseconds(1000);
      after_load = !loading_;  // this round ends after the load: the last one
      co_await mon.round();
      monitor::Snapshot s = mon.snapshot();
      {
        std::lock_guard lock(mutex_);
        // A round that ended after the load only stands in for one that did not.
        if (!after_load || !last_ || last_->round < 2) last_ = std::move(s);
      }
      while (loading_ && Clock::now() < next) co_await sleep_for(milliseconds(50));
    }
  }

  const Topology& topo_;
  std::atomic<bool> loading_{true};
  std::mutex mutex_;
  std::optional<monitor::Snapshot> last_;
  std::thread thread_;
};

// Waits until the relays have moved every paid order of this run to the stream.
int64_t wait_for_stream(const Node& mq, int64_t before, int expected, double& seconds) {
  auto start = std::chrono::steady_clock::now();
  int64_t len = before;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
    len = sim::stream_length(mq.host, mq.port, "dine:orders");
    if (len - before >= expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return len;
}

void demo(const Globals& g, const DemoArgs& a) {
  Topology topo = load_topology(g.topology_path);
  server::check_topology(topo);  // a bad role section or dependency: reported before any server starts
  stack::LocalStack stack(topo, g.topology_path);
  bool started_here = false;
  fmt::print("== dine demo: topology '{}' ({})\n", topo.name, topo.source);
  if (stack.is_up()) {
    fmt::print("the stack is already up (state in {}); using it and leaving it up\n", stack.state_dir());
  } else {
    fmt::print("-- starting the local stack (state in {})\n", stack.state_dir());
    started_here = true;
    try {
      stack.start_datastores(print_event);
      auto report = migrate_with_groups(topo, server::find_role, {}, [](const GroupResult& r) {
        print_event({r.site.redis->id, group_line(r), true});
      });
      int applied = 0;
      for (const auto& s : report.steps) applied += s.applied;
      fmt::print("  \u2713 {:<12} {} migration(s) applied, {} present\n", "migrate", applied,
                 report.steps.size() - applied);
      stack.start_roles(self_exe(), print_event);
      stack.start_gateways(print_event);
    } catch (...) {
      fmt::print("-- start failed; stopping what was started\n");
      stack.down(print_event);
      throw;
    }
  }

  // From here on, whatever fails, a stack started here is stopped again.
  struct StopOnExit {
    stack::LocalStack& stack;
    bool active;
    ~StopOnExit() { stop(); }
    void stop() {
      if (!active) return;
      active = false;
      fmt::print("-- stopping the local stack\n");
      try {
        stack.down(print_event);
      } catch (const std::exception& e) {
        fmt::print(stderr, "dine: stopping the stack failed: {}\n", e.what());
      }
    }
  } stop_on_exit{stack, started_here && !a.keep};

  const double demo_from = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Stores, menus, a campaign: only rows that are missing are added.
  seed::Options so;
  so.tokens_file = stack.state_dir() + "/store-tokens.json";
  auto seeded = seed::run(topo, so, {});
  int64_t inserted = 0;
  for (const auto& t : seeded.tables) inserted += t.counts.inserted;
  fmt::print("-- seeded: {} stores, {} products each, {} campaign(s) of {} coupons ({} row(s) added, {:.2f} s)\n",
             so.spec.stores, so.spec.products, so.spec.campaigns, so.spec.stock, inserted, seeded.seconds);
  std::fflush(stdout);

  // Every menu and product into redis-cache with a fresh jittered expiry, and
  // the gateways' static files, before the users come.
  bool prewarm_ok = true;
  if (!topo.by_role("menu").empty() && !topo.by_role("store").empty()) {
    const std::string static_dir = topo.gateway.static_dir.empty() ? stack.state_dir() + "/static"
                                                                    : topo.gateway.static_dir;
    auto pc = prewarm_config(topo, topo.by_kind(NodeKind::Nginx).empty() ? "" : static_dir);
    auto pr = sim::run_prewarm(pc);
    prewarm_ok = pr.ok();
    fmt::print("-- prewarmed: {} stores, {} products, {} keys in {:.2f} s ({:.0f} keys/s){}{}\n", pr.stores,
               pr.products, pr.keys, pr.seconds, pr.keys_per_second(),
               pr.exported ? fmt::format("; {} menu files for the gateways in {}", pr.files.menus, pr.export_dir) : "",
               pr.ok() ? "" : fmt::format("; {} batch(es) FAILED", pr.failed_batches));
    std::fflush(stdout);
  }

  // The health board watches the whole load (users, then orders).
  auto board = std::make_unique<BoardDuringLoad>(topo, stack.state_dir());
  bool journeys_ok = true;
  if (!topo.by_kind(NodeKind::Nginx).empty() && a.journeys > 0) {
    auto jc = journey_config(topo, {});
    jc.users = a.journeys;
    jc.concurrency = std::min(a.journeys, 32);
    jc.stores = static_cast<int>(so.spec.stores);
    fmt::print("-- {} users of the mini-program through {} gateway(s): login, menu, claim, order, pay\n", jc.users,
               jc.gateways.size());
    std::fflush(stdout);
    auto jr = run_journeys_with_progress(jc);
    print_journey_report(jr);
    journeys_ok = jr.failed == 0;
  }

  auto cfg = order_load_config(topo, {});  // checks there are order nodes and that they answer
  const Node& mq = *topo.uses(*topo.by_role("order").front(), "mq").front();
  int64_t before = sim::stream_length(mq.host, mq.port, "dine:orders");
  fmt::print("-- placing and paying {} orders from {} users, {} in flight, over HTTP to {} order node(s)\n",
             a.orders, a.users, a.concurrency, topo.by_role("order").size());
  cfg.users = a.users;
  cfg.orders = a.orders;
  cfg.concurrency = a.concurrency;
  std::fflush(stdout);
  auto report = run_with_progress(cfg);
  std::optional<monitor::Snapshot> during = board->stop();
  board.reset();
  print_order_report(report);
  double relay_s = 0;
  int64_t after = wait_for_stream(mq, before, report.paid, relay_s);
  fmt::print("event stream dine:orders on {}: {} entries ({} new for {} paid orders; all relayed {:.2f} s after "
             "the last payment)\n", mq.id, after, after - before, report.paid, relay_s);

  print_gateway_figures(topo, stack.state_dir(), demo_from);
  if (during) {
    fmt::print("-- the health board during the load (dine health --watch shows it live):\n{}",
               monitor::render_board(*during, topo.name, terminal_width(), use_colour()));
    std::fflush(stdout);
  }
  bool audit_ok = true;
  if (!topo.by_role("coupon").empty()) {
    const Node& coupon = *topo.by_role("coupon").front();
    auto audit = audit_coupons(topo, *topo.uses(coupon, "mq").front(), *topo.uses(coupon, "db").front(), "coupon",
                               std::chrono::seconds(10));
    audit_ok = audit.clean();
    int64_t granted = 0;
    for (const auto& c : audit.campaigns) granted += std::max<int64_t>(0, c.redis_granted);
    fmt::print("coupon audit: {} granted in Redis, {} in the database: {}\n", granted,
               [&] {
                 int64_t n = 0;
                 for (const auto& c : audit.campaigns) n += c.db_granted;
                 return n;
               }(),
               audit_ok ? "the same" : fmt::format("{} difference(s), see dine audit coupons", audit.differences.size()));
  }

  if (started_here && a.keep) fmt::print("-- leaving the stack up (--keep); stop it with 'dine down'\n");
  bool ok = report.failed == 0 && after - before >= report.paid && journeys_ok && audit_ok && prewarm_ok;
  stop_on_exit.stop();  // before the verdict, so the verdict is the last line
  fmt::print("== demo {}\n", ok ? "passed: every user journey ended, every paid order reached the event stream, "
                                   "the coupon database holds what Redis granted"
                                 : "FAILED");
  if (!ok) throw Failure{"the demo found failed journeys or orders, orders missing from the stream, or a coupon "
                         "difference", 1};
}

}  // namespace

void setup_demo(CLI::App& app, Globals& g) {
  auto a = std::make_shared<DemoArgs>();
  auto* d = app.add_subcommand("demo", "up, place and pay orders, show where they landed, down");
  d->add_option("--users", a->users, "distinct users")->check(CLI::Range(1, 1'000'000));
  d->add_option("--orders", a->orders, "orders to place and pay")->check(CLI::Range(1, 10'000'000));
  d->add_option("--concurrency,-c", a->concurrency, "orders in flight")->check(CLI::Range(1, 10000));
  d->add_option("--journeys", a->journeys, "users through the gateways (0: none)")->check(CLI::Range(0, 1'000'000));
  d->add_flag("--keep", a->keep, "leave the stack up afterwards");
  d->footer("Example:\n  dine demo --orders 3000 --users 300");
  d->callback([&g, a] {
    init_cli_logs(g);
    demo(g, *a);
  });
}

}  // namespace dine::cli
