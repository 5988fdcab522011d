#pragma once
// Shared helpers of the pg_*_test.cpp files: run a coroutine to completion on
// a fresh io_context, reach the harness's PostgreSQL, kill a backend.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <string>

#include "core/context.hpp"
#include "core/pg/connection.hpp"
#include "tests/integration/harness.hpp"

namespace dine::pg::test {

inline std::string dsn() { return dine::test::Harness::get().pg(0).dsn("postgres"); }

using dine::test::run;

inline Task<void> pause(milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

inline Task<std::unique_ptr<Connection>> open(std::string dsn_text) {
  co_return co_await Connection::connect(co_await asio::this_coro::executor, std::move(dsn_text),
                                         deadline_in(milliseconds(5000)));
}

inline Deadline soon() { return deadline_in(milliseconds(5000)); }
// A request context for pool calls: an id for the logs, a 5 s deadline.
inline Context ctx(milliseconds budget = milliseconds(5000)) { return Context{"pg-test", deadline_in(budget)}; }

// Terminates backend `pid` from another connection and waits until it is gone.
inline Task<void> terminate_backend(int pid) {
  auto admin = co_await open(dsn());
  static constexpr Statement kKill{"test_kill", "SELECT pg_terminate_backend($1::int)"};
  static constexpr Statement kAlive{"test_alive", "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1::int"};
  co_await admin->execute(kKill, params(pid), soon());
  for (int i = 0; i < 500; ++i) {
    Result r = co_await admin->execute(kAlive, params(pid), soon());
    if (r.int64(0, "n") == 0) co_return;
    co_await pause(milliseconds(10));
  }
  throw std::runtime_error("backend " + std::to_string(pid) + " still alive after 5 s");
}

// A loopback port where nothing listens (bound, then closed).
inline int closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline std::string dsn_on_port(int port) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " dbname=postgres user=dine";
}

}  // namespace dine::pg::test
