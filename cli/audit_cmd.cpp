// dine audit coupons: compares what redis-mq granted with what the coupon
// database holds; exit 0 when they agree, 1 on any difference. See
// docs/serve-coupon.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "server/registry.hpp"

namespace dine::cli {
namespace {

struct AuditArgs {
  int settle_s = 10;
  int show = 20;
  bool json = false;
};

// The authority and the database of the topology's coupon nodes (the first
// coupon node's "mq" and "db").
std::pair<const Node*, const Node*> coupon_stores(const Topology& topo) {
  auto nodes = topo.by_role("coupon");
  if (nodes.empty())
    throw Failure{fmt::format("{} has no coupon node; fix: add one (see deploy/local.json), or pass the topology "
                              "that has it with --topology", topo.source), 2};
  const Node& n = *nodes.front();
  return {topo.uses(n, "mq").front(), topo.uses(n, "db").front()};
}

int audit(const Globals& g, const AuditArgs& a) {
  Topology topo = load_topology(g.topology_path);
  server::check_topology(topo);
  auto [redis, pg] = coupon_stores(topo);
  coupon::AuditReport r = audit_coupons(topo, *redis, *pg, "coupon", std::chrono::seconds(a.settle_s));
  if (a.json) {
    fmt::print("{}\n", r.to_json().dump(2));
    return r.clean() ? 0 : 1;
  }
  fmt::print("coupons: {} ({}) against {} ({}) database coupon\n", redis->id, redis->address(), pg->id,
             pg->address());
  fmt::print("  {:>10} {:>10} {:>14} {:>12} {:>14}\n", "campaign", "total", "granted/redis", "stock/redis",
             "persisted/db");
  for (const auto& c : r.campaigns)
    fmt::print("  {:>10} {:>10} {:>14} {:>12} {:>14}\n", c.campaign_id, c.total,
               c.redis_granted < 0 ? std::string("-") : std::to_string(c.redis_granted),
               c.redis_stock < 0 ? std::string("-") : std::to_string(c.redis_stock), c.db_granted);
  if (!r.in_sync) fmt::print("note: redis-mq has not been reconciled since it started (a coupon node does it)\n");
  if (r.in_flight > 0)
    fmt::print("note: {} claim event(s) not yet persisted after {} s (is a coupon node consuming?)\n", r.in_flight,
               a.settle_s);
  if (r.clean()) {
    fmt::print("OK: the database holds exactly what Redis granted\n");
    return 0;
  }
  fmt::print("DIFFERENT: {} difference(s)\n", r.differences.size());
  for (std::size_t i = 0; i < r.differences.size() && static_cast<int>(i) < a.show; ++i)
    fmt::print("  {}\n", r.differences[i]);
  if (static_cast<int>(r.differences.size()) > a.show)
    fmt::print("  ... and {} more (--show N, or --json)\n", r.differences.size() - static_cast<std::size_t>(a.show));
  return 1;
}

}  // namespace

void setup_audit(CLI::App& app, Globals& g) {
  auto* audit_cmd = app.add_subcommand("audit", "compare the authorities with their databases");
  audit_cmd->require_subcommand(1);
  auto a = std::make_shared<AuditArgs>();
  auto* c = audit_cmd->add_subcommand(
      "coupons", "compare the coupons redis-mq granted with the coupon database; exit 1 on any difference");
  c->add_option("--settle", a->settle_s, "wait up to S seconds for claims in flight to be persisted first")
      ->check(CLI::Range(0, 3600));
  c->add_option("--show", a->show, "differences to print")->check(CLI::Range(1, 1000000));
  c->add_flag("--json", a->json, "print the report as JSON");
  c->footer(
      "Exit codes: 0 the database holds exactly what Redis granted, 1 a difference (listed), 2 a usage or "
      "topology error.\nExample:\n  dine audit coupons --settle 30");
  c->callback([&g, a] {
    init_cli_logs(g);
    int code = audit(g, *a);
    if (code != 0) throw Failure{"coupon audit found differences", code};
  });
}

}  // namespace dine::cli
