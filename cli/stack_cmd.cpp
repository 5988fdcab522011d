// dine up, dine down, dine ps: the local stack of a topology (core/stack/local_stack).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "core/stack/local_stack.hpp"
#include "server/registry.hpp"

namespace dine::cli {
namespace {

namespace fs = std::filesystem;

struct StackArgs {
  std::string state_dir;  // empty: DINE_STATE_DIR or .dine/<topology name>
  bool json = false;
};

// ".dine/local" when under the current directory, else the absolute path.
std::string shown(const std::string& dir) {
  std::error_code ec;
  fs::path rel = fs::relative(dir, fs::current_path(), ec);
  if (ec || rel.empty() || *rel.begin() == "..") return dir;
  return rel.string();
}

std::string self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Failure{"cannot find the dine executable (/proc/self/exe)", 1};
  return p.string();
}

void print_event(const stack::StackEvent& e) {
  fmt::print("  {} {:<14} {}\n", e.done ? "✓" : "·", e.node, e.message);
  std::fflush(stdout);
}

std::string kind_or_role(const stack::NodeStatus& s) { return s.role.empty() ? s.kind : s.role; }

void print_table(const std::vector<stack::NodeStatus>& nodes) {
  fmt::print("{:<14} {:<10} {:<21} {:>8}  {}\n", "NODE", "KIND/ROLE", "ADDRESS", "PID", "STATE");
  for (const auto& s : nodes)
    fmt::print("{:<14} {:<10} {:<21} {:>8}  {}\n", s.id, kind_or_role(s), s.address(),
               s.pid ? std::to_string(s.pid) : "-", s.state);
}

void up(const Globals& g, const StackArgs& a) {
  Topology topo = load_topology(g.topology_path);
  server::check_topology(topo);  // a bad role section or dependency: reported before any server starts
  stack::LocalStack st(topo, g.topology_path, a.state_dir);
  std::string dir = shown(st.state_dir());
  if (st.is_up())
    throw Failure{fmt::format("the '{}' stack is already up (state in {}); run 'dine down' first", topo.name, dir), 1};
  fmt::print("dine up: starting the '{}' stack from {} (state in {})\n", topo.name, topo.source, dir);
  try {
    st.start_datastores(print_event);
    int applied = 0, present = 0;
    migrate_with_groups(
        topo, server::find_role,
        [&](const MigrationStep& m) {
          (m.applied ? applied : present)++;
          if (m.applied) print_event({m.node, fmt::format("migrated {} to {}", m.database, m.version), true});
        },
        [&](const GroupResult& r) { print_event({r.site.redis->id, group_line(r), true}); });
    print_event({"migrations", fmt::format("{} applied, {} already there", applied, present), true});
    st.start_roles(self_exe(), print_event);
    st.start_gateways(print_event);
  } catch (const std::exception& e) {
    std::string why = e.what();
    fmt::print(stderr, "dine up failed: {}\nstopping what was started:\n", why);
    try {
      st.down(print_event);
    } catch (const std::exception& d) {
      fmt::print(stderr, "dine: stopping failed too: {}\n", d.what());
    }
    throw Failure{fmt::format("the '{}' stack did not come up (logs under {})", topo.name, dir), 1};
  }
  fmt::print("\n");
  print_table(st.ps());
  fmt::print("\nThe '{}' stack is up. 'dine ps' lists it, 'dine down' stops it.\n", topo.name);
}

void down(const Globals& g, const StackArgs& a) {
  Topology topo = load_topology(g.topology_path);
  stack::LocalStack st(topo, g.topology_path, a.state_dir);
  if (!st.is_up()) {
    bool recorded = fs::exists(st.state_dir() + "/state.json");
    throw Failure{fmt::format("no stack is up ({} in {})", recorded ? "nothing recorded is running" : "no state",
                              shown(st.state_dir())), 1};
  }
  fmt::print("dine down: stopping the '{}' stack (data and logs stay in {})\n", topo.name, shown(st.state_dir()));
  st.down(print_event);
  for (const auto& s : st.ps())
    if (s.pid != 0)
      throw Failure{fmt::format("{} (pid {}) is still running; stop it by hand (kill {})", s.id, s.pid, s.pid), 1};
}

void ps(const Globals& g, const StackArgs& a) {
  Topology topo = load_topology(g.topology_path);
  stack::LocalStack st(topo, g.topology_path, a.state_dir);
  auto nodes = st.ps();
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : nodes)
      out.push_back({{"id", s.id}, {"kind", s.kind}, {"role", s.role}, {"address", s.address()},
                     {"host", s.host}, {"port", s.port}, {"pid", s.pid}, {"state", s.state}, {"log", s.log}});
    fmt::print("{}\n", out.dump(2));
    return;
  }
  print_table(nodes);
}

void add_state_dir(CLI::App* cmd, StackArgs& a) {
  cmd->add_option("--state-dir", a.state_dir, "where data, logs and pids live (default .dine/<topology name>)")
      ->envname("DINE_STATE_DIR");
}

}  // namespace

void setup_stack(CLI::App& app, Globals& g) {
  auto args = std::make_shared<StackArgs>();

  auto* up_cmd = app.add_subcommand("up", "start the local stack: PostgreSQL, Redis, every dine role, then nginx");
  add_state_dir(up_cmd, *args);
  up_cmd->footer("Example:\n  dine up && dine ps\n  dine --topology my.json up --state-dir /tmp/dine-state");
  up_cmd->callback([&g, args] {
    init_cli_logs(g);
    up(g, *args);
  });

  auto* down_cmd = app.add_subcommand("down", "stop everything 'dine up' started (data and logs are kept)");
  add_state_dir(down_cmd, *args);
  down_cmd->callback([&g, args] {
    init_cli_logs(g);
    down(g, *args);
  });

  auto* ps_cmd = app.add_subcommand("ps", "list the nodes of the local stack and their state");
  add_state_dir(ps_cmd, *args);
  ps_cmd->add_flag("--json", args->json, "print a JSON array instead of a table");
  ps_cmd->callback([&g, args] {
    init_cli_logs(g);
    ps(g, *args);
  });
}

}  // namespace dine::cli
