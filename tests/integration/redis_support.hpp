#pragma once
// Shared helpers of the redis_*.cpp tests: run a coroutine to completion on a
// fresh io_context, a client config aimed at the harness's Redis, polling.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <functional>
#include <stdexcept>
#include <string>

#include "core/errors.hpp"
#include "core/redis/client.hpp"
#include "tests/integration/harness.hpp"

namespace dine::redis::test {

using dine::test::run;

inline ClientConfig config(std::string name, milliseconds command_timeout = milliseconds(2000)) {
  auto& r = dine::test::Harness::get().redis();
  ClientConfig c;
  c.name = std::move(name);
  c.host = r.host;
  c.port = r.port;
  c.connect_timeout = milliseconds(1000);
  c.command_timeout = command_timeout;
  return c;
}

// argv("SET", key, value). (A braced list of string literals inside a co_await
// expression trips GCC 12: "array used as initializer".)
template <class... S>
Argv argv(const S&... s) {
  return Argv{std::string(s)...};
}

// The kind of the dine::Error that `task` throws; fails the test if none.
inline Task<ErrorKind> error_kind_of(Task<Reply> task) {
  try {
    Reply r = co_await std::move(task);
    ADD_FAILURE() << "expected a dine::Error, got a reply of type " << static_cast<int>(r.type);
  } catch (const Error& e) {
    co_return e.kind();
  }
  co_return ErrorKind::Internal;
}

// ASSERT_* returns, which a coroutine cannot: these co_return instead.
#define DINE_CO_ASSERT_EQ(a, b) \
  do {                          \
    EXPECT_EQ(a, b);            \
    if (!((a) == (b))) co_return; \
  } while (0)
#define DINE_CO_ASSERT_TRUE(c) \
  do {                         \
    EXPECT_TRUE(c);            \
    if (!(c)) co_return;       \
  } while (0)

// Polls `cond` every 20 ms until it holds or `limit` passes.
inline Task<bool> eventually(std::function<bool()> cond, milliseconds limit) {
  Deadline end = deadline_in(limit);
  while (!cond()) {
    if (Clock::now() > end) co_return false;
    co_await sleep_for(milliseconds(20));
  }
  co_return true;
}

// A loopback port where nothing listens (bound, then closed).
inline int closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

}  // namespace dine::redis::test
