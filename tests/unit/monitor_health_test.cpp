// Health scoring and root-cause ranking (monitor/health): a round judged by
// its figures; timeouts remembered for three rounds; green only after three
// good rounds; no fresh data never green; the root cause is the sick node
// whose own dependencies are healthy, and a node that copes is never
// labelled affected.
#include <gtest/gtest.h>

#include "core/topology.hpp"
#include "monitor/health.hpp"
#include "monitor/monitor.hpp"

namespace dine::monitor {
namespace {

Observation at(Clock::time_point t) {
  Observation o;
  o.at = t;
  return o;
}

TEST(MonitorHealth, ARoundIsJudgedByItsFiguresWithReasons) {
  Thresholds t;
  const auto now = Clock::now();
  Observation o = at(now);
  EXPECT_EQ(judge(o, t).state, State::Green);
  o.figures = {{"p99_ms", 820}};
  Verdict v = judge(o, t);
  EXPECT_EQ(v.state, State::Red);
  ASSERT_EQ(v.reasons.size(), 1u);
  EXPECT_EQ(v.reasons[0], "p99 820 ms > 500");
  o.figures = {{"pool_busy", 16}, {"pool_size", 16}};
  EXPECT_EQ(judge(o, t).reasons.at(0), "pool 16/16 busy");
  EXPECT_EQ(judge(o, t).state, State::Yellow) << "all busy, nobody waiting: working hard, not failing";
  o.figures = {{"pool_busy", 16}, {"pool_size", 16}, {"pool_waiting", 3}};
  EXPECT_EQ(judge(o, t).reasons.at(0), "pool 16/16 busy, 3 waiting");
  EXPECT_EQ(judge(o, t).state, State::Red);
  o.warnings = {"3 waiting for a database connection"};
  EXPECT_EQ(judge(o, t).reasons.at(0), "pool 16/16 busy, 3 waiting") << "the reason of the state first";
  EXPECT_EQ(judge(o, t).reasons.at(1), "3 waiting for a database connection");
  o.warnings.clear();
  o.figures = {{"pool_busy", 14}, {"pool_size", 16}, {"error_rate", 0.02}};
  EXPECT_EQ(judge(o, t).state, State::Yellow);
  EXPECT_EQ(judge(o, t).reasons.size(), 2u);
  o.figures = {{"memory_used", 97}, {"memory_max", 100}};
  EXPECT_EQ(judge(o, t).state, State::Red);
  o.figures = {{"in_flight_admitted", 1000}, {"in_flight_cap", 1000}};
  EXPECT_EQ(judge(o, t).state, State::Red);
  EXPECT_EQ(judge(o, t).reasons.at(0), "in flight 1000/1000: at the cap");
  o.figures = {{"in_flight_admitted", 900}, {"in_flight_cap", 1000}};
  EXPECT_EQ(judge(o, t).state, State::Yellow);
  o.figures = {{"outbox_oldest_s", 42}};
  o.where = {{"outbox_oldest_s", "pg-order-2"}};
  EXPECT_EQ(judge(o, t).reasons.at(0), "oldest unsent outbox row 42 s (pg-order-2) > 30");
  o.where.clear();
  o.figures = {{"replication_lag_ms", 2500}};
  EXPECT_EQ(judge(o, t).state, State::Yellow);
  EXPECT_EQ(judge(o, t).reasons.at(0), "replication lag 2.5 s > 1");
  Observation down = at(now);
  down.reached = false;
  EXPECT_EQ(judge(down, t).state, State::Down);
  Observation hung = at(now);
  hung.answered = false;
  hung.took_ms = 500;
  EXPECT_EQ(judge(hung, t).state, State::Hung);
  EXPECT_NE(judge(hung, t).reasons.at(0).find("500 ms"), std::string::npos);
  Observation said = at(now);
  said.failures = {"/readyz 503 db_unavailable"};
  EXPECT_EQ(judge(said, t).state, State::Red);
}

TEST(MonitorHealth, ATimeoutKeepsANodeRedThenGreenOnlyAfterThreeGoodRounds) {
  Thresholds t;
  NodeHealth h(t);
  auto now = Clock::now();
  EXPECT_EQ(h.verdict(now).state, State::Unknown);
  Observation hung = at(now);
  hung.answered = false;
  h.add(hung);
  EXPECT_EQ(h.verdict(now).state, State::Hung);
  std::vector<State> seen;
  for (int i = 1; i <= 5; ++i) {
    now += milliseconds(1000);
    h.add(at(now));
    seen.push_back(h.verdict(now).state);
  }
  // Red while the timeout is among the last three rounds; by then three good
  // rounds have passed in a row, so green.
  EXPECT_EQ(seen, (std::vector<State>{State::Red, State::Red, State::Green, State::Green, State::Green}));
}

TEST(MonitorHealth, RecoveryFromRedNeedsThreeGoodRounds) {
  Thresholds t;
  NodeHealth h(t);
  auto now = Clock::now();
  Observation red = at(now);
  red.failures = {"/readyz 503"};
  h.add(red);
  EXPECT_EQ(h.verdict(now).state, State::Red);
  now += milliseconds(1000);
  h.add(at(now));
  EXPECT_EQ(h.verdict(now).state, State::Yellow);
  EXPECT_EQ(h.verdict(now).reasons.at(0), "recovering: 1/3 good rounds");
  now += milliseconds(1000);
  h.add(at(now));
  EXPECT_EQ(h.verdict(now).state, State::Yellow);
  now += milliseconds(1000);
  h.add(at(now));
  EXPECT_EQ(h.verdict(now).state, State::Green);
}

TEST(MonitorHealth, NoFreshDataIsStaleNeverGreen) {
  Thresholds t;
  NodeHealth h(t);
  const auto then = Clock::now();
  h.add(at(then));
  EXPECT_EQ(h.verdict(then + milliseconds(1000)).state, State::Green);
  EXPECT_EQ(h.verdict(then + milliseconds(5000)).state, State::Stale);
}

// gw -> app-1, app-2 -> menu -> redis-cache, pg-main; app -> order -> pg-order
Graph platform() {
  Graph g;
  g.uses = {{"gw", {"app-1", "app-2"}},
            {"app-1", {"menu", "order"}},
            {"app-2", {"menu", "order"}},
            {"menu", {"pg-main", "redis-cache"}},
            {"order", {"pg-order"}},
            {"pg-main", {}},
            {"redis-cache", {}},
            {"pg-order", {}}};
  return g;
}

TEST(MonitorHealth, TheSickNodeWithHealthyDependenciesIsTheRootCause) {
  std::map<std::string, State> s = {{"gw", State::Red},      {"app-1", State::Red},     {"app-2", State::Yellow},
                                    {"menu", State::Red},    {"order", State::Green},   {"pg-main", State::Green},
                                    {"redis-cache", State::Hung}, {"pg-order", State::Green}};
  Diagnosis d = diagnose(platform(), s);
  ASSERT_EQ(d.causes.size(), 1u);
  EXPECT_EQ(d.causes[0].node, "redis-cache");
  EXPECT_EQ(d.causes[0].affected, (std::vector<std::string>{"app-1", "app-2", "gw", "menu"}));
  EXPECT_EQ(d.affected_by.at("menu"), "redis-cache");
  EXPECT_EQ(d.affected_by.count("order"), 0u) << "green: never labelled";
}

TEST(MonitorHealth, ANodeThatCopesStopsTheWalkAndCausesAreRankedByReach) {
  std::map<std::string, State> s = {{"gw", State::Green},    {"app-1", State::Green},  {"app-2", State::Green},
                                    {"menu", State::Green},  {"order", State::Red},    {"pg-main", State::Green},
                                    {"redis-cache", State::Hung}, {"pg-order", State::Down}};
  Diagnosis d = diagnose(platform(), s);
  ASSERT_EQ(d.causes.size(), 2u);
  EXPECT_EQ(d.causes[0].node, "pg-order") << "affects order";
  EXPECT_EQ(d.causes[0].affected, (std::vector<std::string>{"order"}));
  EXPECT_EQ(d.causes[1].node, "redis-cache") << "menu copes (green): affects nobody";
  EXPECT_TRUE(d.causes[1].affected.empty());
  EXPECT_EQ(d.affected_by.count("app-1"), 0u);
}

// The roles' pools to a PostgreSQL node show on that node: summed over the
// nodes that use it, a warning naming who waits when all are busy.
TEST(MonitorHealth, TheRolesPoolsToADatabaseShowOnIt) {
  Node pg, order1, order2, other;
  pg.id = "pg-order-0";
  pg.kind = NodeKind::Postgres;
  order1.id = "order-1";
  order2.id = "order-2";
  other.id = "pg-main";
  other.kind = NodeKind::Postgres;
  Observation db, o1, o2, main_db;
  o1.pools["pg-order-0"] = {8, 8, 3};
  o2.pools["pg-order-0"] = {8, 8, 0};
  o2.pools["pg-main"] = {1, 4, 0};
  std::vector<std::pair<const Node*, Observation*>> round = {{&pg, &db}, {&order1, &o1}, {&order2, &o2}, {&other, &main_db}};
  add_role_pools(round);
  EXPECT_EQ(db.figures.at("role_pool_busy"), 16);
  EXPECT_EQ(db.figures.at("role_pool_size"), 16);
  EXPECT_EQ(db.figures.at("role_pool_waiting"), 3);
  ASSERT_EQ(db.warnings.size(), 1u);
  EXPECT_EQ(db.warnings[0], "the roles' pools to it 16/16 busy, 3 waiting (order-1)");
  EXPECT_EQ(judge(db, Thresholds{}).state, State::Yellow);
  EXPECT_EQ(main_db.figures.at("role_pool_busy"), 1);
  EXPECT_TRUE(main_db.warnings.empty()) << "1 of 4 busy: nothing to say";
  Observation hung;
  hung.answered = false;
  round[0].second = &hung;
  add_role_pools(round);
  EXPECT_EQ(hung.figures.count("role_pool_busy"), 0u) << "a server that did not answer keeps its own verdict";
}

}  // namespace
}  // namespace dine::monitor
