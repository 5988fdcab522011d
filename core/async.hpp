#pragma once
// The coroutine vocabulary every part of dine uses.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

namespace dine {

namespace asio = boost::asio;

template <class T = void>
using Task = asio::awaitable<T>;

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using std::chrono::milliseconds;

inline Deadline deadline_in(milliseconds d) { return Clock::now() + d; }

// Starts a detached coroutine whose exception, if any, is logged under `what`
// rather than lost (never co_spawn(..., detached) silently).
void spawn_logged(const asio::any_io_executor& ex, Task<void> task, std::string what);

// Suspends the calling coroutine for `d` on its own executor.
Task<void> sleep_for(milliseconds d);

}  // namespace dine
