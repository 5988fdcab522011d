// dine::pg::Pool, Lease, Transaction and ShardedCluster against a real PostgreSQL.
#include <gtest/gtest.h>

#include <set>

#include "core/pg/errors.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sharded.hpp"
#include "tests/integration/pg_support.hpp"

namespace dine::pg {
namespace {

using test::ctx;
using test::run;
using test::soon;

constexpr Statement kPid{"pid", "SELECT pg_backend_pid() AS pid"};
constexpr Statement kSleepPid{"sleep_pid", "SELECT pg_sleep($1::float8), pg_backend_pid() AS pid"};

PoolConfig config(std::size_t max_size, milliseconds acquire_timeout = milliseconds(2000)) {
  PoolConfig cfg;
  cfg.node = "test";
  cfg.dsn = test::dsn();
  cfg.max_size = max_size;
  cfg.acquire_timeout = acquire_timeout;
  return cfg;
}

struct Shared {
  std::size_t done = 0;
  std::size_t max_size_seen = 0;
  std::set<int64_t> pids;
};

Task<void> worker(Pool* pool, std::shared_ptr<Shared> s) {
  Lease lease = co_await pool->acquire(ctx());
  s->max_size_seen = std::max(s->max_size_seen, pool->figures().size);
  Result r = co_await lease->execute(kSleepPid, params("0.05"), soon());
  s->pids.insert(r.int64(0, "pid"));
  ++s->done;
}

Task<void> bounded() {
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config(2));
  auto s = std::make_shared<Shared>();
  std::vector<std::future<void>> all;
  for (int i = 0; i < 5; ++i) all.push_back(asio::co_spawn(ex, worker(&pool, s), asio::use_future));
  co_await test::pause(milliseconds(20));
  EXPECT_EQ(pool.figures().waiting, 3u);  // three wait their turn, in order
  while (s->done < 5) co_await test::pause(milliseconds(10));
  for (auto& f : all) f.get();
  EXPECT_EQ(s->max_size_seen, 2u);
  EXPECT_EQ(s->pids.size(), 2u);  // the two connections were reused
  PoolFigures f = pool.figures();
  EXPECT_EQ(f.size, 2u);
  EXPECT_EQ(f.idle, 2u);
  EXPECT_EQ(f.waiting, 0u);
  EXPECT_EQ(f.acquire_timeouts, 0u);
}

TEST(PgPool, BoundedFiveCoroutinesShareTwoConnections) { run([](auto) { return bounded(); }); }

Task<void> acquire_timeout() {
  Pool pool(co_await asio::this_coro::executor, config(2, milliseconds(150)));
  Lease a = co_await pool.acquire(ctx());
  Lease b = co_await pool.acquire(ctx());
  auto start = Clock::now();
  try {
    Lease c = co_await pool.acquire(ctx());
    ADD_FAILURE() << "acquired a third connection from a pool of two";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_EQ(e.code(), "db_overloaded");
  }
  auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(140));
  EXPECT_LT(took, milliseconds(1000));
  PoolFigures f = pool.figures();
  EXPECT_EQ(f.acquire_timeouts, 1u);
  EXPECT_EQ(f.waiting, 0u);
  EXPECT_EQ(f.size, 2u);
  // Once one is back, acquiring works again and reuses it.
  int pid_b = b->backend_pid();
  b = Lease();
  Lease c = co_await pool.acquire(ctx());
  EXPECT_EQ(c->backend_pid(), pid_b);
}

TEST(PgPool, AcquireTimesOutWhenAllHeld) { run([](auto) { return acquire_timeout(); }); }

Task<void> take_and_record(Pool* pool, std::shared_ptr<int> pid) {
  Lease l = co_await pool->acquire(ctx());
  *pid = l->backend_pid();
}

Task<void> waiter_woken() {
  auto ex = co_await asio::this_coro::executor;
  Pool pool(ex, config(1, milliseconds(5000)));
  Lease held = co_await pool.acquire(ctx());
  int held_pid = held->backend_pid();
  auto got = std::make_shared<int>(0);
  auto fut = asio::co_spawn(ex, take_and_record(&pool, got), asio::use_future);
  co_await test::pause(milliseconds(20));
  EXPECT_EQ(pool.figures().waiting, 1u);
  auto start = Clock::now();
  held = Lease();  // release: the waiter gets this very connection
  while (*got == 0) co_await test::pause(milliseconds(1));
  fut.get();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ(*got, held_pid);
}

