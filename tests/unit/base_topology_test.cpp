// Topology: parsing with comments, strict keys, errors that name file, key and
// fix, cross-node validation, the embedded default and the DINE_SECRET override.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/topology.hpp"

namespace dine {
namespace {

// A small valid topology; tests splice one change into it.
std::string topo(const std::string& extra_node = "", const std::string& order_node_extra = "") {
  return R"({
  "name": "t", "secret": "s3",
  "nodes": [
    {"id": "pg-0", "kind": "postgres", "port": 30001, "databases": ["order"]},
    {"id": "mq", "kind": "redis", "port": 30002, "appendonly": true},
    {"id": "order-1", "kind": "dine", "role": "order", "port": 30003, "node_id": 1,
     "uses": {"shards": ["pg-0"], "mq": ["mq"]})" +
         order_node_extra + "}" + extra_node + R"(
  ]
})";
}

// Parses and returns the error message; fails the test when parsing succeeds.
std::string error_of(const std::string& text, const std::string& source = "t.json") {
  try {
    parse_topology(text, source);
  } catch (const TopologyError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a TopologyError for:\n" << text;
  return "";
}

void expect_names(const std::string& msg, std::initializer_list<std::string> parts) {
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

TEST(Topology, ParsesAValidFileWithComments) {
  std::string text = "// leading comment\n/* block\n comment */\n" + topo();
  text.insert(text.find("\"nodes\""), "// a \"quoted\" word in a comment\n");
  auto t = parse_topology(text, "t.json");
  EXPECT_EQ(t.name, "t");
  EXPECT_EQ(t.secret, "s3");
  EXPECT_EQ(t.source, "t.json");
  ASSERT_EQ(t.nodes.size(), 3u);
  const Node& pg = t.node("pg-0");
  EXPECT_EQ(pg.kind, NodeKind::Postgres);
  EXPECT_EQ(pg.user, "dine");
  EXPECT_EQ(pg.databases, std::vector<std::string>{"order"});
  EXPECT_EQ(pg.address(), "127.0.0.1:30001");
  EXPECT_TRUE(t.node("mq").appendonly);
  const Node& o = t.node("order-1");
  EXPECT_EQ(o.role, "order");
  EXPECT_EQ(o.node_id, 1);
  auto shards = t.uses(o, "shards");
  ASSERT_EQ(shards.size(), 1u);
  EXPECT_EQ(shards[0]->id, "pg-0");
  EXPECT_EQ(o.uses_all(), (std::vector<std::string>{"mq", "pg-0"}));  // map order, each once
  ASSERT_EQ(t.by_role("order").size(), 1u);
  EXPECT_TRUE(t.by_role("member").empty());
  EXPECT_EQ(t.find("nope"), nullptr);
}

TEST(Topology, CommentMarkersInsideStringsAreKept) {
  std::string text = R"({"name": "a//b/*c*/", "nodes": [{"id": "x", "kind": "redis", "port": 1}]})";
  EXPECT_EQ(parse_topology(text, "t.json").name, "a//b/*c*/");
}

TEST(Topology, StripCommentsKeepsLineNumbers) {
  std::string in = "a // x\nb /* y\nz */ c\n\"//\\\"/*\"";
  std::string out = strip_json_comments(in);
  EXPECT_EQ(out, "a \nb \n c\n\"//\\\"/*\"");
}

TEST(Topology, LimitsInheritAndOverride) {
  std::string text = topo("", R"(, "limits": {"db_lock_timeout_ms": 5})");
  text.insert(text.find("\"nodes\""), R"("limits": {"db_pool_size": 7, "redis_timeout_ms": 3}, )");
  auto t = parse_topology(text, "t.json");
  const Node& o = t.node("order-1");
  EXPECT_EQ(o.limits.db_pool_size, 7);  // from the top-level limits
  EXPECT_EQ(o.limits.redis_timeout_ms, 3);
  EXPECT_EQ(o.limits.db_lock_timeout_ms, 5);  // the node's own
  EXPECT_EQ(t.node("pg-0").limits.db_lock_timeout_ms, Limits{}.db_lock_timeout_ms);
}

// A role's own limits live in its section, not in "limits".
TEST(Topology, RoleSectionsAndNodeConfigAreKeptForTheirRole) {
  std::string text = topo("", R"(, "config": {"max_items": 3})");
  text.insert(text.find("\"nodes\""), R"("roles": {"order": {"max_qty": 5}}, )");
  auto t = parse_topology(text, "t.json");
  ASSERT_EQ(t.roles.count("order"), 1u);
  EXPECT_NE(t.roles.at("order").find("max_qty"), std::string::npos);
  EXPECT_NE(t.node("order-1").config.find("max_items"), std::string::npos);
  expect_names(error_of(topo("", R"(, "limits": {"max_qty": 5})")), {"nodes.order-1.limits.max_qty", "fix:"});
  expect_names(error_of(topo("", R"(, "config": 5)")), {"nodes.order-1.config", "object", "fix:"});
}

// A client must drop an idle keep-alive connection before the server does.
TEST(Topology, ClientIdleTimeoutMustStayBelowTheServers) {
  Limits l;
  EXPECT_EQ(l.client_idle_ms(), l.idle_timeout_ms / 2);
  expect_names(error_of(topo("", R"(, "limits": {"idle_timeout_ms": 1000, "client_idle_timeout_ms": 1000})")),
               {"nodes.order-1.limits.client_idle_timeout_ms", "idle_timeout_ms", "fix:"});
  // Across nodes: a caller whose keep-alive outlives its callee's.
  std::string two = topo(R"(,
    {"id": "app-1", "kind": "dine", "role": "app", "port": 30004, "node_id": 1,
     "limits": {"client_idle_timeout_ms": 20000}, "uses": {"orders": ["order-1"]}})",
                         R"(, "limits": {"idle_timeout_ms": 15000})");
  expect_names(error_of(two), {"nodes.app-1.limits.client_idle_timeout_ms", "order-1", "15000", "fix:"});
}

TEST(Topology, DsnCarriesSessionLimitsAndTheResolvedAddress) {
  auto t = parse_topology(topo(), "t.json");
  resolve_hosts(t);
  Limits l;
  std::string d = t.dsn(t.node("pg-0"), "order", DsnOptions::for_pools("order-1", l));
  for (std::string part : {"application_name='order-1'", "statement_timeout=5500", "lock_timeout=2000",
                           "idle_in_transaction_session_timeout=10000", "client_connection_check_interval=1000",
                           "plan_cache_mode=force_generic_plan", "enable_seqscan=off", "connect_timeout=2", "keepalives=1", "dbname='order'"})
    EXPECT_NE(d.find(part), std::string::npos) << part << " not in " << d;
  Topology named = parse_topology(topo(), "t.json");
  named.nodes[0].host = "localhost";
  resolve_hosts(named);
  EXPECT_EQ(named.nodes[0].ip, "127.0.0.1");
  EXPECT_NE(named.dsn(named.nodes[0], "order").find("hostaddr='127.0.0.1'"), std::string::npos);
  named.nodes[0].host = "no-such-host.invalid";
  try {
    resolve_hosts(named);
    ADD_FAILURE() << "an unresolvable host was accepted";
  } catch (const TopologyError& e) {
    expect_names(e.what(), {"nodes.pg-0.host", "no-such-host.invalid", "fix:"});
  }
}

TEST(Topology, UnknownKeysAreRejectedWithFileKeyAndFix) {
  expect_names(error_of(topo("", R"(, "prot": 1)"), "my.json"), {"my.json", "nodes.order-1.prot", "fix:"});
  std::string top = topo();
  top.insert(1, R"("nmae": "x", )");
  expect_names(error_of(top, "my.json"), {"my.json", "nmae", "fix:"});
  expect_names(error_of(topo("", R"(, "limits": {"max_qtty": 5})")), {"nodes.order-1.limits.max_qtty", "fix:"});
  // A postgres-only key on a redis node is unknown there.
  std::string r = topo();
  r.insert(r.find("\"appendonly\""), R"("databases": ["x"], )");
  expect_names(error_of(r), {"nodes.mq.databases", "fix:"});
}

TEST(Topology, MissingAndMistypedKeysAreNamed) {
  expect_names(error_of(R"({"nodes": [{"id": "x", "kind": "redis", "port": 1}]})"), {"t.json", "name", "missing", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": []})"), {"nodes", "fix:"});
  expect_names(error_of(R"({"name": "t"})"), {"nodes", "fix:"});
  expect_names(error_of(R"({"name": 5, "nodes": [{"id": "x", "kind": "redis", "port": 1}]})"), {"name", "string", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "redis"}]})"), {"nodes.x.port", "missing", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "mongo", "port": 1}]})"),
               {"nodes.x.kind", "mongo", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "redis", "port": "1"}]})"),
               {"nodes.x.port", "integer", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "redis", "port": 1, "appendonly": 1}]})"),
               {"nodes.x.appendonly", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "postgres", "port": 1}]})"),
               {"nodes.x.databases", "missing", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"kind": "redis", "port": 1}]})"), {"nodes[0].id", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [7]})"), {"nodes[0]", "object", "fix:"});
  std::string bad_uses = topo();
  bad_uses.replace(bad_uses.find("[\"mq\"]"), 6, "[1]");
  expect_names(error_of(bad_uses), {"nodes.order-1.uses.mq", "fix:"});
}

