// dine::redis::Client with a request context: cancellation abandons a command
// and keeps the connection, a request deadline shorter than the command
// timeout does not drop it, a Redis killed in the middle of a large pipeline,
// the client's own metrics, the ready check, plain error messages.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/metrics.hpp"
#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::Background;
using test::config;
using test::ctx_for;
using test::error_kind_of;
using test::co_eventually;
using test::fresh_key;
using test::ms_since;
using test::run;

Task<void> blpop(Client& c, Context ctx, std::string key) {
  co_await c.command(std::move(ctx), argv("BLPOP", key, "10"));
}

Task<void> blocking_pipeline(Client& c, Context ctx, std::string key) {
  std::vector<Argv> cmds{argv("ECHO", "a"), argv("BLPOP", key, "10"), argv("ECHO", "b")};
  co_await c.pipeline(std::move(ctx), std::move(cmds));
}

Task<void> cancelled_command() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-cancel"));
  Client other(ex, config("t-cancel-other"));
  const std::string key = fresh_key("t:cancel");
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");

  Background blocked(ex, blpop(c, ctx_for(milliseconds(30000)), key));
  EXPECT_TRUE(co_await co_eventually([&] { return c.figures().in_flight == 1; }, milliseconds(2000)));
  auto t0 = Clock::now();
  blocked.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return blocked.done(); }, milliseconds(2000)));
  EXPECT_TRUE(blocked.cancelled()) << "the caller gets operation_aborted";
  EXPECT_LT(ms_since(t0), 5000) << "abandoned at once, not when BLPOP's 10 s run out";
  EXPECT_TRUE(c.figures().connected) << "a cancelled command keeps its connection";
  EXPECT_EQ(c.figures().errors, 0u);
  EXPECT_EQ(c.figures().in_flight, 1u) << "abandoned, but still on the wire";

  // The abandoned BLPOP is answered late; the next command gets its own reply.
  co_await other.command(argv("RPUSH", key, "late"));
  EXPECT_EQ((co_await c.command(argv("ECHO", "mine"))).str, "mine");
  EXPECT_EQ((co_await c.command(argv("LLEN", key))).integer, 0) << "the abandoned BLPOP took the value";
  EXPECT_EQ(c.figures().in_flight, 0u);

  // The same for a pipeline cancelled while one of its commands blocks.
  Background piped(ex, blocking_pipeline(c, ctx_for(milliseconds(30000)), key));
  EXPECT_TRUE(co_await co_eventually([&] { return c.figures().in_flight == 2; }, milliseconds(2000)));
  piped.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return piped.done(); }, milliseconds(2000)));
  EXPECT_TRUE(piped.cancelled());
  co_await other.command(argv("RPUSH", key, "late2"));
  EXPECT_EQ((co_await c.command(argv("ECHO", "mine2"))).str, "mine2");
  EXPECT_EQ(c.figures().reconnects, 0u);
  EXPECT_EQ(c.figures().errors, 0u);
  EXPECT_TRUE(c.figures().connected);
}

TEST(RedisContext, CancelledCommandIsAbandonedAndConnectionKept) {
  run([](auto) { return cancelled_command(); });
}

Task<void> request_deadline() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-req-deadline", milliseconds(5000)));
  const std::string key = fresh_key("t:deadline");
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
  // The request has 150 ms left, the command timeout is 5 s: the request's
  // deadline wins, and the server (busy with BLPOP for 1 s) is not at fault.
  auto t0 = Clock::now();
  EXPECT_EQ(co_await error_kind_of(c.command(ctx_for(milliseconds(150)), argv("BLPOP", key, "1"))),
            ErrorKind::Timeout);
  EXPECT_GE(ms_since(t0), 140);
  EXPECT_LT(ms_since(t0), 4000);
  EXPECT_EQ(c.figures().errors, 1u);
  EXPECT_TRUE(c.figures().connected) << "a request deadline alone does not drop the connection";
  // Queued behind the BLPOP, the next command still gets its own answer.
  EXPECT_EQ((co_await c.command(ctx_for(), argv("ECHO", "after"))).str, "after");
  EXPECT_EQ(c.figures().reconnects, 0u);
  EXPECT_EQ(c.figures().in_flight, 0u);

  // A request already out of time sends nothing.
  uint64_t sent = c.figures().commands;
  Context late{"t-late", Clock::now() - milliseconds(1)};
  EXPECT_EQ(co_await error_kind_of(c.command(late, argv("PING"))), ErrorKind::Timeout);
  EXPECT_EQ(c.figures().commands, sent);
}

