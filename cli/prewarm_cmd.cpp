// dine prewarm menu: every store's menu and every product reloaded into the
// cache through the menu nodes' refresh read, optionally exported as the
// gateway's static files (sim/prewarm.hpp does the walk; docs/prewarm.md).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "core/topology.hpp"
#include "server/menu/config.hpp"
#include "server/menu/role.hpp"
#include "sim/prewarm.hpp"

namespace dine::cli {
namespace {

constexpr int kDefaultBatch = 100;

// Numbers are taken as text and checked here, so a bad one is a usage error
// (exit 2) naming the flag, the value and what is allowed, as in `dine db seed`.
struct PrewarmArgs {
  std::string batch, concurrency = "4", retries = "2";
  std::vector<std::string> nodes;
  std::string export_dir;
  bool json = false;
};

int whole(const std::string& flag, const std::string& text, int lo, int hi) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    throw Failure{fmt::format("{} \"{}\": give a whole number from {} to {}", flag, text, lo, hi), 2};
  return v;
}

sim::PrewarmNode target(const Node& n) { return {n.id, n.ip.empty() ? n.host : n.ip, n.port}; }

std::string names(const std::vector<sim::PrewarmNode>& nodes) {
  std::string out;
  for (const auto& n : nodes) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", n.id, n.address());
  return out;
}

// The walk's nodes and sizes from the topology and the flags; usage errors exit 2.
sim::PrewarmConfig config_of(const Topology& topo, const PrewarmArgs& a) {
  sim::PrewarmConfig cfg;
  std::vector<const Node*> menus;
  if (a.nodes.empty()) {
    menus = topo.by_role("menu");
  } else {
    for (const auto& id : a.nodes) {
      const Node* n = topo.find(id);
      if (!n) throw Failure{fmt::format("--node {}: {} has no node '{}'", id, topo.source, id), 2};
      if (n->role != "menu")
        throw Failure{fmt::format("--node {}: not a menu node (its role is '{}'); fix: name nodes with "
                                  "\"role\": \"menu\"", id, n->role.empty() ? to_string(n->kind) : n->role), 2};
      menus.push_back(n);
    }
  }
  if (menus.empty())
    throw Failure{fmt::format("{} has no menu node: the walk goes through the menu role's refresh read; fix: add a "
                              "node with \"role\": \"menu\" (deploy/local.json has menu-1), or pass the --topology "
                              "that has one", topo.source), 2};
  auto stores = topo.by_role("store");
  if (stores.empty())
    throw Failure{fmt::format("{} has no store node: the walk lists the stores through the store role; fix: add a "
                              "node with \"role\": \"store\" (deploy/local.json has store-1)", topo.source), 2};

  // The largest batch every menu node takes (its max_refresh).
  int max_batch = 0;
  std::string smallest;
  int timeout_ms = 0;
  for (const Node* n : menus) {
    const auto mc = std::any_cast<menu::MenuConfig>(runtime::load_config(menu::role(), topo, *n));
    if (max_batch == 0 || mc.max_refresh < max_batch) {
      max_batch = mc.max_refresh;
      smallest = n->id;
    }
    timeout_ms = std::max(timeout_ms, n->limits.request_timeout_ms);
    cfg.menu_nodes.push_back(target(*n));
  }
  for (const Node* n : stores) cfg.store_nodes.push_back(target(*n));
  if (a.batch.empty()) {
    cfg.batch = std::min(kDefaultBatch, max_batch);
  } else {
    cfg.batch = whole("--batch", a.batch, 1, 100'000);
    if (cfg.batch > max_batch)
      throw Failure{fmt::format("--batch {}: menu node {} takes at most {} store ids per refresh (its max_refresh); "
                                "fix: --batch {} or less, or raise \"max_refresh\" in the topology's "
                                "\"roles\": {{\"menu\": ...}}", cfg.batch, smallest, max_batch, max_batch), 2};
  }
  cfg.concurrency = whole("--concurrency", a.concurrency, 1, 1000);
  cfg.retries = whole("--retries", a.retries, 0, 100);
  cfg.timeout = milliseconds(timeout_ms + 1000);  // a slow refresh gets the node's own 504 first
  cfg.export_dir = a.export_dir;
  cfg.run_id = fmt::format("{:x}", std::chrono::system_clock::now().time_since_epoch().count() / 1000);
  return cfg;
}

std::string ids_line(const std::vector<int64_t>& ids, std::size_t max = 20) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < max; ++i) out += fmt::format("{}{}", i ? ", " : "", ids[i]);
  if (ids.size() > max) out += fmt::format(", ... ({} in all)", ids.size());
  return out;
}

