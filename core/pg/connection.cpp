#include "core/pg/connection.hpp"

#include <libpq-fe.h>

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unordered_set>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/pg/errors.hpp"

namespace dine::pg {

namespace {

enum class Ready { read, write, timeout };

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The server's words for a failed result: primary message, then detail.
std::string error_text(const PGresult* res) {
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  if (!primary) return trimmed(PQresultErrorMessage(res));
  std::string s = primary;
  if (const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) {
    s += ": ";
    s += detail;
  }
  return s;
}

// Marks a connection broken when a command's results were not read to the end
// (an exception left finish() early). A class with a constructor: GCC 12
// miscompiles aggregate-initialised locals with destructors in coroutines.
class BreakUnlessDone {
 public:
  explicit BreakUnlessDone(bool& broken) : broken_(broken) {}
  ~BreakUnlessDone() {
    if (!done) broken_ = true;
  }
  BreakUnlessDone(const BreakUnlessDone&) = delete;
  BreakUnlessDone& operator=(const BreakUnlessDone&) = delete;
  bool done = false;

 private:
  bool& broken_;
};

// One coroutine at a time per connection: libpq allows one command in flight.
class BusyGuard {
 public:
  explicit BusyGuard(bool& busy) : busy_(busy) {
    if (busy_) throw Error(ErrorKind::Internal, "db_misuse", "connection used by two coroutines at once");
    busy_ = true;
  }
  ~BusyGuard() { busy_ = false; }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  bool& busy_;
};

const log::Logger& logger() {
  static const log::Logger l("pg");
  return l;
}

}  // namespace

struct Connection::Impl {
  Impl(asio::any_io_executor e, std::string masked_dsn)
      : ex(std::move(e)), timer(ex), masked(std::move(masked_dsn)) {}
  ~Impl() {
    detach_socket();  // libpq owns the fd and closes it in PQfinish
    if (conn) PQfinish(conn);
  }

  asio::any_io_executor ex;
  PGconn* conn = nullptr;
  std::optional<asio::posix::stream_descriptor> sock;
  int fd = -1;
  asio::steady_timer timer;
  std::unordered_set<std::string> prepared;
  std::string masked;
  bool broken = false;
  bool busy = false;
  bool in_flight = false;  // a command was sent and its results are not all read
  Clock::time_point sent_at{};          // when the command in flight was sent
  Connection::Breakage breakage = Connection::Breakage::None;
  milliseconds silent_for{0};           // how long a timed-out command had waited

  // Server notices go to our log, not stderr. A FATAL arriving while idle is
  // a backend's last words (terminated, server shutting down): the
  // connection is dead even before its EOF arrives.
  static void on_notice(void* arg, const PGresult* res) {
    auto* self = static_cast<Impl*>(arg);
    const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    std::string_view sev = severity ? severity : "";
    if (sev == "FATAL" || sev == "PANIC") {
      self->broken = true;
      logger().warn("backend_closing", {{"db", self->masked}, {"message", error_text(res)}});
      return;
    }
    log::Fields f{{"db", self->masked}, {"severity", std::string(sev)}, {"message", error_text(res)}};
    if (sev == "WARNING") {
      logger().warn_limited("server_warning", f);
    } else {
      logger().debug("notice", f);  // NOTICE, INFO: "table ... does not exist, skipping"
    }
  }

  void detach_socket() {
    if (sock) sock->release();
    sock.reset();
    fd = -1;
  }

  // Follows libpq's socket: it may change during PQconnectPoll and is closed by
  // libpq when the connection drops. `force` re-registers even the same number
  // (during connect an fd may be closed and its number reused at once).
  void track_socket(bool force) {
    int s = PQsocket(conn);
    if (!force && s == fd) return;
    detach_socket();
    if (s >= 0) {
      sock.emplace(ex, s);
      fd = s;
    }
  }

  [[noreturn]] void lost(const std::string& why) {
    broken = true;
    breakage = Connection::Breakage::Lost;
    in_flight = false;  // the server side is gone with it: nothing to cancel
    track_socket(false);
    throw Error(ErrorKind::Unavailable, "db_unavailable", "the database connection was lost",
                "connection to " + masked + " lost: " + why);
  }
  [[noreturn]] void lost() { lost(trimmed(PQerrorMessage(conn))); }

  [[noreturn]] void timed_out() {
    broken = true;  // a command is still running on the server: never reuse
    breakage = Connection::Breakage::Deadline;
    silent_for = std::chrono::duration_cast<milliseconds>(Clock::now() - sent_at);
    throw Error(ErrorKind::Timeout, "db_timeout", "the database did not answer in time",
                "query deadline passed on " + masked);
  }

