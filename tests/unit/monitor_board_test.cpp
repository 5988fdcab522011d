// The terminal board: the root-cause line first, every node in its layer with
// its state, wrapped to the width, colours only when asked; the exit code by
// the worst state.
#include <gtest/gtest.h>

#include <sstream>

#include "monitor/board.hpp"

namespace dine::monitor {
namespace {

NodeView node(std::string id, Layer l, State s) {
  NodeView v;
  v.id = std::move(id);
  v.layer = l;
  v.verdict.state = s;
  return v;
}

Snapshot platform(State cache) {
  Snapshot s;
  s.nodes = {node("gw-1", Layer::Gateway, State::Green), node("app-1", Layer::App, State::Green),
             node("menu-1", Layer::Services, cache == State::Green ? State::Green : State::Yellow),
             node("redis-cache", Layer::Data, cache)};
  s.nodes.back().verdict.reasons = {"the port accepts but nothing answered in 800 ms"};
  Graph g;
  g.uses = {{"gw-1", {"app-1"}}, {"app-1", {"menu-1"}}, {"menu-1", {"redis-cache"}}, {"redis-cache", {}}};
  std::map<std::string, State> st;
  for (auto& v : s.nodes) {
    st[v.id] = v.verdict.state;
    if (static_cast<int>(v.verdict.state) > static_cast<int>(s.worst)) s.worst = v.verdict.state;
  }
  s.diagnosis = diagnose(g, st);
  for (auto& v : s.nodes) {
    if (auto it = s.diagnosis.affected_by.find(v.id); it != s.diagnosis.affected_by.end()) v.affected_by = it->second;
    v.uses = g.uses[v.id];
  }
  return s;
}

TEST(MonitorBoard, TheRootCauseLineComesFirstAndNamesTheReach) {
  Snapshot s = platform(State::Hung);
  EXPECT_EQ(s.headline(),
            "root cause: redis-cache HUNG (the port accepts but nothing answered in 800 ms) \u2192 1 node affected");
  std::string board = render_board(s, "local", 80, false);
  EXPECT_NE(board.find("root cause: redis-cache HUNG"), std::string::npos) << board;
  EXPECT_NE(board.find("[menu-1 YELLOW"), std::string::npos) << board;
  EXPECT_NE(board.find("\u2190 redis-cache"), std::string::npos) << board;
  EXPECT_NE(board.find("  app-1 \u2192 menu-1\n"), std::string::npos) << "the links: " << board;
  EXPECT_NE(board.find("  menu-1 \u2192 redis-cache\n"), std::string::npos) << board;
  EXPECT_EQ(board.find("interfaces"), std::string::npos) << "no gateway figures, no table";
  s.nodes[0].interfaces = {{"GET /api/v1/stores", 10, 2048, 0, 0, 12}, {"POST /api/v1/orders", 40, 4096, 1, 2, 80}};
  Snapshot two = s;
  two.nodes[1].interfaces = {{"POST /api/v1/orders", 20, 1024, 0, 0, 120}};  // a second gateway, say
  two.interfaces = sum_interfaces(two.nodes);
  board = render_board(two, "local", 80, false);
  // A table row's words, from the row that starts with `route`.
  auto row = [&](const std::string& route) {
    const auto at = board.find("\n  " + route + " ");
    if (at == std::string::npos) return std::string("(none)");
    std::istringstream line(board.substr(at + 1, board.find('\n', at + 1) - at - 1));
    std::string words, w;
    while (line >> w) words += (words.empty() ? "" : " ") + w;
    return words;
  };
  EXPECT_EQ(row("POST"), "POST /api/v1/orders 60.0 5.0 1.0 2.0 120") << "summed over the gateways, the worst p99";
  EXPECT_EQ(row("GET"), "GET /api/v1/stores 10.0 2.0 0.0 0.0 12") << board;
  const auto orders = board.find("POST /api/v1/orders"), stores = board.find("GET /api/v1/stores");
  EXPECT_LT(orders, stores) << "the busiest first";
  EXPECT_EQ(board.find("\x1b["), std::string::npos) << "no colour unless asked";
  EXPECT_NE(render_board(s, "local", 80, true).find("\x1b[97;41m"), std::string::npos);
  EXPECT_EQ(s.exit_code(), 2);
  EXPECT_EQ(platform(State::Green).headline(), "no root cause: nothing is sick");
  EXPECT_EQ(platform(State::Green).exit_code(), 0);
}

TEST(MonitorBoard, LayersWrapToTheWidth) {
  Snapshot s;
  for (int i = 0; i < 12; ++i) s.nodes.push_back(node("order-" + std::to_string(i), Layer::Services, State::Green));
  std::string board = render_board(s, "local", 80, false);
  std::size_t start = 0;
  while (start < board.size()) {
    std::size_t end = board.find('\n', start);
    std::string line = board.substr(start, end - start);
    EXPECT_LE(line.size(), 80u) << line;
    start = end + 1;
  }
  EXPECT_NE(board.find("order-11"), std::string::npos);
}

TEST(MonitorBoard, ExitCodesFollowTheWorstState) {
  Snapshot s;
  s.nodes = {node("a", Layer::Data, State::Green), node("b", Layer::Data, State::Yellow)};
  EXPECT_EQ(s.exit_code(), 1);
  s.nodes.push_back(node("c", Layer::Data, State::Stale));
  EXPECT_EQ(s.exit_code(), 3);
  s.nodes.push_back(node("d", Layer::Data, State::Down));
  EXPECT_EQ(s.exit_code(), 2);
}

}  // namespace
}  // namespace dine::monitor