void print_report(const sim::PrewarmReport& r) {
  fmt::print("stores: {} listed from {}, {} refreshed, {} without a menu, {} failed\n", r.listed, r.store_node,
             r.stores, r.missing.size(), r.failed_stores.size());
  fmt::print("keys: {} ({} menus + {} products) in {:.2f} s = {:.0f} products/s, {:.0f} keys/s "
             "(listing took {:.2f} s)\n",
             r.keys, r.keys - r.products, r.products, r.seconds, r.products_per_second(), r.keys_per_second(),
             r.list_seconds);
  if (!r.missing.empty()) fmt::print("without a menu: {}\n", ids_line(r.missing));
  if (r.exported)
    fmt::print("export: {} menu file(s), {} product file(s) in {}: {} written, {} unchanged, {} removed\n",
               r.files.menus, r.files.products, r.export_dir, r.files.written, r.files.unchanged, r.files.removed);
  if (r.retried > 0 || !r.errors.empty())
    fmt::print("errors: {} batch(es) of {} failed, {} attempt(s) made again\n", r.failed_batches, r.batches, r.retried);
  for (const auto& [what, n] : r.errors) fmt::print("  {} x{}\n", what, n);
  for (const auto& d : r.dropped) fmt::print("  {} left out of the walk after repeated failures\n", d);
  if (!r.failed_stores.empty()) fmt::print("not refreshed: {}\n", ids_line(r.failed_stores));
}

// The exit-1 message: what failed, where, and the fix.
std::string failure_message(const sim::PrewarmReport& r) {
  std::vector<std::string> where;
  for (const auto& [what, n] : r.errors) where.push_back(what);
  std::string causes;
  for (std::size_t i = 0; i < where.size() && i < 3; ++i) causes += (i ? "; " : "") + where[i];
  if (where.size() > 3) causes += fmt::format("; and {} more", where.size() - 3);
  std::string what;
  if (r.failed_batches > 0)
    what = fmt::format("{} batch(es) failed, {} store(s) not refreshed", r.failed_batches, r.failed_stores.size());
  if (r.export_errors > 0)
    what += fmt::format("{}{} store(s) not exported", what.empty() ? "" : ", ", r.export_errors);
  return fmt::format("prewarm: {} ({}); fix: check the node(s) named ('dine ps', their logs), then run 'dine "
                     "prewarm menu' again: it is safe to repeat",
                     what, causes);
}

void prewarm_menu(const Globals& g, const PrewarmArgs& a) {
  Topology topo = load_topology(g.topology_path);
  sim::PrewarmConfig cfg = config_of(topo, a);
  if (!a.json) {
    fmt::print("dine prewarm menu: topology '{}', stores from {}, batches of {} to {}, {} in flight{}\n", topo.name,
               names(cfg.store_nodes), cfg.batch, names(cfg.menu_nodes), cfg.concurrency,
               cfg.export_dir.empty() ? "" : fmt::format(", files into {}", cfg.export_dir));
    std::fflush(stdout);
  }
  std::unique_ptr<ProgressBar> bar;
  sim::PrewarmHooks hooks;
  if (!a.json) {
    hooks.listed = [&bar](int64_t listed, double) { bar = std::make_unique<ProgressBar>("menus", static_cast<int>(listed)); };
    hooks.progress = [&bar](int64_t done, int64_t total) {
      if (!bar) return;
      if (done >= total) bar->finish();
      else bar->update(static_cast<int>(done));
    };
  }
  sim::PrewarmReport r;
  try {
    r = sim::run_prewarm(cfg, hooks);
  } catch (const sim::PrewarmError& e) {
    throw Failure{e.what(), 1};
  }
  if (bar && r.listed == 0) bar->finish();
  if (a.json) fmt::print("{}\n", r.to_json().dump(2));
  else print_report(r);
  std::fflush(stdout);  // the summary before the failure's message, even through a pipe
  if (!r.ok()) throw Failure{failure_message(r), 1};
}

}  // namespace

sim::PrewarmConfig prewarm_config(const Topology& topo, const std::string& export_dir) {
  PrewarmArgs a;
  a.export_dir = export_dir;
  return config_of(topo, a);
}

void setup_prewarm(CLI::App& app, Globals& g) {
  auto* p = app.add_subcommand("prewarm", "reload caches before a peak");
  p->require_subcommand(1);
  auto a = std::make_shared<PrewarmArgs>();
  auto* m = p->add_subcommand(
      "menu", "reload every store's menu and every product into the cache through the menu nodes' refresh read, "
              "with fresh jittered expiries; --export also writes the gateway's static menu files");
  m->add_option("--batch", a->batch, "store ids per refresh call (default 100, at most the menu nodes' max_refresh)")
      ->type_name("N");
  m->add_option("--concurrency,-c", a->concurrency, "refresh calls in flight")->type_name("N")->capture_default_str();
  m->add_option("--retries", a->retries, "further attempts of a failed call, each on the next menu node")
      ->type_name("N")->capture_default_str();
  m->add_option("--node", a->nodes, "menu node(s) to call (default: every menu node of the topology)")
      ->type_name("ID");
  m->add_option("--export", a->export_dir,
                "also write DIR/menus/{store}.json and DIR/products/{store}/{sku}.json, the files the gateway "
                "serves under /static/ (its static_dir: <state dir>/static by default)")
      ->type_name("DIR");
  m->add_flag("--json", a->json, "print the summary as JSON (no progress bar)");
  m->footer("Examples:\n"
            "  dine up && dine db seed && dine prewarm menu\n"
            "  dine prewarm menu --export .dine/local/static --json\n"
            "  dine prewarm menu --node menu-1 --batch 200 -c 8\n"
            "Exit code: 0 every store walked, 1 a batch or an export failed (the summary says where), 2 bad usage.\n"
            "See docs/prewarm.md.");
  m->callback([&g, a] {
    init_cli_logs(g);
    prewarm_menu(g, *a);
  });
}

}  // namespace dine::cli
