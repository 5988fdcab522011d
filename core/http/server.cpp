#include "core/http/server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <list>
#include <optional>
#include <system_error>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/http/route_metrics.hpp"
#include "core/http/wire.hpp"
#include "core/log.hpp"

namespace dine::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 8192;

const log::Logger& logger() {
  static const log::Logger l("http");
  return l;
}

// Per-connection state: it lives in the session coroutine's frame and is
// listed in the server so stop() and the request-timeout sweep can reach it.
struct Connection {
  explicit Connection(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  Request req;               // reused request after request: strings keep their capacity
  std::string head;          // serialized response head, reused
  bool busy = false;         // a request has started arriving (not idle)
  bool in_handler = false;   // the router is running for it
  bool timed_out = false;    // the sweep cancelled its handler past the deadline
  Deadline deadline{};       // end of the current request's budget (== req.ctx.deadline)
  asio::cancellation_signal* cancel = nullptr;  // bound to the session coroutine
  std::list<Connection*>::iterator pos;
};

}  // namespace

struct Server::Impl {
  Impl(asio::any_io_executor e, const Router& r, metrics::Registry& m, ServerLimits l)
      : ex(std::move(e)),
        router(r),
        limits(l),
        acceptor(ex),
        sweep_timer(ex),
        stats(m) {}

  asio::any_io_executor ex;
  const Router& router;
  ServerLimits limits;
  tcp::acceptor acceptor;
  asio::steady_timer sweep_timer;
  int bound_port = 0;
  bool started = false;
  bool stopping = false;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> accepted{0};
  std::list<Connection*> conns;
  std::vector<asio::steady_timer*> drain_waiters;
  RouteMetrics stats;

  bool drained() const { return connections.load() == 0 && in_flight.load() == 0; }
  void notify_drained();
  void stop_now();
};

void Server::Impl::notify_drained() {
  if (!drained()) return;
  for (auto* t : drain_waiters) t->cancel();
  if (stopping) sweep_timer.cancel();
}

void Server::Impl::stop_now() {
  if (stopping) return;
  stopping = true;
  error_code ec;
  acceptor.close(ec);
  // Connections waiting for a request close now; busy ones after their answer.
  for (Connection* c : conns) {
    if (!c->busy) c->stream.cancel();
  }
  notify_drained();
}

namespace {

using Impl = Server::Impl;

// Registers a connection for its lifetime (figures, gauge, stop, sweep).
class ConnectionScope {
 public:
  ConnectionScope(Impl& s, Connection& c) : s_(s), c_(c) {
    c.pos = s.conns.insert(s.conns.end(), &c);
    s.connections.fetch_add(1, std::memory_order_relaxed);
    s.stats.connections.add(1);
  }
  ~ConnectionScope() {
    error_code ec;
    c_.stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    c_.stream.close();
    s_.conns.erase(c_.pos);
    s_.connections.fetch_sub(1, std::memory_order_relaxed);
    s_.stats.connections.add(-1);
    s_.notify_drained();
  }
  ConnectionScope(const ConnectionScope&) = delete;
  ConnectionScope& operator=(const ConnectionScope&) = delete;

 private:
  Impl& s_;
  Connection& c_;
};

class InFlightScope {
 public:
  explicit InFlightScope(Impl& s) : s_(s) {
    s.in_flight.fetch_add(1, std::memory_order_relaxed);
    s.stats.in_flight.add(1);
  }
  ~InFlightScope() {
    s_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    s_.stats.in_flight.add(-1);
  }
  InFlightScope(const InFlightScope&) = delete;
  InFlightScope& operator=(const InFlightScope&) = delete;

