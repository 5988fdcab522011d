#include "core/http/client.hpp"

#include <algorithm>
#include <deque>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "core/errors.hpp"

namespace dine::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kResponseBodyLimit = 64 * 1024 * 1024;

bool iequal(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::string_view ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequal(k, name)) return v;
  }
  return {};
}

struct Client::Impl {
  struct Pool {
    std::deque<std::unique_ptr<beast::tcp_stream>> idle;  // back: most recently used
    std::size_t open = 0;                                 // idle + leased + connecting
    std::deque<asio::steady_timer*> waiters;              // calls waiting for a free slot
  };

  Impl(asio::any_io_executor e, ClientOptions o) : ex(std::move(e)), opts(o) {
    opts.max_connections_per_host = std::max<std::size_t>(1, opts.max_connections_per_host);
  }

  asio::any_io_executor ex;
  ClientOptions opts;
  std::unordered_map<std::string, Pool> pools;  // by "host:port"; nodes never move
  bool closed = false;
};

namespace {

using Impl = Client::Impl;
using Pool = Client::Impl::Pool;

// One connection taken from a pool. It goes back to the pool's idle list only
// when keep() was called (a complete keep-alive exchange); otherwise it is
// closed and its slot freed. Either way one waiting call is woken.
class Lease {
 public:
  Lease(std::shared_ptr<Impl> impl, Pool& pool, std::unique_ptr<beast::tcp_stream> s, bool reused)
      : impl_(std::move(impl)), pool_(&pool), stream_(std::move(s)), reused_(reused) {}
  Lease(Lease&& o) noexcept
      : impl_(std::move(o.impl_)), pool_(o.pool_), stream_(std::move(o.stream_)),
        reused_(o.reused_), keep_(o.keep_) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() { release(); }

  beast::tcp_stream& stream() { return *stream_; }
  bool reused() const { return reused_; }
  void keep() { keep_ = true; }

 private:
  void release() {
    if (!stream_) return;
    if (keep_ && !impl_->closed) {
      stream_->expires_never();
      pool_->idle.push_back(std::move(stream_));
    } else {
      stream_.reset();
      --pool_->open;
    }
    if (!pool_->waiters.empty()) {
      pool_->waiters.front()->cancel();
      pool_->waiters.pop_front();
    }
  }

  std::shared_ptr<Impl> impl_;
  Pool* pool_;
  std::unique_ptr<beast::tcp_stream> stream_;
  bool reused_;
  bool keep_ = false;
};

enum class Outcome { Ok, Stale, Failed, TimedOut };

struct Attempt {
  Outcome outcome = Outcome::Failed;
  std::string error;
  ClientResponse response;
};

Error timeout_error(const std::string& where) {
  return Error(ErrorKind::Timeout, "upstream_timeout", "a service did not answer in time",
               "upstream " + where + " timed out");
}

// Connects a fresh stream to host:port before the deadline.
Task<error_code> connect(beast::tcp_stream& stream, std::string host, int port, Deadline deadline) {
  stream.expires_at(deadline);
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    auto [cec] = co_await stream.async_connect(tcp::endpoint(addr, static_cast<unsigned short>(port)),
                                               use_tuple);
    ec = cec;
  } else {
    tcp::resolver resolver(stream.get_executor());
    auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
    if (rec) co_return rec;
    auto [cec, ep] = co_await stream.async_connect(results, use_tuple);
    ec = cec;
  }
  if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
  co_return ec;
}

// Takes an idle connection (unless fresh_only) or opens one within the
// per-host bound, waiting for a free slot until the deadline.
Task<Lease> acquire(std::shared_ptr<Impl> impl, std::string key, std::string host, int port,
                    Deadline deadline, bool fresh_only, error_code& connect_error) {
  Pool& pool = impl->pools[key];
  while (true) {
    if (!fresh_only && !pool.idle.empty()) {
      auto s = std::move(pool.idle.back());
      pool.idle.pop_back();
      co_return Lease(impl, pool, std::move(s), true);
    }
    if (pool.open < impl->opts.max_connections_per_host) {
      ++pool.open;
      Lease lease(impl, pool, std::make_unique<beast::tcp_stream>(impl->ex), false);
      connect_error = co_await connect(lease.stream(), host, port, deadline);
      co_return lease;  // on error the caller drops it, which frees the slot
    }
    if (fresh_only && !pool.idle.empty()) {
      pool.idle.pop_front();  // make room for a fresh connection
      --pool.open;
      continue;
    }
    if (Clock::now() >= deadline) throw timeout_error(key);
    asio::steady_timer timer(impl->ex);
    timer.expires_at(deadline);
    pool.waiters.push_back(&timer);
    co_await timer.async_wait(use_tuple);
    std::erase(pool.waiters, &timer);
  }
}

