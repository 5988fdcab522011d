#pragma once
// Cancels abandoned commands on the server. A query whose caller gave up
// (deadline, cancelled request) may still run; its connection is dropped and
// its backend pid handed here. One coroutine per pool connects afresh (under
// its own deadline, never on the request's pool) and runs
// pg_cancel_backend() for every pid gathered meanwhile. A frozen server makes
// that connect time out: the pids are dropped, and the session settings
// (statement_timeout, client_connection_check_interval) end those queries
// once the server runs again. Never blocks the event loop (libpq 15's
// PQcancel would).
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/metrics.hpp"

namespace dine::pg {

class Canceller {
 public:
  Canceller(asio::any_io_executor ex, std::string dsn, std::string pool_name, milliseconds deadline,
            metrics::Counter* sent, metrics::Counter* failed);
  ~Canceller();
  Canceller(const Canceller&) = delete;
  Canceller& operator=(const Canceller&) = delete;

  void cancel(int backend_pid);  // on the pool's executor

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace dine::pg
