#pragma once
// Single-flight: concurrent loads of one key, from any of a node's worker
// threads, share one load. The first caller starts the load; callers that
// come while it runs wait for its outcome (value, absence or error) instead of
// loading again. The load runs detached on the first caller's executor, so a
// caller that gives up (deadline, cancelled request) leaves the others served.
//
// Thread-safe: one SingleFlight per node (role node state), shared by every
// worker. A waiter is woken on its own executor.
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>

#include "core/async.hpp"
#include "core/context.hpp"

namespace dine {

class SingleFlight {
 public:
  using Value = std::optional<std::string>;  // nullopt: the key has no value (a 404, cached as such)
  using Loader = std::function<Task<Value>()>;

  struct Outcome {
    Value value;
    bool loaded = false;  // this caller started the load (false: it joined one)
  };

  // The outcome of the one load of `key` in flight, or of a new one made by
  // `load` on the caller's executor. The loader's exception is every waiter's.
  // Throws dine::Error(Timeout, "load_timeout") when ctx's deadline passes
  // first, and system_error(operation_aborted) when the caller is cancelled;
  // the load itself goes on for the others.
  Task<Outcome> run(Context ctx, std::string key, Loader load);

  uint64_t loads() const;      // loads started
  uint64_t coalesced() const;  // callers that joined a load in flight
  std::size_t in_flight() const;

 private:
  struct Flight;
  std::shared_ptr<Flight> join(const std::string& key, const asio::any_io_executor& ex,
                               const std::shared_ptr<boost::asio::steady_timer>& timer, bool& leader);
  Task<void> drive(std::string key, std::shared_ptr<Flight> f, Loader load);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  uint64_t loads_ = 0;
  uint64_t coalesced_ = 0;
};

}  // namespace dine
