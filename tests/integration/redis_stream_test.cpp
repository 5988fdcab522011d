// dine::redis::StreamConsumer against a real Redis: entries handled once and
// acked, a dead consumer's entries claimed, poison entries dead-lettered,
// transient failures retried and never dead-lettered, other failures
// dead-lettered after max_failures, a prompt stop, Redis going away under a
// consumer.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>

#include "core/metrics.hpp"
#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::Background;
using test::config;
using test::consumer_client;
using test::consumer_config;
using test::co_eventually;
using test::fresh_key;
using test::pending_ids;
using test::produce;
using test::recorder;
using test::run;
using test::Seen;
using test::xlen;

constexpr milliseconds kLong{10000};

Task<void> handled_once_and_acked() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-stream"));
  const std::string stream = fresh_key("t:stream"), group = "g";
  co_await ensure_group(c, stream, group);  // migrate time
  co_await ensure_group(c, stream, group);  // again: BUSYGROUP tolerated
  // Produced before any consumer runs: a consumer that starts late misses nothing.
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(co_await produce(c, stream, "n", std::to_string(i)));
  Fields traced;
  traced.emplace_back("request_id", "req-from-http");
  traced.emplace_back("n", "20");
  ids.push_back(co_await c.xadd(stream, traced));

  metrics::Registry reg;
  ConsumerConfig cfg = consumer_config(stream, group, "c1");
  cfg.metrics = &reg;
  StreamConsumer consumer(ex, consumer_client("t-stream-c1"), cfg);
  auto seen = std::make_shared<Seen>();
  Background running(ex, consumer.run(recorder(seen)));
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().handled == 21; }, kLong));
  // And one produced while it runs.
  ids.push_back(co_await produce(c, stream, "n", "21"));
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().handled == 22; }, kLong));

  DINE_CO_ASSERT_EQ(seen->entries.size(), 22u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(seen->entries[i].id, ids[i]) << "in stream order";
    EXPECT_EQ(seen->deliveries[ids[i]], 1) << "handled once";
  }
  EXPECT_EQ(*seen->entries[3].field("n"), "3");
  EXPECT_EQ(seen->entries[20].ctx.request_id, "req-from-http") << "the request id travels with the entry";
  EXPECT_FALSE(seen->entries[0].ctx.request_id.empty());
  EXPECT_TRUE((co_await pending_ids(c, stream, group)).empty()) << "all acked";

  metrics::Labels sg{{"stream", stream}, {"group", group}};
  EXPECT_EQ(reg.counter("dine_stream_handled_total", "", sg).value(), 22u);
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().pending == 0 && consumer.figures().lag == 0; },
                                  kLong));
  EXPECT_EQ(reg.gauge("dine_stream_pending", "", sg).value(), 0);
  EXPECT_EQ(consumer.figures().failed + consumer.figures().dead_lettered, 0u);
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
  EXPECT_TRUE(running.cancelled());
}

TEST(RedisStream, EntriesHandledOnceAndAcked) { run([](auto) { return handled_once_and_acked(); }); }

// A handler that takes an entry and never finishes it: a consumer that dies.
Task<void> hang(std::shared_ptr<Seen> seen, Entry e) {
  ++seen->deliveries[e.id];
  co_await sleep_for(milliseconds(3600 * 1000));
}

Task<void> dead_consumer_claimed() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-claim"));
  const std::string stream = fresh_key("t:claim"), group = "g";
  co_await ensure_group(c, stream, group);
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.insert(co_await produce(c, stream, "n", std::to_string(i)));

  StreamConsumer doomed(ex, consumer_client("t-claim-a"), consumer_config(stream, group, "a"));
  auto stuck = std::make_shared<Seen>();
  Background a(ex, doomed.run([stuck](Entry e) { return hang(stuck, std::move(e)); }));
  EXPECT_TRUE(co_await co_eventually([&] { return stuck->distinct() == 1; }, kLong));
  a.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return a.done(); }, kLong));
  EXPECT_TRUE(a.cancelled());
  EXPECT_EQ((co_await pending_ids(c, stream, group)).size(), 3u) << "read by a, never acked";

  ConsumerConfig cfg = consumer_config(stream, group, "b");
  cfg.claim_after = milliseconds(300);
  cfg.claim_every = milliseconds(50);
  StreamConsumer heir(ex, consumer_client("t-claim-b"), cfg);
  auto seen = std::make_shared<Seen>();
  Background b(ex, heir.run(recorder(seen)));
  EXPECT_TRUE(co_await co_eventually([&] { return heir.figures().handled == 3; }, kLong));
  EXPECT_GE(heir.figures().claimed, 3u);
  std::set<std::string> got;
  for (const Entry& e : seen->entries) got.insert(e.id);
  EXPECT_EQ(got, ids);
  EXPECT_TRUE((co_await pending_ids(c, stream, group)).empty());
  b.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return b.done(); }, kLong));
}

