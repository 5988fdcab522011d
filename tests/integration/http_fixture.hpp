#pragma once
// A Server and a Client on one io_context over 127.0.0.1 with port 0, a server
// that hangs up mid-request, and raw socket helpers for what a well-behaved
// client never sends.
#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/async.hpp"
#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/server.hpp"
#include "tests/integration/harness.hpp"

namespace dine::http::test {

using tcp = asio::ip::tcp;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A loopback server that hangs up on purpose: it reads each request in full
// (head and Content-Length body), records its head, and closes the connection
// without answering — what a server crashing mid-request looks like.
class HangUpServer {
 public:
  explicit HangUpServer(asio::io_context& ctx) : state_(std::make_shared<State>(ctx)) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(ep.protocol());
    state_->acceptor.bind(ep);
    state_->acceptor.listen();
    spawn_logged(ctx.get_executor(), accept_loop(state_), "hang-up server");
  }
  int port() const { return state_->acceptor.local_endpoint().port(); }
  std::size_t requests() const { return state_->heads.size(); }
  const std::vector<std::string>& heads() const { return state_->heads; }
  void stop() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }

 private:
  struct State {
    explicit State(asio::io_context& ctx) : acceptor(ctx) {}
    tcp::acceptor acceptor;
    std::vector<std::string> heads;
  };

  static std::size_t content_length(std::string head) {
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto at = head.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoul(head.substr(at + 17));
  }

  static Task<void> session(std::shared_ptr<State> state, tcp::socket s) {
    std::string data;
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(data), "\r\n\r\n", use_tuple);
    if (ec) co_return;
    std::string head = data.substr(0, n);
    const std::size_t need = n + content_length(head);
    if (data.size() < need) {
      auto [bec, bn] = co_await asio::async_read(s, asio::dynamic_buffer(data),
                                                 asio::transfer_exactly(need - data.size()), use_tuple);
      if (bec) co_return;
    }
    state->heads.push_back(std::move(head));  // recorded before the client sees the close
    boost::system::error_code ignored;
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }

  static Task<void> accept_loop(std::shared_ptr<State> state) {
    while (true) {
      auto [ec, s] = co_await state->acceptor.async_accept(use_tuple);
      if (ec) co_return;
      spawn_logged(s.get_executor(), session(state, std::move(s)), "hang-up session");
    }
  }

  std::shared_ptr<State> state_;
};

class HttpFixture : public ::testing::Test {
 protected:
  asio::io_context ctx;
  metrics::Registry registry;
  Router router;
  ServerLimits limits;
  std::unique_ptr<Server> server;
  std::unique_ptr<HangUpServer> hang_up;  // stopped with `server` when a scenario ends

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
      if (hang_up) hang_up->stop();
    });
    ctx.run_for(limit);
    ASSERT_TRUE(done) << "scenario did not finish within " << limit.count() << " s";
    if (error) std::rethrow_exception(error);
  }
};

using dine::test::co_eventually;

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
  std::string message;  // what a client may read
  std::string detail;   // what only the log reads
};
inline Task<Caught> call_expecting_error(Client& client, ClientRequest req) {
  Caught c;
  try {
    co_await client.request(std::move(req));
  } catch (const Error& e) {
    c.thrown = true;
    c.kind = e.kind();
    c.code = e.code();
    c.message = e.what();
    c.detail = e.detail();
  }
  co_return c;
}

inline int free_port() {
  asio::io_context ctx;
  tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace dine::http::test
