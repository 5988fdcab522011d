// Real PostgreSQL and Redis through the harness: they answer, and a restart on
// the same port keeps the data.
#include <filesystem>
#include <fstream>
#include <set>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include "core/stack/process.hpp"
#include "core/stack/servers.hpp"
#include "tests/integration/harness.hpp"

namespace dine::stack {
namespace {

using test::Harness;

// psql as a client process (no libpq in this test): exit code and output.
int psql(const PgInstance& pg, const std::string& sql, const std::string& log) {
  SpawnOptions o;
  o.argv = {postgres_bindir() + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-d", pg.dsn("postgres"), "-c", sql};
  o.log_file = log;
  return run_and_wait(o, milliseconds(30000));
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(StackServers, PostgresAnswersQueries) {
  auto& pg = Harness::get().pg(0);
  ASSERT_GT(pg.port, 0);
  EXPECT_TRUE(alive(pg.pid));
  std::string log = Harness::get().temp_dir() + "/psql-select.log";
  ASSERT_EQ(psql(pg, "SELECT 40 + 2", log), 0) << read_all(log);
  EXPECT_EQ(read_all(log), "42\n");
}

TEST(StackServers, PostgresRunsAsPostgresUserWhenRoot) {
  if (!running_as_root()) GTEST_SKIP();
  auto& pg = Harness::get().pg(0);
  EXPECT_EQ(std::filesystem::status(pg.dir + "/data").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  struct stat st {};
  ASSERT_EQ(stat(fmt::format("/proc/{}", pg.pid).c_str(), &st), 0);
  struct passwd* pw = getpwnam("postgres");
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(st.st_uid, pw->pw_uid) << "PostgreSQL refuses root: it must run as postgres";
}

TEST(StackServers, FourPostgresServersOnDistinctPorts) {
  auto& h = Harness::get();
  std::set<int> ports;
  for (std::size_t i = 0; i < 4; ++i) ports.insert(h.pg(i).port);
  EXPECT_EQ(ports.size(), 4u);
  std::string log = h.temp_dir() + "/psql-3.log";
  EXPECT_EQ(psql(h.pg(3), "SELECT 1", log), 0) << read_all(log);
}

TEST(StackServers, PostgresRestartKeepsPortAndData) {
  auto& h = Harness::get();
  auto& pg = h.pg(1);
  int port = pg.port;
  std::string log = h.temp_dir() + "/psql-restart.log";
  ASSERT_EQ(psql(pg, "CREATE TABLE survive(v int); INSERT INTO survive VALUES (7)", log), 0)
      << read_all(log);
  h.pg_stop(1);
  EXPECT_FALSE(alive(pg.pid));
  EXPECT_FALSE(wait_port(pg.host, port, deadline_in(milliseconds(200))));
  h.pg_start(1);
  EXPECT_EQ(pg.port, port);
  std::string log2 = h.temp_dir() + "/psql-restart2.log";
  ASSERT_EQ(psql(pg, "SELECT v FROM survive", log2), 0) << read_all(log2);
  EXPECT_EQ(read_all(log2), "7\n");
}

TEST(StackServers, RedisAnswersPingAndRestarts) {
  auto& h = Harness::get();
  auto& r = h.redis();
  EXPECT_TRUE(redis_ping(r.host, r.port));
  EXPECT_EQ(tcp_first_line(r.host, r.port, "SET dine:probe 5\r\n", milliseconds(1000)), "+OK");
  int port = r.port;
  h.redis_stop();
  EXPECT_FALSE(redis_ping(r.host, port, milliseconds(200)));
  h.redis_start();
  EXPECT_EQ(r.port, port);
  EXPECT_TRUE(redis_ping(r.host, r.port));
  // appendonly: the key written before the restart is still there.
  EXPECT_EQ(tcp_first_line(r.host, r.port, "GET dine:probe\r\n", milliseconds(1000)), "$1");
}

TEST(StackServers, PgStartFailsWithLogTailWhenPortTaken) {
  auto& h = Harness::get();
  PgInstance other;
  other.dir = h.temp_dir() + "/pg-clash";
  other.port = h.pg(0).port;  // already in use
  other.die_with_parent = true;
  pg_init(other);
  try {
    pg_start(other, milliseconds(20000));
    pg_stop(other);
    FAIL() << "a second postgres on a used port must fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("postgres.log"), std::string::npos) << e.what();
    EXPECT_EQ(other.pid, 0);
  }
}

TEST(StackServers, TopologyJsonNamesHarnessServers) {
  auto& h = Harness::get();
  std::string text = h.topology_json(2);
  EXPECT_NE(text.find(std::to_string(h.pg(2).port)), std::string::npos);
  EXPECT_NE(text.find(std::to_string(h.redis().port)), std::string::npos);
  EXPECT_NE(text.find("\"order-2\""), std::string::npos);
  EXPECT_EQ(text.find("\"order-3\""), std::string::npos);
  std::string path = h.topology_file(1);
  EXPECT_TRUE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace dine::stack
