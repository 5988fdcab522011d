#pragma once
// Health scoring and root-cause ranking for `dine health` (issue 8): pure
// logic, no sockets. Probes (monitor/probes, next) turn each node's answers
// into an Observation per round; here a round is judged, a node's rounds are
// smoothed into its state (no flapping, no stale data shown green), and the
// states of the topology's nodes are ranked into root causes.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dine {
struct Topology;
}

namespace dine::monitor {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Worst last: an order used for the summary's "worst state".
enum class State { Green, Yellow, Unknown, Stale, Red, Down, Hung };
const char* to_string(State s);
std::string shown(State s);  // as boards show it: "HUNG"
// Red, Down and Hung: the node fails its dependents.
bool is_sick(State s);

// A gateway's figures for one interface (a route pattern of its access log)
// over the probe's window.
struct Interface {
  std::string route;
  double requests_per_s = 0, bytes_out_per_s = 0, status_5xx_per_s = 0, rate_limited_per_s = 0, p99_ms = 0;
};

// A dine node's PostgreSQL pools to one server, summed over its workers.
struct PoolUse {
  double busy = 0, size = 0, waiting = 0;  // size: what the pools may open
};

// One probe round of one node.
struct Observation {
  Clock::time_point at;
  bool reached = true;   // the port accepted a connection (false: down, nobody listens)
  bool answered = true;  // it answered within the probe's deadline (false with reached: hung)
  double took_ms = 0;    // the probe's time
  // Figures the probe read, by name: "p99_ms", "error_rate" (0..1),
  // "pool_busy" and "pool_size", "loop_lag_ms", "memory_used" and
  // "memory_max" (bytes), "stream_lag", "pending_age_ms", "outbox_oldest_s",
  // "replication_lag_ms"...
  std::map<std::string, double> figures;
  std::vector<std::string> failures;  // red reasons the probe saw itself ("/readyz 503 db_unavailable")
  std::vector<std::string> warnings;  // yellow reasons ("degraded: pg-order-2 down")
  std::vector<std::string> hung;      // HUNG reasons the probe saw ("worker 1 stalled 2300 ms": a wedged thread)
  std::vector<Interface> interfaces;  // a gateway's: per route, busiest first
  std::map<std::string, PoolUse> pools;  // a dine node's, by PostgreSQL node
  // Where a figure comes from, when it is the worst of several: "outbox_oldest_s" -> "pg-order-2".
  std::map<std::string, std::string> where;
};

// Thresholds, from the topology's "health" section (defaults here).
struct Thresholds {
  double p99_yellow_ms = 200, p99_red_ms = 500;
  double error_yellow = 0.01, error_red = 0.05;
  double pool_yellow = 0.8, pool_red = 1.0;     // busy / size
  double loop_lag_yellow_ms = 50, loop_lag_red_ms = 250;
  double memory_yellow = 0.8, memory_red = 0.95;  // used / max
  double pending_age_yellow_ms = 5'000, pending_age_red_ms = 30'000;
  double outbox_oldest_yellow_s = 5, outbox_oldest_red_s = 30;
  double replication_lag_yellow_ms = 1'000, replication_lag_red_ms = 10'000;  // a replica behind its primary
  int timeout_memory_rounds = 3;  // a timeout in any of the last N rounds keeps the node red
  int recover_rounds = 3;         // good rounds in a row before a sick node shows green again
  milliseconds stale_after{3000};  // no round newer than this: STALE, never green
};

// The topology's "health" section over the defaults: every key optional,
// unknown keys refused (config::Reader's errors name the file, key and fix).
Thresholds thresholds_of(const Topology& topo);

struct Verdict {
  State state = State::Unknown;
  std::vector<std::string> reasons;  // "p99 820 ms > 500 ms", "pool 16/16 busy"
};

// One round alone.
Verdict judge(const Observation& o, const Thresholds& t);

// A node's recent rounds, smoothed:
// - HUNG (port accepts, no answer) and DOWN (nothing listens) as they come;
// - a timeout in any of the last timeout_memory_rounds rounds keeps it red;
// - after red, green only after recover_rounds good rounds in a row (until
//   then yellow, "recovering 1/3");
// - no round newer than stale_after: STALE; no round at all: UNKNOWN.
class NodeHealth {
 public:
  explicit NodeHealth(const Thresholds& t) : t_(&t) {}
  void add(const Observation& o);
  Verdict verdict(Clock::time_point now) const;
  const Observation* last() const { return rounds_.empty() ? nullptr : &rounds_.back().first; }

 private:
  const Thresholds* t_;
  std::deque<std::pair<Observation, Verdict>> rounds_;  // newest last
  int good_in_a_row_ = 0;
  bool was_sick_ = false;
};

// The topology's dependency graph: each node and the nodes it uses.
struct Graph {
  std::map<std::string, std::vector<std::string>> uses;
};
// From a topology: every node, with the nodes under its "uses" (dine and nginx nodes).
Graph graph_of(const Topology& topo);

struct RootCause {
  std::string node;
  State state = State::Red;
  std::vector<std::string> affected;  // non-green nodes downstream of it
};

struct Diagnosis {
  std::vector<RootCause> causes;                   // most affected first
  std::map<std::string, std::string> affected_by;  // node -> the first ranked cause it is downstream of
};

// A root-cause candidate is a sick node (red, down, hung) none of whose own
// dependencies is sick. The nodes downstream of it (those that use it,
// transitively) that are not green are "affected by" it; the walk does not
// pass through a green node (one that copes is never labelled, nor is what
// sits behind it). Candidates are ranked by how many nodes they affect, then
// by severity (hung, down, red), then by id.
Diagnosis diagnose(const Graph& g, const std::map<std::string, State>& states);

}  // namespace dine::monitor
