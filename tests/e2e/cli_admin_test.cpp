// The pieces behind `dine db migrate` (consumer groups), `dine outbox redrive`
// and `dine stream redrive`, called directly: the --since forms, the topology
// walks over roles that declare `consumes` and `outboxes` (test descriptors:
// no role of the registry consumes a stream yet), and consumer groups created
// on the harness's Redis from id 0, once.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/admin.hpp"
#include "cli/since.hpp"
#include "core/errors.hpp"
#include "core/stack/process.hpp"
#include "tests/e2e/e2e_support.hpp"

namespace dine::cli {
namespace {

using namespace std::chrono;
using e2e::redis_cmd;

const system_clock::time_point kNow = system_clock::from_time_t(1796040000);  // 2026-11-30T12:00:00Z

TEST(Since, TakesRfc3339TimesInAnyOffset) {
  auto t = parse_since("2026-11-30T12:00:00Z", kNow);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->at, kNow);
  EXPECT_EQ(t->utc, "2026-11-30T12:00:00Z");
  EXPECT_EQ(parse_since("2026-11-30T20:00:00+08:00", kNow)->utc, "2026-11-30T12:00:00Z");
  EXPECT_EQ(parse_since("2026-11-30T06:30:00-05:30", kNow)->utc, "2026-11-30T12:00:00Z");
  EXPECT_EQ(parse_since("2026-11-30t12:00:00.25z", kNow)->utc, "2026-11-30T12:00:00.250000Z");
  EXPECT_EQ(parse_since("2028-02-29T00:00:00Z", kNow)->utc, "2028-02-29T00:00:00Z") << "a leap day";
  EXPECT_EQ(parse_since("2026-01-01T12:00:00Z", kNow)->at, kNow - hours(24 * 333));
}

TEST(Since, TakesDurationsBackFromNow) {
  EXPECT_EQ(parse_since("90s", kNow)->at, kNow - seconds(90));
  EXPECT_EQ(parse_since("10m", kNow)->at, kNow - minutes(10));
  EXPECT_EQ(parse_since("2h", kNow)->utc, "2026-11-30T10:00:00Z");
  EXPECT_EQ(parse_since("1d", kNow)->utc, "2026-11-29T12:00:00Z");
  EXPECT_EQ(parse_since("3650d", kNow)->at, kNow - hours(24 * 3650));
}

TEST(Since, RefusesAnythingElse) {
  for (const char* bad : {"", "yesterday", "now", "2h30m", "-5m", "0s", "5w", "h", "1.5h", " 2h", "2H",
                          "3651d", "99999999999d", "2026-11-30", "2026-11-30T12:00:00", "2026-11-30T12:00Z",
                          "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
                          "2026-11-30T24:00:00Z", "2026-11-30T12:60:00Z", "2026-11-30T12:00:00+24:00",
                          "2026-11-30T12:00:00.Z", "2026-11-30T12:00:00Zjunk", "1796040000"})
    EXPECT_FALSE(parse_since(bad, kNow)) << "'" << bad << "' must be refused";
}

// Roles the registry does not have, declaring what the walks look at.
const runtime::RoleDescriptor& oms_like() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "omsx";
    r.dependencies = {runtime::redis("mq"), runtime::postgres("db", "oms")};
    r.consumes = {{"mq", "t:orders", "oms"}};
    r.outboxes = {{"db"}};
    return r;
  }();
  return d;
}
const runtime::RoleDescriptor& notify_like() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "notifyx";
    r.dependencies = {runtime::redis("mq")};
    r.consumes = {{"mq", "t:orders", "notify"}, {"mq", "t:accepted", "notify"}};
    return r;
  }();
  return d;
}
const runtime::RoleDescriptor& writer_like() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "writerx";
    r.dependencies = {runtime::sharded_postgres("shards", "order"), runtime::redis("mq")};
    r.outboxes = {{"shards"}};
    return r;
  }();
  return d;
}

const runtime::RoleDescriptor* lookup(std::string_view name) {
  for (const auto* r : {&oms_like(), &notify_like(), &writer_like()})
    if (r->name == name) return r;
  return nullptr;
}

