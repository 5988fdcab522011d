#include "core/pg/pool.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <random>
#include <utility>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/pg/canceller.hpp"
#include "core/pg/errors.hpp"

namespace dine::pg {

namespace {

const log::Logger& logger() {
  static const log::Logger l("pg");
  return l;
}

// Thrown to coroutines that outlive their pool: touches nothing of the pool.
Error pool_gone() {
  return Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable", "database pool shut down");
}

std::string detail_of(const std::exception& e) {
  const auto* err = dynamic_cast<const Error*>(&e);
  return err && !err->detail().empty() ? err->detail() : e.what();
}

// 2..10 ms doubling per attempt, jittered: conflicting transactions drift apart.
milliseconds conflict_pause(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  int base = 2 << std::min(attempt, 4);
  return milliseconds(base + static_cast<int>(rng() % static_cast<unsigned>(base * 4)));
}

}  // namespace

// The pool's own instruments (registered once) and its server-side canceller.
struct Pool::Parts {
  metrics::Gauge* size = nullptr;
  metrics::Gauge* idle = nullptr;
  metrics::Gauge* waiting = nullptr;
  metrics::Gauge* circuit = nullptr;
  metrics::Counter* acquire_timeouts = nullptr;
  metrics::Counter* connect_failures = nullptr;
  metrics::Counter* circuit_opens = nullptr;
  metrics::Counter* cancels = nullptr;
  metrics::Counter* cancel_failures = nullptr;
  uint64_t opens_seen = 0;
  std::unique_ptr<Canceller> canceller;
};

// A coroutine suspended in acquire(). release() hands it a connection (or the
// right to open one) and cancels its timer; the timer expiring means timeout.
struct Pool::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::unique_ptr<Connection> conn;
  bool may_connect = false;  // size_ already counts the connection it opens
  bool circuit_open = false;  // the circuit opened while it waited: fail fast
};

// The half-open circuit lets one acquire through; if that acquire ends without
// a connection, the probe failed. (A class, not an aggregate: GCC 12 and
// aggregate locals with destructors in coroutines do not mix.)
class Pool::ProbeGuard {
 public:
  ProbeGuard(Pool* pool, std::shared_ptr<bool> alive) : pool_(pool), alive_(std::move(alive)) {}
  ~ProbeGuard() {
    if (active && *alive_) {
      pool_->circuit_.failure(Clock::now());
      pool_->publish();
    }
  }
  ProbeGuard(const ProbeGuard&) = delete;
  ProbeGuard& operator=(const ProbeGuard&) = delete;
  bool active = false;

 private:
  Pool* pool_;
  std::shared_ptr<bool> alive_;
};

// ---- Lease -------------------------------------------------------------------

Lease::Lease(Pool* pool, std::unique_ptr<Connection> conn)
    : pool_(pool), conn_(std::move(conn)), pool_alive_(pool ? pool->alive_ : nullptr) {}

Lease::Lease(Lease&& o) noexcept
    : pool_(std::exchange(o.pool_, nullptr)), conn_(std::move(o.conn_)), pool_alive_(std::move(o.pool_alive_)) {}

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    give_back();
    pool_ = std::exchange(o.pool_, nullptr);
    conn_ = std::move(o.conn_);
    pool_alive_ = std::move(o.pool_alive_);
  }
  return *this;
}

Lease::~Lease() { give_back(); }

void Lease::give_back() {
  if (conn_ && pool_ && pool_alive_ && *pool_alive_) pool_->release(std::move(conn_));
  conn_.reset();
  pool_ = nullptr;
  pool_alive_.reset();
}

// ---- Pool --------------------------------------------------------------------

