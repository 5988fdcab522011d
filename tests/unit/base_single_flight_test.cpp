// SingleFlight: concurrent loads of one key from several threads share one
// load; an error reaches every waiter; a caller out of time leaves, the others
// are still served.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "core/errors.hpp"
#include "core/single_flight.hpp"

namespace dine {
namespace {

// A load that waits until `release` is set, so callers pile up behind it.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<int> loads{0};
  Task<SingleFlight::Value> load(std::optional<std::string> value) {
    loads.fetch_add(1);
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!open.load()) {
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return value;
  }
};

TEST(SingleFlight, ManyCallersOnTwoThreadsShareOneLoad) {
  SingleFlight sf;
  Gate gate;
  asio::io_context a, b;
  std::atomic<int> got{0}, loaded{0};
  constexpr int kPerThread = 500;
  auto caller = [&]() -> Task<void> {
    // Arguments as named locals: GCC 12 destroys temporaries made inside a
    // co_await expression wrongly.
    Context ctx{"t", deadline_in(milliseconds(10000))};
    SingleFlight::Loader load = [&] { return gate.load(std::string("the menu")); };
    auto out = co_await sf.run(ctx, "menu:1", load);
    if (out.value == "the menu") got.fetch_add(1);
    if (out.loaded) loaded.fetch_add(1);
  };
  for (int i = 0; i < kPerThread; ++i) {
    asio::co_spawn(a, caller(), asio::detached);
    asio::co_spawn(b, caller(), asio::detached);
  }
  std::thread ta([&] { a.run(); }), tb([&] { b.run(); });
  // Every caller has joined before the load may end.
  while (sf.coalesced() < 2 * kPerThread - 1) std::this_thread::yield();
  gate.open = true;
  ta.join();
  tb.join();
  EXPECT_EQ(gate.loads.load(), 1);
  EXPECT_EQ(got.load(), 2 * kPerThread);
  EXPECT_EQ(loaded.load(), 1);
  EXPECT_EQ(sf.loads(), 1u);
  EXPECT_EQ(sf.in_flight(), 0u);
}

TEST(SingleFlight, AnAbsenceAndAnErrorReachEveryWaiter) {
  SingleFlight sf;
  asio::io_context io;
  int absent = 0, errors = 0;
  Gate gate;
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(io, [&]() -> Task<void> {
      Context ctx{"t", deadline_in(milliseconds(5000))};
      SingleFlight::Loader load = [&] { return gate.load({}); };
      auto out = co_await sf.run(ctx, "k", load);
      absent += !out.value.has_value();
    }, asio::detached);
  gate.open = true;
  io.run();
  EXPECT_EQ(absent, 3);
  io.restart();
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(io, [&]() -> Task<void> {
      try {
        Context ctx{"t", deadline_in(milliseconds(5000))};
        SingleFlight::Loader load = []() -> Task<SingleFlight::Value> {
          throw Error(ErrorKind::Unavailable, "db_down", "down");
        };
        co_await sf.run(ctx, "k", load);
      } catch (const Error& e) {
        errors += e.code() == "db_down";
      }
    }, asio::detached);
  io.run();
  EXPECT_EQ(errors, 3);
  EXPECT_EQ(sf.in_flight(), 0u);
}

TEST(SingleFlight, ACallerOutOfTimeLeavesAndTheOthersAreServed) {
  SingleFlight sf;
  Gate gate;
  asio::io_context io;
  bool timed_out = false;
  std::string patient;
  asio::co_spawn(io, [&]() -> Task<void> {
    Context ctx{"t", deadline_in(milliseconds(10000))};
    SingleFlight::Loader load = [&] { return gate.load(std::string("v")); };
    auto out = co_await sf.run(ctx, "k", load);
    patient = out.value.value_or("");
  }, asio::detached);
  asio::co_spawn(io, [&]() -> Task<void> {
    try {
      Context ctx{"t", deadline_in(milliseconds(30))};
      SingleFlight::Loader load = [&] { return gate.load(std::string("x")); };
      co_await sf.run(ctx, "k", load);
    } catch (const Error& e) {
      timed_out = e.kind() == ErrorKind::Timeout;
      gate.open = true;  // only now may the load end
    }
  }, asio::detached);
  io.run();
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(patient, "v");
  EXPECT_EQ(gate.loads.load(), 1);
}

}  // namespace
}  // namespace dine
