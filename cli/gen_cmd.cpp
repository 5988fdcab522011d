// dine gen nginx: the nginx configuration of each gateway node of the
// topology (core/stack/nginx_conf), to stdout, a file or a directory.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/stack/local_stack.hpp"
#include "core/stack/nginx_conf.hpp"
#include "core/stack/nginx_server.hpp"

namespace dine::cli {
namespace {

namespace fs = std::filesystem;

struct GenArgs {
  std::string node;       // empty: every nginx node
  std::string out;        // empty: stdout; a directory: <dir>/<node>.conf; else one file
  std::string state_dir;  // empty: DINE_STATE_DIR or .dine/<topology name>
  bool check = false;
};

std::vector<const Node*> gateways(const Topology& topo, const std::string& id) {
  if (id.empty()) {
    auto all = topo.by_kind(NodeKind::Nginx);
    if (all.empty())
      throw Failure{fmt::format("{}: no gateway node; fix: add one, e.g. {{\"id\": \"gw-1\", \"kind\": \"nginx\", "
                                "\"port\": 18080, \"uses\": {{\"app\": [\"app-1\"]}}}}", topo.source), 2};
    return all;
  }
  const Node& n = topo.node(id);
  if (n.kind != NodeKind::Nginx)
    throw Failure{fmt::format("{}: node {} is a {} node, not a gateway; fix: name a node of kind nginx", topo.source,
                              id, to_string(n.kind)), 2};
  return {&n};
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw Failure{fmt::format("cannot write {}", path), 1};
}

void gen_nginx(const Globals& g, const GenArgs& a) {
  Topology topo = load_topology(g.topology_path);
  auto nodes = gateways(topo, a.node);
  const std::string state_dir = a.state_dir.empty() ? stack::LocalStack::default_state_dir(topo) : a.state_dir;
  const bool to_dir = !a.out.empty() && (fs::is_directory(a.out) || a.out.back() == '/');
  if (!a.out.empty() && !to_dir && nodes.size() > 1)
    throw Failure{fmt::format("{} gateway nodes and one file {}: fix: give -o a directory (one <node>.conf each) "
                              "or pick one with --node", nodes.size(), a.out), 2};
  if (to_dir) fs::create_directories(a.out);
  const std::string user = stack::nginx_worker_user();
  bool all_ok = true;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = *nodes[i];
    const auto paths = stack::nginx_paths(topo, n, state_dir);
    const std::string text = stack::render_nginx_conf(topo, n, paths, user);
    if (a.out.empty()) {
      fmt::print("{}{}", i ? "\n" : "", text);
    } else {
      const std::string file = to_dir ? (fs::path(a.out) / (n.id + ".conf")).string() : a.out;
      write_text(file, text);
      fmt::print(stderr, "{}: wrote {}\n", n.id, file);
    }
    if (a.check) {
      // nginx -t opens the logs and temp dirs the file names: check it where dine up puts it.
      stack::nginx_write(paths, text);
      auto check = stack::nginx_check(paths);
      fmt::print(stderr, "{}: nginx -t on {}: {}\n", n.id, paths.conf(), check.ok ? "ok" : "FAILED");
      if (!check.ok) fmt::print(stderr, "{}\n", check.output);
      all_ok = all_ok && check.ok;
    }
  }
  std::fflush(stdout);
  if (!all_ok) throw Failure{"nginx -t refused a rendered configuration (above); please report it", 1};
}

}  // namespace

void setup_gen(CLI::App& app, Globals& g) {
  auto* gen = app.add_subcommand("gen", "render configuration files of other programs from the topology");
  gen->require_subcommand(1);
  auto a = std::make_shared<GenArgs>();
  auto* nginx = gen->add_subcommand(
      "nginx", "the nginx.conf of each gateway node (kind nginx): the app nodes as a keepalive upstream, the "
               "global QPS cap split over the gateways, JSON errors and access log, /static/ (docs/gateway.md)");
  nginx->add_option("--node", a->node, "one gateway node (default: every nginx node of the topology)");
  nginx->add_option("-o,--output", a->out,
                    "a file, or a directory for one <node>.conf per gateway (default: stdout, one after another)");
  nginx->add_option("--state-dir", a->state_dir,
                    "where nginx's pid, logs and temp files go, as under dine up (default .dine/<topology name>)")
      ->envname("DINE_STATE_DIR");
  nginx->add_flag("--check", a->check,
                  "also write each file into its node's state dir and run nginx -t on it there; exit 1 if refused");
  nginx->footer(
      "Examples:\n"
      "  dine --topology my.json gen nginx -o out/     out/gw-1.conf, out/gw-2.conf, ...\n"
      "  dine gen nginx --node gw-1 --check > gw-1.conf   and nginx -t agrees with it\n"
      "  nginx -t -c \"$PWD/gw-1.conf\"                 check it by hand");
  nginx->callback([&g, a] {
    init_cli_logs(g);
    gen_nginx(g, *a);
  });
}

}  // namespace dine::cli
