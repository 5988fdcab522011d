// dine::redis::Subscriber against a real Redis: messages and pattern
// messages arrive, a Redis restart is followed by a resubscription nobody asks
// for, unsubscribe, cancellation of a waiting next(), a full queue.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/metrics.hpp"
#include "core/redis/subscriber.hpp"
#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::Background;
using test::config;
using test::co_eventually;
using test::fresh_key;
using test::run;

SubscriberConfig sub_config(std::string name) {
  auto& r = dine::test::Harness::get().redis();
  SubscriberConfig c;
  c.name = std::move(name);
  c.host = r.host;
  c.port = r.port;
  c.backoff_initial = milliseconds(50);
  c.backoff_max = milliseconds(500);
  return c;
}

// The next message, or nullopt when none comes within `limit`.
Task<std::optional<Message>> next_within(Subscriber& s, milliseconds limit) {
  if (!co_await co_eventually([&] { return s.figures().queued > 0; }, limit)) co_return std::nullopt;
  co_return s.try_next();
}

// PUBLISH, retried while the server is coming back; the number of receivers.
Task<int64_t> publish(Client& c, std::string channel, std::string payload) {
  Deadline end = deadline_in(milliseconds(10000));
  for (;;) {
    try {
      co_return (co_await c.command(argv("PUBLISH", channel, payload))).integer;
    } catch (const Error&) {
      if (Clock::now() > end) throw;
    }
    co_await sleep_for(milliseconds(50));
  }
}

Task<void> messages_arrive() {
  auto ex = co_await asio::this_coro::executor;
  Client pub(ex, config("t-pub"));
  const std::string ch = fresh_key("t:ch");
  const std::string prefix = fresh_key("t:pat");
  Subscriber s(ex, sub_config("t-sub"));
  s.subscribe(ch);
  s.psubscribe(prefix + ":*");
  EXPECT_TRUE(co_await co_eventually([&] { return s.figures().subscriptions == 2; }, milliseconds(5000)));
  EXPECT_TRUE(s.connected());

  EXPECT_EQ(co_await publish(pub, ch, "hello"), 1);
  EXPECT_EQ(co_await publish(pub, prefix + ":orders", "by pattern"), 1);
  std::optional<Message> m = co_await next_within(s, milliseconds(5000));
  DINE_CO_ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->channel, ch);
  EXPECT_EQ(m->payload, "hello");
  EXPECT_TRUE(m->pattern.empty());
  m = co_await next_within(s, milliseconds(5000));
  DINE_CO_ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->channel, prefix + ":orders");
  EXPECT_EQ(m->pattern, prefix + ":*");
  EXPECT_EQ(m->payload, "by pattern");
  EXPECT_EQ(s.figures().messages, 2u);

  // Binary payloads pass untouched.
  std::string binary("a\0b\r\n", 5);
  co_await publish(pub, ch, binary);
  m = co_await next_within(s, milliseconds(5000));
  DINE_CO_ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->payload, binary);

  s.unsubscribe(ch);
  EXPECT_TRUE(co_await co_eventually([&] { return s.figures().subscriptions == 1; }, milliseconds(5000)));
  EXPECT_EQ(co_await publish(pub, ch, "nobody"), 0);
}

TEST(RedisSubscriber, MessagesAndPatternMessagesArrive) { run([](auto) { return messages_arrive(); }); }

Task<void> resubscribes(bool kill) {
  auto ex = co_await asio::this_coro::executor;
  auto& harness = dine::test::Harness::get();
  metrics::Registry reg;
  SubscriberConfig cfg = sub_config("t-sub-restart");
  cfg.metrics = &reg;
  Subscriber s(ex, cfg);
  const std::string ch = fresh_key("t:restart");
  const std::string prefix = fresh_key("t:restart-pat");
  s.subscribe(ch);
  s.psubscribe(prefix + ":*");
  EXPECT_TRUE(co_await co_eventually([&] { return s.figures().subscriptions == 2; }, milliseconds(5000)));
  Client pub(ex, config("t-pub-restart"));
  EXPECT_EQ(co_await publish(pub, ch, "before"), 1);
  EXPECT_TRUE((co_await next_within(s, milliseconds(5000))).has_value());

  if (kill) {
    EXPECT_TRUE(test::kill_redis_hard());
  } else {
    harness.redis_stop();
  }
  EXPECT_TRUE(co_await co_eventually([&] { return !s.connected(); }, milliseconds(5000)));
  EXPECT_EQ(s.figures().subscriptions, 0u);
  harness.redis_start();

  // Nothing asked for it: the subscriber reconnects and subscribes again.
  EXPECT_TRUE(co_await co_eventually([&] { return s.figures().subscriptions == 2; }, milliseconds(10000)));
  EXPECT_EQ(co_await publish(pub, ch, "after"), 1);
  EXPECT_EQ(co_await publish(pub, prefix + ":x", "after by pattern"), 1);
  std::optional<Message> m = co_await next_within(s, milliseconds(5000));
  DINE_CO_ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->payload, "after");
  m = co_await next_within(s, milliseconds(5000));
  DINE_CO_ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->payload, "after by pattern");
  EXPECT_EQ(s.figures().reconnects, 1u);
  metrics::Labels l{{"redis", "t-sub-restart"}, {"worker", "0"}};
  EXPECT_EQ(reg.counter("dine_redis_subscriber_messages_total", "", l).value(), 3u);
  EXPECT_EQ(reg.counter("dine_redis_subscriber_reconnects_total", "", l).value(), 1u);
  EXPECT_EQ(reg.gauge("dine_redis_subscriber_connected", "", l).value(), 1);
}

