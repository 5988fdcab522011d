// dine::pg::Batcher (group commit) against a real PostgreSQL: concurrent calls
// share statements, each call gets exactly its own rows, a row that breaks a
// rule fails alone, a caller out of time gets db_timeout.
#include <gtest/gtest.h>

#include <set>

#include "core/pg/batcher.hpp"
#include "core/pg/errors.hpp"
#include "tests/integration/pg_support.hpp"

namespace dine::pg {
namespace {

using test::ctx;
using test::run;
using test::soon;

// Each test has its own tables (named by test), made fresh.
constexpr Statement kInsertOne{"bt_insert", "INSERT INTO bt_rows (id, v) VALUES ($1, $2) RETURNING id, v"};
constexpr Statement kInsertMany{
    "bt_insert_many", "INSERT INTO bt_rows (id, v) SELECT * FROM unnest($1::bigint[], $2::text[]) RETURNING id, v"};
constexpr Statement kBumpOne{"bt_bump", "UPDATE bt_counter SET n = n + 1 WHERE id = $1 RETURNING id, n"};
constexpr Statement kBumpMany{"bt_bump_many",
                              "UPDATE bt_counter c SET n = c.n + 1 FROM unnest($1::bigint[]) AS v(id)"
                              " WHERE c.id = v.id RETURNING c.id, c.n"};
// A statement that runs until the test lets it go: it waits for an advisory
// lock the test holds on another connection (no sleeping for a guessed time).
constexpr int kGate = 4242;
constexpr Statement kGatedOne{"bt_gated", "SELECT $1::bigint AS id, pg_advisory_xact_lock(4242)::text AS gate"};
constexpr Statement kGatedMany{"bt_gated_many",
                               "SELECT id, pg_advisory_xact_lock(4242)::text AS gate FROM unnest($1::bigint[]) AS v(id)"};

PoolConfig config() {
  PoolConfig cfg;
  cfg.node = "batch-test";
  cfg.dsn = test::dsn();
  cfg.max_size = 4;
  return cfg;
}

Task<void> fresh_tables() {
  auto c = co_await test::open(test::dsn());
  co_await c->simple(
      "DROP TABLE IF EXISTS bt_rows, bt_counter;"
      "CREATE TABLE bt_rows (id bigint PRIMARY KEY, v text CHECK (v IS NULL OR v <> 'bad'));"
      "CREATE TABLE bt_counter (id bigint PRIMARY KEY, n int NOT NULL);"
      "INSERT INTO bt_counter VALUES (1, 0);",
      soon());
}

struct Outcome {
  std::optional<std::string> v;
  std::string error;  // the code (or SQLSTATE) when the call failed
  int rows = 0;
};

Task<void> insert(Batcher* b, int64_t id, std::optional<std::string> v, Outcome* out, milliseconds budget) {
  try {
    Params p = params(id, v);
    Result r = co_await b->execute(ctx(budget), p);
    out->rows = r.rows();
    if (r.rows() == 1) {
      EXPECT_EQ(r.int64(0, "id"), id);
      out->v = r.opt(0, "v");
    }
  } catch (const SqlError& e) {
    out->error = e.sqlstate();
  } catch (const Error& e) {
    out->error = e.code();
  }
}

// Waits (on the loop) until every future is ready, at most 10 s.
Task<bool> all_ready(std::vector<std::future<void>>& all) {
  co_return co_await dine::test::co_eventually([&] {
    for (auto& f : all)
      if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
    return true;
  }, milliseconds(10000));
}

// Many concurrent callers: fewer statements than calls, every caller its row.
Task<void> coalesces() {
  co_await fresh_tables();
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config());
  Batcher b(pool, {kInsertOne, kInsertMany, 0, "id"}, {.max_batch = 16, .concurrency = 1});
  // Values an array literal must carry intact.
  const std::vector<std::optional<std::string>> tricky = {
      "plain", "with \"quotes\"", "back\\slash", "comma,brace}{", "", std::nullopt, "NULL", "ünïcödé"};
  constexpr int kCalls = 40;
  std::vector<Outcome> outs(kCalls);
  std::vector<std::future<void>> all;
  for (int i = 0; i < kCalls; ++i)
    all.push_back(asio::co_spawn(
        ex, insert(&b, 1000 + i, tricky[static_cast<std::size_t>(i) % tricky.size()], &outs[i], milliseconds(5000)),
        asio::use_future));
  EXPECT_TRUE(co_await all_ready(all));
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(outs[i].error, "");
    EXPECT_EQ(outs[i].rows, 1);
    EXPECT_EQ(outs[i].v, tricky[static_cast<std::size_t>(i) % tricky.size()]);
  }
  const auto& f = b.figures();
  EXPECT_EQ(f.items + f.alone, static_cast<uint64_t>(kCalls));
  EXPECT_GE(f.statements, 1u);
  EXPECT_LT(f.statements + f.alone, static_cast<uint64_t>(kCalls));  // calls really shared statements
  EXPECT_EQ(f.fallbacks, 0u);
  auto c = co_await test::open(test::dsn());
  Result n = co_await c->simple("SELECT count(*) AS n FROM bt_rows", soon());
  EXPECT_EQ(n.int64(0, "n"), kCalls);
}

