#pragma once
// Shared helpers of the redis_*.cpp tests: run a coroutine to completion on a
// fresh io_context, a client config aimed at the harness's Redis, polling,
// fresh key names, a cancellable background task, a Redis killed hard, and
// the stream consumer tests' handlers.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/context.hpp"
#include "core/errors.hpp"
#include "core/redis/client.hpp"
#include "core/redis/stream_consumer.hpp"
#include "core/redis/streams.hpp"
#include "core/stack/process.hpp"
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

using dine::test::co_eventually;

// A loopback port where nothing listens (bound, then closed).
inline int closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

// A key name no other test (or earlier run against the same server) uses.
inline std::string fresh_key(const std::string& prefix) { return prefix + ":" + new_request_id().substr(0, 10); }

// A context for one test step: its own request id, `budget` to finish.
inline Context ctx_for(milliseconds budget = milliseconds(5000)) {
  return Context{"t-" + new_request_id().substr(0, 8), deadline_in(budget)};
}

// Runs a task in the background with a cancellation slot the test holds, the
// way the HTTP server runs a handler: stop() emits terminal cancellation.
class Background {
 public:
  Background(asio::any_io_executor ex, Task<void> task) : st_(std::make_shared<State>()) {
    auto st = st_;
    asio::co_spawn(ex, std::move(task), asio::bind_cancellation_slot(st->signal.slot(), [st](std::exception_ptr e) {
                     st->done = true;
                     st->error = e;
                   }));
  }
  void stop() { st_->signal.emit(asio::cancellation_type::terminal); }
  bool done() const { return st_->done; }
  // True when it ended by asio cancellation (operation_aborted).
  bool cancelled() const {
    if (!st_->error) return false;
    try {
      std::rethrow_exception(st_->error);
    } catch (const boost::system::system_error& e) {
      return e.code() == asio::error::operation_aborted;
    } catch (...) {
    }
    return false;
  }
  std::exception_ptr error() const { return st_->error; }

 private:
  struct State {
    asio::cancellation_signal signal;
    bool done = false;
    std::exception_ptr error;
  };
  std::shared_ptr<State> st_;
};

// SIGKILL the harness's Redis and wait until it is gone (reaped), so that
// Harness::redis_start() starts it again.
inline bool kill_redis_hard(milliseconds limit = milliseconds(10000)) {
  auto& r = dine::test::Harness::get().redis();
  ::kill(r.pid, SIGKILL);
  Deadline end = deadline_in(limit);
  while (stack::alive(r.pid)) {
    if (Clock::now() > end) return false;
    ::usleep(2000);
  }
  return true;
}

// ---- streams: a consumer config on fresh names, handlers that record what
// they saw (named coroutines; the lambdas calling them are not coroutines).

inline ClientConfig consumer_client(std::string name) { return config(std::move(name), milliseconds(2000)); }

// Short block, backoffs and stats period; no claims unless a test asks.
inline ConsumerConfig consumer_config(std::string stream, std::string group, std::string consumer) {
  ConsumerConfig c;
  c.stream = std::move(stream);
  c.group = std::move(group);
  c.consumer = std::move(consumer);
  c.block = milliseconds(200);
  c.claim_after = milliseconds(60000);
  c.backoff_initial = milliseconds(10);
  c.backoff_max = milliseconds(100);
  c.stats_every = milliseconds(50);
  return c;
}

// What a handler saw: every delivery, in order.
struct Seen {
  std::vector<Entry> entries;
  std::map<std::string, int> deliveries;  // by entry id
  int distinct() const { return static_cast<int>(deliveries.size()); }
};

inline Task<void> record(std::shared_ptr<Seen> seen, Entry e) {
  ++seen->deliveries[e.id];
  seen->entries.push_back(std::move(e));
  co_return;
}

inline Handler recorder(std::shared_ptr<Seen> seen) {
  return [seen](Entry e) { return record(seen, std::move(e)); };
}

// XADD with explicit fields; the id.
inline Task<std::string> produce(Client& c, std::string stream, std::string key, std::string value) {
  Fields f;
  f.emplace_back(std::move(key), std::move(value));
  co_return co_await c.xadd(std::move(stream), std::move(f));
}

// XPENDING stream group - + 1000: ids of the group's pending entries.
inline Task<std::vector<std::string>> pending_ids(Client& c, std::string stream, std::string group) {
  Reply r = co_await c.command(argv("XPENDING", stream, group, "-", "+", "1000"));
  std::vector<std::string> ids;
  for (const Reply& p : r.elements) ids.push_back(p.elements.at(0).str);
  co_return ids;
}

inline Task<int64_t> xlen(Client& c, std::string stream) {
  co_return (co_await c.command(argv("XLEN", stream))).integer;
}

}  // namespace dine::redis::test
