#include "monitor/health.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/topology.hpp"

namespace dine::monitor {
namespace {

int severity(State s) { return static_cast<int>(s); }

// The reasons stay worst first: the first one (the board's, the timeline's)
// is always one that gives the node its state.
void worse(Verdict& v, State s, std::string reason) {
  if (severity(s) > severity(v.state)) {
    v.state = s;
    v.reasons.insert(v.reasons.begin(), std::move(reason));
    return;
  }
  v.reasons.push_back(std::move(reason));
}

std::optional<double> figure(const Observation& o, const char* name) {
  auto it = o.figures.find(name);
  if (it == o.figures.end()) return std::nullopt;
  return it->second;
}

// value over red: red; over yellow: yellow.
void against(Verdict& v, std::optional<double> value, double yellow, double red, const std::string& what) {
  if (!value) return;
  if (*value > red) worse(v, State::Red, fmt::format("{} > {}", what, fmt::format("{:g}", red)));
  else if (*value > yellow) worse(v, State::Yellow, fmt::format("{} > {}", what, fmt::format("{:g}", yellow)));
}

}  // namespace

std::string shown(State s) {
  std::string out = to_string(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

const char* to_string(State s) {
  switch (s) {
    case State::Green: return "green";
    case State::Yellow: return "yellow";
    case State::Unknown: return "unknown";
    case State::Stale: return "stale";
    case State::Red: return "red";
    case State::Down: return "down";
    case State::Hung: return "hung";
  }
  return "unknown";
}

bool is_sick(State s) { return s == State::Red || s == State::Down || s == State::Hung; }

Verdict judge(const Observation& o, const Thresholds& t) {
  Verdict v{State::Green, {}};
  if (!o.reached) {
    worse(v, State::Down, "nothing accepts connections on its port");
    return v;
  }
  if (!o.answered) {
    worse(v, State::Hung, fmt::format("the port accepts but nothing answered in {:.0f} ms", o.took_ms));
    return v;
  }
  for (const auto& h : o.hung) worse(v, State::Hung, h);
  for (const auto& f : o.failures) worse(v, State::Red, f);
  for (const auto& w : o.warnings) worse(v, State::Yellow, w);
  if (auto p99 = figure(o, "p99_ms"))
    against(v, p99, t.p99_yellow_ms, t.p99_red_ms, fmt::format("p99 {:.0f} ms", *p99));
  if (auto e = figure(o, "error_rate"))
    against(v, e, t.error_yellow, t.error_red, fmt::format("errors {:.1f} %", *e * 100));
  auto busy = figure(o, "pool_busy"), size = figure(o, "pool_size");
  if (busy && size && *size > 0) {
    const double use = *busy / *size;
    // Every connection busy is red only while requests wait for one; busy
    // without a queue is a pool working hard, not failing.
    auto waiting = figure(o, "pool_waiting");
    const bool queued = waiting && *waiting > 0;
    if (use >= t.pool_red && queued)
      worse(v, State::Red, fmt::format("pool {:.0f}/{:.0f} busy, {:.0f} waiting", *busy, *size, *waiting));
    else if (use > t.pool_yellow) worse(v, State::Yellow, fmt::format("pool {:.0f}/{:.0f} busy", *busy, *size));
  }
  // The node's cap on requests in flight, as a pool: full is shedding load (503s).
  auto admitted = figure(o, "in_flight_admitted"), cap = figure(o, "in_flight_cap");
  if (admitted && cap && *cap > 0) {
    const double use = *admitted / *cap;
    if (use >= t.pool_red) worse(v, State::Red, fmt::format("in flight {:.0f}/{:.0f}: at the cap", *admitted, *cap));
    else if (use > t.pool_yellow) worse(v, State::Yellow, fmt::format("in flight {:.0f}/{:.0f}", *admitted, *cap));
  }
  if (auto lag = figure(o, "loop_lag_ms"))
    against(v, lag, t.loop_lag_yellow_ms, t.loop_lag_red_ms, fmt::format("event-loop lag {:.0f} ms", *lag));
  auto used = figure(o, "memory_used"), max = figure(o, "memory_max");
  if (used && max && *max > 0)
    against(v, *used / *max, t.memory_yellow, t.memory_red,
            fmt::format("memory {:.0f} % of max", 100 * *used / *max));
  if (auto age = figure(o, "pending_age_ms"))
    against(v, age, t.pending_age_yellow_ms, t.pending_age_red_ms,
            fmt::format("oldest pending entry {:.1f} s", *age / 1000));
  if (auto oldest = figure(o, "outbox_oldest_s"))
    against(v, oldest, t.outbox_oldest_yellow_s, t.outbox_oldest_red_s,
            fmt::format("oldest unsent outbox row {:.0f} s{}", *oldest,
                        o.where.count("outbox_oldest_s") ? " (" + o.where.at("outbox_oldest_s") + ")" : ""));
  if (auto lag = figure(o, "replication_lag_ms"))
    against(v, *lag / 1000, t.replication_lag_yellow_ms / 1000, t.replication_lag_red_ms / 1000,
            fmt::format("replication lag {:.1f} s", *lag / 1000));
  return v;
}

void NodeHealth::add(const Observation& o) {
  Verdict v = judge(o, *t_);
  rounds_.emplace_back(o, v);
  const std::size_t keep = static_cast<std::size_t>(std::max(t_->timeout_memory_rounds, t_->recover_rounds) + 1);
  while (rounds_.size() > keep) rounds_.pop_front();
  if (v.state == State::Green) {
    ++good_in_a_row_;
  } else {
    good_in_a_row_ = 0;
    if (is_sick(v.state)) was_sick_ = true;
  }
  if (was_sick_ && good_in_a_row_ >= t_->recover_rounds) was_sick_ = false;
}

Verdict NodeHealth::verdict(Clock::time_point now) const {
  if (rounds_.empty()) return {State::Unknown, {"not probed yet"}};
  const auto& [o, v] = rounds_.back();
  if (now - o.at > t_->stale_after)
    return {State::Stale, {fmt::format("no probe answer for {} ms",
                                       std::chrono::duration_cast<milliseconds>(now - o.at).count())}};
  if (is_sick(v.state)) return v;
  // A timeout in any of the last N rounds keeps it red.
  const int n = std::min<int>(t_->timeout_memory_rounds, static_cast<int>(rounds_.size()));
  for (int i = 1; i <= n; ++i) {
    const auto& [po, pv] = rounds_[rounds_.size() - static_cast<std::size_t>(i)];
    if (pv.state == State::Hung)
      return {State::Red, {fmt::format("timed out {} round(s) ago", i - 1)}};
  }
  if (was_sick_ && v.state == State::Green)
    return {State::Yellow, {fmt::format("recovering: {}/{} good rounds", good_in_a_row_, t_->recover_rounds)}};
  return v;
}

Thresholds thresholds_of(const Topology& topo) {
  Thresholds t;
  if (topo.health.empty()) return t;
  const nlohmann::json doc = nlohmann::json::parse(topo.health);
  config::Reader r(doc, topo.source, "health");
  auto num = [&](const char* key, double& field) {
    const nlohmann::json* v = r.get(key);
    if (!v) return;
    if (!v->is_number() || v->get<double>() < 0)
      r.fail(r.key(key), "must be a number at least 0", "write a figure, e.g. 500");
    field = v->get<double>();
  };
  num("p99_yellow_ms", t.p99_yellow_ms);
  num("p99_red_ms", t.p99_red_ms);
  num("error_yellow", t.error_yellow);
  num("error_red", t.error_red);
  num("pool_yellow", t.pool_yellow);
  num("pool_red", t.pool_red);
  num("loop_lag_yellow_ms", t.loop_lag_yellow_ms);
  num("loop_lag_red_ms", t.loop_lag_red_ms);
  num("memory_yellow", t.memory_yellow);
  num("memory_red", t.memory_red);
  num("pending_age_yellow_ms", t.pending_age_yellow_ms);
  num("pending_age_red_ms", t.pending_age_red_ms);
  num("outbox_oldest_yellow_s", t.outbox_oldest_yellow_s);
  num("outbox_oldest_red_s", t.outbox_oldest_red_s);
  num("replication_lag_yellow_ms", t.replication_lag_yellow_ms);
  num("replication_lag_red_ms", t.replication_lag_red_ms);
  t.timeout_memory_rounds = r.integer("timeout_memory_rounds", t.timeout_memory_rounds, 1, 100);
  t.recover_rounds = r.integer("recover_rounds", t.recover_rounds, 1, 100);
  t.stale_after = milliseconds(r.integer("stale_after_ms", static_cast<int>(t.stale_after.count()), 100, 600'000));
  r.reject_unknown();
  return t;
}

Graph graph_of(const Topology& topo) {
  Graph g;
  for (const Node& n : topo.nodes) g.uses[n.id] = n.uses_all();
  return g;
}

Diagnosis diagnose(const Graph& g, const std::map<std::string, State>& states) {
  auto state_of = [&](const std::string& id) {
    auto it = states.find(id);
    return it == states.end() ? State::Unknown : it->second;
  };
  // Who uses whom, reversed: node -> its dependents.
  std::map<std::string, std::vector<std::string>> dependents;
  for (const auto& [node, deps] : g.uses)
    for (const auto& d : deps) dependents[d].push_back(node);

  Diagnosis out;
  for (const auto& [node, st] : states) {
    if (!is_sick(st)) continue;
    bool deps_healthy = true;
    if (auto it = g.uses.find(node); it != g.uses.end())
      for (const auto& d : it->second) deps_healthy = deps_healthy && !is_sick(state_of(d));
    if (!deps_healthy) continue;
    RootCause c{node, st, {}};
    std::set<std::string> seen{node};
    std::vector<std::string> stack{node};
    while (!stack.empty()) {
      std::string at = stack.back();
      stack.pop_back();
      for (const auto& up : dependents[at]) {
        if (seen.count(up) || state_of(up) == State::Green) continue;
        seen.insert(up);
        c.affected.push_back(up);
        stack.push_back(up);
      }
    }
    std::sort(c.affected.begin(), c.affected.end());
    out.causes.push_back(std::move(c));
  }
  std::sort(out.causes.begin(), out.causes.end(), [](const RootCause& a, const RootCause& b) {
    if (a.affected.size() != b.affected.size()) return a.affected.size() > b.affected.size();
    if (a.state != b.state) return severity(a.state) > severity(b.state);
    return a.node < b.node;
  });
  for (const auto& c : out.causes)
    for (const auto& a : c.affected) out.affected_by.emplace(a, c.node);
  return out;
}

}  // namespace dine::monitor
