#pragma once
// The integration harness: throwaway PostgreSQL and Redis servers on free
// ports in a temporary directory, started on first use (polling for readiness,
// never sleeping blindly) and stopped when the test program exits.
#include <cstddef>
#include <functional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "core/stack/servers.hpp"

namespace dine::test {

class Harness {
 public:
  static Harness& get();

  // PostgreSQL server i (0..3), started on first use; databases are created by
  // the caller (or by dine::migrate_all through topology()).
  stack::PgInstance& pg(std::size_t i);
  void pg_stop(std::size_t i);   // stop server i (for outage tests)
  void pg_start(std::size_t i);  // start it again on the same port and data
  // SIGSTOP / SIGCONT server i: its postmaster and every backend (each has its
  // own session): the server accepts TCP connections and answers nothing.
  void pg_freeze(std::size_t i);
  void pg_thaw(std::size_t i);

  stack::RedisInstance& redis();
  void redis_stop();
  void redis_start();

  // A topology text (JSON) with pg-order-0..3 on the harness's servers,
  // redis-mq on the harness's redis, and `order_nodes` order nodes on free ports.
  std::string topology_json(int order_nodes = 2);
  // Writes topology_json() to a file in the temp dir and returns its path.
  std::string topology_file(int order_nodes = 2);

  std::string temp_dir() const { return root_; }
  static std::string dine_binary();  // path of the built dine executable

  ~Harness();

 private:
  Harness();
  std::string root_;
  struct State;
  State* state_;
};

// The one way tests wait: poll a condition until it holds or the deadline
// passes (never a blind sleep). `eventually` blocks the calling thread (test
// bodies); `co_eventually` sleeps on the coroutine's loop between polls.
bool eventually(const std::function<bool()>& cond, milliseconds limit, milliseconds step = milliseconds(20));
Task<bool> co_eventually(std::function<bool()> cond, milliseconds limit = milliseconds(3000),
                         milliseconds step = milliseconds(5));

// Runs make(executor) to completion on a fresh io_context; returns its result
// or rethrows its exception. Shared by every integration test.
template <class Make>
auto run(Make make) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, make(io.get_executor()), asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace dine::test