// oms-1/oms-2 and notify-1 read from redis-mq; the writers' relays go to redis-b.
Topology walk_topology(int mq_port, const std::string& oms_mq = "redis-mq") {
  return parse_topology(fmt::format(R"({{"name": "walk", "nodes": [
    {{"id": "pg-0", "kind": "postgres", "port": 31001, "databases": ["order", "oms"]}},
    {{"id": "pg-1", "kind": "postgres", "port": 31002, "databases": ["order"]}},
    {{"id": "redis-mq", "kind": "redis", "port": {}, "appendonly": true}},
    {{"id": "redis-b", "kind": "redis", "port": 31004, "appendonly": true}},
    {{"id": "oms-1", "kind": "dine", "role": "omsx", "port": 31011, "node_id": 1,
      "uses": {{"mq": ["{}"], "db": ["pg-0"]}}}},
    {{"id": "oms-2", "kind": "dine", "role": "omsx", "port": 31012, "node_id": 2,
      "uses": {{"mq": ["{}"], "db": ["pg-0"]}}}},
    {{"id": "notify-1", "kind": "dine", "role": "notifyx", "port": 31013, "node_id": 1,
      "uses": {{"mq": ["redis-mq"]}}}},
    {{"id": "order-1", "kind": "dine", "role": "writerx", "port": 31014, "node_id": 1,
      "uses": {{"shards": ["pg-0", "pg-1"], "mq": ["redis-b"]}}}},
    {{"id": "order-2", "kind": "dine", "role": "writerx", "port": 31015, "node_id": 2,
      "uses": {{"shards": ["pg-0", "pg-1"], "mq": ["redis-b"]}}}},
    {{"id": "ghost-1", "kind": "dine", "role": "ghost", "port": 31016, "node_id": 1, "uses": {{"mq": ["redis-b"]}}}}
  ]}})", mq_port, oms_mq, oms_mq), "walk.json");
}

TEST(AdminWalk, ConsumerGroupsOncePerNodeStreamAndGroup) {
  Topology topo = walk_topology(31003);
  auto sites = consumer_groups(topo, lookup);
  ASSERT_EQ(sites.size(), 3u);
  EXPECT_EQ(sites[0].redis->id, "redis-mq");
  EXPECT_EQ(sites[0].stream, "t:orders");
  EXPECT_EQ(sites[0].group, "oms");
  EXPECT_EQ(sites[0].readers, (std::vector<std::string>{"oms-1", "oms-2"}));
  EXPECT_EQ(sites[1].group, "notify");
  EXPECT_EQ(sites[1].stream, "t:orders");
  EXPECT_EQ(sites[2].stream, "t:accepted");
  EXPECT_EQ(sites[2].readers, (std::vector<std::string>{"notify-1"}));
}

TEST(AdminWalk, ConsumerGroupOnANonRedisNodeNamesTheKey) {
  Topology topo = walk_topology(31003, "pg-1");
  try {
    consumer_groups(topo, lookup);
    FAIL() << "a stream cannot live on a postgres node";
  } catch (const TopologyError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("walk.json"), std::string::npos) << m;
    EXPECT_NE(m.find("nodes.oms-1.uses.mq"), std::string::npos) << m;
    EXPECT_NE(m.find("fix:"), std::string::npos) << m;
  }
}

TEST(AdminWalk, OutboxDatabasesOncePerServerAndDatabase) {
  Topology topo = walk_topology(31003);
  auto dbs = outbox_databases(topo, lookup);
  ASSERT_EQ(dbs.size(), 3u) << "two writer nodes share two shards; the oms nodes share one database";
  EXPECT_EQ(dbs[0].pg->id, "pg-0");
  EXPECT_EQ(dbs[0].database, "oms");
  EXPECT_EQ(dbs[0].writers, (std::vector<std::string>{"oms-1", "oms-2"}));
  EXPECT_EQ(dbs[1].pg->id, "pg-0");
  EXPECT_EQ(dbs[1].database, "order");
  EXPECT_EQ(dbs[2].pg->id, "pg-1");
  EXPECT_EQ(dbs[2].writers, (std::vector<std::string>{"order-1", "order-2"}));
}

