#pragma once
// A bounded pool of connections to one database, owned by one executor (one
// worker thread): no locks. Acquire waits up to a deadline (the request's, or
// the acquire timeout, whichever is first). Broken connections are dropped on
// return and replaced on demand; a command they abandoned is cancelled on the
// server; a connection returned inside a transaction is rolled back and kept.
// A circuit breaker makes a database that keeps failing fail fast (503
// db_unavailable) and lets one probe through when it may be back. The pool
// publishes its own figures (when given a metrics registry).
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/pg/circuit.hpp"
#include "core/pg/connection.hpp"

namespace dine::pg {

struct PoolConfig {
  std::string node;          // the PostgreSQL node id, e.g. "pg-order-2"
  std::string database;      // e.g. "order"
  std::string dsn;
  std::size_t max_size = 8;
  milliseconds acquire_timeout{1000};
  milliseconds connect_timeout{2000};
  milliseconds query_timeout{5000};
  milliseconds cancel_timeout{1000};  // the server-side cancel's own deadline
  int conflict_retries = 3;           // 40001/40P01: extra attempts before 503 db_conflict
  CircuitConfig circuit;
  metrics::Registry* metrics = nullptr;  // publish figures here, labelled {pool, worker}
  int worker = 0;

  std::string name() const { return database.empty() ? node : node + "/" + database; }
};

struct PoolFigures {
  std::size_t size = 0;     // open connections
  std::size_t idle = 0;
  std::size_t waiting = 0;  // coroutines waiting to acquire
  uint64_t acquire_timeouts = 0;
  uint64_t connect_failures = 0;
  uint64_t cancels = 0;     // abandoned commands handed to the server-side cancel
  Circuit::State circuit = Circuit::State::Closed;
};

class Pool;

// A connection on loan; goes back to the pool when destroyed.
class Lease {
 public:
  Lease() = default;
  Lease(Pool* pool, std::unique_ptr<Connection> conn);
  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) noexcept;
  ~Lease();
  Connection* operator->() const { return conn_.get(); }
  Connection& operator*() const { return *conn_; }

 private:
  void give_back();
  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
  std::shared_ptr<bool> pool_alive_;  // false once the pool is destroyed
};

class Transaction;

class Pool {
 public:
  Pool(asio::any_io_executor ex, PoolConfig cfg);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Throws dine::Error(Unavailable): "db_overloaded" when no connection frees
  // up before the deadline, "db_unavailable" when the server cannot be reached
  // or the circuit is open (fail fast, with Retry-After).
  Task<Lease> acquire(Context ctx);

  // Acquire, run one statement (its own transaction), release. A
  // serialization failure or deadlock is retried (bounded, jittered, inside the
  // deadline), then 503 db_conflict with Retry-After.
  Task<Result> execute(Context ctx, const Statement& st, Params params);

  // BEGIN, body, COMMIT on one connection. A failure rolls back (ROLLBACK, the
  // connection is kept when healthy) and is rethrown; a serialization failure
  // or deadlock runs the whole body again (bounded), so the body must only
  // touch the database.
  Task<void> transaction(Context ctx, std::function<Task<void>(Transaction&)> body);

  PoolFigures figures() const;
  const PoolConfig& config() const { return cfg_; }
  const asio::any_io_executor& executor() const { return ex_; }
  // The database answers again (the node's readiness probe saw it): an open
  // circuit lets its probe through now rather than after its backoff. Call on
  // the pool's executor.
  void database_back();
  Deadline query_deadline(const Context& ctx) const { return ctx.cap(cfg_.query_timeout); }

  struct Parts;

 private:
  friend class Lease;
  void release(std::unique_ptr<Connection> conn);
  void put_back(std::unique_ptr<Connection> conn);  // healthy and idle: to a waiter or the idle list
  void drop(std::unique_ptr<Connection> conn);
  void pass_slot();  // a connection was dropped: let the first waiter connect anew
  Task<Lease> connect_new(std::shared_ptr<bool> alive, Context ctx);
  Error circuit_open_error() const;
  void fail_waiters();  // the circuit opened: every waiter fails fast
  bool environment_broke(const Connection& conn) const;
  void publish();
  struct Waiter;
  class ProbeGuard;
  asio::any_io_executor ex_;
  PoolConfig cfg_;
  std::deque<std::unique_ptr<Connection>> idle_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::size_t size_ = 0;  // open + connecting
  PoolFigures stats_;
  Circuit circuit_;
  std::unique_ptr<Parts> parts_;  // metrics and the canceller
  // Coroutines suspended in acquire() and leases outliving the pool check this
  // before touching it: a pool may be destroyed at shutdown while they exist.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// BEGIN ... COMMIT on a lease. Prefer Pool::transaction, which also rolls back
// on failure. A lease given back inside a transaction is rolled back by the pool.
class Transaction {
 public:
  static Task<Transaction> begin(Lease& lease, Deadline deadline);
  Task<Result> execute(const Statement& st, Params params);
  Task<void> commit();
  Task<void> rollback();

 private:
  Transaction(Lease& lease, Deadline deadline) : lease_(&lease), deadline_(deadline) {}
  Lease* lease_;
  Deadline deadline_;
};

}  // namespace dine::pg