TEST(Topology, InvalidJsonNamesTheSource) {
  expect_names(error_of(R"({"name": "t",,})", "bad.json"), {"bad.json", "not valid JSON", "fix:"});
}

TEST(Topology, RangesAreChecked) {
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "redis", "port": 70000}]})"),
               {"nodes.x.port", "70000", "out of range", "1..65535", "fix:"});
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "x", "kind": "redis", "port": 0}]})"),
               {"nodes.x.port", "out of range", "fix:"});
  std::string t = topo();
  t.replace(t.find("\"node_id\": 1"), 12, "\"node_id\": 256");
  expect_names(error_of(t), {"nodes.order-1.node_id", "256", "0..255", "fix:"});
  t = topo();
  t.replace(t.find("\"node_id\": 1"), 12, "\"node_id\": -1");
  expect_names(error_of(t), {"nodes.order-1.node_id", "fix:"});
  expect_names(error_of(topo("", R"(, "limits": {"db_pool_size": 0})")), {"limits.db_pool_size", "out of range", "fix:"});
  expect_names(error_of(topo("", R"(, "threads": 1000)")), {"nodes.order-1.threads", "fix:"});
}

TEST(Topology, DuplicateIdsAreRejected) {
  auto msg = error_of(topo(R"(, {"id": "mq", "kind": "redis", "port": 30009})"));
  expect_names(msg, {"t.json", "\"mq\"", "twice", "fix:"});
}