  // The coroutine waiting on this connection was cancelled (its request
  // passed its deadline): the command may still run on the server.
  [[noreturn]] void cancelled() {
    broken = true;
    breakage = Connection::Breakage::Cancelled;
    throw Error(ErrorKind::Timeout, "db_timeout", "the database did not answer in time",
                "query cancelled by its caller on " + masked);
  }

  void check_usable() const {
    if (broken) {
      throw Error(ErrorKind::Unavailable, "db_unavailable", "the database connection was lost",
                  "connection to " + masked + " is broken");
    }
  }

  // Before a command is sent: a caller already past its deadline, or
  // cancelled, gets its timeout without the connection being touched (nothing
  // is sent, nothing needs cancelling, the connection stays healthy).
  void check_caller(const asio::cancellation_state& cs, Deadline deadline) const {
    if (cs.cancelled() != asio::cancellation_type::none || Clock::now() >= deadline)
      throw Error(ErrorKind::Timeout, "db_timeout", "the database did not answer in time",
                  "deadline passed before the query was sent to " + masked);
  }

  // Waits for the socket (readable and/or writable) or the deadline, whichever
  // first. A cancelled caller (asio cancellation of the awaiting coroutine)
  // throws at once and leaves the connection broken.
  Task<Ready> wait(bool want_read, bool want_write, Deadline deadline) {
    using asio::posix::descriptor_base;
    namespace asx = asio::experimental;
    if (!sock) lost("socket closed");
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) cancelled();
    timer.expires_at(deadline);
    Ready ready;
    if (want_read && want_write) {
      auto [order, e1, e2, e3] =
          co_await asx::make_parallel_group(sock->async_wait(descriptor_base::wait_read, asio::deferred),
                                           sock->async_wait(descriptor_base::wait_write, asio::deferred),
                                           timer.async_wait(asio::deferred))
              .async_wait(asx::wait_for_one(), asio::use_awaitable);
      ready = order[0] == 0 ? Ready::read : order[0] == 1 ? Ready::write : Ready::timeout;
    } else {
      auto what = want_read ? descriptor_base::wait_read : descriptor_base::wait_write;
      auto [order, e1, e2] =
          co_await asx::make_parallel_group(sock->async_wait(what, asio::deferred), timer.async_wait(asio::deferred))
              .async_wait(asx::wait_for_one(), asio::use_awaitable);
      ready = order[0] == 1 ? Ready::timeout : want_read ? Ready::read : Ready::write;
    }
    if (cs.cancelled() != asio::cancellation_type::none) cancelled();
    co_return ready;
  }

  // Sends the output buffer. While the server's socket buffer is full, the
  // server may itself be blocked writing to us: read too, or both stall.
  Task<void> flush(Deadline deadline) {
    while (true) {
      int r = PQflush(conn);
      if (r == 0) co_return;
      if (r < 0) lost();
      Ready ready = co_await wait(true, true, deadline);
      if (ready == Ready::timeout) timed_out();
      if (ready == Ready::read && !PQconsumeInput(conn)) lost();
    }
  }

  void sent(int ok) {
    if (ok) return;
    if (PQstatus(conn) == CONNECTION_BAD) lost();
    throw Error(ErrorKind::Internal, "db_error", "internal error",
                "libpq refused the command on " + masked + ": " + trimmed(PQerrorMessage(conn)));
  }

