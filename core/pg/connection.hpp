#pragma once
// One libpq connection driven without blocking by socket readiness on an asio
// executor (PQsocket, PQconsumeInput, PQisBusy, PQflush). No policy here: the
// pool decides when to reconnect.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/async.hpp"
#include "core/pg/result.hpp"

namespace dine::pg {

// Text-format parameters; std::nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

namespace detail {
template <class T>
std::optional<std::string> to_param(T&& v) {
  using D = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<D, bool>) {
    return std::string(v ? "true" : "false");
  } else if constexpr (std::is_integral_v<D>) {
    return std::to_string(v);
  } else {
    return std::optional<std::string>(std::forward<T>(v));
  }
}
}  // namespace detail

// params(order_id, "PAID", std::nullopt): integers and bools become text.
// Use it inside coroutines: GCC 12 rejects a braced list of strings inside a
// co_await expression ("array used as initializer"), e.g. co_await c.execute(st, {s}, d).
template <class... A>
Params params(A&&... a) {
  Params p;
  p.reserve(sizeof...(A));
  (p.push_back(detail::to_param(std::forward<A>(a))), ...);
  return p;
}

struct Notification {
  std::string channel;
  std::string payload;
};

// A statement with a stable name: prepared once per connection on first use.
struct Statement {
  std::string_view name;
  std::string_view sql;
};

class Connection {
 public:
  // Connects with a deadline. Throws dine::Error(Unavailable, "db_unavailable")
  // when the server cannot be reached in time.
  static Task<std::unique_ptr<Connection>> connect(asio::any_io_executor ex, std::string dsn,
                                                   Deadline deadline);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a prepared statement (prepared on this connection on first use).
  // SQL errors throw pg::SqlError (see errors.hpp); lost connections throw
  // dine::Error(Unavailable) and mark the connection broken; a passed deadline
  // throws dine::Error(Timeout) and marks it broken.
  Task<Result> execute(const Statement& st, const Params& params, Deadline deadline);

  // Runs text SQL without parameters (simple protocol; may hold several statements).
  Task<Result> simple(std::string_view sql, Deadline deadline);

  // LISTEN support: waits until a notification arrives or the deadline passes.
  Task<std::optional<Notification>> wait_notification(Deadline deadline);

  bool broken() const;
  // A command was sent and not read to its end (deadline, cancellation): it
  // may still run on the server, whose backend_pid() the pool asks to cancel.
  bool abandoned() const;

  // Why a broken connection broke: the server or the network (Lost), a deadline
  // that passed while the command waited `silent_for()`, or a caller that gave
  // up (Cancelled). The pool counts only what the database did against it.
  enum class Breakage { None, Lost, Deadline, Cancelled };
  Breakage breakage() const;
  milliseconds silent_for() const;
  bool in_transaction() const;  // PQtransactionStatus != IDLE
  const std::string& dsn_masked() const;

  // Non-blocking check for an idle connection: reads what the server may have
  // sent meanwhile (a termination notice, EOF). Returns false, and marks the
  // connection broken, when it is gone. Queued notifications are kept.
  bool poll_alive();
  int backend_pid() const;  // the server process serving this connection

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dine::pg
