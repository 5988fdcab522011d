// core/outbox's relay against a real PostgreSQL and Redis: rows reach their
// stream in order and are marked sent; a frozen relay's claims are taken over
// once they lapse; a failed send releases the claim and loses nothing; sent
// rows past the retention are pruned, unsent ones never; the stream is
// trimmed only below what every consumer group still needs.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <fmt/format.h>

#include "core/metrics.hpp"
#include "core/outbox/relay.hpp"
#include "core/pg/pool.hpp"
#include "core/redis/client.hpp"
#include "core/redis/streams.hpp"
#include "tests/integration/pg_support.hpp"

namespace dine::outbox {
namespace {

using dine::test::co_eventually;
using dine::test::Harness;
using pg::test::ctx;
using pg::test::run;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS outbox (id bigserial PRIMARY KEY, stream text NOT NULL, event_type text NOT NULL,"
    " key text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
    " claimed_by text, claimed_until timestamptz, sent_at timestamptz,"
    " attempts integer NOT NULL DEFAULT 0, last_error text, dead_at timestamptz);"
    " CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL";

// A fresh database with an outbox table, per test.
Task<std::string> fresh_db(std::string name) {
  auto admin = co_await pg::test::open(pg::test::dsn());
  std::string drop = fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name);
  co_await admin->simple(drop, pg::test::soon());
  std::string create = fmt::format("CREATE DATABASE {}", name);
  co_await admin->simple(create, pg::test::soon());
  std::string dsn = Harness::get().pg(0).dsn(name);
  auto c = co_await pg::test::open(dsn);
  co_await c->simple(kSchema, pg::test::soon());
  co_return dsn;
}

struct Rig {
  Rig(asio::any_io_executor ex, std::string dsn, std::string stream)
      : pool(ex, pool_config(dsn)), mq(ex, redis_config()), stream(std::move(stream)) {}
  static pg::PoolConfig pool_config(std::string dsn) {
    pg::PoolConfig c;
    c.node = "outbox-test";
    c.dsn = std::move(dsn);
    c.max_size = 4;
    return c;
  }
  static redis::ClientConfig redis_config() {
    redis::ClientConfig c;
    c.name = "outbox-mq";
    c.host = Harness::get().redis().host;
    c.port = Harness::get().redis().port;
    return c;
  }
  pg::Pool pool;
  redis::Client mq;
  metrics::Registry metrics;
  std::string stream;
};

RelayConfig relay_config(std::string id) {
  RelayConfig c;
  c.name = "test";
  c.relay_id = std::move(id);
  c.key_field = "order_id";
  c.poll = milliseconds(100);
  c.claim_for = milliseconds(1000);
  c.figures_every = milliseconds(100);
  return c;
}

// Runs a relay until the returned signal is emitted.
struct Running {
  asio::cancellation_signal signal;
  bool done = false;
};

std::shared_ptr<Running> start(asio::any_io_executor ex, Relay& relay) {
  auto r = std::make_shared<Running>();
  asio::co_spawn(ex, relay.run(), asio::bind_cancellation_slot(r->signal.slot(), [r](std::exception_ptr) {
                   r->done = true;
                 }));
  return r;
}

// Takes a plain pointer: a lambda holding a shared_ptr, turned into a
// std::function temporary inside a co_await expression, is destroyed twice by
// GCC 12 (see docs/ARCHITECTURE.md, "GCC 12 and coroutines").
Task<void> stop(Running* r) {
  r->signal.emit(asio::cancellation_type::terminal);
  EXPECT_TRUE(co_await co_eventually([r] { return r->done; }, milliseconds(5000))) << "relay did not stop";
}

Task<pg::Result> sql(Rig& rig, std::string text) {
  auto c = co_await pg::test::open(rig.pool.config().dsn);
  co_return co_await c->simple(text, pg::test::soon());
}

Task<int64_t> scalar(Rig& rig, std::string text) {
  pg::Result r = co_await sql(rig, std::move(text));
  co_return r.int64(0, "n");
}

Task<std::vector<std::string>> stream_keys(Rig& rig) {
  redis::Argv range{"XRANGE", rig.stream, "-", "+"};
  redis::Reply r = co_await rig.mq.command(range);
  std::vector<std::string> keys;
  for (const auto& e : redis::parse_entries(r))
    if (const std::string* k = e.field("order_id")) keys.push_back(*k);
  co_return keys;
}

std::string insert_rows(const std::string& stream, int from, int to, const std::string& extra_cols = "",
                        const std::string& extra_vals = "") {
  std::string s = "INSERT INTO outbox (stream, event_type, key, payload" + extra_cols + ") VALUES ";
  for (int i = from; i < to; ++i)
    s += fmt::format("{}('{}', 'order.paid', 'k{}', '{{\"n\": {}}}'{})", i > from ? ", " : "", stream, i, i, extra_vals);
  return s;
}

Task<void> relays_in_order(std::string db) {
  auto ex = co_await asio::this_coro::executor;
  std::string dsn = co_await fresh_db(db);
  Rig rig(ex, dsn, "test:relay:" + db);
  co_await sql(rig, insert_rows(rig.stream, 0, 450));
  Relay relay(ex, relay_config("r1"), rig.pool, rig.mq, rig.metrics);
  auto running = start(ex, relay);
  int64_t unsent = -1;
  for (Deadline end = deadline_in(milliseconds(10000)); unsent != 0 && Clock::now() < end;) {
    unsent = co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL");
    if (unsent != 0) co_await pg::test::pause(milliseconds(20));
  }
  EXPECT_EQ(unsent, 0);
  auto keys = co_await stream_keys(rig);
  EXPECT_EQ(keys.size(), 450u);
  if (keys.size() != 450u) co_return;
  for (int i = 0; i < 450; ++i) EXPECT_EQ(keys[static_cast<std::size_t>(i)], "k" + std::to_string(i));  // id order
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE claimed_by IS NOT NULL"), 0);
  EXPECT_NE(rig.metrics.render().find("dine_outbox_relayed_total{outbox=\"test\"} 450"), std::string::npos);
  co_await stop(running.get());
}

TEST(OutboxRelay, RowsReachTheirStreamInIdOrderAndAreMarkedSent) {
  run([](auto) { return relays_in_order("outbox_order"); });
}

Task<void> frozen_claims_taken_over(std::string db) {
  auto ex = co_await asio::this_coro::executor;
  std::string dsn = co_await fresh_db(db);
  Rig rig(ex, dsn, "test:takeover:" + db);
  // A relay froze holding these rows: its claim lapses in 1.5 s.
  co_await sql(rig, insert_rows(rig.stream, 0, 20, ", claimed_by, claimed_until",
                                ", 'frozen-relay', clock_timestamp() + interval '1.5 seconds'"));
  Relay relay(ex, relay_config("r2"), rig.pool, rig.mq, rig.metrics);
  auto running = start(ex, relay);
  // Still claimed: left alone. (The backlog gauge is published after the
  // relay's first claim attempt, so by then it has tried.)
  EXPECT_TRUE(co_await co_eventually(
      [&] { return rig.metrics.render().find("dine_outbox_backlog{outbox=\"test\"} 20") != std::string::npos; },
      milliseconds(3000)));
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL"), 0);
  int64_t unsent = -1;
  for (Deadline end = deadline_in(milliseconds(10000)); unsent != 0 && Clock::now() < end;) {
    unsent = co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL");
    if (unsent != 0) co_await pg::test::pause(milliseconds(50));
  }
  EXPECT_EQ(unsent, 0) << "the lapsed claims were not taken over";
  EXPECT_EQ((co_await stream_keys(rig)).size(), 20u);  // each sent once
  co_await stop(running.get());
}

TEST(OutboxRelay, AFrozenRelaysClaimsAreTakenOverWhenTheyLapse) {
  run([](auto) { return frozen_claims_taken_over("outbox_takeover"); });
}

Task<void> outage_releases(std::string db) {
  auto ex = co_await asio::this_coro::executor;
  std::string dsn = co_await fresh_db(db);
  Rig rig(ex, dsn, "test:outage:" + db);
  Harness::get().redis_stop();
  co_await sql(rig, insert_rows(rig.stream, 0, 5));
  Relay relay(ex, relay_config("r3"), rig.pool, rig.mq, rig.metrics);
  auto running = start(ex, relay);
  EXPECT_TRUE(co_await co_eventually(
      [&] { return rig.metrics.render().find("dine_outbox_relay_failures_total{outbox=\"test\"} 0") == std::string::npos; },
      milliseconds(5000)));
  // Nothing marked sent, the claims released at once (not left to lapse), and
  // an outage of Redis is no attempt of the rows'.
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL"), 0);
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE claimed_until > clock_timestamp()"), 0);
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE attempts > 0"), 0);
  // The backlog gauges keep telling the truth while every batch fails.
  EXPECT_TRUE(co_await co_eventually(
      [&] { return rig.metrics.render().find("dine_outbox_backlog{outbox=\"test\"} 5") != std::string::npos; },
      milliseconds(5000)))
      << rig.metrics.render();
  Harness::get().redis_start();
  int64_t unsent = -1;
  for (Deadline end = deadline_in(milliseconds(10000)); unsent != 0 && Clock::now() < end;) {
    unsent = co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL");
    if (unsent != 0) co_await pg::test::pause(milliseconds(50));
  }
  EXPECT_EQ(unsent, 0);
  EXPECT_EQ((co_await stream_keys(rig)).size(), 5u);
  co_await stop(running.get());
}

TEST(OutboxRelay, ARedisOutageReleasesTheClaimsAndLosesNothing) {
  run([](auto) { return outage_releases("outbox_outage"); });
}

// One row Redis keeps refusing (its stream key holds a string: WRONGTYPE) must
// not hold up its shard, nor make its batch go out again: its neighbours are
// sent once each; it is held back after each refusal and set aside after
// max_attempts.
Task<void> refused_row_set_aside(std::string db) {
  auto ex = co_await asio::this_coro::executor;
  std::string dsn = co_await fresh_db(db);
  Rig rig(ex, dsn, "test:refused:" + db);
  const std::string poison = rig.stream + ":poison";
  redis::Argv set{"SET", poison, "not a stream"};
  co_await rig.mq.command(set);
  co_await sql(rig, insert_rows(rig.stream, 0, 3));
  co_await sql(rig, insert_rows(poison, 3, 4));
  co_await sql(rig, insert_rows(rig.stream, 4, 7));
  RelayConfig cfg = relay_config("r6");
  cfg.max_attempts = 2;
  Relay relay(ex, cfg, rig.pool, rig.mq, rig.metrics);
  auto running = start(ex, relay);
  int64_t dead = -1;
  for (Deadline end = deadline_in(milliseconds(15000)); dead != 1 && Clock::now() < end;) {
    dead = co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE dead_at IS NOT NULL");
    if (dead != 1) co_await pg::test::pause(milliseconds(100));
  }
  EXPECT_EQ(dead, 1) << "the refused row was not set aside";
  EXPECT_EQ(co_await scalar(rig, "SELECT attempts AS n FROM outbox WHERE key = 'k3'"), 2);
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL"), 6);
  auto keys = co_await stream_keys(rig);
  EXPECT_EQ(keys, (std::vector<std::string>{"k0", "k1", "k2", "k4", "k5", "k6"}));  // each once
  EXPECT_TRUE(co_await co_eventually(
      [&] {
        std::string m = rig.metrics.render();
        return m.find("dine_outbox_dead{outbox=\"test\"} 1") != std::string::npos &&
               m.find("dine_outbox_backlog{outbox=\"test\"} 0") != std::string::npos;
      },
      milliseconds(5000)))
      << rig.metrics.render();
  co_await stop(running.get());
}

TEST(OutboxRelay, ARowRedisRefusesIsSetAsideWithoutHoldingUpItsNeighbours) {
  run([](auto) { return refused_row_set_aside("outbox_refused"); });
}

Task<void> prunes_only_old_sent_rows(std::string db) {
  auto ex = co_await asio::this_coro::executor;
  std::string dsn = co_await fresh_db(db);
  Rig rig(ex, dsn, "test:prune:" + db);
  // 30 rows sent two hours ago, then 5 sent a minute ago, then one old row
  // nobody could send (claimed far ahead): only the first 30 may go.
  co_await sql(rig, insert_rows(rig.stream, 0, 30, ", sent_at", ", clock_timestamp() - interval '2 hours'"));
  co_await sql(rig, insert_rows(rig.stream, 30, 35, ", sent_at", ", clock_timestamp() - interval '1 minute'"));
  co_await sql(rig, insert_rows(rig.stream, 35, 36, ", claimed_by, claimed_until, created_at",
                                ", 'stuck', clock_timestamp() + interval '1 hour', clock_timestamp() - interval '3 hours'"));
  RelayConfig cfg = relay_config("r4");
  cfg.retention = std::chrono::hours(1);
  cfg.prune_every = milliseconds(100);
  cfg.prune_batch = 7;  // several rounds
  Relay relay(ex, cfg, rig.pool, rig.mq, rig.metrics);
  auto running = start(ex, relay);
  int64_t left = -1;
  for (Deadline end = deadline_in(milliseconds(10000)); left != 6 && Clock::now() < end;) {
    left = co_await scalar(rig, "SELECT count(*) AS n FROM outbox");
    if (left != 6) co_await pg::test::pause(milliseconds(50));
  }
  EXPECT_EQ(left, 6);
  EXPECT_EQ(co_await scalar(rig, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"), 1);  // never pruned
  // The backlog gauges see the stuck row and its age.
  EXPECT_TRUE(co_await co_eventually(
      [&] { return rig.metrics.render().find("dine_outbox_backlog{outbox=\"test\"} 1") != std::string::npos; },
      milliseconds(3000)));
  co_await stop(running.get());
}

TEST(OutboxRelay, SentRowsPastTheRetentionArePrunedUnsentNever) {
  run([](auto) { return prunes_only_old_sent_rows("outbox_prune"); });
}

Task<void> trims_below_groups(std::string db) {
  auto ex = co_await asio::this_coro::executor;
  std::string dsn = co_await fresh_db(db);
  Rig rig(ex, dsn, "test:trim:" + db);
  co_await redis::ensure_group(rig.mq, rig.stream, "slow");
  co_await sql(rig, insert_rows(rig.stream, 0, 10));
  RelayConfig cfg = relay_config("r5");
  cfg.trim_every = milliseconds(100);
  Relay relay(ex, cfg, rig.pool, rig.mq, rig.metrics);
  auto running = start(ex, relay);
  EXPECT_TRUE(co_await co_eventually(
      [&] { return rig.metrics.render().find("dine_stream_length{stream=\"" + rig.stream + "\"} 10") != std::string::npos; },
      milliseconds(5000)));
  // The group has read nothing: nothing is trimmed.
  EXPECT_EQ((co_await stream_keys(rig)).size(), 10u);
  // It reads and acks 4: those 4 may go, the other 6 stay.
  redis::Argv read{"XREADGROUP", "GROUP", "slow", "c1", "COUNT", "4", "STREAMS", rig.stream, ">"};
  redis::Reply got = co_await rig.mq.command(read);
  std::vector<std::string> ids;
  for (const auto& e : redis::parse_entries(got.elements.at(0).elements.at(1))) ids.push_back(e.id);
  EXPECT_EQ(ids.size(), 4u);
  if (ids.size() != 4u) co_return;
  redis::Argv ack{"XACK", rig.stream, "slow"};
  ack.insert(ack.end(), ids.begin(), ids.end());
  co_await rig.mq.command(ack);
  EXPECT_TRUE(co_await co_eventually(
      [&] { return rig.metrics.render().find("dine_stream_length{stream=\"" + rig.stream + "\"} 6") != std::string::npos; },
      milliseconds(5000)));
  auto keys = co_await stream_keys(rig);
  EXPECT_EQ(keys.size(), 6u);
  if (keys.size() != 6u) co_return;
  EXPECT_EQ(keys.front(), "k4");
  // The group's figures, seen from the writing side: nothing pending, 6 to deliver.
  EXPECT_TRUE(co_await co_eventually(
      [&] {
        std::string m = rig.metrics.render();
        std::string l = "{stream=\"" + rig.stream + "\",group=\"slow\"}";
        return m.find("dine_stream_pending" + l + " 0") != std::string::npos &&
               m.find("dine_stream_lag" + l + " 6") != std::string::npos &&
               m.find("dine_stream_dead_letters{stream=\"" + rig.stream + "\"} 0") != std::string::npos;
      },
      milliseconds(5000)))
      << rig.metrics.render();
  co_await stop(running.get());
}

TEST(OutboxRelay, StreamsAreTrimmedOnlyBelowWhatEveryGroupStillNeeds) {
  run([](auto) { return trims_below_groups("outbox_trim"); });
}

}  // namespace
}  // namespace dine::outbox
