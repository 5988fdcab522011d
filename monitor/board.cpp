#include "monitor/board.hpp"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace dine::monitor {
namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const char* colour(State s) {
  switch (s) {
    case State::Green: return "\x1b[32m";
    case State::Yellow: return "\x1b[33m";
    case State::Red: return "\x1b[31m";
    case State::Down:
    case State::Hung: return "\x1b[97;41m";
    case State::Unknown:
    case State::Stale: return "\x1b[90m";
  }
  return "";
}


std::string cell(const NodeView& v, bool color, std::size_t& visible) {
  std::string text = fmt::format("{} {}", v.id, shown(v.verdict.state));
  if (auto k = key_figure(v); !k.empty()) text += " " + k;
  if (!v.affected_by.empty()) text += " \u2190 " + v.affected_by;
  if (v.root_cause) text += " \u2605";  // a root cause
  visible = text.size() + 2 - (v.affected_by.empty() ? 0 : 2) - (v.root_cause ? 2 : 0);  // arrows/stars: 1 column each
  std::string out = "[";
  if (color) out += colour(v.verdict.state);
  out += text;
  if (color) out += "\x1b[0m";
  out += "]";
  return out;
}

// The links, one line per group of nodes that use the same nodes:
// "app-1 app-2 → member-1 store-1 menu-1", the targets in their state's
// colour, wrapped to the width. A large topology shows only the links that
// touch a node that is not green.
std::string links(const Snapshot& s, int width, bool color) {
  std::map<std::string, State> state;
  for (const auto& v : s.nodes) state[v.id] = v.verdict.state;
  const bool only_sick = s.nodes.size() > 40;
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> groups;  // (users, targets)
  std::vector<const NodeView*> top_down;
  for (Layer l : {Layer::Gateway, Layer::App, Layer::Services, Layer::Queues, Layer::Data})
    for (const auto& v : s.nodes)
      if (v.layer == l) top_down.push_back(&v);
  for (const NodeView* n : top_down) {
    const NodeView& v = *n;
    if (v.uses.empty()) continue;
    if (only_sick) {
      bool sick = state[v.id] != State::Green;
      for (const auto& u : v.uses) sick = sick || state[u] != State::Green;
      if (!sick) continue;
    }
    std::vector<std::string> targets = v.uses;
    std::sort(targets.begin(), targets.end());
    auto same = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.second == targets; });
    if (same == groups.end()) groups.push_back({{v.id}, targets});
    else same->first.push_back(v.id);
  }
  if (groups.empty()) return "";
  std::string out = only_sick ? "\nlinks touching a node that is not green:\n" : "\nlinks (a node \u2192 what it uses):\n";
  for (const auto& [users, targets] : groups) {
    std::string line = " ";
    std::size_t used = 1;
    auto word = [&](const std::string& w, const char* paint) {
      if (used + w.size() + 1 > static_cast<std::size_t>(width) && used > 4) {
        out += line + "\n";
        line = "     ";
        used = line.size();
      }
      line += " " + (paint ? std::string(paint) + w + "\x1b[0m" : w);
      used += w.size() + 1;
    };
    for (const auto& u : users) word(u, nullptr);
    word("\u2192", nullptr);
    used -= 2;  // the arrow is one column
    for (const auto& t : targets) word(t, color ? colour(state.count(t) ? state[t] : State::Unknown) : nullptr);
    out += line + "\n";
  }
  return out;
}

// The gateways' interfaces (Snapshot::interfaces), the busiest first.
std::string interfaces(const Snapshot& s, std::size_t lines) {
  const std::vector<Interface>& all = s.interfaces;
  if (all.empty()) return "";
  std::string out = fmt::format("\ninterfaces (the gateways' access logs, last seconds):\n  {:<32} {:>8} {:>9} {:>6} {:>6} {:>7}\n",
                                "ROUTE", "REQ/S", "KB/S OUT", "5XX/S", "429/S", "P99 MS");
  for (std::size_t k = 0; k < all.size() && k < lines; ++k) {
    const Interface& i = all[k];
    std::string route = i.route.size() > 32 ? i.route.substr(0, 31) + "~" : i.route;
    out += fmt::format("  {:<32} {:>8.1f} {:>9.1f} {:>6.1f} {:>6.1f} {:>7.0f}\n", route, i.requests_per_s,
                       i.bytes_out_per_s / 1024, i.status_5xx_per_s, i.rate_limited_per_s, i.p99_ms);
  }
  if (all.size() > lines) out += fmt::format("  ({} more)\n", all.size() - lines);
  return out;
}

}  // namespace

std::string render_board(const Snapshot& s, const std::string& topology, int width, bool color,
                         std::size_t timeline_lines) {
  width = std::max(width, 80);
  std::string out = fmt::format("dine health \u2014 topology '{}' \u2014 round {} \u2014 worst {}\n", topology, s.round,
                                shown(s.worst));
  out += s.headline() + "\n\n";
  for (Layer l : {Layer::Gateway, Layer::App, Layer::Services, Layer::Queues, Layer::Data}) {
    std::vector<const NodeView*> here;
    for (const auto& v : s.nodes)
      if (v.layer == l) here.push_back(&v);
    if (here.empty()) continue;
    const std::string label = fmt::format("{:<9}", upper(to_string(l)));
    std::string line = label;
    std::size_t used = label.size();
    for (const NodeView* v : here) {
      std::size_t vis = 0;
      std::string c = cell(*v, color, vis);
      if (used + vis + 1 > static_cast<std::size_t>(width) && used > label.size()) {
        out += line + "\n";
        line = std::string(label.size(), ' ');
        used = label.size();
      }
      line += " " + c;
      used += vis + 1;
    }
    out += line + "\n";
    if (l != Layer::Data) out += fmt::format("{:>9}\n", "\u2502");
  }
  out += links(s, width, color);
  out += interfaces(s, 6);
  if (!s.timeline.empty()) {
    out += "\ntimeline:\n";
    const std::size_t from = s.timeline.size() > timeline_lines ? s.timeline.size() - timeline_lines : 0;
    for (std::size_t i = from; i < s.timeline.size(); ++i) {
      const Change& c = s.timeline[i];
      std::string line = fmt::format("  {:%H:%M:%S}  {:<14} {} \u2192 {}  {}", std::chrono::floor<std::chrono::seconds>(c.at),
                                     c.node, to_string(c.from), to_string(c.to), c.reason);
      if (line.size() > static_cast<std::size_t>(width)) line.resize(static_cast<std::size_t>(width));
      out += line + "\n";
    }
  }
  return out;
}

}  // namespace dine::monitor