  // Flushes the command and reads every result until libpq returns NULL.
  // The first error result is thrown once the connection is ready again.
  // Leaving early (deadline, cancellation, lost connection) leaves the
  // command in flight: the connection is broken and in_flight stays set, so
  // the pool can cancel the command on the server.
  Task<Result> finish(Deadline deadline) {
    BreakUnlessDone guard(broken);
    in_flight = true;
    sent_at = Clock::now();
    co_await flush(deadline);
    Result last;
    std::optional<SqlError> error;
    while (true) {
      while (PQisBusy(conn)) {
        if (co_await wait(true, false, deadline) == Ready::timeout) timed_out();
        if (!PQconsumeInput(conn)) lost();
      }
      PGresult* raw = PQgetResult(conn);
      if (!raw) break;
      Result res(raw);
      switch (PQresultStatus(raw)) {
        case PGRES_FATAL_ERROR:
          if (!error) {
            const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
            error.emplace(state ? state : "", error_text(raw));
          }
          break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
          broken = true;  // COPY is not supported here; the protocol state is unknown
          throw Error(ErrorKind::Internal, "db_error", "internal error", "COPY is not supported by dine::pg::Connection");
        default:
          last = std::move(res);
      }
    }
    in_flight = false;
    if (PQstatus(conn) == CONNECTION_BAD) lost(error ? error->detail() : trimmed(PQerrorMessage(conn)));
    guard.done = true;
    if (error) throw *error;
    co_return last;
  }
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

Task<std::unique_ptr<Connection>> Connection::connect(asio::any_io_executor ex, std::string dsn,
                                                      Deadline deadline) {
  auto impl = std::make_unique<Impl>(ex, log::mask_dsn(dsn));
  auto fail = [&](const std::string& why) {
    return Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable",
                 "cannot connect to " + impl->masked + ": " + why);
  };
  impl->conn = PQconnectStart(dsn.c_str());
  if (!impl->conn) throw fail("out of memory");
  if (PQstatus(impl->conn) == CONNECTION_BAD) throw fail(trimmed(PQerrorMessage(impl->conn)));
  // libpq's own connect_timeout does not apply to PQconnectPoll: our deadline does.
  PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
  while (poll != PGRES_POLLING_OK) {
    if (poll == PGRES_POLLING_FAILED) throw fail(trimmed(PQerrorMessage(impl->conn)));
    impl->track_socket(true);
    Ready ready = co_await impl->wait(poll == PGRES_POLLING_READING, poll == PGRES_POLLING_WRITING, deadline);
    if (ready == Ready::timeout) throw fail("timed out");
    poll = PQconnectPoll(impl->conn);
  }
  impl->track_socket(true);
  PQsetNoticeReceiver(impl->conn, &Impl::on_notice, impl.get());
  if (PQsetnonblocking(impl->conn, 1) != 0) throw fail(trimmed(PQerrorMessage(impl->conn)));
  co_return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Task<Result> Connection::execute(const Statement& st, const Params& params, Deadline deadline) {
  Impl& d = *impl_;
  d.check_usable();
  // Reading the cancellation state does not suspend the coroutine.
  d.check_caller(co_await asio::this_coro::cancellation_state, deadline);
  BusyGuard guard(d.busy);
  std::string name(st.name);
  if (!d.prepared.contains(name)) {
    std::string sql(st.sql);
    d.sent(PQsendPrepare(d.conn, name.c_str(), sql.c_str(), 0, nullptr));
    co_await d.finish(deadline);
    d.prepared.insert(name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  d.sent(PQsendQueryPrepared(d.conn, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                             nullptr, 0));
  co_return co_await d.finish(deadline);
}

Task<Result> Connection::simple(std::string_view sql, Deadline deadline) {
  Impl& d = *impl_;
  d.check_usable();
  // Reading the cancellation state does not suspend the coroutine.
  d.check_caller(co_await asio::this_coro::cancellation_state, deadline);
  BusyGuard guard(d.busy);
  std::string text(sql);
  d.sent(PQsendQuery(d.conn, text.c_str()));
  co_return co_await d.finish(deadline);
}

Task<std::optional<Notification>> Connection::wait_notification(Deadline deadline) {
  Impl& d = *impl_;
  d.check_usable();
  BusyGuard guard(d.busy);
  while (true) {
    if (PGnotify* n = PQnotifies(d.conn)) {
      Notification out{n->relname ? n->relname : "", n->extra ? n->extra : ""};
      PQfreemem(n);
      co_return out;
    }
    if (co_await d.wait(true, false, deadline) == Ready::timeout) co_return std::nullopt;
    if (!PQconsumeInput(d.conn)) d.lost();
  }
}

bool Connection::poll_alive() {
  Impl& d = *impl_;
  if (d.broken) return false;
  if (d.busy) return true;
  // One read (an EAGAIN when all is well). A terminated backend sends a FATAL
  // error, then EOF: parsing the error runs the notice receiver, which marks
  // the connection broken even when the EOF has not been read yet.
  if (!PQconsumeInput(d.conn) || PQstatus(d.conn) == CONNECTION_BAD) {
    d.broken = true;
    d.track_socket(false);
    return false;
  }
  PQisBusy(d.conn);  // parses what arrived (notifications, notices)
  return !d.broken;
}

bool Connection::broken() const { return impl_->broken; }

bool Connection::abandoned() const { return impl_->in_flight; }

Connection::Breakage Connection::breakage() const { return impl_->breakage; }

milliseconds Connection::silent_for() const { return impl_->silent_for; }

bool Connection::in_transaction() const { return PQtransactionStatus(impl_->conn) != PQTRANS_IDLE; }

const std::string& Connection::dsn_masked() const { return impl_->masked; }

int Connection::backend_pid() const { return PQbackendPID(impl_->conn); }

}  // namespace dine::pg