TEST(RedisContext, RequestDeadlineAbandonsWithoutDroppingTheConnection) {
  run([](auto) { return request_deadline(); });
}

Task<void> record_pipeline(Client& c, std::vector<Argv> cmds, std::shared_ptr<std::vector<std::string>> out) {
  try {
    co_await c.pipeline(ctx_for(milliseconds(60000)), std::move(cmds));
    out->push_back("ok");
  } catch (const Error& e) {
    out->push_back(e.kind() == ErrorKind::Unavailable ? "unavailable" : e.code());
  } catch (const std::exception& e) {
    out->push_back(e.what());
  }
}

Task<void> record_command(Client& c, Argv cmd, std::shared_ptr<std::vector<std::string>> out) {
  std::vector<Argv> one{std::move(cmd)};
  co_await record_pipeline(c, std::move(one), out);
}

Task<void> killed_mid_pipeline() {
  auto ex = co_await asio::this_coro::executor;
  auto& harness = dine::test::Harness::get();
  Client c(ex, config("t-kill", milliseconds(60000)));  // only the kill may end these commands
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");

  constexpr std::size_t kPipelined = 100000, kSingles = 50;
  std::vector<Argv> big;
  big.reserve(kPipelined);
  for (std::size_t i = 0; i < kPipelined; ++i)
    big.push_back(argv("ECHO", "payload-of-a-large-pipeline-" + std::to_string(i)));
  auto pipe_out = std::make_shared<std::vector<std::string>>();
  auto single_out = std::make_shared<std::vector<std::string>>();
  spawn_logged(ex, record_pipeline(c, std::move(big), pipe_out), "pipeline");
  for (std::size_t i = 0; i < kSingles; ++i)
    spawn_logged(ex, record_command(c, argv("ECHO", std::to_string(i)), single_out), "single");

  // Kill once the server has answered part of it, not all.
  Deadline end = deadline_in(milliseconds(20000));
  while (!(c.figures().commands == 1 + kPipelined + kSingles && c.figures().in_flight < kPipelined + kSingles) &&
         Clock::now() < end)
    co_await asio::post(ex, asio::use_awaitable);
  std::size_t left = c.figures().in_flight;
  EXPECT_GT(left, 0u) << "the pipeline finished before the kill: make it larger";
  EXPECT_LT(left, kPipelined + kSingles);
  EXPECT_TRUE(test::kill_redis_hard());

  EXPECT_TRUE(co_await co_eventually([&] { return pipe_out->size() == 1 && single_out->size() == kSingles; },
                                  milliseconds(10000)))
      << "a pending command hangs";
  DINE_CO_ASSERT_EQ(pipe_out->size(), 1u);
  EXPECT_EQ(pipe_out->at(0), "unavailable");
  for (const auto& o : *single_out) EXPECT_EQ(o, "unavailable") << "queued behind the pipeline";
  EXPECT_EQ(c.figures().in_flight, 0u);
  EXPECT_FALSE(c.figures().connected);

  harness.redis_start();
  std::string answer;
  end = deadline_in(milliseconds(10000));
  while (answer.empty() && Clock::now() < end) {
    try {
      answer = (co_await c.command(argv("PING"))).str;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    }
    if (answer.empty()) co_await sleep_for(milliseconds(50));
  }
  EXPECT_EQ(answer, "PONG");
  EXPECT_TRUE(c.figures().connected);
  EXPECT_EQ(c.figures().reconnects, 1u);
}

TEST(RedisContext, KilledInTheMiddleOfALargePipelineFailsEveryPendingCommand) {
  run([](auto) { return killed_mid_pipeline(); });
}

