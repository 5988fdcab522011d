// dine stream redrive --stream S: dead letters of S (S:dead) go back onto S,
// on the Redis node the topology says carries S. See docs/redis.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "server/registry.hpp"

namespace dine::cli {
namespace {

struct StreamArgs {
  std::string stream;
  std::string redis;  // --redis NODE: which node carries the stream, when the topology cannot say
  int max = 1000;
  bool json = false;
};

std::string redis_node_ids(const Topology& topo) {
  std::string s;
  for (const Node& n : topo.nodes)
    if (n.kind == NodeKind::Redis) s += (s.empty() ? "" : ", ") + n.id;
  return s.empty() ? "(none)" : s;
}

// The node named by --redis, else the one node the roles' declarations point at.
const Node& stream_node(const Topology& topo, const StreamArgs& a) {
  if (!a.redis.empty()) {
    const Node* n = topo.find(a.redis);
    if (!n || n->kind != NodeKind::Redis)
      throw Failure{fmt::format("--redis {}: {} has no redis node of that name; fix: use one of: {}", a.redis,
                                topo.source, redis_node_ids(topo)), 2};
    return *n;
  }
  auto homes = stream_homes(topo, server::find_role, a.stream);
  if (homes.empty())
    throw Failure{fmt::format("no role of {} reads or writes stream {}; fix: check the name, or say where it is "
                              "with --redis NODE (one of: {})", topo.source, a.stream, redis_node_ids(topo)), 2};
  if (homes.size() > 1) {
    std::string list;
    for (const auto& h : homes) list += fmt::format("\n  {} ({}): {}", h.redis->id, h.redis->address(), h.why.front());
    throw Failure{fmt::format("stream {} may be on {} redis nodes:{}\nfix: name one with --redis NODE", a.stream,
                              homes.size(), list), 2};
  }
  return *homes.front().redis;
}

void redrive(const Globals& g, const StreamArgs& a) {
  if (a.stream.empty()) throw Failure{"--stream is empty; fix: name the stream, e.g. --stream dine:orders", 2};
  if (a.stream.ends_with(":dead"))
    throw Failure{fmt::format("--stream {} is a dead-letter stream; fix: name the stream its letters go back to: "
                              "--stream {}", a.stream, a.stream.substr(0, a.stream.size() - 5)), 2};
  Topology topo = load_topology(g.topology_path);
  server::check_topology(topo);
  const Node& node = stream_node(topo, a);
  std::string dead = a.stream + ":dead";
  StreamRedrive r = redrive_stream(node, a.stream, dead, a.max);
  if (!r.stream_exists && !r.dead_exists)
    throw Failure{fmt::format("{} ({}) has neither {} nor {}; fix: check the stream name{}", node.id,
                              node.address(), a.stream, dead,
                              a.redis.empty() ? ", or name another node with --redis NODE" : ""), 2};
  if (a.json) {
    fmt::print("{}\n", nlohmann::json{{"node", node.id}, {"address", node.address()}, {"stream", a.stream},
                                      {"dead_stream", dead}, {"moved", r.moved}, {"left", r.left}}.dump(2));
    return;
  }
  fmt::print("moved {} dead letter(s) from {} back to {} on {} ({}); {} left\n", r.moved, dead, a.stream, node.id,
             node.address(), r.left);
  if (r.left > 0 && r.moved >= a.max) fmt::print("run it again (or raise --max) to move the rest\n");
  else if (r.left > 0) fmt::print("the ones left carry no fields of their own to send back\n");
}

}  // namespace

void setup_stream(CLI::App& app, Globals& g) {
  auto* stream = app.add_subcommand("stream", "the Redis event streams (docs/redis.md)");
  stream->require_subcommand(1);
  auto a = std::make_shared<StreamArgs>();
  auto* r = stream->add_subcommand(
      "redrive", "move dead letters of a stream (STREAM:dead) back onto it: every group of the stream sees them "
                 "again, under new ids");
  r->add_option("--stream", a->stream, "the stream, e.g. dine:orders")->required();
  r->add_option("--max", a->max, "move at most this many (oldest first)")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  r->add_option("--redis", a->redis, "the redis node that carries the stream (when the topology cannot tell)");
  r->add_flag("--json", a->json, "print the result as JSON");
  r->footer("Examples:\n"
            "  dine stream redrive --stream dine:orders            after the consumer's bug is fixed\n"
            "  dine stream redrive --stream dine:orders --max 10 --json");
  r->callback([&g, a] {
    init_cli_logs(g);
    redrive(g, *a);
  });
}

}  // namespace dine::cli
