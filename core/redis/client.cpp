#include "core/redis/client.hpp"

#include <deque>
#include <exception>
#include <optional>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/redis/client_meters.hpp"
#include "core/redis/connection.hpp"

namespace dine::redis {

namespace {

// After a failed connect, commands fail fast for this long instead of
// hammering a server that is down.
constexpr milliseconds kReconnectBackoff{250};

Error unavailable_error(const std::string& detail) {
  return Error(ErrorKind::Unavailable, "redis_unavailable", "a Redis server is unavailable", detail);
}

Error timeout_error(const std::string& detail) {
  return Error(ErrorKind::Timeout, "redis_timeout", "a Redis server did not answer in time", detail);
}

// One connection's commands still awaiting a reply, by the time they were
// sent, oldest first (hiredis answers or fails them in exactly this order),
// and why the connection closed, once it has.
struct Wire {
  std::deque<Clock::time_point> sent;
  std::string close_reason;
  bool on_purpose = false;  // closed by disconnect() or the client's end: no failure to report
};

// One command on the wire. The hiredis callback fills it in and cancels the
// timer; the awaiting coroutine wakes either on that cancel (posted by asio,
// never inline), on the deadline, or on its own cancellation.
struct Request {
  enum class State { Waiting, Done, Lost, TimedOut, Abandoned };
  Request(const asio::any_io_executor& ex, Deadline deadline) : timer(ex) { timer.expires_at(deadline); }
  asio::steady_timer timer;
  State state = State::Waiting;
  Reply reply;
  std::weak_ptr<detail::Connection> conn;
  std::shared_ptr<Wire> wire;  // kept: it says why the connection closed
};
using RequestPtr = std::shared_ptr<Request>;

}  // namespace

struct Client::Impl {
  Impl(asio::any_io_executor e, ClientConfig c)
      : ex(std::move(e)), cfg(std::move(c)), log("redis"), meters(cfg.metrics, cfg.name, cfg.worker) {}
  ~Impl() { shutdown(); }

  asio::any_io_executor ex;
  ClientConfig cfg;
  log::Logger log;
  detail::ClientMeters meters;
  std::shared_ptr<detail::Connection> conn;
  std::shared_ptr<Wire> wire;  // of conn
  bool closed = false;
  bool ever_connected = false;
  bool dropping = false;  // inside drop(): a close we asked for is no failure
  std::optional<Deadline> failed_at;  // last connect attempt that failed

  void shutdown() {
    closed = true;
    hang_up();
  }

  // disconnect(), or the end of the client.
  void hang_up() {
    if (wire) wire->on_purpose = true;
    drop(conn);
  }

  // Closes `c` on purpose: pending commands fail now (their waiters wake later).
  void drop(const std::shared_ptr<detail::Connection>& c) {
    if (!c) return;
    dropping = true;
    c->close();
    dropping = false;
  }

  void log_failure(std::string_view event, const Context& ctx, const std::string& detail) {
    log.warn_limited(event, {{"client", cfg.name}, {"request_id", ctx.request_id}, {"detail", detail}});
  }

  std::string addr() const { return cfg.host + ":" + std::to_string(cfg.port); }

  detail::Connection::Events events(std::shared_ptr<Wire> w) {
    // Events run only while the context lives, which never outlasts this Impl.
    return {
        [this] {
          failed_at.reset();
          meters.connected(true, ever_connected);
          ever_connected = true;
          log.info("redis_connected", {{"client", cfg.name}, {"port", std::to_string(cfg.port)}});
        },
        [this, w](bool was_connected, const std::string& why) {
          w->close_reason = why;
          meters.connected(false, false);
          if (dropping) return;
          meters.error();
          if (!was_connected) failed_at = Clock::now();
          log.warn_limited(was_connected ? "redis_connection_lost" : "redis_connect_failed",
                           {{"client", cfg.name}, {"addr", addr()}, {"reason", why}});
        },
        {},
    };
  }