Task<void> own_metrics() {
  auto ex = co_await asio::this_coro::executor;
  metrics::Registry reg;
  ClientConfig cfg = config("t-metrics");
  cfg.metrics = &reg;
  cfg.worker = 3;
  Client c(ex, cfg);
  metrics::Labels l{{"redis", "t-metrics"}, {"worker", "3"}};
  // The registry hands back the client's own instruments.
  metrics::Gauge& connected = reg.gauge("dine_redis_connected", "", l);
  metrics::Gauge& in_flight = reg.gauge("dine_redis_in_flight", "", l);
  metrics::Counter& commands = reg.counter("dine_redis_commands_total", "", l);
  metrics::Counter& errors = reg.counter("dine_redis_errors_total", "", l);
  metrics::Counter& reconnects = reg.counter("dine_redis_reconnects_total", "", l);
  EXPECT_EQ(connected.value(), 0);

  for (int i = 0; i < 3; ++i) co_await c.command(argv("PING"));
  EXPECT_EQ(commands.value(), 3u);
  EXPECT_EQ(connected.value(), 1);
  EXPECT_EQ(in_flight.value(), 0);

  const std::string key = fresh_key("t:metrics");
  Background blocked(ex, blpop(c, ctx_for(milliseconds(30000)), key));
  EXPECT_TRUE(co_await co_eventually([&] { return in_flight.value() == 1; }, milliseconds(2000)))
      << "updated as it happens, not by a copying loop";
  c.disconnect();
  EXPECT_TRUE(co_await co_eventually([&] { return blocked.done(); }, milliseconds(2000)));
  EXPECT_EQ(in_flight.value(), 0);
  EXPECT_EQ(connected.value(), 0);
  EXPECT_EQ(errors.value(), 0u) << "a disconnect we asked for is no failure";
  co_await c.command(argv("PING"));
  EXPECT_EQ(reconnects.value(), 1u);
  EXPECT_EQ(connected.value(), 1);
  EXPECT_EQ(commands.value(), 5u);
  EXPECT_EQ(c.figures().commands, 5u) << "figures() agree with the instruments";

  ClientConfig down = config("t-metrics-down");
  down.port = test::closed_port();
  down.metrics = &reg;
  Client d(ex, down);
  EXPECT_EQ(co_await error_kind_of(d.command(argv("PING"))), ErrorKind::Unavailable);
  std::string text = reg.render();
  EXPECT_NE(text.find("dine_redis_errors_total{redis=\"t-metrics-down\",worker=\"0\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("dine_redis_commands_total{redis=\"t-metrics\",worker=\"3\"} 5"), std::string::npos) << text;
  EXPECT_NE(text.find("dine_redis_connected{redis=\"t-metrics-down\",worker=\"0\"} 0"), std::string::npos) << text;
}

TEST(RedisContext, ClientUpdatesItsOwnInstruments) { run([](auto) { return own_metrics(); }); }

// The Error of `task`, or a default one (the test fails) when it does not throw.
Task<Error> error_of(Task<void> task) {
  try {
    co_await std::move(task);
  } catch (const Error& e) {
    co_return e;
  }
  ADD_FAILURE() << "expected a dine::Error";
  co_return Error(ErrorKind::Internal, "none");
}

Task<void> blpop_no_context(Client& c, std::string key) { co_await c.command(argv("BLPOP", key, "2")); }

void expect_plain(const Error& e, int port) {
  std::string msg = e.what();
  EXPECT_EQ(msg.find(std::to_string(port)), std::string::npos) << msg;
  EXPECT_EQ(msg.find("127.0.0.1"), std::string::npos) << msg;
  EXPECT_NE(e.detail().find(std::to_string(port)), std::string::npos) << "the detail names the server: " << e.detail();
}

Task<void> ping_and_plain_errors() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-ping"));
  co_await c.ping(ctx_for());

  ClientConfig down = config("t-ping-down");
  down.port = test::closed_port();
  Client d(ex, down);
  Error refused = co_await error_of(d.ping(ctx_for()));
  EXPECT_EQ(refused.kind(), ErrorKind::Unavailable);
  EXPECT_STREQ(refused.what(), "a Redis server is unavailable");
  expect_plain(refused, down.port);

  ClientConfig slow = config("t-ping-slow", milliseconds(200));
  Client s(ex, slow);
  co_await s.ping(ctx_for());
  Error late = co_await error_of(blpop_no_context(s, fresh_key("t:ping")));
  EXPECT_EQ(late.kind(), ErrorKind::Timeout);
  EXPECT_EQ(std::string(late.what()).find("127.0.0.1"), std::string::npos) << late.what();
}

TEST(RedisContext, PingReadyCheckAndPlainErrorMessages) { run([](auto) { return ping_and_plain_errors(); }); }

}  // namespace
}  // namespace dine::redis