TEST(PgPool, ReleaseWakesWaiter) { run([](auto) { return waiter_woken(); }); }

constexpr Statement kInsert{"tx_insert", "INSERT INTO pg_pool_tx (id) VALUES ($1::int)"};
constexpr Statement kCount{"tx_count", "SELECT count(*) AS n FROM pg_pool_tx WHERE id = $1::int"};

Task<int64_t> count_rows(Pool& pool, int id) {
  Result r = co_await pool.execute(ctx(), kCount, params(id));
  co_return r.int64(0, "n");
}

Task<void> transactions() {
  Pool pool(co_await asio::this_coro::executor, config(4));
  co_await pool.execute(ctx(), {"tx_setup", "DROP TABLE IF EXISTS pg_pool_tx"}, {});
  co_await pool.execute(ctx(), {"tx_create", "CREATE TABLE pg_pool_tx (id int PRIMARY KEY)"}, {});
  {
    Lease lease = co_await pool.acquire(ctx());
    Transaction tx = co_await Transaction::begin(lease, soon());
    co_await tx.execute(kInsert, params("1"));
    co_await tx.commit();
    EXPECT_FALSE(lease->in_transaction());
  }
  EXPECT_EQ(co_await count_rows(pool, 1), 1);
  std::size_t size_before = pool.figures().size;
  {
    Lease lease = co_await pool.acquire(ctx());
    Transaction tx = co_await Transaction::begin(lease, soon());
    co_await tx.execute(kInsert, params("2"));
    EXPECT_TRUE(lease->in_transaction());
    // given back without commit
  }
  // The pool rolls the transaction back and keeps the healthy connection.
  while (pool.figures().idle < size_before) co_await test::pause(milliseconds(5));
  EXPECT_EQ(pool.figures().size, size_before);
  EXPECT_EQ(co_await count_rows(pool, 2), 0);
  {
    Lease lease = co_await pool.acquire(ctx());
    Transaction tx = co_await Transaction::begin(lease, soon());
    co_await tx.execute(kInsert, params("3"));
    co_await tx.rollback();
    EXPECT_FALSE(lease->in_transaction());
  }
  EXPECT_EQ(co_await count_rows(pool, 3), 0);
  {
    // A failed statement aborts the transaction: COMMIT must not pass silently.
    Lease lease = co_await pool.acquire(ctx());
    Transaction tx = co_await Transaction::begin(lease, soon());
    co_await tx.execute(kInsert, params("4"));
    EXPECT_THROW(co_await tx.execute(kInsert, params("1")), SqlError);
    bool thrown = false;
    try {
      co_await tx.commit();
    } catch (const Error& e) {
      thrown = true;
      EXPECT_EQ(e.code(), "transaction_aborted");
    }
    EXPECT_TRUE(thrown);
  }
  EXPECT_EQ(co_await count_rows(pool, 4), 0);
  co_await pool.execute(ctx(), {"tx_drop", "DROP TABLE pg_pool_tx"}, {});
}

TEST(PgPool, TransactionCommitRollbackAndDrop) { run([](auto) { return transactions(); }); }

