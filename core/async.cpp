#include "core/async.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "core/log.hpp"

namespace dine {

void spawn_logged(const asio::any_io_executor& ex, Task<void> task, std::string what) {
  asio::co_spawn(ex, std::move(task), [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::write(log::Level::Error, "task", "task_failed", {{"task", what}, {"error", ex.what()}});
    } catch (...) {
      log::write(log::Level::Error, "task", "task_failed", {{"task", what}, {"error", "unknown"}});
    }
  });
}

Task<void> sleep_for(milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace dine
