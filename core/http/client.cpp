#include "core/http/client.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <random>
#include <type_traits>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/http/client_metrics.hpp"
#include "core/log.hpp"

namespace dine::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Stream = beast::tcp_stream;
using Message = bhttp::request<bhttp::string_body>;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kResponseBodyLimit = 64 * 1024 * 1024;
constexpr std::uint64_t kBodyReadChunk = 16 * 1024;  // room for a response body, at most: a few reads for tens of KB

const log::Logger& logger() {
  static const log::Logger l("http_client");
  return l;
}

bool iequal(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

[[noreturn]] void throw_cancelled() {
  throw boost::system::system_error(asio::error::operation_aborted, "http client call cancelled");
}

Task<bool> cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

// Whether an idle keep-alive connection can no longer carry a request: the peer
// closed it (EOF or RST is waiting) or sent bytes nobody asked for. Never blocks.
bool unusable(Stream& s) {
  char byte;
  ssize_t n = ::recv(s.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace

std::string_view ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequal(k, name)) return v;
  }
  return {};
}

bool never_sent(const std::exception& e) {
  const auto* err = dynamic_cast<const Error*>(&e);
  return err && err->code() == "upstream_unavailable" && err->detail().find(": connect: ") != std::string::npos &&
         err->detail().find(", request sent") == std::string::npos;
}

bool idempotent_by_default(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS";
}

static_assert(std::is_trivially_copyable_v<ClientOptions>, "see the comment above ClientOptions");

struct Client::Impl {
  // The connections to one host:port. Every change of `open` and `idle` goes
  // through these members so the gauges follow.
  struct Pool {
    struct Idle {
      std::unique_ptr<Stream> stream;
      Clock::time_point since;
    };
    std::deque<Idle> idle;                    // back: most recently used; front: oldest
    std::size_t open = 0;                     // idle + leased + connecting
    std::deque<asio::steady_timer*> waiters;  // calls waiting for a free slot
    UpstreamMetrics metrics;

    void opening() {
      ++open;
      metrics.open_delta(1);
    }
    void closed() {
      --open;
      metrics.open_delta(-1);
    }
    void park(std::unique_ptr<Stream> s) {
      s->expires_never();
      idle.push_back({std::move(s), Clock::now()});
      metrics.idle_delta(1);
    }
    std::unique_ptr<Stream> unpark_newest() {
      auto s = std::move(idle.back().stream);
      idle.pop_back();
      metrics.idle_delta(-1);
      return s;
    }
    void close_oldest() {
      idle.pop_front();
      metrics.idle_delta(-1);
      closed();
    }
    // Idle connections are ordered by age, so the expired ones are in front.
    void expire(milliseconds idle_timeout) {
      const auto now = Clock::now();
      while (!idle.empty() && now - idle.front().since >= idle_timeout) {
        metrics.discard(Discard::IdleTimeout);
        close_oldest();
      }
    }
    void wake_one() {
      if (waiters.empty()) return;
      waiters.front()->cancel();
      waiters.pop_front();
    }
  };

  Impl(asio::any_io_executor e, ClientOptions o) : ex(std::move(e)), opts(o) {
    opts.max_connections_per_host = std::max<std::size_t>(1, opts.max_connections_per_host);
    opts.retries = std::max(0, opts.retries);
  }

  Pool& pool(const std::string& key) {
    auto [it, fresh] = pools.try_emplace(key);
    if (fresh && opts.metrics) {
      it->second.metrics = UpstreamMetrics(*opts.metrics, key, std::to_string(opts.worker));
    }
    return it->second;
  }

  asio::any_io_executor ex;
  ClientOptions opts;
  std::string service_credential;  // X-Dine-Service on every call; "" for none
  std::unordered_map<std::string, Pool> pools;  // by "host:port"; nodes never move
  bool closed = false;
};

