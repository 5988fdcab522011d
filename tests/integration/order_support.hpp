#pragma once
// Shared helpers of the order_*_test.cpp files: two real `dine serve order`
// processes on the harness's four PostgreSQL shards and Redis, blocking HTTP
// calls to them, direct reads of the shards and of the event stream.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/http/client.hpp"
#include "core/pg/connection.hpp"
#include "core/redis/client.hpp"
#include "core/topology.hpp"
#include "tests/integration/harness.hpp"

namespace dine::order::test {

using nlohmann::json;
inline constexpr std::size_t kShards = 4;
inline constexpr int kNodes = 2;  // order-1, order-2

// One HTTP answer; status 0 when the node could not be reached (error holds why).
struct Resp {
  int status = 0;
  std::string body;
  http::Headers headers;
  std::string error;
  milliseconds took{0};

  json j() const { return json::parse(body, nullptr, false); }
  std::string header(std::string_view name) const;
  bool replayed() const { return header("idempotent-replayed") == "true"; }
  std::string error_code() const;  // the "error" field of a JSON error body, "" otherwise
};
std::ostream& operator<<(std::ostream& os, const Resp& r);

// The order nodes and their dependencies, started once per test program.
class Cluster {
 public:
  static Cluster& get();
  ~Cluster();

  const Topology& topo() const { return topo_; }
  const std::string& topology_path() const { return path_; }
  int port(int node) const;  // node 1..kNodes
  pid_t pid(int node) const { return pids_.at(node); }
  std::string log_path(int node) const;

  void start(int node);                                 // spawns and waits for /readyz 200
  void kill_hard(int node);                             // SIGKILL
  bool wait_ready(int node, milliseconds limit) const;  // polls /readyz
  std::string log_tail(int node) const;

  std::string shard_dsn(std::size_t shard) const;

 private:
  Cluster();
  Topology topo_;
  std::string path_;
  std::map<int, pid_t> pids_;
};

// --- HTTP ------------------------------------------------------------------

struct Call {
  int node = 1;
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  http::Headers headers;
};

Resp call(const Call& c, milliseconds timeout = milliseconds(10000));
Resp get(int node, std::string target);
Resp post(int node, std::string target, std::string body, http::Headers headers = {});

// Sends every call with at most `concurrency` in flight (one io_context, this
// thread). `on_done(i, resp)` runs on this thread as each answer arrives.
std::vector<Resp> call_many(const std::vector<Call>& calls, int concurrency,
                            const std::function<void(std::size_t, const Resp&)>& on_done = {},
                            milliseconds timeout = milliseconds(10000));

// --- the order API ---------------------------------------------------------

// A user id never used before in this program, living on `shard`.
uint64_t new_user(std::size_t shard);
std::string new_key(std::string_view prefix = "k");

json order_body(uint64_t user, uint64_t store = 7, int qty = 2, int64_t price = 350);
Call create_call(int node, std::string key, const json& body);
Call pay_call(int node, const std::string& order_id, const std::string& payment_id);
// Creates an order and returns its id; records a test failure (and returns "") when not 201.
std::string create_order(int node, uint64_t user);
std::size_t shard_of(const std::string& order_id);

// --- PostgreSQL, directly ------------------------------------------------------

// Runs one parameterised statement on the shard's "order" database.
pg::Result query(std::size_t shard, std::string sql, pg::Params params = {});
int64_t count(std::size_t shard, std::string sql, pg::Params params = {});
int64_t count_all(const std::string& table);  // rows of `table` over every shard
int64_t unsent_all();                         // outbox rows not yet sent, over every shard
// Polls until every outbox row of every shard is sent; false at the deadline.
bool wait_outbox_drained(milliseconds limit);

// --- Redis, directly ---------------------------------------------------------

redis::Reply redis_cmd(redis::Argv argv);
int64_t stream_len();
struct StreamEntry {
  std::string id, type, order_id, data;
};
std::vector<StreamEntry> stream_entries();
// How often each of `order_ids` appears in the stream (absent ids: 0).
std::map<std::string, int> stream_counts(const std::set<std::string>& order_ids);

using dine::test::eventually;

}  // namespace dine::order::test

namespace dine::order::test {

// Every order test starts from a whole cluster: both nodes answer /readyz
// with every dependency up ("ready", not "degraded": a test that stopped or
// froze a shard leaves no trace in the next).
class OrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& c = Cluster::get();
    for (int n = 1; n <= kNodes; ++n) {
      ASSERT_TRUE(c.wait_ready(n, milliseconds(30000))) << c.log_tail(n);
      Resp r;
      ASSERT_TRUE(eventually([&] { return (r = get(n, "/readyz")).j().value("status", "") == "ready"; },
                             milliseconds(30000)))
          << r;
    }
  }
};

}  // namespace dine::order::test