Pool::Pool(asio::any_io_executor ex, PoolConfig cfg)
    : ex_(std::move(ex)), cfg_(std::move(cfg)), circuit_(cfg_.circuit), parts_(std::make_unique<Parts>()) {
  if (cfg_.max_size == 0) throw std::invalid_argument("pool " + cfg_.name() + ": max_size must be at least 1");
  if (auto* m = cfg_.metrics) {
    metrics::Labels l{{"pool", cfg_.name()}, {"worker", std::to_string(cfg_.worker)}};
    parts_->size = &m->gauge("dine_pg_pool_connections", "Open connections of a PostgreSQL pool", l);
    m->gauge("dine_pg_pool_max_connections", "Connections a PostgreSQL pool may open", l).set(double(cfg_.max_size));
    parts_->idle = &m->gauge("dine_pg_pool_idle", "Idle connections of a PostgreSQL pool", l);
    parts_->waiting = &m->gauge("dine_pg_pool_waiting", "Coroutines waiting for a PostgreSQL connection", l);
    parts_->circuit = &m->gauge("dine_pg_pool_circuit", "Circuit of a PostgreSQL pool: 0 closed, 1 open, 2 half-open", l);
    parts_->acquire_timeouts =
        &m->counter("dine_pg_pool_acquire_timeouts_total", "Acquires that found no free connection in time", l);
    parts_->connect_failures =
        &m->counter("dine_pg_pool_connect_failures_total", "Connects to PostgreSQL that failed", l);
    parts_->circuit_opens = &m->counter("dine_pg_pool_circuit_opens_total", "Times the pool's circuit opened", l);
    parts_->cancels = &m->counter("dine_pg_query_cancels_total", "Abandoned queries cancelled on the server", l);
    parts_->cancel_failures =
        &m->counter("dine_pg_query_cancel_failures_total", "Server-side cancels that could not be sent", l);
  }
  parts_->canceller = std::make_unique<Canceller>(ex_, cfg_.dsn, cfg_.name(), cfg_.cancel_timeout, parts_->cancels,
                                                  parts_->cancel_failures);
  publish();
}

Pool::~Pool() {
  *alive_ = false;
  for (auto& w : waiters_) w->timer.cancel();  // each wakes, sees the flag, throws
  waiters_.clear();
}

void Pool::publish() {
  Parts& p = *parts_;
  if (p.size) {
    p.size->set(double(size_));
    p.idle->set(double(idle_.size()));
    p.waiting->set(double(waiters_.size()));
    auto st = circuit_.state(Clock::now());
    p.circuit->set(st == Circuit::State::Closed ? 0 : st == Circuit::State::Open ? 1 : 2);
    if (circuit_.opened() > p.opens_seen) {
      p.circuit_opens->inc(circuit_.opened() - p.opens_seen);
      p.opens_seen = circuit_.opened();
    }
  }
}

Error Pool::circuit_open_error() const {
  auto wait = circuit_.retry_in(Clock::now());
  int seconds = std::max<int>(1, static_cast<int>((wait.count() + 999) / 1000));
  return Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable",
               "circuit of pool " + cfg_.name() + " is open after " +
                   std::to_string(circuit_.consecutive_failures()) + " failures")
      .with_retry_after(seconds);
}

Task<Lease> Pool::acquire(Context ctx) {
  std::shared_ptr<bool> alive = alive_;
  // A caller already out of time (or cancelled) gets its timeout here: it
  // must not take a connection only to abandon it (which drops the
  // connection, costs a server-side cancel, and is no fault of the database).
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (ctx.expired() || cs.cancelled() != asio::cancellation_type::none)
    throw Error(ErrorKind::Timeout, "db_timeout", "the database did not answer in time",
                "request deadline passed before a connection of " + cfg_.name() + " was taken");
  const Deadline deadline = ctx.cap(cfg_.acquire_timeout);
  ProbeGuard probe(this, alive);
  if (circuit_.state(Clock::now()) != Circuit::State::Closed) {
    if (!circuit_.allow(Clock::now())) throw circuit_open_error();
    probe.active = true;
  }
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->poll_alive()) {
        probe.active = false;
        publish();
        co_return Lease(this, std::move(conn));
      }
      --size_;  // the server closed it while idle
    }
    if (size_ < cfg_.max_size) {
      ++size_;
      publish();
      Lease lease = co_await connect_new(alive, ctx);
      probe.active = false;
      co_return lease;
    }
    auto w = std::make_shared<Waiter>(ex_);
    w->timer.expires_at(deadline);
    waiters_.push_back(w);
    publish();
    boost::system::error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) throw pool_gone();
    if (w->conn) {
      probe.active = false;
      co_return Lease(this, std::move(w->conn));
    }
    if (w->circuit_open) throw circuit_open_error();
    if (w->may_connect) {
      Lease lease = co_await connect_new(alive, ctx);
      probe.active = false;
      co_return lease;
    }
    // Nobody woke us: the deadline passed (or the caller was cancelled).
    std::erase(waiters_, w);
    ++stats_.acquire_timeouts;
    if (parts_->acquire_timeouts) parts_->acquire_timeouts->inc();
    publish();
    throw Error(ErrorKind::Unavailable, "db_overloaded", "the database has no free connection",
                "no connection of pool " + cfg_.name() + " freed up in time")
        .with_retry_after(1);
  }
}