Task<void> bump(Batcher* b, std::vector<int64_t>* seen) {
  Params p = params(int64_t{1});
  Result r = co_await b->execute(ctx(), p);
  EXPECT_EQ(r.rows(), 1);
  if (r.rows() == 1) seen->push_back(r.int64(0, "n"));
}

// Calls with one key never share a statement: each sees its own increment.
Task<void> same_key() {
  co_await fresh_tables();
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config());
  Batcher b(pool, {kBumpOne, kBumpMany, 0, "id"}, {.max_batch = 16, .concurrency = 1});
  std::vector<int64_t> seen;
  std::vector<std::future<void>> all;
  for (int i = 0; i < 10; ++i) all.push_back(asio::co_spawn(ex, bump(&b, &seen), asio::use_future));
  EXPECT_TRUE(co_await dine::test::co_eventually([&] { return seen.size() == 10; }, milliseconds(10000)));
  for (auto& f : all) f.get();
  std::set<int64_t> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), 10u);
  EXPECT_EQ(*distinct.begin(), 1);
  EXPECT_EQ(*distinct.rbegin(), 10);
}

// One row that breaks a rule: the batch runs call by call, only it fails.
Task<void> bad_row() {
  co_await fresh_tables();
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config());
  Batcher b(pool, {kInsertOne, kInsertMany, 0, "id"}, {.max_batch = 16, .concurrency = 1});
  std::vector<Outcome> outs(10);
  std::vector<std::future<void>> all;
  for (int i = 0; i < 10; ++i) {
    std::optional<std::string> v = i == 5 ? "bad" : "ok-" + std::to_string(i);
    all.push_back(asio::co_spawn(ex, insert(&b, 2000 + i, v, &outs[i], milliseconds(5000)), asio::use_future));
  }
  EXPECT_TRUE(co_await all_ready(all));
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    if (i == 5) {
      EXPECT_EQ(outs[i].error, "23514");  // check_violation, its own
    } else {
      EXPECT_EQ(outs[i].error, "");
      EXPECT_EQ(outs[i].v, "ok-" + std::to_string(i));
    }
  }
  EXPECT_GE(b.figures().fallbacks, 1u);
  auto c = co_await test::open(test::dsn());
  Result n = co_await c->simple("SELECT count(*) AS n FROM bt_rows", soon());
  EXPECT_EQ(n.int64(0, "n"), 9);
}

Task<void> gated(Batcher* b, bool* done) {
  Params p = params(int64_t{7});
  co_await b->execute(ctx(milliseconds(20000)), p);
  *done = true;
}

