// The pool against a real PostgreSQL when things go wrong: a query past its
// deadline or whose caller is cancelled is cancelled on the server; a failed
// transaction is rolled back and its connection kept; serialization failures
// are retried, then 503 db_conflict; a server that keeps failing opens the
// circuit (fail fast) and, when it returns, sees one probe; the session
// settings of a node's pools reach the server.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>

#include "core/pg/errors.hpp"
#include "core/pg/pool.hpp"
#include "core/topology.hpp"
#include "tests/integration/pg_support.hpp"

namespace dine::pg {
namespace {

using dine::test::co_eventually;
using dine::test::Harness;
using test::ctx;
using test::run;
using test::soon;

PoolConfig config(std::string dsn, std::size_t max_size = 2) {
  PoolConfig cfg;
  cfg.node = "hardening";
  cfg.dsn = std::move(dsn);
  cfg.max_size = max_size;
  return cfg;
}

// Queries with `tag` in their text still running on the server.
Task<int64_t> running(std::string tag) {
  auto admin = co_await test::open(test::dsn());
  static constexpr Statement kRunning{
      "running", "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%'"
                 " AND pid <> pg_backend_pid()"};
  Params p = params(tag);
  Result r = co_await admin->execute(kRunning, p, soon());
  co_return r.int64(0, "n");
}

Task<void> deadline_cancels_on_server() {
  auto ex = co_await asio::this_coro::executor;
  PoolConfig cfg = config(test::dsn());
  cfg.query_timeout = milliseconds(200);
  Pool pool(ex, cfg);
  static constexpr Statement kSleep{"sleep_deadline", "SELECT pg_sleep(30) /* tag-deadline */"};
  auto start = Clock::now();
  bool timed_out = false;
  try {
    Context c = ctx();
    Params none;
    co_await pool.execute(c, kSleep, none);
  } catch (const Error& e) {
    timed_out = e.kind() == ErrorKind::Timeout;
    EXPECT_EQ(e.code(), "db_timeout");
  }
  EXPECT_TRUE(timed_out);
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  // The query does not go on running on the server.
  int64_t left = -1;
  auto gone = [&] { return left == 0; };
  for (Deadline end = deadline_in(milliseconds(5000)); !gone() && Clock::now() < end;) {
    left = co_await running("tag-deadline");
    if (!gone()) co_await test::pause(milliseconds(20));
  }
  EXPECT_EQ(left, 0) << "pg_sleep still running after its deadline";
  EXPECT_EQ(pool.figures().cancels, 1u);
  EXPECT_EQ(pool.figures().size, 0u);  // the connection was dropped, not reused
}

TEST(PgHardening, QueryPastItsDeadlineLeavesNoRunningQuery) { run([](auto) { return deadline_cancels_on_server(); }); }

Task<void> sleep_query(Pool* pool, std::shared_ptr<std::string> outcome) {
  static constexpr Statement kSleep{"sleep_cancel", "SELECT pg_sleep(30) /* tag-cancelled */"};
  try {
    Context c = ctx(milliseconds(60000));
    Params none;
    co_await pool->execute(c, kSleep, none);
    *outcome = "finished";
  } catch (const Error& e) {
    *outcome = e.code();
  } catch (const std::exception& e) {
    *outcome = e.what();
  }
}

Task<void> cancellation_cancels_on_server() {
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config(test::dsn()));
  auto outcome = std::make_shared<std::string>();
  asio::cancellation_signal signal;
  asio::co_spawn(ex, sleep_query(&pool, outcome), asio::bind_cancellation_slot(signal.slot(), asio::detached));
  EXPECT_TRUE(co_await co_eventually([&] { return pool.figures().size == 1 && pool.figures().idle == 0; },
                                     milliseconds(5000)));
  int64_t before = 0;
  for (Deadline end = deadline_in(milliseconds(5000)); before == 0 && Clock::now() < end;) {
    before = co_await running("tag-cancelled");
  }
  EXPECT_EQ(before, 1);
  // The request that waits on it passes its deadline: the HTTP server cancels it.
  signal.emit(asio::cancellation_type::terminal);
  EXPECT_TRUE(co_await co_eventually([&] { return !outcome->empty(); }, milliseconds(2000)));
  EXPECT_NE(*outcome, "finished");
  int64_t left = -1;
  for (Deadline end = deadline_in(milliseconds(5000)); left != 0 && Clock::now() < end;) {
    left = co_await running("tag-cancelled");
    if (left != 0) co_await test::pause(milliseconds(20));
  }
  EXPECT_EQ(left, 0) << "pg_sleep still running after its caller was cancelled";
  EXPECT_EQ(pool.figures().cancels, 1u);
}

TEST(PgHardening, CancelledCallerCancelsItsQueryOnTheServer) {
  run([](auto) { return cancellation_cancels_on_server(); });
}

struct BodyFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr Statement kInsert{"hard_insert", "INSERT INTO pg_hardening (id) VALUES ($1::int)"};
constexpr Statement kCount{"hard_count", "SELECT count(*) AS n FROM pg_hardening WHERE id = $1::int"};
constexpr Statement kPid{"hard_pid", "SELECT pg_backend_pid() AS pid"};

Task<void> failed_transaction_rolls_back() {
  Pool pool(co_await asio::this_coro::executor, config(test::dsn(), 1));
  Context c = ctx();
  Params none;
  co_await pool.execute(c, {"hard_setup", "CREATE TABLE IF NOT EXISTS pg_hardening (id int PRIMARY KEY)"}, none);
  int pid_before = static_cast<int>((co_await pool.execute(c, kPid, none)).int64(0, "pid"));
  bool thrown = false;
  try {
    co_await pool.transaction(c, [](Transaction& tx) -> Task<void> {
      Params one = params(1);
      co_await tx.execute(kInsert, one);
      throw BodyFailed("the handler failed after its first write");
    });
  } catch (const BodyFailed&) {
    thrown = true;
  }
  EXPECT_TRUE(thrown);
  Params one = params(1);
  EXPECT_EQ((co_await pool.execute(c, kCount, one)).int64(0, "n"), 0);  // rolled back
  int pid_after = static_cast<int>((co_await pool.execute(c, kPid, none)).int64(0, "pid"));
  EXPECT_EQ(pid_after, pid_before);  // and the healthy connection kept
  EXPECT_EQ(pool.figures().size, 1u);
  co_await pool.execute(c, {"hard_drop", "DROP TABLE pg_hardening"}, none);
}

TEST(PgHardening, FailedTransactionIsRolledBackAndItsConnectionKept) {
  run([](auto) { return failed_transaction_rolls_back(); });
}

Task<void> conflicts_retried() {
  Pool pool(co_await asio::this_coro::executor, config(test::dsn()));
  Context c = ctx();
  Params none;
  co_await pool.execute(c, {"conf_seq", "CREATE SEQUENCE IF NOT EXISTS pg_conflict_attempts"}, none);
  co_await pool.execute(c, {"conf_setup",
                            "CREATE OR REPLACE FUNCTION pg_conflict_until(n int) RETURNS int AS $$"
                            " BEGIN IF nextval('pg_conflict_attempts') < n THEN"
                            "   RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END IF;"
                            " RETURN 1; END $$ LANGUAGE plpgsql"},
                        none);
  static constexpr Statement kReset{"conf_reset", "SELECT setval('pg_conflict_attempts', 1, false)"};
  static constexpr Statement kUntil{"conf_until", "SELECT pg_conflict_until($1::int) AS ok"};
  static constexpr Statement kAttempts{"conf_attempts", "SELECT last_value AS n FROM pg_conflict_attempts"};
  // Fails twice, then succeeds: retried, the caller sees the success.
  co_await pool.execute(c, kReset, none);
  Params three = params(3);
  Result ok = co_await pool.execute(c, kUntil, three);
  EXPECT_EQ(ok.int64(0, "ok"), 1);
  EXPECT_EQ((co_await pool.execute(c, kAttempts, none)).int64(0, "n"), 3);
  // Never succeeds: 1 + conflict_retries attempts, then 503 db_conflict with Retry-After.
  co_await pool.execute(c, kReset, none);
  Params never = params(1000);
  bool thrown = false;
  try {
    co_await pool.execute(c, kUntil, never);
  } catch (const SqlError& e) {
    thrown = true;
    EXPECT_EQ(http_status(e.kind()), 503);
    EXPECT_EQ(e.code(), "db_conflict");
    EXPECT_TRUE(e.retry_after().has_value());
  }
  EXPECT_TRUE(thrown);
  EXPECT_EQ((co_await pool.execute(c, kAttempts, none)).int64(0, "n"), 1 + pool.config().conflict_retries);
  // A whole transaction is run again the same way.
  co_await pool.execute(c, kReset, none);
  int bodies = 0;
  co_await pool.transaction(c, [&bodies](Transaction& tx) -> Task<void> {
    ++bodies;
    Params two = params(3);
    co_await tx.execute(kUntil, two);
  });
  EXPECT_EQ(bodies, 3);
}

TEST(PgHardening, SerializationFailuresAreRetriedThenAreDbConflict) { run([](auto) { return conflicts_retried(); }); }

// Callers that run out of their own time break at most their own query: no
// connection is taken for an expired caller, and a caller whose deadline is
// shorter than the query timeout never counts against the circuit.
Task<void> callers_do_not_open_the_circuit() {
  auto ex = co_await asio::this_coro::executor;
  PoolConfig cfg = config(test::dsn(), 2);
  cfg.query_timeout = milliseconds(2000);
  cfg.circuit = {.threshold = 2, .first_backoff = milliseconds(5000), .max_backoff = milliseconds(5000)};
  Pool pool(ex, cfg);
  Params none;
  Context warm = ctx();
  co_await pool.execute(warm, kPid, none);
  const std::size_t size = pool.figures().size;
  // Already expired: refused before a connection is touched.
  for (int i = 0; i < 5; ++i) {
    Context gone{"expired", Clock::now() - milliseconds(1)};
    bool timeout = false;
    try {
      co_await pool.execute(gone, kPid, none);
    } catch (const Error& e) {
      timeout = e.kind() == ErrorKind::Timeout;
    }
    EXPECT_TRUE(timeout);
  }
  EXPECT_EQ(pool.figures().size, size);
  EXPECT_EQ(pool.figures().cancels, 0u);
  // Short deadlines on slow queries: each abandoned (dropped, cancelled), none
  // counted as the database's failure.
  static constexpr Statement kSlow{"hard_slow", "SELECT pg_sleep(1) /* tag-short */"};
  for (int i = 0; i < 4; ++i) {
    Context brief = ctx(milliseconds(100));
    bool timeout = false;
    try {
      co_await pool.execute(brief, kSlow, none);
    } catch (const Error& e) {
      timeout = e.kind() == ErrorKind::Timeout;
    }
    EXPECT_TRUE(timeout);
  }
  EXPECT_EQ(pool.figures().cancels, 4u);
  EXPECT_EQ(pool.figures().circuit, Circuit::State::Closed);
  Context after = ctx();
  Result r = co_await pool.execute(after, kPid, none);
  EXPECT_GT(r.int64(0, "pid"), 0);
}

TEST(PgHardening, CallersRunningOutOfTimeDoNotOpenTheCircuit) {
  run([](auto) { return callers_do_not_open_the_circuit(); });
}

// A server silent for the whole query timeout does count: after `threshold`
// such queries the circuit opens.
Task<void> silent_server_opens_the_circuit() {
  auto ex = co_await asio::this_coro::executor;
  PoolConfig cfg = config(test::dsn(), 2);
  cfg.query_timeout = milliseconds(150);
  cfg.circuit = {.threshold = 2, .first_backoff = milliseconds(5000), .max_backoff = milliseconds(5000)};
  Pool pool(ex, cfg);
  static constexpr Statement kSlow{"hard_silent", "SELECT pg_sleep(1) /* tag-silent */"};
  Params none;
  for (int i = 0; i < 2; ++i) {
    Context c = ctx();
    bool timeout = false;
    try {
      co_await pool.execute(c, kSlow, none);
    } catch (const Error& e) {
      timeout = e.kind() == ErrorKind::Timeout;
    }
    EXPECT_TRUE(timeout);
  }
  EXPECT_EQ(pool.figures().circuit, Circuit::State::Open);
}

TEST(PgHardening, AServerSilentForTheQueryTimeoutOpensTheCircuit) {
  run([](auto) { return silent_server_opens_the_circuit(); });
}

Task<std::string> code_of_call(Pool& pool) {
  try {
    Context c = ctx();
    Params none;
    co_await pool.execute(c, kPid, none);
    co_return "ok";
  } catch (const Error& e) {
    co_return e.code() + (e.retry_after() ? "+retry_after" : "");
  }
}

Task<void> circuit_fails_fast_then_probes() {
  auto& h = Harness::get();
  PoolConfig cfg = config(h.pg(1).dsn("postgres"));
  cfg.circuit = {.threshold = 3, .first_backoff = milliseconds(300), .max_backoff = milliseconds(2000)};
  Pool pool(co_await asio::this_coro::executor, cfg);
  EXPECT_EQ(co_await code_of_call(pool), "ok");
  h.pg_stop(1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await code_of_call(pool), "db_unavailable+retry_after");
  const uint64_t failures = pool.figures().connect_failures;
  EXPECT_EQ(pool.figures().circuit, Circuit::State::Open);
  // Open: fail fast, without touching the server.
  auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(co_await code_of_call(pool), "db_unavailable+retry_after");
  EXPECT_LT(Clock::now() - t0, milliseconds(250));
  EXPECT_EQ(pool.figures().connect_failures, failures);
  // The server returns: once the circuit is half-open, one probe goes through and closes it.
  h.pg_start(1);
  std::string last;
  EXPECT_TRUE(co_await co_eventually(
      [&] { return pool.figures().circuit == Circuit::State::HalfOpen; }, milliseconds(5000)));
  last = co_await code_of_call(pool);
  EXPECT_EQ(last, "ok");
  EXPECT_EQ(pool.figures().circuit, Circuit::State::Closed);
}

TEST(PgHardening, ACircuitOpensFailsFastAndLetsOneProbeThrough) {
  run([](auto) { return circuit_fails_fast_then_probes(); });
}

Task<void> session_settings() {
  Topology t = parse_topology(R"({"name": "s", "nodes": [{"id": "pg", "kind": "postgres", "port": 1,
                                  "databases": ["postgres"]}]})",
                              "s.json");
  auto& pg = Harness::get().pg(0);
  t.nodes[0].port = pg.port;
  t.nodes[0].user = pg.user;
  resolve_hosts(t);
  Limits l;
  l.db_query_timeout_ms = 3000;
  l.db_lock_timeout_ms = 700;
  l.db_idle_in_tx_timeout_ms = 9000;
  Pool pool(co_await asio::this_coro::executor,
            config(t.dsn(t.nodes[0], "postgres", DsnOptions::for_pools("order-7", l))));
  static constexpr Statement kSettings{
      "settings",
      "SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,"
      " current_setting('idle_in_transaction_session_timeout') AS it, current_setting('application_name') AS app,"
      " current_setting('client_connection_check_interval') AS cc"};
  Context c = ctx();
  Params none;
  Result r = co_await pool.execute(c, kSettings, none);
  EXPECT_EQ(r.text(0, "st"), "3500ms");  // a little above the client's deadline, as a backstop
  EXPECT_EQ(r.text(0, "lt"), "700ms");
  EXPECT_EQ(r.text(0, "it"), "9s");
  EXPECT_EQ(r.text(0, "app"), "order-7");
  EXPECT_EQ(r.text(0, "cc"), "1s");
}

TEST(PgHardening, NodePoolsCarryTheSessionSettings) { run([](auto) { return session_settings(); }); }

}  // namespace
}  // namespace dine::pg