TEST(Topology, DuplicateAddressesAreRejected) {
  auto msg = error_of(topo(R"(, {"id": "mq2", "kind": "redis", "port": 30002})"));
  expect_names(msg, {"nodes.mq2", "127.0.0.1:30002", "fix:"});
}

TEST(Topology, UsesMustReferenceExistingNodes) {
  std::string t = topo();
  t.replace(t.find("[\"mq\"]"), 6, "[\"redis-mq\"]");
  expect_names(error_of(t), {"t.json", "nodes.order-1.uses.mq", "redis-mq", "not a node", "fix:"});
}

TEST(Topology, NodeIdsAreUniquePerRole) {
  std::string second_order = R"(, {"id": "order-2", "kind": "dine", "role": "order", "port": 30004, "node_id": 1})";
  expect_names(error_of(topo(second_order)), {"nodes.order-2.node_id", "order", "unique", "fix:"});
  // The same node_id under another role is fine.
  std::string member = R"(, {"id": "member-1", "kind": "dine", "role": "member", "port": 30004, "node_id": 1})";
  EXPECT_NO_THROW(parse_topology(topo(member), "t.json"));
}

TEST(Topology, MissingUsesPurposeNamesTheKey) {
  auto t = parse_topology(topo(), "t.json");
  try {
    t.uses(t.node("order-1"), "cache");
    FAIL() << "expected a TopologyError";
  } catch (const TopologyError& e) {
    expect_names(e.what(), {"nodes.order-1.uses.cache", "fix:"});
  }
  EXPECT_THROW(t.node("ghost"), TopologyError);
}

// A Redis node with `fields` spliced in after its port.
std::string redis_node(const std::string& fields) {
  return R"({"name": "t", "nodes": [{"id": "r", "kind": "redis", "port": 1)" + fields + "}]}";
}