  detail::Connection& connection() {
    if (closed) throw unavailable_error("redis client " + cfg.name + " is closed");
    if (conn && conn->alive()) return *conn;
    if (failed_at && Clock::now() - *failed_at < kReconnectBackoff)
      throw unavailable_error("redis " + cfg.name + " unreachable (backing off)");
    std::string error;
    auto w = std::make_shared<Wire>();
    conn = detail::Connection::open(ex, cfg.host, cfg.port, cfg.connect_timeout, events(w), error);
    if (!conn) {
      meters.error();
      failed_at = Clock::now();
      log.warn_limited("redis_connect_failed", {{"client", cfg.name}, {"addr", addr()}, {"reason", error}});
      throw unavailable_error("redis " + cfg.name + " at " + addr() + ": " + error);
    }
    wire = std::move(w);
    return *conn;
  }

  // Queues one command without waiting. Throws (and logs) when there is no
  // connection.
  RequestPtr issue(const Context& ctx, const Argv& argv, Clock::time_point now, Deadline deadline) {
    if (argv.empty()) throw Error(ErrorKind::Internal, "redis_bad_command", "internal error", "empty redis command");
    if (detail::is_push_mode_command(argv[0]))
      throw Error(ErrorKind::Internal, "redis_bad_command", "internal error",
                  argv[0] + " needs a dedicated pub/sub connection (redis::Subscriber)");
    try {
      detail::Connection& c = connection();
      auto req = std::make_shared<Request>(ex, deadline);
      req->conn = conn;
      req->wire = wire;
      bool queued = c.send(argv, [this, req, w = wire](Reply* r) {
        meters.answered();
        if (!w->sent.empty()) w->sent.pop_front();
        if (req->state == Request::State::Waiting) {
          if (r) {
            req->reply = std::move(*r);
            req->state = Request::State::Done;
          } else {
            req->state = Request::State::Lost;
          }
        }
        req->timer.cancel();
      });
      if (!queued) throw unavailable_error("redis " + cfg.name + ": connection closing");
      wire->sent.push_back(now);
      meters.sent();
      return req;
    } catch (const Error& e) {
      log_failure("redis_unavailable", ctx, e.detail());
      throw;
    }
  }

  // True when the connection `req` went out on has left a command unanswered
  // for the whole command timeout: the server is not answering.
  bool server_silent(const Request& req) const {
    const auto& w = req.wire;
    return w && !w->sent.empty() && Clock::now() - w->sent.front() >= cfg.command_timeout;
  }

