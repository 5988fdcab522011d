// dine::pg::Connection against a real PostgreSQL from the harness.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include "core/pg/connection.hpp"
#include "core/pg/errors.hpp"
#include "tests/integration/pg_support.hpp"

namespace dine::pg {
namespace {

using test::open;
using test::run;
using test::soon;

Task<void> params_and_nulls() {
  auto c = co_await open(test::dsn());
  static constexpr Statement kEcho{"echo", "SELECT $1::int + 1 AS n, $2::text AS t, $3::text AS u"};
  Result r = co_await c->execute(kEcho, params("41", std::nullopt, "h\xC3\xA9 'q' \"x\""), soon());
  EXPECT_EQ(r.rows(), 1);
  EXPECT_EQ(r.columns(), 3);
  EXPECT_EQ(r.int64(0, "n"), 42);
  EXPECT_TRUE(r.is_null(0, r.column("t")));
  EXPECT_EQ(r.opt(0, "t"), std::nullopt);
  EXPECT_EQ(r.text(0, "t"), "");
  EXPECT_EQ(r.opt(0, "u"), std::optional<std::string>("h\xC3\xA9 'q' \"x\""));
  EXPECT_THROW(r.column("missing"), std::out_of_range);
  EXPECT_THROW(r.int64(0, "t"), Error);
  EXPECT_FALSE(c->broken());
  EXPECT_FALSE(c->in_transaction());
}

TEST(PgConnection, RunsParametersAndNulls) { run([](auto) { return params_and_nulls(); }); }

Task<void> prepared_once() {
  auto c = co_await open(test::dsn());
  static constexpr Statement kSquare{"square", "SELECT $1::int * $1::int AS sq"};
  static constexpr Statement kCount{"count_prepared",
                                    "SELECT count(*) AS n FROM pg_prepared_statements WHERE name = $1"};
  for (int i = 1; i <= 3; ++i) {
    Result r = co_await c->execute(kSquare, params(i), soon());
    EXPECT_EQ(r.int64(0, "sq"), i * i);
  }
  Result n = co_await c->execute(kCount, params("square"), soon());
  EXPECT_EQ(n.int64(0, "n"), 1);  // prepared once, reused twice
}

TEST(PgConnection, PreparesOnceAndReuses) { run([](auto) { return prepared_once(); }); }

Task<void> unique_violation() {
  auto c = co_await open(test::dsn());
  co_await c->simple("DROP TABLE IF EXISTS pg_conn_uniq; CREATE TABLE pg_conn_uniq (id int PRIMARY KEY)", soon());
  static constexpr Statement kInsert{"uniq_insert", "INSERT INTO pg_conn_uniq (id) VALUES ($1::int)"};
  Result ok = co_await c->execute(kInsert, params("1"), soon());
  EXPECT_EQ(ok.affected(), 1);
  bool thrown = false;
  try {
    co_await c->execute(kInsert, params("1"), soon());
  } catch (const SqlError& e) {
    thrown = true;
    EXPECT_EQ(e.sqlstate(), "23505");
    EXPECT_TRUE(e.unique_violation());
    EXPECT_EQ(e.kind(), ErrorKind::Conflict);
    EXPECT_EQ(e.code(), "db_constraint");
    // The server's words are for the log, never for the client.
    EXPECT_EQ(std::string(e.what()).find("pg_conn_uniq"), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("pg_conn_uniq"), std::string::npos) << e.detail();
  }
  EXPECT_TRUE(thrown);
  EXPECT_FALSE(c->broken());  // an SQL error leaves the connection usable
  Result again = co_await c->execute(kInsert, params("2"), soon());
  EXPECT_EQ(again.affected(), 1);
  // A bad statement fails at prepare and is not remembered as prepared.
  static constexpr Statement kBad{"bad", "SELEC 1"};
  EXPECT_THROW(co_await c->execute(kBad, {}, soon()), SqlError);
  try {
    co_await c->execute(kBad, {}, soon());
  } catch (const SqlError& e) {
    EXPECT_EQ(e.sqlstate(), "42601");
  }
  co_await c->simple("DROP TABLE pg_conn_uniq", soon());
}

TEST(PgConnection, SqlErrorCarriesSqlstate) { run([](auto) { return unique_violation(); }); }

Task<void> simple_multi() {
  auto c = co_await open(test::dsn());
  Result r = co_await c->simple("SELECT 1 AS a; SELECT 2 AS b", soon());
  EXPECT_EQ(r.int64(0, "b"), 2);  // the last statement's result
  co_await c->simple("BEGIN", soon());
  EXPECT_TRUE(c->in_transaction());
  EXPECT_THROW(co_await c->simple("SELECT 1/0", soon()), SqlError);
  Result rb = co_await c->simple("COMMIT", soon());
  EXPECT_EQ(rb.command_tag(), "ROLLBACK");
  EXPECT_FALSE(c->in_transaction());
}

TEST(PgConnection, SimpleRunsSeveralStatements) { run([](auto) { return simple_multi(); }); }

Task<void> deadline_on_sleep() {
  auto c = co_await open(test::dsn());
  auto start = Clock::now();
  bool thrown = false;
  try {
    co_await c->simple("SELECT pg_sleep(10)", deadline_in(milliseconds(200)));
  } catch (const Error& e) {
    thrown = true;
    EXPECT_EQ(e.kind(), ErrorKind::Timeout);
    EXPECT_EQ(e.code(), "db_timeout");
  }
  EXPECT_TRUE(thrown);
  auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_TRUE(c->broken());
  EXPECT_THROW(co_await c->simple("SELECT 1", soon()), Error);  // never reused
}

TEST(PgConnection, DeadlinePassedIsTimeoutAndBreaks) { run([](auto) { return deadline_on_sleep(); }); }

Task<void> unreachable(std::string dsn_text) {
  auto start = Clock::now();
  try {
    co_await Connection::connect(co_await asio::this_coro::executor, dsn_text, deadline_in(milliseconds(3000)));
    ADD_FAILURE() << "connected to a closed port";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_EQ(e.code(), "db_unavailable");
  }
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
}

TEST(PgConnection, ServerDownIsUnavailableQuickly) {
  std::string d = test::dsn_on_port(test::closed_port());
  run([d](auto) { return unreachable(d); });
}

// A peer that accepts TCP but never answers the startup packet.
Task<void> silent_server() {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::acceptor mute(ex, {asio::ip::make_address("127.0.0.1"), 0});
  std::string d = test::dsn_on_port(mute.local_endpoint().port()) + " sslmode=disable gssencmode=disable";
  auto start = Clock::now();
  try {
    co_await Connection::connect(ex, d, deadline_in(milliseconds(300)));
    ADD_FAILURE() << "connected to a silent peer";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_NE(e.detail().find("timed out"), std::string::npos) << e.detail();
  }
  auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(2000));
}

TEST(PgConnection, ConnectDeadlineOnSilentServer) { run([](auto) { return silent_server(); }); }

Task<void> terminated() {
  auto c = co_await open(test::dsn());
  int pid = c->backend_pid();
  EXPECT_GT(pid, 0);
  co_await test::terminate_backend(pid);
  try {
    co_await c->simple("SELECT 1", soon());
    ADD_FAILURE() << "query on a terminated backend succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_EQ(e.code(), "db_unavailable");
  }
  EXPECT_TRUE(c->broken());
  EXPECT_FALSE(c->poll_alive());
}

TEST(PgConnection, TerminatedBackendIsUnavailableAndBroken) { run([](auto) { return terminated(); }); }

Task<void> notify_after(milliseconds delay, std::string payload) {
  co_await test::pause(delay);
  auto c = co_await open(test::dsn());
  static constexpr Statement kNotify{"notify", "SELECT pg_notify('pg_conn_chan', $1)"};
  co_await c->execute(kNotify, params(payload), soon());
}

Task<void> listen_notify() {
  auto ex = co_await asio::this_coro::executor;
  auto listener = co_await open(test::dsn());
  co_await listener->simple("LISTEN pg_conn_chan", soon());

  // Nothing sent: the deadline passes, nullopt, the connection stays usable.
  auto start = Clock::now();
  auto none = co_await listener->wait_notification(deadline_in(milliseconds(150)));
  EXPECT_FALSE(none.has_value());
  EXPECT_GE(Clock::now() - start, milliseconds(140));
  EXPECT_FALSE(listener->broken());

  // Sent while we wait.
  auto sender = asio::co_spawn(ex, notify_after(milliseconds(50), "hello"), asio::use_future);
  auto n = co_await listener->wait_notification(soon());
  EXPECT_TRUE(n.has_value());
  if (!n) co_return;
  EXPECT_EQ(n->channel, "pg_conn_chan");
  EXPECT_EQ(n->payload, "hello");
  while (sender.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    co_await test::pause(milliseconds(5));
  }
  sender.get();  // the sender's own errors fail the test

  // Sent before we wait: already buffered.
  co_await notify_after(milliseconds(0), "second");
  auto n2 = co_await listener->wait_notification(soon());
  EXPECT_TRUE(n2.has_value());
  EXPECT_EQ(n2.value_or(Notification{}).payload, "second");
  Result r = co_await listener->simple("SELECT 7 AS x", soon());
  EXPECT_EQ(r.int64(0, "x"), 7);
}

TEST(PgConnection, ListenNotify) { run([](auto) { return listen_notify(); }); }

}  // namespace
}  // namespace dine::pg