// The caller has counted the new connection in size_ already.
Task<Lease> Pool::connect_new(std::shared_ptr<bool> alive, Context ctx) {
  std::unique_ptr<Connection> conn;
  std::string failure;
  // When the caller's deadline comes before the connect timeout, a connect
  // cut short by it says nothing about the database.
  const bool caller_bound = ctx.deadline < Clock::now() + cfg_.connect_timeout;
  try {
    conn = co_await Connection::connect(ex_, cfg_.dsn, ctx.cap(cfg_.connect_timeout));
  } catch (const std::exception& e) {
    failure = detail_of(e);
  }
  if (!*alive) throw pool_gone();
  if (!conn) {
    --size_;
    const bool callers_fault = caller_bound && ctx.expired();
    if (!callers_fault) {
      ++stats_.connect_failures;
      if (parts_->connect_failures) parts_->connect_failures->inc();
      circuit_.failure(Clock::now());
      logger().warn_limited("connect_failed",
                            {{"pool", cfg_.name()}, {"request_id", ctx.request_id}, {"error", failure}});
    }
    if (circuit_.state(Clock::now()) == Circuit::State::Open) {
      fail_waiters();  // they fail fast rather than each trying a dead server in turn
    } else {
      pass_slot();  // the next waiter tries too, rather than waiting out its deadline
    }
    publish();
    if (callers_fault)
      throw Error(ErrorKind::Timeout, "db_timeout", "the database did not answer in time",
                  "request deadline passed while connecting to " + cfg_.name());
    throw Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable", failure).with_retry_after(1);
  }
  co_return Lease(this, std::move(conn));
}

void Pool::fail_waiters() {
  for (auto& w : waiters_) {
    w->circuit_open = true;
    w->timer.cancel();
  }
  waiters_.clear();
}

bool Pool::environment_broke(const Connection& conn) const {
  switch (conn.breakage()) {
    case Connection::Breakage::Lost: return true;
    // The server stayed silent for the whole query timeout: it, not the
    // caller's shorter deadline, is at fault.
    case Connection::Breakage::Deadline: return conn.silent_for() + milliseconds(50) >= cfg_.query_timeout;
    case Connection::Breakage::Cancelled:
    case Connection::Breakage::None: return false;
  }
  return false;
}

namespace {

// A lease came back inside a transaction (its owner failed or gave up between
// statements): roll back off the request path and keep the connection.
Task<void> roll_back_and_keep(Pool* pool, std::shared_ptr<bool> alive, std::unique_ptr<Connection> conn,
                              Deadline deadline, std::function<void(Pool*, std::unique_ptr<Connection>)> done) {
  try {
    co_await conn->simple("ROLLBACK", deadline);
  } catch (const std::exception&) {
    // broken now: `done` drops it
  }
  if (*alive) done(pool, std::move(conn));
}

}  // namespace

void Pool::release(std::unique_ptr<Connection> conn) {
  if (conn->broken()) {
    if (conn->abandoned()) {
      ++stats_.cancels;
      parts_->canceller->cancel(conn->backend_pid());
    }
    // Only what the database did counts against it: a caller that gave up or
    // ran out of its own (shorter) deadline breaks a connection, not the circuit.
    if (environment_broke(*conn)) {
      circuit_.failure(Clock::now());
      if (circuit_.state(Clock::now()) == Circuit::State::Open) fail_waiters();
    }
    drop(std::move(conn));
    return;
  }
  circuit_.success();
  if (conn->in_transaction()) {
    spawn_logged(ex_,
                 roll_back_and_keep(this, alive_, std::move(conn), deadline_in(cfg_.query_timeout),
                                    [](Pool* p, std::unique_ptr<Connection> c) {
                                      if (c->broken() || c->in_transaction()) p->drop(std::move(c));
                                      else p->put_back(std::move(c));
                                    }),
                 "pg rollback " + cfg_.name());
    return;
  }
  put_back(std::move(conn));
}

