// The dine binary against the harness's PostgreSQL x4 and Redis: `dine db
// migrate` checks the roles before touching anything; `dine outbox redrive`
// makes rows sent since T unsent again on every order shard (and refuses a bad
// --since, changing nothing); `dine stream redrive` moves dead letters back on
// the node the topology names, and asks which node when it cannot tell.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_support.hpp"

namespace dine::e2e {
namespace {

using nlohmann::json;
using test::Harness;

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = Harness::get().temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The harness topology (pg-order-0..3, redis-mq, order-1 and order-2), migrated once.
const std::string& migrated_topology() {
  static const std::string path = [] {
    std::string p = Harness::get().topology_file(2);
    Output m = run_dine(fmt::format("--topology {} db migrate --json", p));
    if (m.code != 0) throw std::runtime_error("dine db migrate failed:\n" + m.out);
    return p;
  }();
  return path;
}

int64_t count(std::size_t shard, const std::string& where) {
  auto r = sql(shard, "order", "SELECT count(*) FROM outbox WHERE " + where);
  return std::stoll(std::string(r.text(0, 0)));
}

TEST(MigrateE2E, ReportsStepsAndConsumerGroupsAsJson) {
  Output m = run_dine(fmt::format("--topology {} db migrate --json", migrated_topology()));
  ASSERT_EQ(m.code, 0) << m.out;
  json j = json::parse(json_part(m.out));
  EXPECT_EQ(j["applied"], 0) << "the second run finds every migration present";
  // Every migration of schemas/order/, once on each of the 4 shards.
  std::size_t migrations = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(DINE_SOURCE_DIR) + "/schemas/order"))
    migrations += e.path().extension() == ".sql";
  EXPECT_EQ(j["steps"].size(), 4 * migrations) << migrations << " migrations on 4 shards";
  EXPECT_TRUE(j["groups"].is_array());
  EXPECT_EQ(j["groups"].size(), 0u) << "no role of the registry reads a stream yet";
}

