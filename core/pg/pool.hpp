#pragma once
// A bounded pool of connections to one database, owned by one executor (one
// worker thread): no locks. Acquire waits up to a deadline; broken connections
// are dropped on return and replaced on demand.
#include <cstddef>
#include <deque>
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/pg/connection.hpp"

namespace dine::pg {

struct PoolConfig {
  std::string name;          // for metrics and logs, e.g. "pg-order-2/order"
  std::string dsn;
  std::size_t max_size = 8;
  milliseconds acquire_timeout{1000};
  milliseconds connect_timeout{2000};
  milliseconds query_timeout{5000};
};

struct PoolFigures {
  std::size_t size = 0;     // open connections
  std::size_t idle = 0;
  std::size_t waiting = 0;  // coroutines waiting to acquire
  uint64_t acquire_timeouts = 0;
  uint64_t connect_failures = 0;
};

class Pool;

// A connection on loan; goes back to the pool when destroyed (or is dropped if
// broken or left inside a transaction).
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

class Pool {
 public:
  Pool(asio::any_io_executor ex, PoolConfig cfg);
  ~Pool();

  // Throws dine::Error(Unavailable, "db_overloaded") when no connection frees up
  // before the acquire deadline, or (Unavailable, "db_unavailable") when the
  // server cannot be reached.
  Task<Lease> acquire();

  // Convenience: acquire, run one statement, release.
  Task<Result> execute(const Statement& st, const Params& params);

  PoolFigures figures() const;
  const PoolConfig& config() const { return cfg_; }
  Deadline query_deadline() const { return deadline_in(cfg_.query_timeout); }

 private:
  friend class Lease;
  void release(std::unique_ptr<Connection> conn);
  void pass_slot();  // a connection was dropped: let the first waiter connect anew
  Task<Lease> connect_new(std::shared_ptr<bool> alive);
  struct Waiter;
  asio::any_io_executor ex_;
  PoolConfig cfg_;
  std::deque<std::unique_ptr<Connection>> idle_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::size_t size_ = 0;  // open + connecting
  PoolFigures stats_;
  // Coroutines suspended in acquire() and leases outliving the pool check this
  // before touching it: a pool may be destroyed at shutdown while they exist.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// BEGIN ... COMMIT on a lease. If destroyed without commit(), the connection
// is left in its transaction and the lease drops it (libpq closes it, the
// server rolls back): no coroutine is needed in a destructor.
class Transaction {
 public:
  static Task<Transaction> begin(Lease& lease, Deadline deadline);
  Task<Result> execute(const Statement& st, const Params& params);
  Task<void> commit();
  Task<void> rollback();

 private:
  Transaction(Lease& lease, Deadline deadline) : lease_(&lease), deadline_(deadline) {}
  Lease* lease_;
  Deadline deadline_;
};

}  // namespace dine::pg
