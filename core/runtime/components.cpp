#include "core/runtime/components.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/redirect_error.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"

namespace dine::runtime {

namespace {
const log::Logger kLog("runtime");
constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{10000};
constexpr milliseconds kHealthyRun{30000};
}  // namespace

struct Components::Entry {
  Entry(asio::any_io_executor ex, std::string n, ComponentFn f) : name(std::move(n)), fn(std::move(f)), done_timer(ex) {}
  std::string name;
  ComponentFn fn;
  asio::cancellation_signal signal;
  bool stopping = false;
  bool finished = false;
  asio::steady_timer done_timer;  // cancelled when the supervisor ends
  metrics::Gauge* up = nullptr;
  metrics::Counter* restarts = nullptr;
};

namespace {

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    return err.detail().empty() ? std::string(err.what()) : err.what() + std::string(": ") + err.detail();
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

// Runs one component until it is stopped, restarting it with backoff.
Task<void> supervise(std::shared_ptr<Components::Entry> e) {
  milliseconds backoff = kFirstBackoff;
  while (!e->stopping) {
    const auto started = Clock::now();
    e->up->set(1);
    std::exception_ptr failure;
    try {
      co_await e->fn();
    } catch (...) {
      failure = std::current_exception();
    }
    e->up->set(0);
    if (e->stopping) break;
    e->restarts->inc();
    if (Clock::now() - started >= kHealthyRun) backoff = kFirstBackoff;
    kLog.warn_limited("component_restarting",
                      {{"component", e->name},
                       {"error", failure ? describe(failure) : "returned"},
                       {"backoff_ms", std::to_string(backoff.count())}});
    co_await sleep_for(backoff);  // cancellation (stop) throws out of here
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace

Components::Components(asio::any_io_executor ex, metrics::Registry& metrics, int worker)
    : ex_(std::move(ex)), metrics_(metrics), worker_(worker) {}

Components::~Components() {
  for (auto& e : entries_) {
    e->stopping = true;
    e->signal.emit(asio::cancellation_type::terminal);
  }
}

void Components::add(std::string name, ComponentFn fn) {
  auto e = std::make_shared<Entry>(ex_, std::move(name), std::move(fn));
  metrics::Labels l{{"component", e->name}, {"worker", std::to_string(worker_)}};
  e->up = &metrics_.gauge("dine_component_up", "1 while a background component runs", l);
  e->restarts = &metrics_.counter("dine_component_restarts_total", "Restarts of a background component", l);
  entries_.push_back(std::move(e));
}

void Components::start() {
  for (auto& e : entries_) {
    asio::co_spawn(ex_, supervise(e), asio::bind_cancellation_slot(e->signal.slot(), [e](std::exception_ptr) {
                     e->finished = true;
                     e->up->set(0);
                     e->done_timer.cancel();
                   }));
  }
}

Task<bool> Components::stop(Deadline deadline) {
  bool all = true;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    auto e = *it;
    e->stopping = true;
    e->signal.emit(asio::cancellation_type::terminal);
    if (!e->finished) {
      // The supervisor's completion cancels done_timer; the deadline bounds the wait.
      boost::system::error_code ec;
      while (!e->finished && Clock::now() < deadline) {
        e->done_timer.expires_at(deadline);
        co_await e->done_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    if (!e->finished) {
      all = false;
      kLog.warn("component_stop_timeout", {{"component", e->name}});
    }
  }
  co_return all;
}

std::size_t Components::size() const { return entries_.size(); }

}  // namespace dine::runtime