TEST(MigrateE2E, ABadRoleSectionFailsBeforeAnyDatabaseIsTouched) {
  json topo = json::parse(Harness::get().topology_json(1));
  topo["roles"]["order"]["colour"] = "blue";
  topo["nodes"][0]["databases"] = {"order", "never_made"};
  std::string path = write_file("bad-role.json", topo.dump(2));
  Output m = run_dine(fmt::format("--topology {} db migrate", path));
  EXPECT_EQ(m.code, 2) << m.out;
  EXPECT_NE(m.out.find(path), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("roles.order.colour"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("fix:"), std::string::npos) << m.out;
  auto made = sql(0, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'never_made'");
  EXPECT_EQ(made.text(0, 0), "0") << "nothing may be created when the topology is refused";
}

// Per shard i: i+1 rows sent 10 minutes ago, one sent two days ago, one unsent.
void seed_outbox(const std::string& tag) {
  for (std::size_t i = 0; i < 4; ++i) {
    sql(i, "order", "DELETE FROM outbox");
    std::string rows;
    for (std::size_t k = 0; k <= i; ++k)
      rows += fmt::format("('dine:orders', 'order.paid', '{}-{}-{}', '{{}}', now() - interval '10 min', "
                          "now() - interval '10 min'),", tag, i, k);
    rows += fmt::format("('dine:orders', 'order.paid', '{}-{}-old', '{{}}', now() - interval '2 days', "
                        "now() - interval '2 days'),", tag, i);
    rows += fmt::format("('dine:orders', 'order.paid', '{}-{}-new', '{{}}', now(), NULL)", tag, i);
    sql(i, "order", "INSERT INTO outbox (stream, event_type, key, payload, created_at, sent_at) VALUES " + rows);
  }
}

TEST(OutboxRedriveE2E, RowsSentSinceTBecomeUnsentOnEveryShard) {
  std::string topo = migrated_topology();
  seed_outbox("a");
  Output r = run_dine(fmt::format("--topology {} outbox redrive --since 1h --json", topo));
  ASSERT_EQ(r.code, 0) << r.out;
  json j = json::parse(json_part(r.out));
  EXPECT_EQ(j["total"], 1 + 2 + 3 + 4);
  EXPECT_EQ(j["failed"], 0);
  ASSERT_EQ(j["databases"].size(), 4u) << "order-1 and order-2 share the shards: each is redriven once";
  for (std::size_t i = 0; i < 4; ++i) {
    const json& d = j["databases"][i];
    EXPECT_EQ(d["node"], fmt::format("pg-order-{}", i));
    EXPECT_EQ(d["database"], "order");
    EXPECT_EQ(d["requeued"], static_cast<int>(i + 1));
    EXPECT_EQ(d["writers"], (json{"order-1", "order-2"}));
    // The recent rows wait for a relay again; the old one stays sent.
    EXPECT_EQ(count(i, "sent_at IS NULL"), static_cast<int64_t>(i + 2));
    EXPECT_EQ(count(i, "key LIKE '%-old' AND sent_at IS NOT NULL"), 1);
    EXPECT_EQ(count(i, "claimed_by IS NOT NULL"), 0);
  }
  // An RFC 3339 time three days back reaches the old rows too; text output.
  auto three_days = std::chrono::system_clock::now() - std::chrono::hours(72);
  std::time_t t = std::chrono::system_clock::to_time_t(three_days);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  Output text = run_dine(fmt::format("--topology {} outbox redrive --since {}", topo, when));
  ASSERT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find(fmt::format("re-queued 4 row(s) sent since {}", when)), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("pg-order-3"), std::string::npos) << text.out;
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(count(i, "sent_at IS NOT NULL"), 0);
}

TEST(OutboxRedriveE2E, ABadSinceIsRefusedAndChangesNothing) {
  std::string topo = migrated_topology();
  seed_outbox("b");
  for (const char* bad : {"yesterday", "2h30m", "2026-11-30", "2026-02-30T12:00:00Z", "-1h"}) {
    Output r = run_dine(fmt::format("--topology {} outbox redrive --since='{}'", topo, bad));
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find(fmt::format("\"{}\"", bad)), std::string::npos) << "names the value: " << r.out;
    EXPECT_NE(r.out.find("RFC 3339"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("90s, 10m, 2h, 1d"), std::string::npos) << r.out;
  }
  Output missing = run_dine(fmt::format("--topology {} outbox redrive", topo));
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("--since"), std::string::npos) << missing.out;
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(count(i, "sent_at IS NOT NULL"), static_cast<int64_t>(i + 2));
}

TEST(OutboxRedriveE2E, AShardDownIsReportedAndTheOthersAreRedriven) {
  std::string topo = migrated_topology();
  seed_outbox("c");
  Harness::get().pg_stop(2);
  Output r = run_dine(fmt::format("--topology {} outbox redrive --since 1h --json", topo));
  Harness::get().pg_start(2);
  EXPECT_EQ(r.code, 1) << r.out;
  json j = json::parse(json_part(r.out));
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["total"], 1 + 2 + 4);
  ASSERT_EQ(j["databases"].size(), 4u);
  EXPECT_TRUE(j["databases"][2].contains("error")) << j.dump();
  EXPECT_FALSE(j["databases"][3].contains("error")) << j.dump();
  EXPECT_NE(r.out.find("failed on 1 of 4"), std::string::npos) << r.out;
  EXPECT_EQ(count(2, "sent_at IS NULL"), 1) << "the shard that was down is untouched";
}

// Three dead letters of dine:orders, as a StreamConsumer leaves them.
void seed_dead_letters() {
  redis_cmd({"DEL", "dine:orders", "dine:orders:dead"});
  for (int i = 1; i <= 3; ++i)
    redis_cmd({"XADD", "dine:orders:dead", "*", "type", "order.paid", "order_id", std::to_string(i), "dead_reason",
               "bad menu item", "dead_code", "invalid_menu_item", "dead_group", "oms", "dead_from_id", "1-0"});
}

