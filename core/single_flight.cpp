#include "core/single_flight.hpp"

#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/errors.hpp"

namespace dine {

struct SingleFlight::Flight {
  struct Waiter {
    asio::any_io_executor ex;
    std::shared_ptr<asio::steady_timer> timer;
  };
  bool done = false;
  Value value;
  std::exception_ptr error;
  std::vector<Waiter> waiters;
};

namespace {

bool is_done(std::mutex& mu, const bool& done) {
  std::lock_guard lock(mu);
  return done;
}

}  // namespace

std::shared_ptr<SingleFlight::Flight> SingleFlight::join(const std::string& key,
                                                         const asio::any_io_executor& ex,
                                                         const std::shared_ptr<asio::steady_timer>& timer,
                                                         bool& leader) {
  std::lock_guard lock(mu_);
  auto emplaced = flights_.try_emplace(key);
  leader = emplaced.second;
  if (leader) {
    emplaced.first->second = std::make_shared<Flight>();
    ++loads_;
  } else {
    ++coalesced_;
  }
  emplaced.first->second->waiters.push_back({ex, timer});
  return emplaced.first->second;
}

// GCC 12 miscompiles some shapes in coroutines (structured bindings across
// co_await, aggregate temporaries in co_return, scoped locks left by break):
// the locking lives in plain functions and the body stays simple.
Task<SingleFlight::Outcome> SingleFlight::run(Context ctx, std::string key, Loader load) {
  asio::any_io_executor ex = co_await asio::this_coro::executor;
  // The waiter's wake-up: its timer, cancelled (on this executor) when the
  // load ends; it expires by itself at the caller's deadline.
  auto timer = std::make_shared<asio::steady_timer>(ex, ctx.deadline);
  bool leader = false;
  std::shared_ptr<Flight> f = join(key, ex, timer, leader);
  if (leader) {
    std::string what = "single-flight load " + key;
    spawn_logged(ex, drive(key, f, std::move(load)), std::move(what));
  }
  // One executor is one thread: a wake-up posted here cannot run between the
  // check of `done` and the wait, so none is lost.
  while (!is_done(mu_, f->done)) {
    std::tuple<boost::system::error_code> waited = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (is_done(mu_, f->done)) break;
    if (!std::get<0>(waited))
      throw Error(ErrorKind::Timeout, "load_timeout", "the load of this key did not finish before the deadline");
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      throw boost::system::system_error(asio::error::operation_aborted);
  }
  if (f->error) std::rethrow_exception(f->error);
  Outcome out;
  out.value = f->value;
  out.loaded = leader;
  co_return out;
}

Task<void> SingleFlight::drive(std::string key, std::shared_ptr<Flight> f, Loader load) {
  Value value;
  std::exception_ptr error;
  try {
    value = co_await load();
  } catch (...) {
    error = std::current_exception();
  }
  std::vector<Flight::Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    f->value = std::move(value);
    f->error = error;
    f->done = true;
    waiters.swap(f->waiters);
    flights_.erase(key);
  }
  for (auto& w : waiters) asio::post(w.ex, [t = w.timer] { t->cancel(); });
}

uint64_t SingleFlight::loads() const {
  std::lock_guard lock(mu_);
  return loads_;
}
uint64_t SingleFlight::coalesced() const {
  std::lock_guard lock(mu_);
  return coalesced_;
}
std::size_t SingleFlight::in_flight() const {
  std::lock_guard lock(mu_);
  return flights_.size();
}

}  // namespace dine
