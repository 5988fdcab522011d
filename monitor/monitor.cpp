#include "monitor/monitor.hpp"


#include <algorithm>
#include <stdexcept>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "core/http/client.hpp"
#include "core/topology.hpp"

namespace dine::monitor {

struct Monitor::Site {
  const Node* node;
  NodeHealth health;
  ProbeMemory memory;
  Observation pending;  // this round's, judged once every probe of the round has answered
  Site(const Node* n, const Thresholds& t) : node(n), health(t) {}
};

namespace {

// (A coroutine of its own: a lambda coroutine spawned in place would outlive its captures.)
Task<void> probe_one(const Topology& topo, http::Client& client, Observation& out, ProbeMemory& memory,
                     const Node& n, ProbeOptions o, int& left, asio::steady_timer& done) {
  out = co_await probe(topo, client, n, memory, o);
  if (--left == 0) done.cancel();
}


}  // namespace

void add_role_pools(std::vector<std::pair<const Node*, Observation*>>& round) {
  for (auto& [node, obs] : round) {
    if (node->kind != NodeKind::Postgres || !obs->reached || !obs->answered) continue;
    PoolUse sum;
    std::string queued;
    for (auto& [user, uobs] : round) {
      auto it = uobs->pools.find(node->id);
      if (it == uobs->pools.end()) continue;
      sum.busy += it->second.busy;
      sum.size += it->second.size;
      sum.waiting += it->second.waiting;
      if (it->second.waiting > 0) queued += (queued.empty() ? "" : ", ") + user->id;
    }
    if (sum.size == 0) continue;
    obs->figures["role_pool_busy"] = sum.busy;
    obs->figures["role_pool_size"] = sum.size;
    obs->figures["role_pool_waiting"] = sum.waiting;
    if (sum.waiting > 0 && sum.busy >= sum.size)
      obs->warnings.push_back(fmt::format("the roles' pools to it {:.0f}/{:.0f} busy, {:.0f} waiting ({})", sum.busy,
                                          sum.size, sum.waiting, queued));
  }
}

std::string key_figure(const NodeView& v) {
  auto f = [&](const char* k) -> const double* {
    auto it = v.figures.find(k);
    return it == v.figures.end() ? nullptr : &it->second;
  };
  if (v.verdict.state == State::Hung || v.verdict.state == State::Down || v.verdict.state == State::Unknown ||
      v.verdict.state == State::Stale)
    return "";
  if (const double* rps = f("requests_per_s"); rps && *rps > 0) return fmt::format("{:.0f} req/s", *rps);
  if (const double* p = f("p99_ms")) return fmt::format("p99 {:.0f}ms", *p);
  if (const double* c = f("connections"); c && f("max_connections"))
    return fmt::format("{:.0f}/{:.0f} conn", *c, *f("max_connections"));
  if (const double* m = f("memory_used"); m && f("memory_max"))
    return fmt::format("mem {:.0f}%", 100 * *m / *f("memory_max"));
  return fmt::format("{:.0f}ms", v.took_ms);
}

const char* to_string(Layer l) {
  switch (l) {
    case Layer::Gateway: return "gateway";
    case Layer::App: return "app";
    case Layer::Services: return "services";
    case Layer::Queues: return "queues";
    case Layer::Data: return "data";
  }
  return "data";
}

Layer layer_of(const Node& n) {
  switch (n.kind) {
    case NodeKind::Nginx: return Layer::Gateway;
    case NodeKind::Dine: return n.role == "app" ? Layer::App : Layer::Services;
    case NodeKind::Redis: return n.appendonly ? Layer::Queues : Layer::Data;
    case NodeKind::Postgres: return Layer::Data;
  }
  return Layer::Data;
}

Monitor::Monitor(const Topology& topo, Thresholds t, ProbeOptions o)
    : topo_(topo), thresholds_(t), options_(o), graph_(graph_of(topo)) {
  for (const Node& n : topo.nodes) sites_.push_back(std::make_unique<Site>(&n, thresholds_));
}

Monitor::~Monitor() = default;

Task<void> Monitor::round() {
  auto ex = co_await asio::this_coro::executor;
  // One client for every round, on the caller's loop: a probe reuses its
  // node's keep-alive connection. A request that times out closes its
  // connection (the next round connects afresh: a node that accepts and does
  // not answer is found each time); a connection the peer closed is dropped
  // before use, so a dead node's refused reconnect reads DOWN.
  if (!client_) {
    http::ClientOptions co;
    co.timeout = options_.deadline;
    co.retries = 0;
    co.max_connections_per_host = 4;
    // Below every node's own keep-alive timeout, as the nodes' clients are.
    for (const Node& n : topo_.nodes) co.idle_timeout = std::min(co.idle_timeout, milliseconds(n.limits.client_idle_ms()));
    client_ = std::make_unique<http::Client>(ex, co);
    client_loop_ = ex;
  } else if (client_loop_ != ex) {
    throw std::logic_error("Monitor::round on another event loop than its first round's");
  }
  http::Client& client = *client_;
  int left = static_cast<int>(sites_.size());
  asio::steady_timer done(ex, Clock::time_point::max());
  for (auto& s : sites_)
    spawn_logged(ex, probe_one(topo_, client, s->pending, s->memory, *s->node, options_, left, done),
                 "probe " + s->node->id);
  while (left > 0) {
    boost::system::error_code ec;
    co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::vector<std::pair<const Node*, Observation*>> observed;
  for (auto& s : sites_) observed.emplace_back(s->node, &s->pending);
  add_role_pools(observed);
  for (auto& s : sites_) s->health.add(s->pending);
  ++rounds_;
  const auto now = Clock::now();
  for (auto& s : sites_) {
    const State st = s->health.verdict(now).state;
    auto it = last_state_.find(s->node->id);
    const State before = it == last_state_.end() ? State::Unknown : it->second;
    // A change, or a first sight that is not green (the board's start is no event).
    if ((it == last_state_.end() && st != State::Green) || (it != last_state_.end() && before != st)) {
      Verdict v = s->health.verdict(now);
      timeline_.push_back({std::chrono::system_clock::now(), s->node->id, before, st,
                           v.reasons.empty() ? "" : v.reasons.front()});
      while (timeline_.size() > 200) timeline_.pop_front();
    }
    last_state_[s->node->id] = st;
  }
}

std::vector<Interface> sum_interfaces(const std::vector<NodeView>& nodes) {
  std::vector<Interface> out;
  for (const auto& v : nodes)
    for (const auto& i : v.interfaces) {
      auto same = std::find_if(out.begin(), out.end(),
                               [&](const Interface& a) { return a.route == i.route; });
      if (same == out.end()) {
        out.push_back(i);
        continue;
      }
      same->requests_per_s += i.requests_per_s;
      same->bytes_out_per_s += i.bytes_out_per_s;
      same->status_5xx_per_s += i.status_5xx_per_s;
      same->rate_limited_per_s += i.rate_limited_per_s;
      same->p99_ms = std::max(same->p99_ms, i.p99_ms);
    }
  std::stable_sort(out.begin(), out.end(),
                   [](const Interface& a, const Interface& b) { return a.requests_per_s > b.requests_per_s; });
  return out;
}

Snapshot Monitor::snapshot() const {
  Snapshot snap;
  snap.round = rounds_;
  const auto now = Clock::now();
  std::map<std::string, State> states;
  for (const auto& s : sites_) {
    NodeView v;
    v.id = s->node->id;
    v.kind = to_string(s->node->kind);
    v.role = s->node->role;
    v.layer = layer_of(*s->node);
    if (auto it = graph_.uses.find(v.id); it != graph_.uses.end()) v.uses = it->second;
    v.verdict = s->health.verdict(now);
    if (const Observation* o = s->health.last()) {
      v.figures = o->figures;
      v.interfaces = o->interfaces;
      v.took_ms = o->took_ms;
    }
    states[v.id] = v.verdict.state;
    if (static_cast<int>(v.verdict.state) > static_cast<int>(snap.worst)) snap.worst = v.verdict.state;
    snap.nodes.push_back(std::move(v));
  }
  snap.diagnosis = diagnose(graph_, states);
  for (auto& v : snap.nodes) {
    for (const auto& c : snap.diagnosis.causes) v.root_cause = v.root_cause || c.node == v.id;
    if (auto it = snap.diagnosis.affected_by.find(v.id); it != snap.diagnosis.affected_by.end())
      v.affected_by = it->second;
  }
  snap.timeline.assign(timeline_.begin(), timeline_.end());
  snap.interfaces = sum_interfaces(snap.nodes);
  return snap;
}

std::string Snapshot::headline() const {
  const Snapshot& s = *this;
  if (s.diagnosis.causes.empty()) {
    bool sick = false;
    for (const auto& v : s.nodes) sick = sick || is_sick(v.verdict.state);
    return sick ? "no single root cause: every sick node has a sick dependency" : "no root cause: nothing is sick";
  }
  const RootCause& c = s.diagnosis.causes.front();
  std::string why;
  for (const auto& v : s.nodes)
    if (v.id == c.node && !v.verdict.reasons.empty()) why = " (" + v.verdict.reasons.front() + ")";
  std::string line = fmt::format("root cause: {} {}{} \u2192 {} node{} affected", c.node, shown(c.state),
                                 why, c.affected.size(), c.affected.size() == 1 ? "" : "s");
  if (s.diagnosis.causes.size() > 1) {
    line += "; also";
    for (std::size_t i = 1; i < s.diagnosis.causes.size() && i < 4; ++i)
      line += fmt::format(" {} ({})", s.diagnosis.causes[i].node, s.diagnosis.causes[i].affected.size());
  }
  return line;
}

namespace {

nlohmann::json interfaces_json(const std::vector<Interface>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& i : list)
    out.push_back({{"route", i.route},
                   {"requests_per_s", i.requests_per_s},
                   {"bytes_out_per_s", i.bytes_out_per_s},
                   {"status_5xx_per_s", i.status_5xx_per_s},
                   {"rate_limited_per_s", i.rate_limited_per_s},
                   {"p99_ms", i.p99_ms}});
  return out;
}

}  // namespace

nlohmann::json Snapshot::to_json() const {
  using nlohmann::json;
  json nodes_json = json::array();
  for (const auto& v : nodes) {
    nodes_json.push_back({{"id", v.id},
                          {"kind", v.kind},
                          {"role", v.role.empty() ? json(nullptr) : json(v.role)},
                          {"layer", to_string(v.layer)},
                          {"state", to_string(v.verdict.state)},
                          {"reasons", v.verdict.reasons},
                          {"figures", v.figures},
                          {"probe_ms", v.took_ms},
                          {"key_figure", key_figure(v)},
                          {"root_cause", v.root_cause},
                          {"affected_by", v.affected_by.empty() ? json(nullptr) : json(v.affected_by)},
                          {"uses", v.uses}});
    if (v.kind != "nginx") continue;
    nodes_json.back()["interfaces"] = interfaces_json(v.interfaces);  // a gateway's, busiest first
  }
  json causes = json::array();
  for (const auto& c : diagnosis.causes)
    causes.push_back({{"node", c.node}, {"state", to_string(c.state)}, {"affected", c.affected}});
  json changes = json::array();
  for (const auto& c : timeline)
    changes.push_back({{"at", fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::seconds>(c.at))},
                       {"node", c.node},
                       {"from", to_string(c.from)},
                       {"to", to_string(c.to)},
                       {"reason", c.reason}});
  return {{"nodes", nodes_json},
          {"summary",
           {{"worst", to_string(worst)},
            {"headline", headline()},
            {"root_causes", causes},
            {"round", round},
            {"interfaces", interfaces_json(interfaces)}}},
          {"timeline", changes}};
}

int Snapshot::exit_code() const {
  bool unknown = false, yellow = false;
  for (const auto& v : nodes) {
    if (is_sick(v.verdict.state)) return 2;
    unknown = unknown || v.verdict.state == State::Unknown || v.verdict.state == State::Stale;
    yellow = yellow || v.verdict.state == State::Yellow;
  }
  return unknown ? 3 : yellow ? 1 : 0;
}

}  // namespace dine::monitor