bool peer_closed(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

// One exchange on one connection; never throws for network failures.
Task<Attempt> attempt(std::shared_ptr<Impl> impl, const bhttp::request<bhttp::string_body>& msg,
                      std::string key, std::string host, int port, Deadline deadline,
                      bool fresh_only) {
  Attempt a;
  error_code ec;
  Lease lease = co_await acquire(impl, key, host, port, deadline, fresh_only, ec);
  if (ec) {
    a.outcome = ec == beast::error::timeout ? Outcome::TimedOut : Outcome::Failed;
    a.error = ec.message();
    co_return a;
  }
  auto& stream = lease.stream();
  stream.expires_at(deadline);
  auto [wec, wn] = co_await bhttp::async_write(stream, msg, use_tuple);
  if (wec) {
    a.outcome = wec == beast::error::timeout ? Outcome::TimedOut
                : lease.reused()             ? Outcome::Stale
                                             : Outcome::Failed;
    a.error = wec.message();
    co_return a;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kResponseBodyLimit);
  auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
  if (rec) {
    if (rec == beast::error::timeout) {
      a.outcome = Outcome::TimedOut;
    } else if (lease.reused() && !parser.got_some() && buffer.size() == 0 && peer_closed(rec)) {
      a.outcome = Outcome::Stale;
    } else {
      a.outcome = Outcome::Failed;
    }
    a.error = rec.message();
    co_return a;
  }
  auto& res = parser.get();
  if (res.keep_alive() && !parser.need_eof() && buffer.size() == 0) lease.keep();
  a.outcome = Outcome::Ok;
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

bhttp::request<bhttp::string_body> build_message(const ClientRequest& req, const std::string& key) {
  bhttp::request<bhttp::string_body> m;
  m.version(11);
  m.method_string(req.method);
  m.target(req.target);
  m.set(bhttp::field::host, key);
  bool has_type = false;
  for (const auto& [k, v] : req.headers) {
    m.set(k, v);
    has_type = has_type || iequal(k, "content-type");
  }
  if (!req.body.empty()) {
    if (!has_type) m.set(bhttp::field::content_type, "application/json");
    m.body() = req.body;
  }
  m.keep_alive(true);
  m.prepare_payload();
  return m;
}

Task<ClientResponse> run_request(std::shared_ptr<Impl> impl, ClientRequest req) {
  const Deadline deadline = Clock::now() + req.timeout.value_or(impl->opts.timeout);
  const std::string key = req.host + ":" + std::to_string(req.port);
  const auto msg = build_message(req, key);
  int retries_left = req.idempotent ? impl->opts.retries : 0;
  bool stale_retry_used = false;
  bool fresh_only = false;
  while (true) {
    Attempt a = co_await attempt(impl, msg, key, req.host, req.port, deadline, fresh_only);
    switch (a.outcome) {
      case Outcome::Ok:
        co_return std::move(a.response);
      case Outcome::TimedOut:
        throw timeout_error(key);
      case Outcome::Stale:
        // A kept-alive connection the server had closed: nothing was read,
        // so the request never ran; one more try on a fresh connection.
        if (!stale_retry_used) {
          stale_retry_used = true;
          fresh_only = true;
          continue;
        }
        [[fallthrough]];
      case Outcome::Failed:
        if (retries_left > 0 && Clock::now() < deadline) {
          --retries_left;
          fresh_only = true;
          continue;
        }
        throw Error(ErrorKind::Unavailable, "upstream_unavailable", "a service is unavailable",
                    "upstream " + key + ": " + a.error);
    }
  }
}

}  // namespace

Client::Client(asio::any_io_executor ex, ClientOptions opts)
    : impl_(std::make_shared<Impl>(std::move(ex), opts)) {}

Client::~Client() {
  impl_->closed = true;
  for (auto& [key, pool] : impl_->pools) {
    pool.open -= pool.idle.size();
    pool.idle.clear();
  }
}

Task<ClientResponse> Client::request(ClientRequest req) { return run_request(impl_, std::move(req)); }

std::size_t Client::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [key, pool] : impl_->pools) n += pool.idle.size();
  return n;
}

}  // namespace dine::http
