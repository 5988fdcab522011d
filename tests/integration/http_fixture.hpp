#pragma once
// A Server and a Client on one io_context over 127.0.0.1 with port 0, plus raw
// socket helpers for what a well-behaved client never sends.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/async.hpp"
#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/server.hpp"

namespace dine::http::test {

using tcp = asio::ip::tcp;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class HttpFixture : public ::testing::Test {
 protected:
  asio::io_context ctx;
  metrics::Registry registry;
  Router router;
  ServerLimits limits;
  std::unique_ptr<Server> server;

  void start_server() {
    server = std::make_unique<Server>(ctx.get_executor(), router, registry, limits);
    server->listen("127.0.0.1", 0, false);
    server->start();
  }
  int port() const { return server->port(); }

  ClientRequest get(std::string target) {
    ClientRequest r;
    r.method = "GET";
    r.port = port();
    r.target = std::move(target);
    return r;
  }

  // Runs the scenario on the io_context; stops the server when it ends and
  // lets the loop drain. `scenario` stays alive in this frame meanwhile.
  void run(std::function<Task<void>()> scenario, std::chrono::seconds limit = std::chrono::seconds(20)) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ctx, scenario(), [&](std::exception_ptr e) {
      done = true;
      error = e;
      if (server) server->stop();
    });
    ctx.run_for(limit);
    ASSERT_TRUE(done) << "scenario did not finish within " << limit.count() << " s";
    if (error) std::rethrow_exception(error);
  }
};

// Polls `cond` every 5 ms until it holds or `limit` passes; returns whether it held.
inline Task<bool> eventually(std::function<bool()> cond, milliseconds limit = milliseconds(3000)) {
  const Deadline end = deadline_in(limit);
  while (!cond()) {
    if (Clock::now() >= end) co_return false;
    co_await sleep_for(milliseconds(5));
  }
  co_return true;
}

// Connects a raw socket to 127.0.0.1:port.
inline Task<tcp::socket> raw_connect(int port) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                           asio::use_awaitable);
  co_return s;
}

// Reads until the peer closes or `limit` passes; returns what arrived and
// whether the peer closed.
struct RawRead {
  std::string data;
  bool closed = false;
};
inline Task<RawRead> read_until_close(tcp::socket& s, milliseconds limit) {
  RawRead out;
  asio::steady_timer guard(s.get_executor(), limit);
  guard.async_wait([&s](boost::system::error_code ec) {
    if (!ec) s.cancel();
  });
  char buf[4096];
  while (true) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    out.data.append(buf, n);
    if (ec) {
      out.closed = ec != asio::error::operation_aborted;
      break;
    }
  }
  guard.cancel();
  co_return out;
}

inline Task<void> raw_send(tcp::socket& s, std::string bytes) {
  co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
}

// Catches the dine::Error a call throws (kind, code), or fails the test.
struct Caught {
  bool thrown = false;
  ErrorKind kind = ErrorKind::Internal;
  std::string code;
};
inline Task<Caught> call_expecting_error(Client& client, ClientRequest req) {
  Caught c;
  try {
    co_await client.request(std::move(req));
  } catch (const Error& e) {
    c.thrown = true;
    c.kind = e.kind();
    c.code = e.code();
  }
  co_return c;
}

inline int free_port() {
  asio::io_context ctx;
  tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace dine::http::test