  // For the log: which server, and why its connection closed.
  std::string lost_detail(const Request& req) const {
    const auto& w = req.wire;
    std::string why = w && !w->close_reason.empty() ? w->close_reason : "connection lost";
    return "redis " + cfg.name + " at " + addr() + ": " + why;
  }
};

namespace {

using ImplPtr = std::shared_ptr<Client::Impl>;

Task<Reply> await_reply(ImplPtr self, RequestPtr req, Context ctx) {
  boost::system::error_code ec;
  if (req->state == Request::State::Waiting)
    co_await req->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  switch (req->state) {
    case Request::State::Done:
      co_return std::move(req->reply);
    case Request::State::Waiting:
      if (ec == asio::error::operation_aborted) {
        // Our caller was cancelled. Abandon the command; its reply, when it
        // comes, is matched to it by order and dropped: the connection stays.
        req->state = Request::State::Abandoned;
        self->log.debug("redis_cancelled", {{"client", self->cfg.name}, {"request_id", ctx.request_id}});
        throw boost::system::system_error(asio::error::operation_aborted, "redis command cancelled");
      }
      req->state = Request::State::TimedOut;
      self->meters.error();
      if (self->server_silent(*req)) {
        // Its reply, if it ever comes, must not be read as another command's:
        // dropping the connection fails every command still on it.
        self->log_failure("redis_timeout", ctx, "no reply within the command timeout; connection dropped");
        self->drop(req->conn.lock());
      } else {
        // Only the request's own deadline passed: the server is answering.
        self->log_failure("redis_timeout", ctx, "request deadline passed; command abandoned");
      }
      throw timeout_error("redis " + self->cfg.name + " at " + self->addr() + ": command deadline passed");
    case Request::State::Lost:
    case Request::State::TimedOut:
    case Request::State::Abandoned:
      break;
  }
  std::string detail = self->lost_detail(*req);
  if (req->wire->on_purpose) {
    self->log.debug("redis_command_failed",
                    {{"client", self->cfg.name}, {"request_id", ctx.request_id}, {"detail", detail}});
  } else {
    self->log_failure("redis_command_failed", ctx, detail);
  }
  throw unavailable_error(detail);
}

Error out_of_time(const ImplPtr& self, const Context& ctx) {
  self->log_failure("redis_timeout", ctx, "request deadline passed before sending");
  return timeout_error("redis " + self->cfg.name + ": request deadline passed before sending");
}

Task<Reply> run_command(ImplPtr self, Context ctx, Argv argv) {
  Clock::time_point now = Clock::now();
  if (now >= ctx.deadline) throw out_of_time(self, ctx);
  Deadline deadline = std::min(ctx.deadline, now + self->cfg.command_timeout);
  RequestPtr req = self->issue(ctx, argv, now, deadline);
  co_return co_await await_reply(self, req, ctx);
}

Task<std::vector<Reply>> run_pipeline(ImplPtr self, Context ctx, std::vector<Argv> commands) {
  Clock::time_point now = Clock::now();
  if (now >= ctx.deadline) throw out_of_time(self, ctx);
  Deadline deadline = std::min(ctx.deadline, now + self->cfg.command_timeout);
  std::vector<RequestPtr> reqs;
  reqs.reserve(commands.size());
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  std::exception_ptr failure;
  try {
    for (const auto& argv : commands) reqs.push_back(self->issue(ctx, argv, now, deadline));
    for (auto& req : reqs) replies.push_back(co_await await_reply(self, req, ctx));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // Whatever is still on the wire is nobody's now.
    for (auto& req : reqs)
      if (req->state == Request::State::Waiting) req->state = Request::State::Abandoned;
    std::rethrow_exception(failure);
  }
  co_return replies;
}

Task<std::string> run_xadd(ImplPtr self, Context ctx, std::string stream, Fields fields) {
  Argv argv{"XADD", std::move(stream), "*"};
  for (auto& [f, v] : fields) {
    argv.push_back(std::move(f));
    argv.push_back(std::move(v));
  }
  Reply r = co_await run_command(self, ctx, std::move(argv));
  if (r.type != Reply::Type::String)
    throw Error(ErrorKind::Internal, "redis_error", "internal error", "XADD failed: " + r.str);
  co_return std::move(r.str);
}

Task<void> run_ping(ImplPtr self, Context ctx) {
  Argv ping(1, "PING");  // (a braced literal inside co_await trips GCC 12)
  Reply r = co_await run_command(self, ctx, std::move(ping));
  if (r.type == Reply::Type::Status && r.str == "PONG") co_return;
  self->log_failure("redis_not_ready", ctx, r.str);
  throw Error(ErrorKind::Unavailable, "redis_not_ready", "a Redis server is not ready",
              "redis " + self->cfg.name + " answered PING with: " + r.str);
}

}  // namespace

Client::Client(asio::any_io_executor ex, ClientConfig cfg)
    : cfg_(cfg), impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg))) {}

Client::~Client() { impl_->shutdown(); }

// The coroutines hold the Impl, not the Client: a Client destroyed while
// commands are in flight leaves them to fail with Unavailable, safely.
Task<Reply> Client::command(Context ctx, Argv argv) {
  return run_command(impl_, std::move(ctx), std::move(argv));
}

Task<std::vector<Reply>> Client::pipeline(Context ctx, std::vector<Argv> commands) {
  return run_pipeline(impl_, std::move(ctx), std::move(commands));
}

Task<Reply> Client::command(Argv argv) {
  return run_command(impl_, Context::background("redis", cfg_.command_timeout), std::move(argv));
}

Task<std::vector<Reply>> Client::pipeline(std::vector<Argv> commands) {
  return run_pipeline(impl_, Context::background("redis", cfg_.command_timeout), std::move(commands));
}

Task<std::string> Client::xadd(Context ctx, std::string stream, Fields fields) {
  return run_xadd(impl_, std::move(ctx), std::move(stream), std::move(fields));
}

Task<std::string> Client::xadd(std::string stream, Fields fields) {
  return run_xadd(impl_, Context::background("redis", cfg_.command_timeout), std::move(stream),
                  std::move(fields));
}

Task<void> Client::ping(Context ctx) { return run_ping(impl_, std::move(ctx)); }

ClientFigures Client::figures() const {
  ClientFigures f = impl_->meters.figures();
  f.connected = impl_->conn && impl_->conn->connected();
  return f;
}

void Client::disconnect() { impl_->hang_up(); }

}  // namespace dine::redis
