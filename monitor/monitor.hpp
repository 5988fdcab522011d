#pragma once
// The rounds of `dine health`: every node of the topology probed in parallel,
// each under its own deadline, its rounds smoothed into a state, the states
// ranked into root causes, state changes kept as a timeline. One Monitor per
// `dine health` process, driven from one event loop.
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "monitor/health.hpp"
#include "monitor/probes.hpp"  // and core/fwd.hpp

namespace dine::monitor {

// Where a node sits on the board, top to bottom.
enum class Layer { Gateway, App, Services, Queues, Data };
const char* to_string(Layer l);
Layer layer_of(const Node& n);

struct NodeView {
  std::string id, kind, role;
  Layer layer = Layer::Data;
  Verdict verdict;
  std::map<std::string, double> figures;
  std::vector<Interface> interfaces;  // a gateway's, per route
  double took_ms = 0;
  bool root_cause = false;
  std::string affected_by;  // "" unless downstream of a ranked root cause
  std::vector<std::string> uses;  // its dependencies (the topology's "uses"): the web board's links
};

// The one figure a node's cell shows ("180 req/s", "p99 25ms", "12/200 conn",
// "mem 1%", else the probe's time; "" when hung, down or without data): the
// terminal board's and, through the JSON's key_figure, the web board's.
std::string key_figure(const NodeView& v);

// The gateways' interfaces summed over the gateways (p99: the worst
// gateway's), the busiest first.
std::vector<Interface> sum_interfaces(const std::vector<NodeView>& nodes);

// The roles' own pools to each PostgreSQL node, from their /metrics of one
// round, onto that node's observation: `role_pool_busy`, `role_pool_size`,
// `role_pool_waiting`; all busy with callers waiting is a warning there
// (naming the nodes that wait), the database being where their requests queue.
void add_role_pools(std::vector<std::pair<const Node*, Observation*>>& round);

struct Change {
  std::chrono::system_clock::time_point at;
  std::string node;
  State from, to;
  std::string reason;
};

struct Snapshot {
  std::vector<NodeView> nodes;  // topology order
  Diagnosis diagnosis;
  State worst = State::Green;
  std::vector<Change> timeline;  // oldest first, the last few
  // The gateways' interfaces summed over the gateways (p99: the worst
  // gateway's), the busiest first.
  std::vector<Interface> interfaces;
  int round = 0;

  // "root cause: redis-cache HUNG (...) → 6 nodes affected", or "no root
  // cause: ...": the first line of the terminal board, the web board and
  // the JSON's summary.headline.
  std::string headline() const;
  nlohmann::json to_json() const;
  // 2 if any node is red, down or hung; else 3 if any is unknown or stale;
  // else 1 if any is yellow; else 0.
  int exit_code() const;
};

class Monitor {
 public:
  Monitor(const Topology& topo, Thresholds t, ProbeOptions o = {});
  ~Monitor();

  // One round: probes every node in parallel; returns when all have answered
  // or given up (each within its deadline). Every round runs on the same
  // event loop, which outlives the Monitor: the HTTP probes keep their
  // connections on it from round to round (a std::logic_error otherwise).
  Task<void> round();
  Snapshot snapshot() const;

 private:
  struct Site;
  const Topology& topo_;
  Thresholds thresholds_;
  ProbeOptions options_;
  Graph graph_;
  std::vector<std::unique_ptr<Site>> sites_;
  // The dine and nginx probes' connections, kept alive across rounds; made by
  // the first round on its loop. (PostgreSQL and Redis: fresh each round.)
  std::unique_ptr<http::Client> client_;
  asio::any_io_executor client_loop_;
  std::deque<Change> timeline_;
  std::map<std::string, State> last_state_;
  int rounds_ = 0;
};

}  // namespace dine::monitor
