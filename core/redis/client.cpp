#include "core/redis/client.hpp"

#include <optional>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/redis/connection.hpp"

namespace dine::redis {

namespace {

// After a failed connect, commands fail fast for this long instead of
// hammering a server that is down.
constexpr milliseconds kReconnectBackoff{250};

Error unavailable_error(const std::string& what) {
  return Error(ErrorKind::Unavailable, "redis_unavailable", "a Redis server is unavailable", what);
}

// One command on the wire. The hiredis callback fills it in and cancels the
// timer; the awaiting coroutine wakes either on that cancel (posted by asio,
// never inline) or on the deadline.
struct Request {
  enum class State { Waiting, Done, Lost, TimedOut };
  explicit Request(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  State state = State::Waiting;
  Reply reply;
  std::weak_ptr<detail::Connection> conn;
};
using RequestPtr = std::shared_ptr<Request>;

}  // namespace

struct Client::Impl {
  Impl(asio::any_io_executor e, ClientConfig c)
      : ex(std::move(e)), cfg(std::move(c)), log("redis") {}
  ~Impl() { shutdown(); }

  asio::any_io_executor ex;
  ClientConfig cfg;
  log::Logger log;
  std::shared_ptr<detail::Connection> conn;
  ClientFigures fig;
  bool closed = false;
  bool ever_connected = false;
  bool dropping = false;  // inside drop(): a close we asked for is no failure
  std::optional<Deadline> failed_at;  // last connect attempt that failed

  void shutdown() {
    closed = true;
    drop(conn);
  }

  // Closes `c` on purpose: pending commands fail now (their waiters wake later).
  void drop(const std::shared_ptr<detail::Connection>& c) {
    if (!c) return;
    dropping = true;
    c->close();
    dropping = false;
  }

  detail::Connection::Events events() {
    // Events run only while the context lives, which never outlasts this Impl.
    return {
        [this] {
          failed_at.reset();
          if (ever_connected) ++fig.reconnects;
          ever_connected = true;
          log.info("redis_connected", {{"client", cfg.name}, {"port", std::to_string(cfg.port)}});
        },
        [this](bool was_connected, const std::string& why) {
          if (dropping) return;
          ++fig.errors;
          if (!was_connected) failed_at = Clock::now();
          log.warn_limited(was_connected ? "redis_connection_lost" : "redis_connect_failed",
                           {{"client", cfg.name},
                            {"addr", cfg.host + ":" + std::to_string(cfg.port)},
                            {"reason", why}});
        },
    };
  }

  detail::Connection& connection() {
    if (closed) throw unavailable_error("redis client " + cfg.name + " is closed");
    if (conn && conn->alive()) return *conn;
    if (failed_at && Clock::now() - *failed_at < kReconnectBackoff)
      throw unavailable_error("redis " + cfg.name + " unreachable (backing off)");
    std::string error;
    conn = detail::Connection::open(ex, cfg.host, cfg.port, cfg.connect_timeout, events(), error);
    if (!conn) {
      ++fig.errors;
      failed_at = Clock::now();
      log.warn_limited("redis_connect_failed", {{"client", cfg.name}, {"reason", error}});
      throw unavailable_error("redis " + cfg.name + ": " + error);
    }
    return *conn;
  }

  // Queues one command without waiting. Throws when there is no connection.
  RequestPtr issue(const Argv& argv, Deadline deadline) {
    if (argv.empty()) throw Error(ErrorKind::Internal, "redis_bad_command", "empty redis command");
    if (detail::is_push_mode_command(argv[0]))
      throw Error(ErrorKind::Internal, "redis_bad_command",
                  argv[0] + " needs a dedicated pub/sub connection");
    detail::Connection& c = connection();
    auto req = std::make_shared<Request>(ex);
    req->timer.expires_at(deadline);
    req->conn = conn;
    bool queued = c.send(argv, [this, req](Reply* r) {
      --fig.in_flight;
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
    ++fig.commands;
    ++fig.in_flight;
    return req;
  }
};

namespace {

using ImplPtr = std::shared_ptr<Client::Impl>;

Task<Reply> await_reply(ImplPtr self, RequestPtr req) {
  if (req->state == Request::State::Waiting) {
    boost::system::error_code ec;
    co_await req->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  switch (req->state) {
    case Request::State::Done:
      co_return std::move(req->reply);
    case Request::State::Waiting: {
      // Deadline passed. Drop the connection the command went out on: its
      // reply, if it ever comes, must not be read as another command's.
      req->state = Request::State::TimedOut;
      ++self->fig.errors;
      self->log.warn_limited("redis_timeout", {{"client", self->cfg.name}});
      self->drop(req->conn.lock());
      throw Error(ErrorKind::Timeout, "redis_timeout", "a Redis server did not answer in time",
                  "redis " + self->cfg.name + " command timed out");
    }
    case Request::State::Lost:
    case Request::State::TimedOut:
      break;
  }
  throw unavailable_error("redis " + self->cfg.name + ": connection lost");
}

Task<Reply> run_command(ImplPtr self, Argv argv) {
  RequestPtr req = self->issue(argv, deadline_in(self->cfg.command_timeout));
  co_return co_await await_reply(self, req);
}

Task<std::vector<Reply>> run_pipeline(ImplPtr self, std::vector<Argv> commands) {
  Deadline deadline = deadline_in(self->cfg.command_timeout);
  std::vector<RequestPtr> reqs;
  reqs.reserve(commands.size());
  for (const auto& argv : commands) reqs.push_back(self->issue(argv, deadline));
  std::vector<Reply> replies;
  replies.reserve(reqs.size());
  for (auto& req : reqs) replies.push_back(co_await await_reply(self, req));
  co_return replies;
}

Task<std::string> run_xadd(ImplPtr self, std::string stream,
                           std::vector<std::pair<std::string, std::string>> fields) {
  Argv argv{"XADD", std::move(stream), "*"};
  for (auto& [f, v] : fields) {
    argv.push_back(std::move(f));
    argv.push_back(std::move(v));
  }
  Reply r = co_await run_command(self, std::move(argv));
  if (r.type != Reply::Type::String)
    throw Error(ErrorKind::Internal, "redis_error", "internal error", "XADD failed: " + r.str);
  co_return std::move(r.str);
}

}  // namespace

Client::Client(asio::any_io_executor ex, ClientConfig cfg)
    : cfg_(cfg), impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg))) {}

Client::~Client() { impl_->shutdown(); }

// The coroutines hold the Impl, not the Client: a Client destroyed while
// commands are in flight leaves them to fail with Unavailable, safely.
Task<Reply> Client::command(Argv argv) { return run_command(impl_, std::move(argv)); }

Task<std::vector<Reply>> Client::pipeline(std::vector<Argv> commands) {
  return run_pipeline(impl_, std::move(commands));
}

Task<std::string> Client::xadd(std::string stream,
                               std::vector<std::pair<std::string, std::string>> fields) {
  return run_xadd(impl_, std::move(stream), std::move(fields));
}

ClientFigures Client::figures() const {
  ClientFigures f = impl_->fig;
  f.connected = impl_->conn && impl_->conn->connected();
  return f;
}

void Client::disconnect() { impl_->drop(impl_->conn); }

}  // namespace dine::redis