void Pool::put_back(std::unique_ptr<Connection> conn) {
  if (!waiters_.empty()) {
    std::shared_ptr<Waiter> w = std::move(waiters_.front());
    waiters_.pop_front();
    w->conn = std::move(conn);
    w->timer.cancel();
  } else {
    idle_.push_back(std::move(conn));
  }
  publish();
}

void Pool::drop(std::unique_ptr<Connection> conn) {
  conn.reset();  // libpq closes it; the server rolls back an open transaction
  --size_;
  pass_slot();
  publish();
}

void Pool::pass_slot() {
  if (waiters_.empty() || size_ >= cfg_.max_size) return;
  if (circuit_.state(Clock::now()) != Circuit::State::Closed) return;  // the circuit decides who connects
  std::shared_ptr<Waiter> w = std::move(waiters_.front());
  waiters_.pop_front();
  ++size_;
  w->may_connect = true;
  w->timer.cancel();
}

Task<Result> Pool::execute(Context ctx, const Statement& st, Params params) {
  for (int attempt = 0;; ++attempt) {
    std::exception_ptr failure;
    try {
      Lease lease = co_await acquire(ctx);
      co_return co_await lease->execute(st, params, query_deadline(ctx));
    } catch (const SqlError& e) {
      if (!e.retryable() || attempt >= cfg_.conflict_retries) throw;
      failure = std::current_exception();
    }
    milliseconds pause = conflict_pause(attempt);
    if (Clock::now() + pause >= ctx.deadline) std::rethrow_exception(failure);
    co_await sleep_for(pause);
  }
}

Task<void> Pool::transaction(Context ctx, std::function<Task<void>(Transaction&)> body) {
  for (int attempt = 0;; ++attempt) {
    Lease lease = co_await acquire(ctx);
    std::exception_ptr failure;
    bool retryable = false;
    try {
      Transaction tx = co_await Transaction::begin(lease, query_deadline(ctx));
      co_await body(tx);
      co_await tx.commit();
      co_return;
    } catch (const SqlError& e) {
      retryable = e.retryable();
      failure = std::current_exception();
    } catch (...) {
      failure = std::current_exception();
    }
    if (!lease->broken() && lease->in_transaction()) {
      // Its own short deadline: the request's may be what just passed.
      Deadline rollback_deadline = deadline_in(std::min(cfg_.query_timeout, milliseconds(1000)));
      try {
        co_await lease->simple("ROLLBACK", rollback_deadline);
      } catch (const std::exception&) {
        // broken: the lease drops it
      }
    }
    milliseconds pause = conflict_pause(attempt);
    if (!retryable || attempt >= cfg_.conflict_retries || Clock::now() + pause >= ctx.deadline)
      std::rethrow_exception(failure);
    lease = Lease();
    co_await sleep_for(pause);
  }
}

void Pool::database_back() {
  circuit_.probe_now(Clock::now());
  publish();
}

PoolFigures Pool::figures() const {
  PoolFigures f = stats_;
  f.size = size_;
  f.idle = idle_.size();
  f.waiting = waiters_.size();
  f.circuit = circuit_.state(Clock::now());
  return f;
}

// ---- Transaction -------------------------------------------------------------

Task<Transaction> Transaction::begin(Lease& lease, Deadline deadline) {
  co_await lease->simple("BEGIN", deadline);
  co_return Transaction(lease, deadline);
}

Task<Result> Transaction::execute(const Statement& st, Params params) {
  co_return co_await (*lease_)->execute(st, params, deadline_);
}

Task<void> Transaction::commit() {
  Result r = co_await (*lease_)->simple("COMMIT", deadline_);
  // COMMIT of a transaction that already failed answers ROLLBACK, not an error.
  if (r.command_tag() == "ROLLBACK") {
    throw Error(ErrorKind::Conflict, "transaction_aborted", "the request conflicted with another one",
                "COMMIT rolled back: a statement of the transaction had failed");
  }
}

Task<void> Transaction::rollback() { co_await (*lease_)->simple("ROLLBACK", deadline_); }

}  // namespace dine::pg