namespace {

using Impl = Client::Impl;
using Pool = Client::Impl::Pool;

// One connection taken from a pool. It goes back to the idle list only when
// keep() was called (a complete keep-alive exchange); otherwise (failure,
// timeout, cancellation) it is closed and its slot freed. Either way one
// waiting call is woken.
class Lease {
 public:
  Lease(std::shared_ptr<Impl> impl, Pool& pool, std::unique_ptr<Stream> s, bool reused)
      : impl_(std::move(impl)), pool_(&pool), stream_(std::move(s)), reused_(reused) {}
  Lease(Lease&& o) noexcept
      : impl_(std::move(o.impl_)), pool_(o.pool_), stream_(std::move(o.stream_)),
        reused_(o.reused_), keep_(o.keep_) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() { release(); }

  Stream& stream() { return *stream_; }
  bool reused() const { return reused_; }
  void keep() { keep_ = true; }

 private:
  void release() {
    if (!stream_) return;
    if (keep_ && !impl_->closed) {
      pool_->park(std::move(stream_));
    } else {
      stream_.reset();
      pool_->closed();
    }
    pool_->wake_one();
  }

  std::shared_ptr<Impl> impl_;
  Pool* pool_;
  std::unique_ptr<Stream> stream_;
  bool reused_;
  bool keep_ = false;
};

// Everything about one call, built once and shared by its attempts.
struct Call {
  std::string key;  // "host:port": the upstream
  std::string host;
  int port = 0;
  std::string method;
  std::string path;  // target without its query, for logs
  std::string request_id;
  Deadline deadline;
  bool idempotent = false;
  Message msg;
};

struct Attempt {
  std::optional<UpstreamFailure> failure;  // none: `response` is the answer
  bool sent = false;                       // some bytes of the request went out
  std::string error;                       // for the detail and the log only
  ClientResponse response;
};

std::shared_ptr<Call> make_call(const ClientOptions& opts, const std::string& service_credential,
                                ClientRequest req) {
  auto c = std::make_shared<Call>();
  c->key = req.host + ":" + std::to_string(req.port);
  c->host = std::move(req.host);
  c->port = req.port;
  c->method = req.method;
  c->path = req.target.substr(0, req.target.find('?'));
  c->deadline = req.ctx.cap(req.timeout.value_or(opts.timeout));
  c->idempotent = req.is_idempotent();
  c->request_id = std::move(req.ctx.request_id);

  Message& m = c->msg;
  m.version(11);
  m.method_string(req.method);
  m.target(req.target);
  m.set(bhttp::field::host, c->key);
  bool has_type = false;
  for (const auto& [k, v] : req.headers) {
    if (iequal(k, "x-request-id")) {
      if (c->request_id.empty()) c->request_id = v;
      continue;
    }
    m.set(k, v);
    has_type = has_type || iequal(k, "content-type");
  }
  if (c->request_id.empty()) c->request_id = new_request_id();
  m.set("X-Request-Id", c->request_id);
  if (!service_credential.empty()) m.set("X-Dine-Service", service_credential);
  if (!req.body.empty()) {
    if (!has_type) m.set(bhttp::field::content_type, "application/json");
    m.body() = std::move(req.body);
  }
  m.keep_alive(true);
  m.prepare_payload();
  return c;
}

// An idle connection still fit for use (newest first; expired and closed ones
// are closed on the way), or a slot for a new one within the per-host bound.
// Waits for a slot until the deadline: nullopt past it.
Task<std::optional<Lease>> acquire(std::shared_ptr<Impl> impl, std::string key, Deadline deadline) {
  Pool& pool = impl->pool(key);
  while (true) {
    pool.expire(impl->opts.idle_timeout);
    while (!pool.idle.empty()) {
      auto s = pool.unpark_newest();
      if (!unusable(*s)) co_return Lease(impl, pool, std::move(s), true);
      pool.metrics.discard(Discard::ClosedByPeer);
      s.reset();
      pool.closed();
    }
    if (pool.open < impl->opts.max_connections_per_host) {
      pool.opening();
      co_return Lease(impl, pool, std::make_unique<Stream>(impl->ex), false);
    }
    if (Clock::now() >= deadline) {
      // A slot freed just as this call's deadline passed may have woken this
      // call (its timer had already expired): hand the wake-up on.
      if (!pool.idle.empty() || pool.open < impl->opts.max_connections_per_host) pool.wake_one();
      co_return std::nullopt;
    }
    asio::steady_timer timer(impl->ex, deadline);
    pool.waiters.push_back(&timer);
    co_await timer.async_wait(use_tuple);  // a free slot cancels it
    std::erase(pool.waiters, &timer);
    if (co_await cancelled()) {
      pool.wake_one();  // hand on a wake-up this call may have taken
      throw_cancelled();
    }
  }
}

Task<std::tuple<error_code, tcp::resolver::results_type>> resolve(std::string host, int port) {
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    tcp::endpoint ep(addr, static_cast<unsigned short>(port));
    co_return std::tuple{ec, tcp::resolver::results_type::create(ep, host, std::to_string(port))};
  }
  tcp::resolver resolver(co_await asio::this_coro::executor);
  co_return co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
}