TEST(AdminWalk, AStreamIsWhereItsReadersAreElseWhereTheRelaysWrite) {
  Topology topo = walk_topology(31003);
  auto read = stream_homes(topo, lookup, "t:orders");
  ASSERT_EQ(read.size(), 1u) << "the readers decide, though a relay writes to redis-b";
  EXPECT_EQ(read[0].redis->id, "redis-mq");
  ASSERT_FALSE(read[0].why.empty());
  EXPECT_NE(read[0].why[0].find("group oms of oms-1"), std::string::npos) << read[0].why[0];
  // Nobody reads t:events: the relays of omsx (redis-mq) and writerx (redis-b) may have written it.
  auto written = stream_homes(topo, lookup, "t:events");
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].redis->id, "redis-mq");
  EXPECT_EQ(written[1].redis->id, "redis-b");
  EXPECT_NE(written[1].why[0].find("outbox relay of order-1"), std::string::npos) << written[1].why[0];
}

TEST(AdminWalk, TheRegistrysRolesOnTheDefaultTopology) {
  Topology topo = load_topology("");
  auto find = [](std::string_view n) { return n == "order" ? &writer_like() : nullptr; };
  EXPECT_TRUE(consumer_groups(topo, find).empty());
  auto dbs = outbox_databases(topo, find);
  ASSERT_EQ(dbs.size(), 4u) << "order-1 and order-2 write the same four shards";
  auto homes = stream_homes(topo, find, "dine:orders");
  ASSERT_EQ(homes.size(), 1u);
  EXPECT_EQ(homes[0].redis->id, "redis-mq");
}

TEST(AdminGroups, CreatedFromIdZeroOnceThenLeftAlone) {
  std::string stream = fmt::format("t:orders:{}", getpid());
  // An event written before the group exists must still reach the group.
  redis::Reply early = redis_cmd({"XADD", stream, "*", "order_id", "1"});
  ASSERT_EQ(early.type, redis::Reply::Type::String);
  Topology topo = walk_topology(test::Harness::get().redis().port);
  auto sites = consumer_groups(topo, lookup);
  for (auto& s : sites) s.stream = stream;  // this test's own stream
  sites.pop_back();                         // (t:accepted: the same stream now)

  std::vector<std::string> printed;
  auto first = ensure_groups(sites, [&](const GroupResult& r) { printed.push_back(r.site.group); });
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].created);
  EXPECT_TRUE(first[1].created);
  EXPECT_EQ(printed, (std::vector<std::string>{"oms", "notify"}));
  redis::Reply got = redis_cmd({"XREADGROUP", "GROUP", "oms", "c1", "COUNT", "10", "STREAMS", stream, ">"});
  ASSERT_EQ(got.type, redis::Reply::Type::Array);
  ASSERT_EQ(got.elements.at(0).elements.at(1).elements.size(), 1u) << "the group reads from id 0";
  EXPECT_EQ(got.elements[0].elements[1].elements[0].elements.at(0).str, early.str);

  // Again (a second migrate): the groups stay where they are, nothing is read twice.
  auto second = ensure_groups(sites);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_FALSE(second[0].created);
  EXPECT_FALSE(second[1].created);
  redis::Reply again = redis_cmd({"XREADGROUP", "GROUP", "oms", "c1", "COUNT", "10", "STREAMS", stream, ">"});
  EXPECT_TRUE(again.is_nil() || again.elements.empty()) << "a re-run must not rewind the group";
  redis::Reply pending = redis_cmd({"XPENDING", stream, "oms"});
  EXPECT_EQ(pending.elements.at(0).integer, 1);
}

TEST(AdminGroups, AnUnreachableRedisNamesTheNode) {
  Topology topo = walk_topology(stack::free_port());
  auto sites = consumer_groups(topo, lookup);
  try {
    ensure_groups(sites);
    FAIL() << "nothing listens there";
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("redis-mq"), std::string::npos) << m;
    EXPECT_NE(m.find("t:orders"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace dine::cli