TEST(Topology, RedisPersistenceAndMemoryDefaultByRole) {
  // An append-only node (streams, stock) fsyncs every write and refuses writes when full.
  const Node q = parse_topology(redis_node(R"(, "appendonly": true)"), "t.json").node("r");
  EXPECT_EQ(q.appendfsync, "always");
  EXPECT_EQ(q.eviction, "noeviction");
  EXPECT_EQ(q.maxmemory_mb, 256);
  // A cache has no fsync policy and evicts its least recently used keys.
  const Node c = parse_topology(redis_node(""), "t.json").node("r");
  EXPECT_FALSE(c.appendonly);
  EXPECT_EQ(c.appendfsync, "");
  EXPECT_EQ(c.eviction, "allkeys-lru");
  EXPECT_EQ(c.maxmemory_mb, 256);
}

TEST(Topology, RedisKeysAreReadAsWritten) {
  const Node q = parse_topology(
      redis_node(R"(, "appendonly": true, "appendfsync": "everysec", "maxmemory_mb": 64, "eviction": "volatile-ttl")"),
      "t.json").node("r");
  EXPECT_EQ(q.appendfsync, "everysec");
  EXPECT_EQ(q.maxmemory_mb, 64);
  EXPECT_EQ(q.eviction, "volatile-ttl");
  const Node c = parse_topology(redis_node(R"(, "eviction": "allkeys-lfu", "maxmemory_mb": 1)"), "t.json").node("r");
  EXPECT_EQ(c.eviction, "allkeys-lfu");
  EXPECT_EQ(c.maxmemory_mb, 1);
}

TEST(Topology, BadRedisKeysNameFileKeyAndFix) {
  expect_names(error_of(redis_node(R"(, "appendonly": true, "appendfsync": "sometimes")"), "r.json"),
               {"r.json", "nodes.r.appendfsync", "sometimes", "always", "everysec", "fix:"});
  expect_names(error_of(redis_node(R"(, "appendonly": true, "appendfsync": 1)")),
               {"nodes.r.appendfsync", "string", "fix:"});
  // An fsync policy without the append-only file would fsync nothing: a mistake, not a no-op.
  expect_names(error_of(redis_node(R"(, "appendfsync": "always")")),
               {"nodes.r.appendfsync", "appendonly is false", "fix:"});
  expect_names(error_of(redis_node(R"(, "maxmemory_mb": 0)")), {"nodes.r.maxmemory_mb", "out of range", "fix:"});
  expect_names(error_of(redis_node(R"(, "maxmemory_mb": "1gb")")), {"nodes.r.maxmemory_mb", "integer", "fix:"});
  expect_names(error_of(redis_node(R"(, "eviction": "lru")")),
               {"nodes.r.eviction", "\"lru\"", "noeviction", "allkeys-lru", "fix:"});
  expect_names(error_of(redis_node(R"(, "maxmemory": 5)")), {"nodes.r.maxmemory", "not a known key", "fix:"});
  // Redis keys are unknown on other kinds of node.
  expect_names(error_of(R"({"name": "t", "nodes": [{"id": "p", "kind": "postgres", "port": 1, "databases": ["d"],
                            "eviction": "noeviction"}]})"),
               {"nodes.p.eviction", "fix:"});
}

TEST(Topology, DsnCarriesThePasswordOnlyWhenSet) {
  ::unsetenv("DINE_PG_PASSWORD");
  auto t = parse_topology(topo(), "t.json");
  auto dsn = t.dsn(t.node("pg-0"), "order");
  expect_names(dsn, {"host='127.0.0.1'", "port=30001", "dbname='order'", "user='dine'"});
  EXPECT_EQ(dsn.find("password"), std::string::npos);
  ::setenv("DINE_PG_PASSWORD", "pw", 1);
  EXPECT_NE(t.dsn(t.node("pg-0"), "order").find("password='pw'"), std::string::npos);
  // libpq needs ' and \ escaped inside a quoted value.
  ::setenv("DINE_PG_PASSWORD", R"(it's\x)", 1);
  EXPECT_NE(t.dsn(t.node("pg-0"), "order").find(R"(password='it\'s\\x')"), std::string::npos)
      << t.dsn(t.node("pg-0"), "order");
  ::unsetenv("DINE_PG_PASSWORD");
}