 private:
  Impl& s_;
};

// A request id from a caller is kept when it is short and plain (it goes into
// logs and headers); anything else gets a fresh one.
bool plain_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// "1500" -> 1500 ms; nullopt for anything that is not a plain number.
std::optional<long> parse_budget(std::string_view v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return std::stol(std::string(v));
}

void fill_request(Request& r, bhttp::request<bhttp::string_body>& msg, Deadline deadline) {
  r.method.assign(msg.method_string());
  r.target.assign(msg.target());
  std::string_view target = r.target;
  std::size_t q = target.find('?');
  r.path.assign(target.substr(0, q));
  r.query.assign(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
  std::size_t n = 0;
  std::size_t id_at = SIZE_MAX, budget_at = SIZE_MAX;  // indices: a growing vector moves the strings
  for (const auto& f : msg) {
    if (n == r.headers.size()) r.headers.emplace_back();
    auto& [name, value] = r.headers[n++];
    std::string_view raw = f.name_string();
    name.resize(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      name[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    value.assign(f.value());
    if (name == "x-request-id") id_at = n - 1;
    if (name == kBudgetHeader) budget_at = n - 1;
  }
  r.headers.resize(n);
  std::string_view request_id = id_at < n ? std::string_view(r.headers[id_at].second) : std::string_view();
  std::string_view budget = budget_at < n ? std::string_view(r.headers[budget_at].second) : std::string_view();
  if (plain_request_id(request_id)) {
    r.ctx.request_id.assign(request_id);
  } else {
    r.ctx.request_id = wire::new_request_id();
  }
  if (auto ms = parse_budget(budget)) deadline = std::min(deadline, Clock::now() + milliseconds(*ms));
  r.ctx.deadline = deadline;
  r.body = std::move(msg.body());
  r.params.clear();
  r.route.clear();
}

// Answers a request that could not be read (400, 413, 431), then closes
// gently: half-close and drain what the client still sends, so it reads the
// answer instead of a reset. Awaited at once by the session that owns `c`.
Task<void> reject(Impl& s, Connection& c, int status, std::string_view code, std::string message) {
  std::string request_id = wire::new_request_id();
  Response res = Response::error(status, code, message, request_id);
  wire::write_head(c.head, {.status = status,
                            .content_type = res.content_type,
                            .content_length = res.body.size(),
                            .request_id = request_id,
                            .keep_alive = false});
  std::array<asio::const_buffer, 2> bufs{asio::buffer(c.head), asio::buffer(res.body)};
  c.stream.expires_after(s.limits.request_timeout);
  auto [ec, n] = co_await asio::async_write(c.stream, bufs, use_tuple);
  s.stats.record("unmatched", "OTHER", status, 0);
  if (ec) co_return;
  error_code ignored;
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  c.stream.expires_after(milliseconds(500));
  std::size_t drained = 0;
  std::array<char, 4096> sink;
  while (drained < 1024 * 1024) {
    auto [rec, got] = co_await c.stream.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
    drained += got;
  }
}

Task<void> run_session(std::shared_ptr<Impl> self, tcp::socket socket, asio::cancellation_signal* cancel) {
  Connection conn(std::move(socket));
  conn.cancel = cancel;
  {
    error_code ec;
    auto remote = conn.stream.socket().remote_endpoint(ec);
    if (!ec) conn.req.peer = remote.address().to_string();
  }
  ConnectionScope scope(*self, conn);
  const ServerLimits& limits = self->limits;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser;

  while (!self->stopping) {
    // Idle: wait for the first byte of the next request.
    conn.busy = false;
    if (conn.buffer.size() == 0) {
      conn.stream.expires_after(limits.idle_timeout);
      auto [ec, n] = co_await conn.stream.async_read_some(conn.buffer.prepare(kReadChunk), use_tuple);
      if (ec) co_return;  // closed, idle timeout, or stop()
      conn.buffer.commit(n);
    }
    conn.busy = true;
    const Deadline started = Clock::now();
    conn.deadline = started + limits.request_timeout;
    conn.stream.expires_at(conn.deadline);

    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    parser->body_limit(limits.body_bytes);
    auto [hec, hn] = co_await bhttp::async_read_header(conn.stream, conn.buffer, *parser, use_tuple);
    error_code ec = hec;
    if (!ec && !parser->is_done()) {
      auto expect = parser->get()[bhttp::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(conn.stream, asio::buffer(kContinue), use_tuple);
        if (wec) co_return;
      }
      auto [bec, bn] = co_await bhttp::async_read(conn.stream, conn.buffer, *parser, use_tuple);
      ec = bec;
    }
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        co_await reject(*self, conn, 413, "payload_too_large",
                        "request body exceeds " + std::to_string(limits.body_bytes) + " bytes");
      } else if (ec == bhttp::error::header_limit) {
        co_await reject(*self, conn, 431, "header_too_large",
                        "request header exceeds " + std::to_string(limits.header_bytes) + " bytes");
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        co_await reject(*self, conn, 400, "bad_request", "malformed HTTP request");
      } else if (ec == beast::error::timeout) {
        logger().warn_limited("request_read_timeout", {{"error", ec.message()}});
      }
      co_return;  // partial message, reset, timeout: nothing to answer
    }

    auto& msg = parser->get();
    const bool http10 = msg.version() == 10;
    fill_request(conn.req, msg, conn.deadline);
    conn.deadline = conn.req.ctx.deadline;  // a caller's budget may shorten it
    Response res;
    {
      InFlightScope in_flight(*self);
      conn.in_handler = true;
      res = co_await self->router.handle(conn.req);
      conn.in_handler = false;
    }
    if (conn.timed_out) {
      // The sweep cancelled the handler (its queries and calls stopped with
      // it); the client gets a clean 504 and the connection closes.
      co_await asio::this_coro::reset_cancellation_state();
      res = Response::error(504, "request_timeout", "the request did not finish within its deadline",
                            conn.req.ctx.request_id);
    }

    const bool keep_alive = msg.keep_alive() && !self->stopping && !conn.timed_out;
    const bool head_only = conn.req.method == "HEAD";
    wire::write_head(conn.head, {.status = res.status,
                                 .content_type = res.content_type,
                                 .content_length = res.body.size(),
                                 .request_id = conn.req.ctx.request_id,
                                 .extra = &res.headers,
                                 .keep_alive = keep_alive,
                                 .http10 = http10});
    std::array<asio::const_buffer, 2> bufs{asio::buffer(conn.head),
                                           asio::buffer(res.body.data(), head_only ? 0 : res.body.size())};
    auto [wec, wn] = co_await asio::async_write(conn.stream, bufs, use_tuple);
    self->stats.record(conn.req.route, conn.req.method, res.status,
                       std::chrono::duration<double>(Clock::now() - started).count());
    if (wec || !keep_alive) co_return;
  }
}

Task<void> accept_loop(std::shared_ptr<Impl> self) {
  while (!self->stopping) {
    auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
    if (ec) {
      if (self->stopping || ec == asio::error::operation_aborted) break;
      logger().warn_limited("accept_failed", {{"error", ec.message()}});
      // Out of descriptors and the like: back off a little rather than spin.
      asio::steady_timer backoff(self->ex, milliseconds(50));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    if (self->stopping) break;
    self->accepted.fetch_add(1, std::memory_order_relaxed);
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // Each session has its own cancellation signal: the sweep emits it when the
    // handler outlives its deadline. The completion handler owns the signal, so
    // it outlives the coroutine frame that uses its slot.
    auto cancel = std::make_shared<asio::cancellation_signal>();
    asio::co_spawn(self->ex, run_session(self, std::move(socket), cancel.get()),
                   asio::bind_cancellation_slot(cancel->slot(), [cancel](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       logger().warn_limited("session_failed", {{"error", ex.what()}});
                     } catch (...) {
                     }
                   }));
  }
}

// Cancels handlers that ran past their request deadline (asio cancellation:
// the query, Redis command or HTTP call they wait on stops too). Reading and
// writing are bounded by the stream's own expiry.
Task<void> sweep_loop(std::shared_ptr<Impl> self) {
  const milliseconds period =
      std::clamp(self->limits.request_timeout / 10, milliseconds(10), milliseconds(100));
  while (!(self->stopping && self->drained())) {
    self->sweep_timer.expires_after(period);
    co_await self->sweep_timer.async_wait(use_tuple);
    const Deadline now = Clock::now();
    for (Connection* c : self->conns) {
      if (c->in_handler && !c->timed_out && now >= c->deadline) {
        c->timed_out = true;
        logger().warn_limited("request_timeout", {{"route", c->req.route},
                                                  {"request_id", c->req.ctx.request_id}});
        c->cancel->emit(asio::cancellation_type::terminal);
      }
    }
  }
}

Task<void> wait_drained(std::shared_ptr<Impl> self, Deadline deadline) {
  asio::steady_timer timer(self->ex);
  while (!self->drained() && Clock::now() < deadline) {
    timer.expires_at(deadline);
    self->drain_waiters.push_back(&timer);
    co_await timer.async_wait(use_tuple);
    std::erase(self->drain_waiters, &timer);
  }
}

}  // namespace

Server::Server(asio::any_io_executor ex, const Router& router, metrics::Registry& metrics,
               ServerLimits limits)
    : impl_(std::make_shared<Impl>(std::move(ex), router, metrics, limits)) {}

Server::~Server() {
  if (impl_ && !impl_->stopping) stop();
}

void Server::listen(const std::string& host, int port, bool reuse_port) {
  auto& a = impl_->acceptor;
  const std::string where = host + ":" + std::to_string(port);
  error_code ec;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw std::system_error(ec, "http listen: bad address " + where);
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  auto check = [&](const char* step) {
    if (ec) {
      error_code ignored;
      a.close(ignored);
      throw std::system_error(ec, std::string("http listen on ") + where + ": " + step);
    }
  };
  a.open(ep.protocol(), ec);
  check("open");
  a.set_option(tcp::acceptor::reuse_address(true), ec);
  check("SO_REUSEADDR");
  if (reuse_port) {
    a.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    check("SO_REUSEPORT");
  }
  a.bind(ep, ec);
  check("bind");
  a.listen(tcp::acceptor::max_listen_connections, ec);
  check("listen");
  impl_->bound_port = a.local_endpoint().port();
}

int Server::port() const { return impl_->bound_port; }

void Server::start() {
  asio::dispatch(impl_->ex, [self = impl_] {
    if (self->started || self->stopping) return;
    self->started = true;
    spawn_logged(self->ex, accept_loop(self), "http accept loop");
    spawn_logged(self->ex, sweep_loop(self), "http request sweep");
  });
}

void Server::stop() {
  asio::dispatch(impl_->ex, [self = impl_] { self->stop_now(); });
}

Task<void> Server::drained(Deadline deadline) { return wait_drained(impl_, deadline); }

ServerFigures Server::figures() const {
  return {impl_->connections.load(std::memory_order_relaxed),
          impl_->in_flight.load(std::memory_order_relaxed),
          impl_->accepted.load(std::memory_order_relaxed)};
}

}  // namespace dine::http