TEST(StreamRedriveE2E, DeadLettersGoBackOnTheNodeTheTopologyNames) {
  std::string topo = migrated_topology();
  seed_dead_letters();
  Output r = run_dine(fmt::format("--topology {} stream redrive --stream dine:orders --max 2 --json", topo));
  ASSERT_EQ(r.code, 0) << r.out;
  json j = json::parse(json_part(r.out));
  EXPECT_EQ(j["node"], "redis-mq") << "the order role's relay writes dine:orders there";
  EXPECT_EQ(j["moved"], 2);
  EXPECT_EQ(j["left"], 1);
  redis::Reply back = redis_cmd({"XRANGE", "dine:orders", "-", "+"});
  ASSERT_EQ(back.elements.size(), 2u);
  const auto& fields = back.elements[0].elements.at(1).elements;
  ASSERT_EQ(fields.size(), 4u) << "the dead_* fields stay behind";
  EXPECT_EQ(fields[2].str, "order_id");
  EXPECT_EQ(fields[3].str, "1") << "oldest first";

  Output rest = run_dine(fmt::format("--topology {} stream redrive --stream dine:orders", topo));
  ASSERT_EQ(rest.code, 0) << rest.out;
  EXPECT_NE(rest.out.find("moved 1 dead letter(s) from dine:orders:dead back to dine:orders on redis-mq"),
            std::string::npos) << rest.out;
  EXPECT_NE(rest.out.find("0 left"), std::string::npos) << rest.out;
  EXPECT_EQ(redis_cmd({"XLEN", "dine:orders"}).integer, 3);
  EXPECT_EQ(redis_cmd({"XLEN", "dine:orders:dead"}).integer, 0);

  Output none = run_dine(fmt::format("--topology {} stream redrive --stream dine:orders --json", topo));
  ASSERT_EQ(none.code, 0) << none.out;
  EXPECT_EQ(json::parse(json_part(none.out))["moved"], 0);
}

TEST(StreamRedriveE2E, AStreamThatIsNotThereIsAnError) {
  std::string topo = migrated_topology();
  Output r = run_dine(fmt::format("--topology {} stream redrive --stream dine:ordres", topo));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("redis-mq"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dine:ordres:dead"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
  Output dead = run_dine(fmt::format("--topology {} stream redrive --stream dine:orders:dead", topo));
  EXPECT_EQ(dead.code, 2) << dead.out;
  EXPECT_NE(dead.out.find("--stream dine:orders"), std::string::npos) << dead.out;
}

TEST(StreamRedriveE2E, TwoPossibleNodesNeedRedisToChoose) {
  // order-2 writes its events to a second Redis: dine:orders may be on either.
  json topo = json::parse(Harness::get().topology_json(2));
  topo["nodes"].push_back({{"id", "redis-mq2"}, {"kind", "redis"}, {"port", 1}, {"appendonly", true}});
  for (auto& n : topo["nodes"])
    if (n["id"] == "order-2") n["uses"]["mq"] = {"redis-mq2"};
  std::string path = write_file("two-mq.json", topo.dump(2));
  seed_dead_letters();
  Output r = run_dine(fmt::format("--topology {} stream redrive --stream dine:orders", path));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("redis-mq "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("redis-mq2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--redis NODE"), std::string::npos) << r.out;
  EXPECT_EQ(redis_cmd({"XLEN", "dine:orders:dead"}).integer, 3) << "nothing moved";

  Output chosen =
      run_dine(fmt::format("--topology {} stream redrive --stream dine:orders --redis redis-mq --json", path));
  ASSERT_EQ(chosen.code, 0) << chosen.out;
  EXPECT_EQ(json::parse(json_part(chosen.out))["moved"], 3);
  Output wrong = run_dine(fmt::format("--topology {} stream redrive --stream dine:orders --redis pg-order-0", path));
  EXPECT_EQ(wrong.code, 2) << wrong.out;
  EXPECT_NE(wrong.out.find("redis-mq, redis-mq2"), std::string::npos) << wrong.out;
}

}  // namespace
}  // namespace dine::e2e