// Two app nodes and a gateway in front of them; `gateway_node` is spliced in
// as the nginx node's fields after its port, `section` at the top level.
std::string gateway_topo(const std::string& gateway_node = R"(, "uses": {"app": ["app-1", "app-2"]})",
                         const std::string& section = "") {
  return R"({"name": "g", )" + section + R"("nodes": [
    {"id": "pg-0", "kind": "postgres", "port": 30001, "databases": ["member"]},
    {"id": "app-1", "kind": "dine", "role": "app", "port": 30011, "node_id": 1},
    {"id": "app-2", "kind": "dine", "role": "app", "port": 30012, "node_id": 2},
    {"id": "gw-1", "kind": "nginx", "port": 30080)" + gateway_node + R"(}
  ]})";
}

TEST(Topology, GatewayNodesListTheirAppNodesAndWorkers) {
  auto t = parse_topology(gateway_topo(), "g.json");
  const Node& gw = t.node("gw-1");
  EXPECT_EQ(gw.kind, NodeKind::Nginx);
  EXPECT_EQ(gw.workers, 1);
  auto apps = t.uses(gw, "app");
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[1]->id, "app-2");
  ASSERT_EQ(t.by_kind(NodeKind::Nginx).size(), 1u);
  EXPECT_EQ(t.by_kind(NodeKind::Nginx)[0]->id, "gw-1");
  auto four = parse_topology(gateway_topo(R"(, "workers": 4, "uses": {"app": ["app-1"]})"), "g.json");
  EXPECT_EQ(four.node("gw-1").workers, 4);
}

TEST(Topology, GatewaySectionDefaultsAndValues) {
  auto defaults = parse_topology(gateway_topo(), "g.json").gateway;
  EXPECT_EQ(defaults.qps_cap, 20000);
  EXPECT_EQ(defaults.burst, 0);
  EXPECT_EQ(defaults.static_dir, "");
  EXPECT_EQ(defaults.max_fails, 2);
  EXPECT_EQ(defaults.fail_timeout_s, 5);
  auto g = parse_topology(gateway_topo(R"(, "uses": {"app": ["app-1"]})",
                                       R"("gateway": {"qps_cap": 1001, "burst": 7, "static_dir": "/srv/s",
                                                     "max_fails": 0, "fail_timeout_s": 30}, )"),
                          "g.json")
               .gateway;
  EXPECT_EQ(g.qps_cap, 1001);
  EXPECT_EQ(g.burst, 7);
  EXPECT_EQ(g.static_dir, "/srv/s");
  EXPECT_EQ(g.max_fails, 0);
  EXPECT_EQ(g.fail_timeout_s, 30);
  // The cap is global: split over the gateway nodes, rounded up.
  EXPECT_EQ(g.rate_per_node(1), 1001);
  EXPECT_EQ(g.rate_per_node(2), 501);
  EXPECT_EQ(g.rate_per_node(3), 334);
  EXPECT_EQ(g.rate_per_node(0), 1001);
}

TEST(Topology, BadGatewayKeysNameFileKeyAndFix) {
  auto with_section = [](const std::string& section) { return error_of(gateway_topo(
      R"(, "uses": {"app": ["app-1"]})", R"("gateway": )" + section + ", "), "g.json"); };
  expect_names(with_section(R"({"qps": 5})"), {"g.json", "gateway.qps", "not a known key", "fix:"});
  expect_names(with_section(R"({"qps_cap": 0})"), {"gateway.qps_cap", "out of range", "fix:"});
  expect_names(with_section(R"({"burst": -1})"), {"gateway.burst", "fix:"});
  expect_names(with_section(R"({"static_dir": 5})"), {"gateway.static_dir", "string", "fix:"});
  expect_names(with_section(R"([])"), {"gateway", "object", "fix:"});

  auto node = [](const std::string& fields) { return error_of(gateway_topo(fields), "g.json"); };
  expect_names(node(""), {"g.json", "nodes.gw-1.uses.app", "missing", "fix:"});
  expect_names(node(R"(, "uses": {"app": []})"), {"nodes.gw-1.uses.app", "missing", "fix:"});
  expect_names(node(R"(, "uses": {"app": ["app-9"]})"), {"nodes.gw-1.uses.app", "app-9", "not a node", "fix:"});
  expect_names(node(R"(, "uses": {"app": ["pg-0"]})"), {"nodes.gw-1.uses.app", "pg-0", "postgres", "dine", "fix:"});
  expect_names(node(R"(, "uses": {"app": ["app-1"], "db": ["pg-0"]})"), {"nodes.gw-1.uses.db", "app", "fix:"});
  expect_names(node(R"(, "workers": 0, "uses": {"app": ["app-1"]})"), {"nodes.gw-1.workers", "out of range", "fix:"});
  expect_names(node(R"(, "role": "app", "uses": {"app": ["app-1"]})"), {"nodes.gw-1.role", "not a known key"});
  // The gateway keeps idle connections to the app nodes: it must drop them first.
  expect_names(node(R"(, "uses": {"app": ["app-1"]}, "limits": {"client_idle_timeout_ms": 30000, "idle_timeout_ms": 60000})"),
               {"nodes.gw-1.limits.client_idle_timeout_ms", "app-1", "fix:"});
}

