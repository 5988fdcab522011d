// dine serve ROLE --node ID: run one role of the platform.
#include <cstdlib>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/http/bench_server.hpp"
#include "core/log.hpp"
#include "core/runtime/node_lock.hpp"
#include "core/runtime/runtime.hpp"
#include "server/registry.hpp"

namespace dine::cli {
namespace {

struct ServeArgs {
  std::string role;
  std::string node;
  int threads = 0;
};

std::string known_roles() {
  std::string s;
  for (const auto* r : server::roles())
    if (!r->hidden) s += (s.empty() ? "" : ", ") + r->name;
  return s;
}

// Hidden roles are test roles with fault routes (a worker blocked on
// purpose): they never start unless the environment says this is a test.
bool test_roles_enabled() {
  const char* v = std::getenv("DINE_TEST_ROLES");
  return v && std::string_view(v) == "1";
}

void serve(const Globals& g, const ServeArgs& a) {
  const runtime::RoleDescriptor* role = server::find_role(a.role);
  if (!role) throw Failure{fmt::format("unknown role '{}'; fix: use one of: {}", a.role, known_roles()), 2};
  if (role->hidden && !test_roles_enabled())
    throw Failure{fmt::format("role '{}' is a test role: it starts only when the environment has "
                              "DINE_TEST_ROLES=1; fix: set DINE_TEST_ROLES=1 (tests only) or serve one of: {}",
                              a.role, known_roles()),
                  2};
  Topology topo = load_topology(g.topology_path);
  const Node* node = nullptr;
  if (!a.node.empty()) {
    node = &topo.node(a.node);
    if (node->kind != NodeKind::Dine || node->role != a.role)
      throw Failure{fmt::format("node '{}' in {} is not a {} node; fix: pick one of its {} nodes", a.node,
                                topo.source, a.role, a.role), 2};
  } else {
    auto nodes = topo.by_role(a.role);
    if (nodes.size() != 1)
      throw Failure{fmt::format("{} has {} {} nodes; fix: name one with --node", topo.source, nodes.size(), a.role),
                    2};
    node = nodes.front();
  }
  log::init(std::string(role->name), node->id, log::parse_level(g.log_level.empty() ? "info" : g.log_level), g.json_logs);
  runtime::Options opts;
  opts.threads = a.threads;
  if (opts.threads == 0)
    if (const char* t = std::getenv("DINE_THREADS"); t && *t) {
      std::string v(t);
      if (v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 1 ||
          std::stoi(v) > 256)
        throw Failure{fmt::format("DINE_THREADS={} is not a number 1..256; fix: unset it or set e.g. 2", v), 2};
      opts.threads = std::stoi(v);
    }
  // Tests only: POST /test/wedge on this node (from this machine), said in the log.
  if (const char* f = std::getenv("DINE_TEST_ROUTES"); f && std::string_view(f) == "1") {
    opts.fault_routes = true;
    log::Logger("serve").warn("fault_routes_on", {{"why", "DINE_TEST_ROUTES=1: POST /test/wedge blocks a worker (tests only)"}});
  }
  int rc = 0;
  try {
    rc = runtime::run(topo, *node, *role, opts);
  } catch (const runtime::NodeTaken& e) {
    throw Failure{e.what(), 1};
  }
  if (rc != 0) throw Failure{fmt::format("node {} stopped with errors", node->id), rc};
}

}  // namespace

void setup_serve(CLI::App& app, Globals& g) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "run one role of the platform (HTTP on the node's address)");
  cmd->add_option("role", args->role, "role to run: " + known_roles())->required();
  cmd->add_option("--node", args->node, "node id in the topology (e.g. order-1)");
  cmd->add_option("--threads", args->threads, "worker threads (default: the node's, else the cores)")
      ->check(CLI::Range(0, 256));
  cmd->footer("Example:\n  dine serve order --node order-1\n  curl -s 127.0.0.1:18101/readyz");
  cmd->callback([&g, args] { serve(g, *args); });

  // Hidden: the dine side of bench/http (a node serving /healthz, no dependencies).
  auto bench = std::make_shared<std::tuple<std::string, int, int, int>>("127.0.0.1", 0, 0, 0);
  auto* hb = app.add_subcommand("bench-http-server", "");
  hb->group("");  // hidden from --help
  hb->add_option("--host", std::get<0>(*bench));
  hb->add_option("--port", std::get<1>(*bench))->required();
  hb->add_option("--threads", std::get<2>(*bench));
  hb->add_option("--seconds", std::get<3>(*bench));
  hb->callback([bench] {
    int threads = std::get<2>(*bench) > 0 ? std::get<2>(*bench) : 2;
    int rc = http::run_healthz_server(std::get<0>(*bench), std::get<1>(*bench), threads, std::get<3>(*bench));
    if (rc != 0) throw Failure{"bench-http-server failed", rc};
  });
}

}  // namespace dine::cli
