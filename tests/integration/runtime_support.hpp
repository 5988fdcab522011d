#pragma once
// Shared helpers of the runtime_*_test.cpp files: real `dine serve testkit`
// processes (server/testkit, a hidden test role) on the harness's PostgreSQL
// and Redis, blocking HTTP calls to them, and what a test reads back (exit
// codes, stderr, logs, /metrics).
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/http/message.hpp"
#include "core/redis/reply.hpp"
#include "core/topology.hpp"
#include "tests/integration/harness.hpp"

namespace dine::runtime_test {

using nlohmann::json;
using dine::test::eventually;
using Env = std::vector<std::pair<std::string, std::string>>;

// The suite's topology: pg-testkit (harness PostgreSQL 0, database
// "testkit"), redis-testkit (the harness Redis) and one testkit node per test
// that stops, wedges or holds a node, so no test disturbs another's process:
//   tk-basic tk-lock tk-term tk-timeout (request_timeout_ms 400) tk-wedge
//   tk-flaky tk-ready
// The "testkit" section sets greeting "hello from the section" and
// fail_first_n 3; tk-basic overrides the greeting in its own config.
class Kit {
 public:
  static Kit& get();

  const Topology& topo() const { return topo_; }
  const std::string& topology_path() const { return path_; }
  int port(const std::string& node) const { return topo_.node(node).port; }
  // The private lock dir every spawned node uses (DINE_LOCK_DIR).
  const std::string& lock_dir() const { return lock_dir_; }
  // A topology file like the suite's whose "testkit" section has one more key.
  std::string topology_with_section_key(const std::string& key, const json& value) const;

  static constexpr int kFailFirstN = 3;
  static constexpr int kShortRequestTimeoutMs = 400;  // tk-timeout's request_timeout_ms

 private:
  Kit();
  json doc_;
  Topology topo_;
  std::string path_;
  std::string lock_dir_;
};

// DINE_TEST_ROLES=1, DINE_TEST_ROUTES=1 and the kit's DINE_LOCK_DIR, then `extra` over them.
Env serve_env(const Env& extra = {});
std::vector<std::string> serve_argv(const std::string& node, const std::string& topology, int threads);

// One `dine serve testkit --node ID` process, spawned from the test's main
// thread (die_with_parent), its output in <harness temp>/<node>-<n>.log.
// Stopped (SIGTERM, then SIGKILL) when destroyed if still running.
class Serve {
 public:
  explicit Serve(std::string node, int threads = 2);
  // A node of another topology file (its own nodes and name): `topo` is that file, loaded.
  Serve(std::string node, const Topology& topo, const std::string& topology_path, int threads = 2);
  ~Serve();
  Serve(const Serve&) = delete;
  Serve& operator=(const Serve&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& node() const { return node_; }

  // Polls /readyz until it answers 200 (false when the process ends or at the deadline).
  bool wait_ready(milliseconds limit = milliseconds(30000));
  // Polls until the process has exited; its exit code (128+signal when
  // killed), or nullopt at the deadline.
  std::optional<int> wait_exit(milliseconds limit);
  bool running();
  std::string log() const;       // the whole log
  std::string log_tail() const;  // its last lines, for failure messages

 private:
  std::string node_;
  int port_;
  std::string log_path_;
  pid_t pid_ = 0;
  std::optional<int> exit_code_;
};

// A serve that is expected to be refused: runs to its end (at most `limit`,
// else the test fails) and returns its exit code and its stderr alone.
struct Refusal {
  int code = -1;
  std::string err;
};
Refusal serve_refused(const std::vector<std::string>& argv, const Env& env, milliseconds limit);

// --- HTTP --------------------------------------------------------------------

// One HTTP answer; status 0 when the node did not answer in time (error says why).
struct Resp {
  int status = 0;
  std::string body;
  http::Headers headers;
  std::string error;
  milliseconds took{0};

  json j() const { return json::parse(body, nullptr, false); }
  std::string header(std::string_view name) const;
  std::string error_code() const;  // the "error" field of a JSON error body, "" otherwise
};
std::ostream& operator<<(std::ostream& os, const Resp& r);

// A fresh connection per call (so SO_REUSEPORT picks a worker anew), no retries.
Resp call(int port, std::string method, std::string target, http::Headers headers = {},
          milliseconds timeout = milliseconds(10000), std::string body = {});
inline Resp post_json(int port, std::string target, std::string body) {
  return call(port, "POST", std::move(target), {{"Content-Type", "application/json"}}, milliseconds(10000),
              std::move(body));
}
inline Resp get(int port, std::string target, milliseconds timeout = milliseconds(10000)) {
  return call(port, "GET", std::move(target), {}, timeout);
}

// `n` copies of one call, all sent at once (one connection each, each on the
// calling thread's loop); the answers in order.
std::vector<Resp> call_many(int port, const std::string& method, const std::string& target, int n,
                            const std::string& body = {}, milliseconds timeout = milliseconds(20000));
// One call per body, at most `in_flight` at once (one connection each); the answers in order.
std::vector<Resp> call_each(int port, const std::string& method, const std::string& target,
                            const std::vector<std::string>& bodies, int in_flight,
                            milliseconds timeout = milliseconds(60000));

// One command on the harness's Redis (blocking).
redis::Reply redis_cmd(std::vector<std::string> argv);
// One statement (or several, simple protocol) on database `db` of the harness's PostgreSQL 0.
void pg_exec(const std::string& db, const std::string& sql);

// The value of the series `name{...}` whose labels contain every one of
// `labels` (e.g. {"component=\"flaky\""}) in a /metrics text; nullopt when absent.
std::optional<double> metric(const std::string& text, const std::string& name, const std::vector<std::string>& labels);

}  // namespace dine::runtime_test
