// dine::redis::Client when things go wrong: command deadlines, a Redis that
// goes down and comes back, a port where nothing listens, a Client destroyed
// with commands in flight.
#include <gtest/gtest.h>

#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::config;
using test::error_kind_of;
using test::co_eventually;
using test::ms_since;
using test::run;

Task<void> command_timeout() {
  Client c(co_await asio::this_coro::executor, config("t-timeout", milliseconds(200)));
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
  auto t0 = Clock::now();
  // BLPOP holds the reply for 2 s, far past the 200 ms deadline.
  bool timed_out = false;
  try {
    co_await c.command(argv("BLPOP", "t:timeout:never", "2"));
  } catch (const Error& e) {
    timed_out = e.kind() == ErrorKind::Timeout && e.code() == "redis_timeout";
  }
  EXPECT_TRUE(timed_out);
  EXPECT_GE(ms_since(t0), 180);
  EXPECT_LT(ms_since(t0), 1000);
  EXPECT_EQ(c.figures().errors, 1u);
  EXPECT_FALSE(c.figures().connected) << "the connection of a timed-out command is dropped";
  EXPECT_EQ(c.figures().in_flight, 0u);

  // The next command reconnects and gets its own answer, not a late one.
  co_await c.command(argv("RPUSH", "t:timeout:never", "late"));
  Reply r = co_await c.command(argv("LPOP", "t:timeout:never"));
  EXPECT_EQ(r.str, "late") << "the timed-out BLPOP must not have consumed it";
  EXPECT_EQ(c.figures().reconnects, 1u);

  // A pipeline shares one deadline.
  t0 = Clock::now();
  auto pipe = [](Client& cl) -> Task<ErrorKind> {
    try {
      std::vector<Argv> cmds{argv("PING"), argv("BLPOP", "t:timeout:never", "2"), argv("PING")};
      co_await cl.pipeline(std::move(cmds));
    } catch (const Error& e) {
      co_return e.kind();
    }
    co_return ErrorKind::Internal;
  };
  EXPECT_EQ(co_await pipe(c), ErrorKind::Timeout);
  EXPECT_LT(ms_since(t0), 1000);
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
}

TEST(RedisFailure, CommandTimeoutThrowsAndDropsConnection) {
  run([](auto) { return command_timeout(); });
}

Task<void> nothing_listening() {
  ClientConfig cfg = config("t-closed-port");
  cfg.port = test::closed_port();
  Client c(co_await asio::this_coro::executor, cfg);
  auto t0 = Clock::now();
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_LT(ms_since(t0), 500);
  EXPECT_EQ(c.figures().errors, 1u);
  // Within the backoff the client fails fast without trying again...
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_EQ(c.figures().errors, 1u) << "a connect attempt inside the backoff window";
  // ...and after it, it tries again.
  co_await sleep_for(milliseconds(300));
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_EQ(c.figures().errors, 2u);
  EXPECT_FALSE(c.figures().connected);
}

TEST(RedisFailure, NothingListeningFailsFastWithBackoff) {
  run([](auto) { return nothing_listening(); });
}

// A listener that never accepts, with its queue full: connects hang.
Task<void> connect_timeout() {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::acceptor hole(ex, {asio::ip::make_address("127.0.0.1"), 0});
  hole.listen(0);
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
  for (int i = 0; i < 4; ++i) {
    auto s = std::make_unique<asio::ip::tcp::socket>(ex);
    s->async_connect(hole.local_endpoint(), [](boost::system::error_code) {});
    fillers.push_back(std::move(s));
  }
  co_await sleep_for(milliseconds(100));
  ClientConfig cfg = config("t-connect-timeout");
  cfg.port = hole.local_endpoint().port();
  cfg.connect_timeout = milliseconds(300);
  cfg.command_timeout = milliseconds(5000);
  Client c(ex, cfg);
  auto t0 = Clock::now();
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_GE(ms_since(t0), 250);
  EXPECT_LT(ms_since(t0), 2000);
  EXPECT_EQ(c.figures().errors, 1u);
}

TEST(RedisFailure, ConnectTimeoutApplies) { run([](auto) { return connect_timeout(); }); }

Task<void> record_kind(Task<Reply> task, std::shared_ptr<std::vector<ErrorKind>> kinds) {
  kinds->push_back(co_await error_kind_of(std::move(task)));
}