// Two batchers on one lane: a call queued behind the other's statement (held
// at a gate), whose deadline passes, gets db_timeout while that statement
// still runs; once the gate opens the lane serves on.
Task<void> out_of_time() {
  co_await fresh_tables();
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config());
  auto lane = std::make_shared<BatchLane>(1);
  Batcher gated_b(pool, {kGatedOne, kGatedMany, 0, "id"}, {.max_batch = 16, .concurrency = 1}, lane);
  Batcher rows(pool, {kInsertOne, kInsertMany, 0, "id"}, {.max_batch = 16, .concurrency = 1}, lane);
  auto gate = co_await test::open(test::dsn());
  co_await gate->simple("SELECT pg_advisory_lock(" + std::to_string(kGate) + ")", soon());
  bool gated_done = false;
  auto gated_f = asio::co_spawn(ex, gated(&gated_b, &gated_done), asio::use_future);
  // Wait until the gated statement is on the server, waiting at the gate: it
  // holds the lane's one slot.
  bool waiting = false;
  for (const Deadline end = deadline_in(milliseconds(10000)); !waiting && Clock::now() < end;) {
    Result w = co_await gate->simple(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = " + std::to_string(kGate) +
            " AND NOT granted",
        soon());
    waiting = w.int64(0, "n") > 0;
    if (!waiting) co_await test::pause(milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "the gated statement never reached the server";

  Outcome late;
  co_await insert(&rows, 3000, std::string("late"), &late, milliseconds(100));
  EXPECT_EQ(late.error, "db_timeout");
  EXPECT_FALSE(gated_done) << "the late call was answered while the lane's statement still ran";

  co_await gate->simple("SELECT pg_advisory_unlock(" + std::to_string(kGate) + ")", soon());
  EXPECT_TRUE(co_await dine::test::co_eventually([&] { return gated_done; }, milliseconds(10000)));
  gated_f.get();
  Outcome next;
  co_await insert(&rows, 3001, std::string("next"), &next, milliseconds(5000));
  EXPECT_EQ(next.error, "");
  EXPECT_EQ(next.v, "next");
  // The late call left the queue before any statement took it: its row is not there.
  auto c = co_await test::open(test::dsn());
  Result n = co_await c->simple("SELECT count(*) AS n FROM bt_rows WHERE id = 3000", soon());
  EXPECT_EQ(n.int64(0, "n"), 0);
}

// With a linger, calls that queue behind a running statement wait for more to
// join and go as one statement; a call that finds the lane free never waits.
Task<void> linger() {
  co_await fresh_tables();
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config());
  Batcher b(pool, {kInsertOne, kInsertMany, 0, "id"},
            {.max_batch = 32, .concurrency = 1, .linger = std::chrono::microseconds(4'000'000)});
  Outcome first;
  auto start = Clock::now();
  co_await insert(&b, 4000, std::string("alone"), &first, milliseconds(10000));
  EXPECT_EQ(first.error, "");
  EXPECT_LT(Clock::now() - start, milliseconds(3000)) << "a call on a free lane went at once, not after the 4 s linger";
  EXPECT_EQ(b.figures().alone, 1u);

  // A takes the free lane, B queues behind it. When A is done, B's statement
  // lingers, and the calls made meanwhile join it: one statement for B..J.
  // (Without the linger B would go alone the moment A was done.)
  std::vector<Outcome> outs(10);
  std::vector<std::future<void>> all;
  auto spawn = [&](int i) {
    all.push_back(asio::co_spawn(ex, insert(&b, 4100 + i, "l-" + std::to_string(i), &outs[i], milliseconds(10000)),
                                 asio::use_future));
  };
  spawn(0);
  spawn(1);
  EXPECT_TRUE(co_await dine::test::co_eventually([&] {
    return all[0].wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }, milliseconds(5000)));
  for (int i = 2; i < 10; ++i) spawn(i);
  EXPECT_TRUE(co_await all_ready(all));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(outs[i].v, "l-" + std::to_string(i)) << outs[i].error;
  EXPECT_EQ(b.figures().alone, 2u);  // the first call and A
  EXPECT_EQ(b.figures().statements, 1u);
  EXPECT_EQ(b.figures().items, 9u);
}

// A batch that fails for a reason other than a value or a constraint (here the
// set-based statement names a table that does not exist) is every call's
// answer: no call-by-call retry that would only add load.
constexpr Statement kBrokenMany{"bt_broken_many",
                                "INSERT INTO bt_no_such_table SELECT * FROM unnest($1::bigint[], $2::text[])"};

Task<void> no_fallback() {
  co_await fresh_tables();
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config());
  Batcher b(pool, {kInsertOne, kBrokenMany, 0, "id"}, {.max_batch = 16, .concurrency = 1});
  std::vector<Outcome> outs(8);
  std::vector<std::future<void>> all;
  for (int i = 0; i < 8; ++i)
    all.push_back(asio::co_spawn(ex, insert(&b, 5000 + i, "x", &outs[i], milliseconds(5000)), asio::use_future));
  EXPECT_TRUE(co_await all_ready(all));
  EXPECT_EQ(outs[0].error, "");  // the first went alone, as the single-row statement
  for (int i = 1; i < 8; ++i) EXPECT_EQ(outs[i].error, "42P01") << i;
  EXPECT_EQ(b.figures().statements, 1u);
  EXPECT_EQ(b.figures().fallbacks, 0u);
}

TEST(PgBatcher, ArrayLiteralQuotesEveryValue) {
  std::optional<std::string> a = "x", b = "say \"hi\"", c = "a\\b", d = std::nullopt, e = "";
  EXPECT_EQ(Batcher::array_literal({&a, &b, &c, &d, &e}), R"({"x","say \"hi\"","a\\b",NULL,""})");
  EXPECT_EQ(Batcher::array_literal({}), "{}");
}

TEST(PgBatcher, ConcurrentCallsShareStatementsAndEachGetsItsRow) { run([](auto) { return coalesces(); }); }
TEST(PgBatcher, CallsWithOneKeyNeverShareAStatement) { run([](auto) { return same_key(); }); }
TEST(PgBatcher, ARowThatBreaksARuleFailsAloneTheOthersCommit) { run([](auto) { return bad_row(); }); }
TEST(PgBatcher, LingerGathersQueuedCallsButNeverDelaysALoneOne) { run([](auto) { return linger(); }); }
TEST(PgBatcher, AFailureOtherThanABadRowIsEveryCallsAnswer) { run([](auto) { return no_fallback(); }); }
TEST(PgBatcher, ACallerOutOfTimeGetsDbTimeoutAndTheLaneServesOn) { run([](auto) { return out_of_time(); }); }

}  // namespace
}  // namespace dine::pg