Task<void> broken_dropped() {
  Pool pool(co_await asio::this_coro::executor, config(2));
  // A leased connection whose backend is terminated: the next query fails, the
  // lease returns it broken, the pool drops it and opens a new one on demand.
  int old_pid = 0;
  {
    Lease lease = co_await pool.acquire(ctx());
    old_pid = lease->backend_pid();
    co_await test::terminate_backend(old_pid);
    try {
      co_await lease->execute(kPid, {}, soon());
      ADD_FAILURE() << "query on a terminated backend succeeded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    }
    EXPECT_TRUE(lease->broken());
  }
  EXPECT_EQ(pool.figures().size, 0u);
  Result r = co_await pool.execute(ctx(), kPid, {});
  int idle_pid = static_cast<int>(r.int64(0, "pid"));
  EXPECT_NE(idle_pid, old_pid);
  EXPECT_EQ(pool.figures().idle, 1u);

  // An idle connection whose backend is terminated is noticed at acquire time.
  co_await test::terminate_backend(idle_pid);
  Result r2 = co_await pool.execute(ctx(), kPid, {});
  EXPECT_NE(r2.int64(0, "pid"), idle_pid);
  EXPECT_EQ(pool.figures().size, 1u);
}

TEST(PgPool, BrokenConnectionsAreDropped) { run([](auto) { return broken_dropped(); }); }

Task<void> server_down() {
  PoolConfig cfg = config(2);
  cfg.dsn = test::dsn_on_port(test::closed_port());
  Pool pool(co_await asio::this_coro::executor, cfg);
  auto start = Clock::now();
  for (int i = 0; i < 3; ++i) {
    try {
      co_await pool.execute(ctx(), kPid, {});
      ADD_FAILURE() << "query on a down server succeeded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
      EXPECT_EQ(e.code(), "db_unavailable");
    }
  }
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  PoolFigures f = pool.figures();
  EXPECT_EQ(f.connect_failures, 3u);
  EXPECT_EQ(f.size, 0u);
}

TEST(PgPool, ServerDownIsUnavailableQuickly) { run([](auto) { return server_down(); }); }

Task<void> wait_on(Pool* pool, std::shared_ptr<std::string> outcome) {
  try {
    Lease l = co_await pool->acquire(ctx());
    *outcome = "acquired";
  } catch (const Error& e) {
    *outcome = e.code();
  }
}

Task<void> destroyed_with_waiters() {
  auto ex = co_await asio::this_coro::executor;
  auto pool = std::make_unique<Pool>(ex, config(1, milliseconds(5000)));
  Lease held = co_await pool->acquire(ctx());
  auto outcome = std::make_shared<std::string>();
  auto fut = asio::co_spawn(ex, wait_on(pool.get(), outcome), asio::use_future);
  co_await test::pause(milliseconds(20));
  EXPECT_EQ(pool->figures().waiting, 1u);
  pool.reset();  // shutdown while a coroutine waits and a lease is out
  while (outcome->empty()) co_await test::pause(milliseconds(1));
  fut.get();
  EXPECT_EQ(*outcome, "db_unavailable");
  Result r = co_await held->execute(kPid, {}, soon());  // the lease still works
  EXPECT_GT(r.int64(0, "pid"), 0);
}  // the lease outlives its pool: closes its connection, touches nothing

TEST(PgPool, DestroyedWhileWaitersExist) { run([](auto) { return destroyed_with_waiters(); }); }

Task<void> sharded_routing() {
  auto ex = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<Pool>> pools;
  for (int i = 0; i < 4; ++i) {
    PoolConfig cfg = config(1);
    cfg.node = "shard-" + std::to_string(i);
    cfg.dsn += " application_name=shard-" + std::to_string(i);
    pools.push_back(std::make_unique<Pool>(ex, cfg));
  }
  ShardedCluster cluster(std::move(pools));
  EXPECT_EQ(cluster.size(), 4u);
  static constexpr Statement kApp{"app_name", "SELECT current_setting('application_name') AS app"};
  for (uint64_t id : {0ull, 1ull, 6ull, 15ull, 1000003ull, (1ull << 62) + 7}) {
    EXPECT_EQ(cluster.shard_of(id), id % 4);
    Result r = co_await cluster.for_id(id).execute(ctx(), kApp, {});
    EXPECT_EQ(r.text(0, "app"), "shard-" + std::to_string(id % 4)) << id;
  }
  EXPECT_THROW(cluster.shard(4), std::out_of_range);
}

TEST(PgSharded, RoutesByIdModN) { run([](auto) { return sharded_routing(); }); }

TEST(PgSharded, RejectsShardCountsNotDividingSixteen) {
  asio::io_context io;
  std::vector<std::unique_ptr<Pool>> three;
  for (int i = 0; i < 3; ++i) three.push_back(std::make_unique<Pool>(io.get_executor(), config(1)));
  EXPECT_THROW(ShardedCluster{std::move(three)}, std::invalid_argument);
  EXPECT_THROW(ShardedCluster{std::vector<std::unique_ptr<Pool>>{}}, std::invalid_argument);
}

}  // namespace
}  // namespace dine::pg
