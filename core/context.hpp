#pragma once
// What a request carries into every call it makes: its id (into every log line
// and the X-Request-Id of every outbound call) and its deadline (every
// PostgreSQL, Redis and HTTP call it makes ends by then). Background work
// (relays, consumers) makes its own context per unit of work.
#include <string>

#include "core/async.hpp"

namespace dine {

struct Context {
  std::string request_id;             // "" for background work without one
  Deadline deadline = Deadline::max();

  // A context for background work: id "bg-<what>-<random>", deadline now + budget.
  static Context background(std::string_view what, milliseconds budget);

  bool expired() const { return Clock::now() >= deadline; }
  // Time left before the deadline, never negative.
  milliseconds remaining() const;
  // The earlier of this context's deadline and now + limit: a call's own cap
  // (a query timeout) never outlives the request that makes it.
  Deadline cap(milliseconds limit) const;
};

// 16 random lower-case hex digits: a new request id.
std::string new_request_id();

}  // namespace dine