TEST(RedisStream, DeadConsumersEntriesAreClaimedAfterClaimAfter) {
  run([](auto) { return dead_consumer_claimed(); });
}

Task<void> reject_poison(std::shared_ptr<Seen> seen, Entry e) {
  ++seen->deliveries[e.id];
  if (*e.field("kind") == "poison") throw bad_request("invalid_order", "the order id is missing");
  seen->entries.push_back(std::move(e));
  co_return;
}

Task<void> poison_dead_lettered() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-poison"));
  const std::string stream = fresh_key("t:poison"), group = "g";
  co_await ensure_group(c, stream, group);
  co_await produce(c, stream, "kind", "fine");
  Fields poison;
  poison.emplace_back("kind", "poison");
  poison.emplace_back("body", "{not json");
  std::string poison_id = co_await c.xadd(stream, poison);
  co_await produce(c, stream, "kind", "fine");

  metrics::Registry reg;
  ConsumerConfig cfg = consumer_config(stream, group, "c1");
  cfg.metrics = &reg;
  StreamConsumer consumer(ex, consumer_client("t-poison-c1"), cfg);
  auto seen = std::make_shared<Seen>();
  Background running(ex, consumer.run([seen](Entry e) { return reject_poison(seen, std::move(e)); }));
  EXPECT_TRUE(co_await co_eventually(
      [&] { return consumer.figures().handled == 2 && consumer.figures().dead_lettered == 1; }, kLong));
  EXPECT_EQ(seen->deliveries[poison_id], 1) << "dead-lettered at its first failure";

  Reply dead = co_await c.command(argv("XRANGE", stream + ":dead", "-", "+"));
  std::vector<Entry> letters = parse_entries(dead);
  DINE_CO_ASSERT_EQ(letters.size(), 1u);
  const Entry& letter = letters[0];
  EXPECT_EQ(*letter.field("kind"), "poison");
  EXPECT_EQ(*letter.field("body"), "{not json");
  EXPECT_EQ(*letter.field("dead_reason"), "the order id is missing");
  EXPECT_EQ(*letter.field("dead_code"), "invalid_order");
  EXPECT_EQ(*letter.field("dead_group"), group);
  EXPECT_EQ(*letter.field("dead_from_id"), poison_id);
  EXPECT_TRUE((co_await pending_ids(c, stream, group)).empty()) << "the poison entry is acked";

  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().dead_letters == 1; }, kLong));
  EXPECT_EQ(reg.gauge("dine_stream_dead_letters", "", {{"stream", stream}}).value(), 1);
  EXPECT_EQ(reg.counter("dine_stream_dead_lettered_total", "", {{"stream", stream}, {"group", group}}).value(), 1u);
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
}

TEST(RedisStream, PoisonEntryIsDeadLetteredWithItsReasonAndAcked) {
  run([](auto) { return poison_dead_lettered(); });
}

// Fails `failures` times, then succeeds: mostly a dependency down or slow
// (odd deliveries Unavailable, even ones Timeout), but every `bug_every`-th
// delivery a bug, which counts toward max_failures.
struct Flaky {
  std::string target;
  int failures = 0;
  int bug_every = 0;
  Seen seen;
};

Task<void> flaky(std::shared_ptr<Flaky> f, Entry e) {
  int n = ++f->seen.deliveries[e.id];
  if (e.id == f->target && n <= f->failures) {
    if (n % f->bug_every == 0) throw std::runtime_error("a bug");
    if (n % 2 == 1) throw unavailable("payments_unavailable", "the payment service is unavailable");
    throw Error(ErrorKind::Timeout, "payments_timeout", "the payment service did not answer");
  }
  f->seen.entries.push_back(std::move(e));
  co_return;
}

