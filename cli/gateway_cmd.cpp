// dine gateway stats: per-route request rates, bandwidth, errors and request
// times of the gateway nodes, from their JSON access logs (core/stack/access_log).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/since.hpp"
#include "core/stack/access_log.hpp"
#include "core/stack/local_stack.hpp"
#include "core/stack/nginx_conf.hpp"

namespace dine::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct StatsArgs {
  std::string node;  // empty: every nginx node
  std::string since = "60s";
  std::string state_dir;
  bool json = false;
};

double epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

json figures_json(const stack::RouteFigures& f) {
  return {{"route", f.route},
          {"requests", f.requests},
          {"per_second", f.per_second},
          {"bytes_out", f.bytes_out},
          {"bytes_out_per_second", f.bytes_out_per_second},
          {"bytes_in", f.bytes_in},
          {"status_4xx", f.status_4xx},
          {"status_5xx", f.status_5xx},
          {"rate_limited", f.rate_limited},
          {"p50_ms", f.p50_ms},
          {"p99_ms", f.p99_ms}};
}

// "512 B", "1.5 KB", "2.3 MB" (per second when `rate`)
std::string bytes(double n) {
  if (n < 1024) return fmt::format("{:.0f} B", n);
  if (n < 1024 * 1024) return fmt::format("{:.1f} KB", n / 1024);
  return fmt::format("{:.1f} MB", n / (1024 * 1024));
}

void print_row(const stack::RouteFigures& f) {
  fmt::print("{:<28} {:>8} {:>9.1f} {:>11} {:>7} {:>7} {:>7} {:>8.1f} {:>8.1f}\n", f.route, f.requests,
             f.per_second, bytes(f.bytes_out_per_second) + "/s", f.status_4xx, f.status_5xx, f.rate_limited,
             f.p50_ms, f.p99_ms);
}

void stats(const Globals& g, const StatsArgs& a) {
  const auto now = std::chrono::system_clock::now();
  auto since = parse_since(a.since, now);
  if (!since)
    throw Failure{fmt::format("--since \"{}\" is not a time dine understands; fix: give {}", a.since, kSinceForms), 2};
  Topology topo = load_topology(g.topology_path);
  std::vector<const Node*> nodes;
  if (a.node.empty()) {
    nodes = topo.by_kind(NodeKind::Nginx);
  } else {
    const Node& n = topo.node(a.node);
    if (n.kind != NodeKind::Nginx)
      throw Failure{fmt::format("node {} is a {} node, not a gateway; fix: name a node of kind nginx", a.node,
                                to_string(n.kind)), 2};
    nodes.push_back(&n);
  }
  if (nodes.empty()) throw Failure{fmt::format("{}: no gateway node (kind nginx) to report on", topo.source), 1};

  const std::string state_dir = a.state_dir.empty() ? stack::LocalStack::default_state_dir(topo) : a.state_dir;
  const double from = epoch_seconds(since->at), to = epoch_seconds(now);
  stack::AccessStats acc(from, to);
  json read = json::array();
  std::vector<std::string> missing;
  for (const Node* n : nodes) {
    const std::string log = stack::nginx_paths(topo, *n, state_dir).access_log();
    const bool ok = stack::read_access_log(log, from, acc);
    read.push_back({{"node", n->id}, {"access_log", log}, {"read", ok}});
    if (!ok) missing.push_back(fmt::format("{} ({})", n->id, log));
  }
  const auto s = acc.summary();
  if (a.json) {
    json routes = json::array();
    for (const auto& r : s.routes) routes.push_back(figures_json(r));
    fmt::print("{}\n", json{{"topology", topo.name}, {"from", rfc3339_utc(since->at)}, {"to", rfc3339_utc(now)},
                            {"window_s", to - from}, {"nodes", read}, {"routes", routes},
                            {"total", figures_json(s.total)}, {"unreadable_lines", s.unreadable}}
                           .dump(2));
  } else {
    fmt::print("gateway '{}', {} node(s), {} to {} ({:.0f} s)\n", topo.name, nodes.size(), rfc3339_utc(since->at),
               rfc3339_utc(now), to - from);
    for (const auto& m : missing) fmt::print("  no access log yet for {}: is the gateway up?\n", m);
    fmt::print("{:<28} {:>8} {:>9} {:>11} {:>7} {:>7} {:>7} {:>8} {:>8}\n", "ROUTE", "REQS", "REQ/S", "OUT", "4XX",
               "5XX", "429", "P50 MS", "P99 MS");
    for (const auto& r : s.routes) print_row(r);
    print_row(s.total);
    if (s.unreadable > 0) fmt::print("({} line(s) were not the gateway's JSON and were skipped)\n", s.unreadable);
  }
  std::fflush(stdout);
  if (missing.size() == nodes.size())
    throw Failure{fmt::format("no access log could be read under {}; fix: start the gateway (dine up) or give "
                              "--state-dir", state_dir), 1};
}

}  // namespace

void setup_gateway(CLI::App& app, Globals& g) {
  auto* gw = app.add_subcommand("gateway", "the nginx gateway nodes of the topology (docs/gateway.md)");
  gw->require_subcommand(1);
  auto a = std::make_shared<StatsArgs>();
  auto* st = gw->add_subcommand(
      "stats", "per-route requests, req/s, bandwidth, 4xx/5xx/429 and request time p50/p99, from the gateways' "
               "JSON access logs");
  st->add_option("--node", a->node, "one gateway node (default: all of them, added up)");
  st->add_option("--since", a->since, "the window: a duration back from now (60s, 10m, 2h) or an RFC 3339 time")
      ->capture_default_str();
  st->add_option("--state-dir", a->state_dir, "where the gateways' logs are (default .dine/<topology name>)")
      ->envname("DINE_STATE_DIR");
  st->add_flag("--json", a->json, "print a JSON document instead of a table");
  st->footer("Example:\n  dine gateway stats --since 10m\n  dine gateway stats --node gw-1 --json");
  st->callback([&g, a] {
    init_cli_logs(g);
    stats(g, *a);
  });
}

}  // namespace dine::cli