UpstreamFailure failure_of(const error_code& ec, UpstreamFailure otherwise) {
  if (ec == asio::error::operation_aborted) throw_cancelled();
  return ec == beast::error::timeout ? UpstreamFailure::Timeout : otherwise;
}

// One exchange on one connection; returns network failures rather than
// throwing them. A reused connection that fails before taking a single byte of
// the request is closed and another one used: nothing was sent.
Task<Attempt> exchange(std::shared_ptr<Impl> impl, std::shared_ptr<Call> call) {
  Attempt a;
  while (true) {
    if (Clock::now() >= call->deadline) {
      a.failure = UpstreamFailure::Timeout;
      a.error = "deadline passed before sending";
      co_return a;
    }
    std::optional<Lease> lease = co_await acquire(impl, call->key, call->deadline);
    if (!lease) {
      a.failure = UpstreamFailure::Timeout;
      a.error = "no free connection before the deadline";
      co_return a;
    }
    Stream& stream = lease->stream();
    stream.expires_at(call->deadline);
    if (!lease->reused()) {
      auto [rec, endpoints] = co_await resolve(call->host, call->port);
      if (!rec) std::tie(rec, std::ignore) = co_await stream.async_connect(endpoints, use_tuple);
      if (rec) {
        a.failure = failure_of(rec, UpstreamFailure::Connect);
        a.error = rec.message();
        co_return a;
      }
      error_code ignored;
      stream.socket().set_option(tcp::no_delay(true), ignored);
    }

    const auto left = std::chrono::duration_cast<milliseconds>(call->deadline - Clock::now());
    if (left.count() <= 0) {  // nothing was written: the connection stays good
      lease->keep();
      a.failure = UpstreamFailure::Timeout;
      a.error = "deadline passed before sending";
      co_return a;
    }
    call->msg.set(kBudgetHeader, std::to_string(left.count()));
    auto [wec, written] = co_await bhttp::async_write(stream, call->msg, use_tuple);
    a.sent = written > 0;
    if (wec) {
      a.failure = failure_of(wec, UpstreamFailure::Broken);
      a.error = wec.message();
      if (lease->reused() && !a.sent && a.failure == UpstreamFailure::Broken) {
        impl->pool(call->key).metrics.discard(Discard::ClosedByPeer);
        a = {};
        continue;
      }
      co_return a;
    }

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kResponseBodyLimit);
    if (call->method == "HEAD") parser.skip(true);
    auto [rec, read] = co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
    if (!rec && !parser.is_done()) {
      // Beast reads into the room the buffer has, at least 512 bytes: a body
      // of tens of KB (a /metrics) would take a hundred reads. Room for it.
      const std::uint64_t body = parser.content_length().value_or(kBodyReadChunk);
      buffer.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(body, kBodyReadChunk)));
      std::tie(rec, read) = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
    }
    if (rec) {
      a.failure = failure_of(rec, UpstreamFailure::Broken);
      a.error = rec.message();
      co_return a;
    }
    auto& res = parser.get();
    if (res.keep_alive() && !parser.need_eof() && buffer.size() == 0) lease->keep();
    a.response.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      a.response.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    a.response.body = std::move(res.body());
    co_return a;
  }
}