class LoadTopology : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("DINE_TOPOLOGY");
    ::unsetenv("DINE_SECRET");
  }
  void TearDown() override {
    ::unsetenv("DINE_TOPOLOGY");
    ::unsetenv("DINE_SECRET");
  }
};

TEST_F(LoadTopology, EmbeddedDefaultLoads) {
  auto t = load_topology("");
  EXPECT_EQ(t.name, "local");
  EXPECT_EQ(t.source, "<embedded deploy/local.json>");
  EXPECT_FALSE(t.secret.empty());
  for (int i = 0; i < 4; ++i) {
    const Node* pg = t.find("pg-order-" + std::to_string(i));
    ASSERT_NE(pg, nullptr) << i;
    EXPECT_EQ(pg->kind, NodeKind::Postgres);
    EXPECT_EQ(pg->databases, std::vector<std::string>{"order"});
  }
  auto orders = t.by_role("order");
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_NE(orders[0]->node_id, orders[1]->node_id);
  for (const Node* o : orders) EXPECT_EQ(t.uses(*o, "shards").size(), 4u);
  // The queue fsyncs every write and never evicts; the cache evicts LRU.
  const Node& mq = t.node("redis-mq");
  EXPECT_TRUE(mq.appendonly);
  EXPECT_EQ(mq.appendfsync, "always");
  EXPECT_EQ(mq.eviction, "noeviction");
  const Node& cache = t.node("redis-cache");
  EXPECT_FALSE(cache.appendonly);
  EXPECT_EQ(cache.eviction, "allkeys-lru");
  EXPECT_GE(cache.maxmemory_mb, 1);
}

TEST_F(LoadTopology, EmbeddedMatchesTheSourceFile) {
  std::ifstream in(std::string(DINE_SOURCE_DIR) + "/deploy/local.json");
  ASSERT_TRUE(in);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto file = parse_topology(text, "deploy/local.json");
  auto embedded = load_topology("");
  ASSERT_EQ(file.nodes.size(), embedded.nodes.size());
  for (std::size_t i = 0; i < file.nodes.size(); ++i) EXPECT_EQ(file.nodes[i].address(), embedded.nodes[i].address());
}

TEST_F(LoadTopology, SecretEnvOverrides) {
  ::setenv("DINE_SECRET", "from-env", 1);
  EXPECT_EQ(load_topology("").secret, "from-env");
  ::setenv("DINE_SECRET", "", 1);  // empty: ignored
  EXPECT_EQ(load_topology("").secret, "local-dev-secret-change-me");
}

TEST_F(LoadTopology, FileAndEnvPath) {
  std::string path = ::testing::TempDir() + "dine_topology_test.json";
  {
    std::ofstream out(path);
    out << topo();
  }
  auto t = load_topology(path);
  EXPECT_EQ(t.name, "t");
  EXPECT_EQ(t.source, path);
  ::setenv("DINE_TOPOLOGY", path.c_str(), 1);
  EXPECT_EQ(load_topology("").name, "t");
  ::setenv("DINE_SECRET", "over", 1);
  EXPECT_EQ(load_topology(path).secret, "over");
  std::remove(path.c_str());
  try {
    load_topology(path);
    FAIL() << "expected a TopologyError";
  } catch (const TopologyError& e) {
    expect_names(e.what(), {path, "fix:"});
  }
}

}  // namespace
}  // namespace dine
