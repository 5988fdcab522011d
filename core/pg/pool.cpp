#include "core/pg/pool.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <utility>

#include "core/errors.hpp"
#include "core/log.hpp"

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

}  // namespace

// A coroutine suspended in acquire(). release() hands it a connection (or the
// right to open one) and cancels its timer; the timer expiring means timeout.
struct Pool::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::unique_ptr<Connection> conn;
  bool may_connect = false;  // size_ already counts the connection it opens
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

Pool::Pool(asio::any_io_executor ex, PoolConfig cfg) : ex_(std::move(ex)), cfg_(std::move(cfg)) {
  if (cfg_.max_size == 0) throw std::invalid_argument("pool " + cfg_.name + ": max_size must be at least 1");
}

Pool::~Pool() {
  *alive_ = false;
  for (auto& w : waiters_) w->timer.cancel();  // each wakes, sees the flag, throws
  waiters_.clear();
}

Task<Lease> Pool::acquire() {
  std::shared_ptr<bool> alive = alive_;
  const Deadline deadline = deadline_in(cfg_.acquire_timeout);
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->poll_alive()) co_return Lease(this, std::move(conn));
      --size_;  // the server closed it while idle
    }
    if (size_ < cfg_.max_size) {
      ++size_;
      co_return co_await connect_new(alive);
    }
    auto w = std::make_shared<Waiter>(ex_);
    w->timer.expires_at(deadline);
    waiters_.push_back(w);
    boost::system::error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) throw pool_gone();
    if (w->conn) co_return Lease(this, std::move(w->conn));
    if (w->may_connect) co_return co_await connect_new(alive);
    // Nobody woke us: the deadline passed.
    auto it = std::find(waiters_.begin(), waiters_.end(), w);
    if (it != waiters_.end()) waiters_.erase(it);
    ++stats_.acquire_timeouts;
    throw Error(ErrorKind::Unavailable, "db_overloaded", "the database has no free connection",
                "no connection of pool " + cfg_.name + " freed up within " +
                    std::to_string(cfg_.acquire_timeout.count()) + " ms")
        .with_retry_after(1);
  }
}

// The caller has counted the new connection in size_ already.
Task<Lease> Pool::connect_new(std::shared_ptr<bool> alive) {
  std::unique_ptr<Connection> conn;
  std::string failure;
  try {
    conn = co_await Connection::connect(ex_, cfg_.dsn, deadline_in(cfg_.connect_timeout));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!*alive) throw pool_gone();
  if (!conn) {
    --size_;
    ++stats_.connect_failures;
    logger().warn_limited("connect_failed", {{"pool", cfg_.name}, {"error", failure}});
    pass_slot();  // the next waiter tries too, rather than waiting out its deadline
    throw Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable", failure).with_retry_after(1);
  }
  co_return Lease(this, std::move(conn));
}

void Pool::release(std::unique_ptr<Connection> conn) {
  if (conn->broken() || conn->in_transaction()) {
    conn.reset();  // libpq closes it; the server rolls back an open transaction
    --size_;
    pass_slot();
    return;
  }
  if (!waiters_.empty()) {
    std::shared_ptr<Waiter> w = std::move(waiters_.front());
    waiters_.pop_front();
    w->conn = std::move(conn);
    w->timer.cancel();
    return;
  }
  idle_.push_back(std::move(conn));
}

void Pool::pass_slot() {
  if (waiters_.empty() || size_ >= cfg_.max_size) return;
  std::shared_ptr<Waiter> w = std::move(waiters_.front());
  waiters_.pop_front();
  ++size_;
  w->may_connect = true;
  w->timer.cancel();
}

Task<Result> Pool::execute(const Statement& st, const Params& params) {
  Lease lease = co_await acquire();
  co_return co_await lease->execute(st, params, query_deadline());
}

PoolFigures Pool::figures() const {
  PoolFigures f = stats_;
  f.size = size_;
  f.idle = idle_.size();
  f.waiting = waiters_.size();
  return f;
}

// ---- Transaction -------------------------------------------------------------

Task<Transaction> Transaction::begin(Lease& lease, Deadline deadline) {
  co_await lease->simple("BEGIN", deadline);
  co_return Transaction(lease, deadline);
}

Task<Result> Transaction::execute(const Statement& st, const Params& params) {
  co_return co_await (*lease_)->execute(st, params, deadline_);
}

Task<void> Transaction::commit() {
  Result r = co_await (*lease_)->simple("COMMIT", deadline_);
  // COMMIT of a transaction that already failed answers ROLLBACK, not an error.
  if (r.command_tag() == "ROLLBACK") {
    throw Error(ErrorKind::Conflict, "transaction_aborted",
                "COMMIT rolled back: a statement of the transaction had failed");
  }
}

Task<void> Transaction::rollback() { co_await (*lease_)->simple("ROLLBACK", deadline_); }

}  // namespace dine::pg
