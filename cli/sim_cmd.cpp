// dine sim orders: a closed-loop load of order creation and payment against
// the order nodes of a topology; text or JSON report; exit code 1 on failures.
#include <chrono>
#include <functional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/order_report.hpp"
#include "cli/progress.hpp"
#include "core/service_auth.hpp"
#include "core/stack/process.hpp"

namespace dine::cli {

sim::OrderLoadConfig order_load_config(const Topology& topo, const std::vector<std::string>& nodes) {
  sim::OrderLoadConfig cfg;
  cfg.service_credential = service_credential(topo.secret, "sim-orders");
  std::vector<const Node*> targets;
  if (nodes.empty()) {
    targets = topo.by_role("order");
  } else {
    for (const auto& id : nodes) targets.push_back(&topo.node(id));
  }
  if (targets.empty())
    throw Failure{fmt::format("{} has no order nodes; fix: add a node with \"role\": \"order\"", topo.source), 2};
  for (const Node* n : targets) {
    if (n->role != "order") throw Failure{fmt::format("node '{}' is not an order node", n->id), 2};
    if (stack::http_get_status(n->host, n->port, "/healthz", milliseconds(1000)) != 200)
      throw Failure{fmt::format("order node {} ({}) does not answer; fix: start the stack with 'dine up' "
                                "(or check 'dine ps')", n->id, n->address()), 1};
    cfg.targets.push_back({n->host, n->port});
  }
  if (auto it = targets.front()->uses.find("shards"); it != targets.front()->uses.end())
    cfg.shards = static_cast<int>(it->second.size());
  cfg.run_id = fmt::format("sim{}", std::chrono::system_clock::now().time_since_epoch().count() / 1000);
  return cfg;
}

namespace {

// A simulation run under a progress bar of `total` (done, and failed when any).
template <class Config, class Report>
Report with_progress(const char* label, int total, const Config& cfg,
                     Report (*run)(const Config&, const std::function<void(int, int)>&)) {
  ProgressBar bar(label, total);
  Report report = run(cfg, [&](int done, int failed) { bar.update(done, failed ? fmt::format("failed {}", failed) : ""); });
  bar.finish(report.failed ? fmt::format("failed {}", report.failed) : "");
  return report;
}

}  // namespace

sim::OrderLoadReport run_with_progress(const sim::OrderLoadConfig& cfg) {
  return with_progress("orders", cfg.orders, cfg, &sim::run_order_load);
}

void print_order_report(sim::OrderLoadReport& r) {
  fmt::print("orders: {} created, {} paid, {} failed in {:.2f} s = {:.0f} paid orders/s\n", r.created, r.paid,
             r.failed, r.seconds, r.orders_per_second());
  fmt::print("latency: create p50 {:.1f} ms  p99 {:.1f} ms | pay p50 {:.1f} ms  p99 {:.1f} ms\n",
             r.create_ms.quantile(0.5), r.create_ms.quantile(0.99), r.pay_ms.quantile(0.5), r.pay_ms.quantile(0.99));
  int total = 0;
  for (int c : r.per_shard) total += c;
  fmt::print("shard spread (order_id mod {}):\n", r.per_shard.size());
  for (std::size_t i = 0; i < r.per_shard.size(); ++i) {
    double pct = total ? 100.0 * r.per_shard[i] / total : 0;
    fmt::print("  shard {}  {:>7} orders  {:5.1f} %  {}\n", i, r.per_shard[i], pct,
               std::string(static_cast<std::size_t>(pct / 2), '#'));
  }
  fmt::print("users: {} of {} have all their orders on one shard; {} orders off their user's shard\n",
             r.users_on_one_shard, r.users_seen, r.gene_mismatches);
  for (const auto& [what, n] : r.errors) fmt::print("  error: {} x{}\n", what, n);
}

sim::JourneyConfig journey_config(const Topology& topo, const std::vector<std::string>& nodes) {
  sim::JourneyConfig cfg;
  std::vector<const Node*> gws;
  if (nodes.empty()) {
    for (const Node& n : topo.nodes)
      if (n.kind == NodeKind::Nginx) gws.push_back(&n);
  } else {
    for (const auto& id : nodes) {
      const Node& n = topo.node(id);
      if (n.kind != NodeKind::Nginx)
        throw Failure{fmt::format("--gateway {}: {} is a {} node, not a gateway; fix: name a node of kind nginx", id,
                                  id, to_string(n.kind)), 2};
      gws.push_back(&n);
    }
  }
  if (gws.empty())
    throw Failure{fmt::format("{} has no gateway (kind nginx) to send users to; fix: add one (see deploy/local.json)",
                              topo.source), 2};
  for (const Node* n : gws) cfg.gateways.push_back({n->ip.empty() ? n->host : n->ip, n->port});
  cfg.run_id = fmt::format("{}", std::chrono::system_clock::now().time_since_epoch().count() / 1000);
  return cfg;
}

sim::JourneyReport run_journeys_with_progress(const sim::JourneyConfig& cfg) {
  return with_progress("users", cfg.users, cfg, &sim::run_journeys);
}

void print_journey_report(sim::JourneyReport& r) {
  fmt::print("users: {} journeys in {:.2f} s through the gateway(s): {} logged in, {} coupons claimed ({} sold out, "
             "{} already held), {} orders ({} with the coupon), {} paid, {} paying, {} declined, {} cut short by the cap (429), {} failed\n",
             r.users, r.seconds, r.logins, r.claims_granted, r.sold_out, r.already_claimed, r.orders, r.with_coupon,
             r.paid, r.paying, r.declined, r.rate_limited, r.failed);
  auto line = [](const char* step, sim::Latencies& l) {
    if (l.count()) fmt::print("  {:<6} p50 {:6.1f} ms  p99 {:6.1f} ms  ({} calls)\n", step, l.quantile(0.5),
                              l.quantile(0.99), l.count());
  };
  line("login", r.login_ms);
  line("menu", r.menu_ms);
  line("claim", r.claim_ms);
  line("order", r.order_ms);
  line("pay", r.pay_ms);
  if (r.with_coupon > 0)
    fmt::print("  the {} coupon orders (meal set at the campaign price + one dish) cost {:.2f} yuan ({:.2f} each)\n",
               r.with_coupon,
               r.coupon_revenue_cents / 100.0, r.coupon_revenue_cents / 100.0 / r.with_coupon);
  for (const auto& [what, n] : r.errors) fmt::print("  error: {} x{}\n", what, n);
}

namespace {

struct SimArgs {
  int users = 300, orders = 3000, concurrency = 64, threads = 2;
  std::vector<std::string> nodes;
  bool json = false, no_pay = false;
  int max_failed = 0;
};

void sim_orders(const Globals& g, const SimArgs& a) {
  Topology topo = load_topology(g.topology_path);
  auto cfg = order_load_config(topo, a.nodes);
  cfg.users = a.users;
  cfg.orders = a.orders;
  cfg.concurrency = a.concurrency;
  cfg.threads = a.threads;
  cfg.pay = !a.no_pay;
  auto report = a.json ? sim::run_order_load(cfg) : run_with_progress(cfg);
  if (a.json) {
    fmt::print("{}\n", report.to_json().dump(2));
  } else {
    print_order_report(report);
  }
  if (report.failed > a.max_failed)
    throw Failure{fmt::format("{} orders failed (allowed: {})", report.failed, a.max_failed), 1};
}

struct UsersArgs {
  int users = 300, concurrency = 32, threads = 2, stores = 20, max_failed = 0;
  std::vector<std::string> gateways;
  bool json = false;
};

void sim_users(const Globals& g, const UsersArgs& a) {
  Topology topo = load_topology(g.topology_path);
  auto cfg = journey_config(topo, a.gateways);
  cfg.users = a.users;
  cfg.concurrency = a.concurrency;
  cfg.threads = a.threads;
  cfg.stores = a.stores;
  auto report = a.json ? sim::run_journeys(cfg) : run_journeys_with_progress(cfg);
  if (a.json) fmt::print("{}\n", report.to_json().dump(2));
  else print_journey_report(report);
  if (report.failed > a.max_failed)
    throw Failure{fmt::format("{} journeys failed (allowed: {})", report.failed, a.max_failed), 1};
}

}  // namespace

void setup_sim(CLI::App& app, Globals& g) {
  auto* sim = app.add_subcommand("sim", "simulate load against the platform");
  sim->require_subcommand(1);
  auto a = std::make_shared<SimArgs>();
  auto* o = sim->add_subcommand("orders", "create and pay orders through the order nodes (closed loop)");
  o->add_option("--users", a->users, "distinct users")->check(CLI::Range(1, 10'000'000));
  o->add_option("--orders", a->orders, "orders to place")->check(CLI::Range(1, 100'000'000));
  o->add_option("--concurrency,-c", a->concurrency, "orders in flight")->check(CLI::Range(1, 10000));
  o->add_option("--threads", a->threads, "driver threads")->check(CLI::Range(1, 64));
  o->add_option("--node", a->nodes, "order node(s) to target (default: every order node)");
  o->add_flag("--no-pay", a->no_pay, "only create orders");
  o->add_option("--max-failed", a->max_failed, "failed orders tolerated before exit code 1");
  o->add_flag("--json", a->json, "print the report as JSON (no progress bar)");
  o->footer("Example:\n  dine up && dine sim orders --orders 3000 --users 300 -c 64");
  o->callback([&g, a] {
    init_cli_logs(g);
    sim_orders(g, *a);
  });

  auto u = std::make_shared<UsersArgs>();
  auto* us = sim->add_subcommand(
      "users", "users of the mini-program through the gateways: login, menu, campaigns, claim, order, pay");
  us->add_option("--users", u->users, "users, one journey each")->check(CLI::Range(1, 10'000'000));
  us->add_option("--concurrency,-c", u->concurrency, "users in flight")->check(CLI::Range(1, 10000));
  us->add_option("--threads", u->threads, "driver threads")->check(CLI::Range(1, 64));
  us->add_option("--stores", u->stores, "users pick stores 1..N (as seeded)")->check(CLI::Range(1, 10'000'000));
  us->add_option("--gateway", u->gateways, "gateway node(s) (default: every nginx node)");
  us->add_option("--max-failed", u->max_failed, "failed journeys tolerated before exit code 1");
  us->add_flag("--json", u->json, "print the report as JSON (no progress bar)");
  us->footer("Example:\n  dine up && dine db seed && dine sim users --users 1000 -c 64");
  us->callback([&g, u] {
    init_cli_logs(g);
    sim_users(g, *u);
  });
}

}  // namespace dine::cli