// Retry n (0-based) waits between half and all of base * 2^n.
milliseconds backoff(milliseconds base, int n) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const long full = std::max<long>(1, static_cast<long>(base.count()) << std::min(n, 10));
  return milliseconds(full / 2 + static_cast<long>(rng() % static_cast<unsigned long>(full / 2 + 1)));
}

Task<void> pause(milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(use_tuple);
  if (ec) throw_cancelled();
}

const char* kind_name(UpstreamFailure f) {
  switch (f) {
    case UpstreamFailure::Connect: return "connect";
    case UpstreamFailure::Timeout: return "timeout";
    case UpstreamFailure::Broken: return "broken";
  }
  return "unknown";
}

// The error a caller sees: a plain message; the upstream and the socket's
// words only in the detail and the log line, which carries the request id.
Error failure_error(const Call& c, const Attempt& a, int attempts) {
  const char* kind = kind_name(*a.failure);
  std::string detail = fmt::format("upstream {} {} {}: {}: {} ({} attempt{}{})", c.key, c.method, c.path, kind,
                                   a.error, attempts, attempts == 1 ? "" : "s",
                                   a.sent ? ", request sent" : "");
  logger().warn_limited("upstream_failed", {{"request_id", c.request_id}, {"upstream", c.key},
                                            {"method", c.method}, {"path", c.path}, {"kind", kind},
                                            {"attempts", std::to_string(attempts)}, {"error", a.error}});
  if (*a.failure == UpstreamFailure::Timeout)
    return Error(ErrorKind::Timeout, "upstream_timeout", "a service did not answer in time", std::move(detail));
  return Error(ErrorKind::Unavailable, "upstream_unavailable", "a service is unavailable", std::move(detail));
}

Task<ClientResponse> run_request(std::shared_ptr<Impl> impl, ClientRequest req) {
  std::shared_ptr<Call> call = make_call(impl->opts, impl->service_credential, std::move(req));
  Pool& pool = impl->pool(call->key);
  const int retries = call->idempotent ? impl->opts.retries : 0;
  for (int n = 0;; ++n) {
    Attempt a = co_await exchange(impl, call);
    if (!a.failure) {
      pool.metrics.answer(a.response.status);
      co_return std::move(a.response);
    }
    pool.metrics.failure(*a.failure);
    // A timeout has spent the deadline; a non-idempotent request is never
    // sent again; a retry must end inside the deadline.
    if (*a.failure != UpstreamFailure::Timeout && n < retries) {
      const milliseconds wait = backoff(impl->opts.retry_backoff, n);
      if (Clock::now() + wait < call->deadline) {
        logger().warn_limited("upstream_retry", {{"request_id", call->request_id}, {"upstream", call->key},
                                                 {"method", call->method}, {"path", call->path},
                                                 {"kind", kind_name(*a.failure)}, {"error", a.error}});
        pool.metrics.retry();
        co_await pause(wait);
        continue;
      }
    }
    throw failure_error(*call, a, n + 1);
  }
}

}  // namespace

Client::Client(asio::any_io_executor ex, ClientOptions opts)
    : impl_(std::make_shared<Impl>(std::move(ex), opts)) {}

Client::~Client() {
  impl_->closed = true;  // leases still out close their connections when they end
  for (auto& [key, pool] : impl_->pools) {
    while (!pool.idle.empty()) pool.close_oldest();
  }
}

Task<ClientResponse> Client::request(ClientRequest req) { return run_request(impl_, std::move(req)); }

void Client::present_service_credential(std::string credential) { impl_->service_credential = std::move(credential); }

std::size_t Client::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [key, pool] : impl_->pools) n += pool.idle.size();
  return n;
}

std::size_t Client::open_connections() const {
  std::size_t n = 0;
  for (const auto& [key, pool] : impl_->pools) n += pool.open;
  return n;
}

}  // namespace dine::http