Task<void> outage_and_back() {
  auto ex = co_await asio::this_coro::executor;
  auto& harness = dine::test::Harness::get();
  Client c(ex, config("t-outage"));
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");

  // Commands in flight when the server goes away all fail with Unavailable.
  auto kinds = std::make_shared<std::vector<ErrorKind>>();
  for (int i = 0; i < 5; ++i)
    spawn_logged(ex, record_kind(c.command(argv("BLPOP", "t:outage:never", "5")), kinds), "blpop");
  EXPECT_TRUE(co_await co_eventually([&] { return c.figures().in_flight == 5; }, milliseconds(2000)));
  co_await sleep_for(milliseconds(50));  // let the commands reach the server
  auto t0 = Clock::now();
  harness.redis_stop();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == 5; }, milliseconds(1500)));
  EXPECT_LT(ms_since(t0), 1500);
  for (ErrorKind k : *kinds) EXPECT_EQ(k, ErrorKind::Unavailable);
  EXPECT_FALSE(c.figures().connected);

  // While it is down, commands fail quickly rather than hang.
  for (int i = 0; i < 3; ++i) {
    t0 = Clock::now();
    EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
    EXPECT_LT(ms_since(t0), 500);
  }
  uint64_t errors_while_down = c.figures().errors;
  EXPECT_GE(errors_while_down, 2u);  // the lost connection and one refused connect

  harness.redis_start();
  EXPECT_FALSE(c.figures().connected) << "connects only when a command asks";
  // The next command after the backoff reconnects.
  std::string answer;
  Deadline end = deadline_in(milliseconds(10000));
  int refused = 0;
  while (answer.empty() && Clock::now() < end) {
    try {
      answer = (co_await c.command(argv("PING"))).str;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
      ++refused;
    }
    if (answer.empty()) co_await sleep_for(milliseconds(50));
  }
  EXPECT_EQ(answer, "PONG");
  EXPECT_LE(refused, 10) << "at most a backoff's worth of refusals once Redis is back";
  EXPECT_TRUE(c.figures().connected);
  EXPECT_EQ(c.figures().reconnects, 1u);
  EXPECT_EQ(c.figures().in_flight, 0u);
}

TEST(RedisFailure, ServerDownFailsFastThenReconnects) {
  run([](auto) { return outage_and_back(); });
}

Task<void> explicit_disconnect() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-disconnect"));
  co_await c.command(argv("PING"));
  auto kinds = std::make_shared<std::vector<ErrorKind>>();
  spawn_logged(ex, record_kind(c.command(argv("BLPOP", "t:disconnect:never", "5")), kinds), "blpop");
  EXPECT_TRUE(co_await co_eventually([&] { return c.figures().in_flight == 1; }, milliseconds(2000)));
  c.disconnect();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == 1; }, milliseconds(500)));
  EXPECT_EQ(kinds->at(0), ErrorKind::Unavailable);
  EXPECT_EQ(c.figures().errors, 0u) << "a disconnect we asked for is no failure";
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
  EXPECT_EQ(c.figures().reconnects, 1u);
}

TEST(RedisFailure, DisconnectFailsPendingAndNextCommandReconnects) {
  run([](auto) { return explicit_disconnect(); });
}

Task<void> destroy_in_flight() {
  auto ex = co_await asio::this_coro::executor;
  auto c = std::make_unique<Client>(ex, config("t-destroy"));
  co_await c->command(argv("PING"));
  auto kinds = std::make_shared<std::vector<ErrorKind>>();
  constexpr int kPending = 50;
  for (int i = 0; i < kPending; ++i)
    spawn_logged(ex, record_kind(c->command(argv("BLPOP", "t:destroy:never", "5")), kinds), "blpop");
  // Some written to the server, some maybe still in hiredis's buffer.
  EXPECT_TRUE(co_await co_eventually([&] { return c->figures().in_flight == kPending; }, milliseconds(2000)));
  // And one that has not even started yet: it runs after the Client is gone.
  spawn_logged(ex, record_kind(c->command(argv("PING")), kinds), "late");
  c.reset();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == kPending + 1; }, milliseconds(1000)));
  for (ErrorKind k : *kinds) EXPECT_EQ(k, ErrorKind::Unavailable);

  // Destroyed while still connecting, with commands queued in hiredis.
  kinds->clear();
  c = std::make_unique<Client>(ex, config("t-destroy-connecting"));
  for (int i = 0; i < 3; ++i)
    spawn_logged(ex, record_kind(c->command(argv("PING")), kinds), "connecting");
  co_await asio::post(ex, asio::use_awaitable);  // the commands issue; the connect is not done
  EXPECT_EQ(c->figures().in_flight, 3u);
  EXPECT_FALSE(c->figures().connected);
  c.reset();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == 3; }, milliseconds(1000)));
  for (ErrorKind k : *kinds) EXPECT_EQ(k, ErrorKind::Unavailable);
}

TEST(RedisFailure, DestroyWithCommandsInFlightIsSafe) { run([](auto) { return destroy_in_flight(); }); }

}  // namespace
}  // namespace dine::redis