Task<void> transient_never_dead() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-transient"));
  const std::string stream = fresh_key("t:transient"), group = "g";
  co_await ensure_group(c, stream, group);
  // 12 failures against max_failures 3: 6 Unavailable, 4 Timeout and 2 bugs.
  // Counting the transient ones would dead-letter it at its 3rd delivery.
  auto f = std::make_shared<Flaky>();
  f->failures = 12;
  f->bug_every = 6;
  f->target = co_await produce(c, stream, "n", "0");
  std::string after = co_await produce(c, stream, "n", "1");

  ConsumerConfig cfg = consumer_config(stream, group, "c1");
  cfg.max_failures = 3;
  cfg.claim_after = milliseconds(20);  // claims redeliver it too: still never dead
  cfg.claim_every = milliseconds(20);
  StreamConsumer consumer(ex, consumer_client("t-transient-c1"), cfg);
  Background running(ex, consumer.run([f](Entry e) { return flaky(f, std::move(e)); }));
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().handled == 2; }, milliseconds(20000)));
  EXPECT_EQ(f->seen.deliveries[f->target], 13) << "retried until it succeeded";
  EXPECT_EQ(consumer.figures().failed, 12u);
  EXPECT_EQ(consumer.figures().dead_lettered, 0u);
  EXPECT_EQ(co_await xlen(c, stream + ":dead"), 0) << "a transient failure is never a dead letter";
  DINE_CO_ASSERT_EQ(f->seen.entries.size(), 2u);
  EXPECT_EQ(f->seen.entries[0].id, f->target) << "the failing entry holds up the ones after it";
  EXPECT_EQ(f->seen.entries[1].id, after);
  EXPECT_TRUE((co_await pending_ids(c, stream, group)).empty());
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
}

TEST(RedisStream, TransientFailureIsRetriedAndNeverDeadLettered) {
  run([](auto) { return transient_never_dead(); });
}

// Every delivery in order; entries of kind "internal" or "bug" always fail.
struct Buggy {
  std::vector<std::string> deliveries;
  Seen seen;
};

Task<void> buggy(std::shared_ptr<Buggy> b, Entry e) {
  b->deliveries.push_back(e.id);
  ++b->seen.deliveries[e.id];
  if (*e.field("kind") == "internal")
    throw Error(ErrorKind::Internal, "menu_lookup_failed", "the menu lookup failed", "null item 7");
  if (*e.field("kind") == "bug") throw std::logic_error("a bug in the handler");
  b->seen.entries.push_back(std::move(e));
  co_return;
}

Task<void> failing_entry_dead_lettered() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-give-up"));
  const std::string stream = fresh_key("t:give-up"), group = "g";
  co_await ensure_group(c, stream, group);
  std::string first = co_await produce(c, stream, "kind", "fine");
  std::string internal = co_await produce(c, stream, "kind", "internal");
  std::string bug = co_await produce(c, stream, "kind", "bug");
  std::string last = co_await produce(c, stream, "kind", "fine");

  metrics::Registry reg;
  ConsumerConfig cfg = consumer_config(stream, group, "c1");
  cfg.max_failures = 3;
  cfg.metrics = &reg;
  StreamConsumer consumer(ex, consumer_client("t-give-up-c1"), cfg);
  auto b = std::make_shared<Buggy>();
  Background running(ex, consumer.run([b](Entry e) { return buggy(b, std::move(e)); }));
  EXPECT_TRUE(co_await co_eventually(
      [&] { return consumer.figures().handled == 2 && consumer.figures().dead_lettered == 2; }, kLong));
  EXPECT_EQ(b->seen.deliveries[internal], 3) << "dead-lettered at its max_failures-th failure, not before";
  EXPECT_EQ(b->seen.deliveries[bug], 3) << "counted per entry";
  EXPECT_EQ(consumer.figures().failed, 4u) << "the first two failures of each were left pending";
  DINE_CO_ASSERT_EQ(b->seen.entries.size(), 2u);
  EXPECT_EQ(b->seen.entries[0].id, first);
  EXPECT_EQ(b->seen.entries[1].id, last) << "the entries after a failing one are handled once it is dead";
  auto first_of = [&](const std::string& id) { return std::find(b->deliveries.begin(), b->deliveries.end(), id); };
  auto last_of = [&](const std::string& id) {
    return std::find(b->deliveries.rbegin(), b->deliveries.rend(), id).base() - 1;
  };
  EXPECT_GT(first_of(last), last_of(bug)) << "and only then: the failing entries hold up the ones after them";
  EXPECT_GT(first_of(bug), last_of(internal));

  Reply dead = co_await c.command(argv("XRANGE", stream + ":dead", "-", "+"));
  std::vector<Entry> letters = parse_entries(dead);
  DINE_CO_ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(*letters[0].field("kind"), "internal");
  EXPECT_EQ(*letters[0].field("dead_code"), kTooManyFailures);
  EXPECT_EQ(*letters[0].field("dead_reason"), "the menu lookup failed");
  EXPECT_EQ(*letters[0].field("dead_group"), group);
  EXPECT_EQ(*letters[0].field("dead_from_id"), internal);
  EXPECT_EQ(*letters[1].field("kind"), "bug");
  EXPECT_EQ(*letters[1].field("dead_code"), kTooManyFailures);
  EXPECT_EQ(*letters[1].field("dead_reason"), "a bug in the handler");
  EXPECT_EQ(*letters[1].field("dead_from_id"), bug);
  EXPECT_TRUE((co_await pending_ids(c, stream, group)).empty()) << "the dead-lettered entries are acked";

  metrics::Labels sg{{"stream", stream}, {"group", group}};
  EXPECT_EQ(reg.counter("dine_stream_dead_lettered_total", "", sg).value(), 2u);
  EXPECT_EQ(reg.counter("dine_stream_failed_total", "", sg).value(), 4u);
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
}