TEST(RedisSubscriber, ResubscribesAfterRedisStopsAndStarts) { run([](auto) { return resubscribes(false); }); }
TEST(RedisSubscriber, ResubscribesAfterRedisIsKilled) { run([](auto) { return resubscribes(true); }); }

// Lets spawned coroutines run up to their first wait. (Either way the outcome
// is the same: a cancellation emitted before a coroutine starts still ends it.)
Task<void> let_run(asio::any_io_executor ex) {
  for (int i = 0; i < 3; ++i) co_await asio::post(ex, asio::use_awaitable);
}

Task<void> take_one(Subscriber& s, std::shared_ptr<std::optional<Message>> out) { *out = co_await s.next(); }

Task<void> waiting_next() {
  auto ex = co_await asio::this_coro::executor;
  Client pub(ex, config("t-pub-next"));
  const std::string ch = fresh_key("t:next");
  auto s = std::make_unique<Subscriber>(ex, sub_config("t-sub-next"));
  s->subscribe(ch);
  EXPECT_TRUE(co_await co_eventually([&] { return s->figures().subscriptions == 1; }, milliseconds(5000)));

  // A waiting next() gets the message published after it started waiting.
  auto got = std::make_shared<std::optional<Message>>();
  Background waiter(ex, take_one(*s, got));
  co_await publish(pub, ch, "one");
  EXPECT_TRUE(co_await co_eventually([&] { return waiter.done(); }, milliseconds(5000)));
  EXPECT_TRUE(got->has_value() && (*got)->payload == "one");

  // A cancelled next() ends at once and takes nothing.
  auto lost = std::make_shared<std::optional<Message>>();
  Background cancelled(ex, take_one(*s, lost));
  co_await let_run(ex);
  cancelled.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return cancelled.done(); }, milliseconds(2000)));
  EXPECT_TRUE(cancelled.cancelled());
  co_await publish(pub, ch, "two");
  std::optional<Message> m = co_await next_within(*s, milliseconds(5000));
  EXPECT_TRUE(m.has_value() && m->payload == "two");
  EXPECT_FALSE(lost->has_value());

  // Destroying the subscriber ends a waiting next() with Unavailable.
  Background orphan(ex, take_one(*s, lost));
  co_await let_run(ex);
  s.reset();
  EXPECT_TRUE(co_await co_eventually([&] { return orphan.done(); }, milliseconds(2000)));
  bool unavailable = false;
  try {
    if (orphan.error()) std::rethrow_exception(orphan.error());
  } catch (const Error& e) {
    unavailable = e.kind() == ErrorKind::Unavailable;
  }
  EXPECT_TRUE(unavailable);
}

TEST(RedisSubscriber, NextWaitsIsCancellableAndEndsWithTheSubscriber) {
  run([](auto) { return waiting_next(); });
}

Task<void> full_queue() {
  auto ex = co_await asio::this_coro::executor;
  Client pub(ex, config("t-pub-full"));
  SubscriberConfig cfg = sub_config("t-sub-full");
  cfg.max_queued = 3;
  Subscriber s(ex, cfg);
  const std::string ch = fresh_key("t:full");
  s.subscribe(ch);
  EXPECT_TRUE(co_await co_eventually([&] { return s.figures().subscriptions == 1; }, milliseconds(5000)));
  for (int i = 1; i <= 5; ++i) co_await publish(pub, ch, std::to_string(i));
  EXPECT_TRUE(co_await co_eventually([&] { return s.figures().messages == 5; }, milliseconds(5000)));
  EXPECT_EQ(s.figures().dropped, 2u);
  for (int i = 3; i <= 5; ++i) {
    std::optional<Message> m = s.try_next();
    DINE_CO_ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->payload, std::to_string(i)) << "the oldest are dropped";
  }
  EXPECT_FALSE(s.try_next().has_value());
}

TEST(RedisSubscriber, FullQueueDropsTheOldest) { run([](auto) { return full_queue(); }); }

}  // namespace
}  // namespace dine::redis