TEST(RedisStream, EntryThatAlwaysFailsIsDeadLetteredAfterMaxFailures) {
  run([](auto) { return failing_entry_dead_lettered(); });
}

Task<void> stops_promptly() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-stop"));
  const std::string stream = fresh_key("t:stop"), group = "g";
  co_await ensure_group(c, stream, group);
  ConsumerConfig cfg = consumer_config(stream, group, "c1");
  cfg.block = milliseconds(30000);  // a long XREADGROUP BLOCK
  auto consumer = std::make_unique<StreamConsumer>(ex, consumer_client("t-stop-c1"), cfg);
  auto seen = std::make_shared<Seen>();
  Background running(ex, consumer->run(recorder(seen)));
  co_await produce(c, stream, "n", "0");
  EXPECT_TRUE(co_await co_eventually([&] { return consumer->figures().handled == 1; }, kLong));
  // Now blocked reading; cancellation ends it long before the block would.
  auto t0 = Clock::now();
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
  EXPECT_TRUE(running.cancelled());
  EXPECT_LT(test::ms_since(t0), 10000);

  // Destroying the consumer ends its run() too (it returns).
  Background again(ex, consumer->run(recorder(seen)));
  co_await produce(c, stream, "n", "1");
  EXPECT_TRUE(co_await co_eventually([&] { return consumer->figures().handled == 2; }, milliseconds(40000)));
  consumer.reset();
  EXPECT_TRUE(co_await co_eventually([&] { return again.done(); }, kLong));
  EXPECT_FALSE(again.error());
}

TEST(RedisStream, StopsPromptlyOnCancellationOrDestruction) { run([](auto) { return stops_promptly(); }); }

Task<void> survives_outage() {
  auto ex = co_await asio::this_coro::executor;
  auto& harness = dine::test::Harness::get();
  Client c(ex, config("t-outage-stream"));
  const std::string stream = fresh_key("t:outage"), group = "g";
  co_await ensure_group(c, stream, group);
  StreamConsumer consumer(ex, consumer_client("t-outage-c1"), consumer_config(stream, group, "c1"));
  auto seen = std::make_shared<Seen>();
  Background running(ex, consumer.run(recorder(seen)));
  co_await produce(c, stream, "n", "0");
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().handled == 1; }, kLong));

  EXPECT_TRUE(test::kill_redis_hard());
  harness.redis_start();  // the AOF brings the stream and the group back
  std::string id;
  Deadline end = deadline_in(kLong);
  while (id.empty() && Clock::now() < end) {
    try {
      id = co_await produce(c, stream, "n", "1");
    } catch (const Error&) {
    }
    if (id.empty()) co_await sleep_for(milliseconds(50));
  }
  EXPECT_FALSE(id.empty());
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().handled == 2; }, kLong))
      << "the consumer waits the outage out by itself";
  EXPECT_FALSE(running.done());
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
}

TEST(RedisStream, ConsumerWaitsOutARedisRestart) { run([](auto) { return survives_outage(); }); }

}  // namespace
}  // namespace dine::redis
