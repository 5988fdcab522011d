// dine::redis::Client when things go wrong: command deadlines, a Redis that
// goes down and comes back, a port where nothing listens, a Client destroyed
// with commands in flight.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::config;
using test::error_kind_of;
using test::co_eventually;
using test::ms_since;
using test::run;

Task<void> command_timeout() {
  Client c(co_await asio::this_coro::executor, config("t-timeout", milliseconds(200)));
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
  auto t0 = Clock::now();
  // BLPOP holds the reply for 2 s, far past the 200 ms deadline.
  bool timed_out = false;
  try {
    co_await c.command(argv("BLPOP", "t:timeout:never", "2"));
  } catch (const Error& e) {
    timed_out = e.kind() == ErrorKind::Timeout && e.code() == "redis_timeout";
  }
  EXPECT_TRUE(timed_out);
  EXPECT_GE(ms_since(t0), 180);
  EXPECT_LT(ms_since(t0), 1000);
  EXPECT_EQ(c.figures().errors, 1u);
  EXPECT_FALSE(c.figures().connected) << "the connection of a timed-out command is dropped";
  EXPECT_EQ(c.figures().in_flight, 0u);

  // The next command reconnects and gets its own answer, not a late one.
  co_await c.command(argv("RPUSH", "t:timeout:never", "late"));
  Reply r = co_await c.command(argv("LPOP", "t:timeout:never"));
  EXPECT_EQ(r.str, "late") << "the timed-out BLPOP must not have consumed it";
  EXPECT_EQ(c.figures().reconnects, 1u);

  // A pipeline shares one deadline.
  t0 = Clock::now();
  auto pipe = [](Client& cl) -> Task<ErrorKind> {
    try {
      std::vector<Argv> cmds{argv("PING"), argv("BLPOP", "t:timeout:never", "2"), argv("PING")};
      co_await cl.pipeline(std::move(cmds));
    } catch (const Error& e) {
      co_return e.kind();
    }
    co_return ErrorKind::Internal;
  };
  EXPECT_EQ(co_await pipe(c), ErrorKind::Timeout);
  EXPECT_LT(ms_since(t0), 1000);
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
}

TEST(RedisFailure, CommandTimeoutThrowsAndDropsConnection) {
  run([](auto) { return command_timeout(); });
}

Task<void> nothing_listening() {
  ClientConfig cfg = config("t-closed-port");
  cfg.port = test::closed_port();
  Client c(co_await asio::this_coro::executor, cfg);
  auto t0 = Clock::now();
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_LT(ms_since(t0), 500);
  EXPECT_EQ(c.figures().errors, 1u);
  // Within the backoff the client fails fast without trying again...
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_EQ(c.figures().errors, 1u) << "a connect attempt inside the backoff window";
  // ...and after it, it tries again.
  co_await sleep_for(milliseconds(300));
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_EQ(c.figures().errors, 2u);
  EXPECT_FALSE(c.figures().connected);
}

TEST(RedisFailure, NothingListeningFailsFastWithBackoff) {
  run([](auto) { return nothing_listening(); });
}

// Whether the listener's accept queue is full, so that the kernel drops the
// next SYN and a connect to it hangs. (Linux: TCP_INFO of a listening socket
// gives the queue's length in tcpi_unacked and its limit in tcpi_sacked; it is
// full above the limit.)
bool accept_queue_full(asio::ip::tcp::acceptor& a) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(a.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  return info.tcpi_unacked > info.tcpi_sacked;
}

// A listener that never accepts, with its queue full: connects hang.
Task<void> connect_timeout() {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::acceptor hole(ex, {asio::ip::make_address("127.0.0.1"), 0});
  hole.listen(0);
  EXPECT_FALSE(accept_queue_full(hole));
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
  for (int i = 0; i < 4; ++i) {
    auto s = std::make_unique<asio::ip::tcp::socket>(ex);
    s->async_connect(hole.local_endpoint(), [](boost::system::error_code) {});
    fillers.push_back(std::move(s));
  }
  // Not every filler's connect completes (the SYNs past the queue are dropped
  // too); what matters is that the queue is full before the client tries.
  bool full = co_await co_eventually([&] { return accept_queue_full(hole); }, milliseconds(2000));
  DINE_CO_ASSERT_TRUE(full);
  ClientConfig cfg = config("t-connect-timeout");
  cfg.port = hole.local_endpoint().port();
  cfg.connect_timeout = milliseconds(300);
  cfg.command_timeout = milliseconds(5000);
  Client c(ex, cfg);
  auto t0 = Clock::now();
  EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
  EXPECT_GE(ms_since(t0), 250);
  EXPECT_LT(ms_since(t0), 2000);
  EXPECT_EQ(c.figures().errors, 1u);
}

TEST(RedisFailure, ConnectTimeoutApplies) { run([](auto) { return connect_timeout(); }); }

Task<void> record_kind(Task<Reply> task, std::shared_ptr<std::vector<ErrorKind>> kinds) {
  kinds->push_back(co_await error_kind_of(std::move(task)));
}

// The size of a command in RESP, as hiredis sends it.
std::size_t resp_size(const Argv& a) {
  std::size_t n = 1 + std::to_string(a.size()).size() + 2;
  for (const std::string& s : a) n += 1 + std::to_string(s.size()).size() + 2 + s.size() + 2;
  return n;
}

// `key`'s value in a CLIENT LIST line ("" if absent).
std::string client_field(const std::string& line, const std::string& key) {
  std::istringstream words(line);
  for (std::string w; words >> w;)
    if (w.rfind(key + "=", 0) == 0) return w.substr(key.size() + 1);
  return "";
}

// The server's CLIENT LIST line for the connection named `name` ("" if none).
Task<std::string> client_line(Client& probe, std::string name) {
  Reply r = co_await probe.command(argv("CLIENT", "LIST"));
  std::istringstream lines(r.str);
  for (std::string line; std::getline(lines, line);)
    if (client_field(line, "name") == name) co_return line;
  co_return "";
}

Task<void> outage_and_back() {
  auto ex = co_await asio::this_coro::executor;
  auto& harness = dine::test::Harness::get();
  Client c(ex, config("t-outage"));
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");

  // Commands in flight when the server goes away all fail with Unavailable.
  const std::string name = "t-outage-blpops";
  co_await c.command(argv("CLIENT", "SETNAME", name));
  const Argv blpop = argv("BLPOP", "t:outage:never", "5");
  auto kinds = std::make_shared<std::vector<ErrorKind>>();
  for (int i = 0; i < 5; ++i) spawn_logged(ex, record_kind(c.command(blpop), kinds), "blpop");
  EXPECT_TRUE(co_await co_eventually([&] { return c.figures().in_flight == 5; }, milliseconds(2000)));
  // ...and they have reached the server: the five share one connection, so
  // Redis runs the first and blocks the client on it (flags b, cmd=blpop) and
  // the other four wait, whole, in its query buffer.
  Client probe(ex, config("t-outage-probe"));
  const std::string queued = std::to_string(4 * resp_size(blpop));
  std::string line;
  bool at_server = false;
  for (Deadline end = deadline_in(milliseconds(2000)); !at_server && Clock::now() < end;) {
    line = co_await client_line(probe, name);
    at_server = client_field(line, "cmd") == "blpop" && client_field(line, "flags").find('b') != std::string::npos &&
                client_field(line, "qbuf") == queued;
    if (!at_server) co_await sleep_for(milliseconds(5));
  }
  EXPECT_TRUE(at_server) << "the BLPOPs' connection at the server: " << line;
  if (!at_server) co_return;
  auto t0 = Clock::now();
  harness.redis_stop();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == 5; }, milliseconds(1500)));
  EXPECT_LT(ms_since(t0), 1500);
  for (ErrorKind k : *kinds) EXPECT_EQ(k, ErrorKind::Unavailable);
  EXPECT_FALSE(c.figures().connected);

  // While it is down, commands fail quickly rather than hang.
  for (int i = 0; i < 3; ++i) {
    t0 = Clock::now();
    EXPECT_EQ(co_await error_kind_of(c.command(argv("PING"))), ErrorKind::Unavailable);
    EXPECT_LT(ms_since(t0), 500);
  }
  uint64_t errors_while_down = c.figures().errors;
  EXPECT_GE(errors_while_down, 2u);  // the lost connection and one refused connect

  harness.redis_start();
  EXPECT_FALSE(c.figures().connected) << "connects only when a command asks";
  // The next command after the backoff reconnects.
  std::string answer;
  Deadline end = deadline_in(milliseconds(10000));
  int refused = 0;
  while (answer.empty() && Clock::now() < end) {
    try {
      answer = (co_await c.command(argv("PING"))).str;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
      ++refused;
    }
    if (answer.empty()) co_await sleep_for(milliseconds(50));
  }
  EXPECT_EQ(answer, "PONG");
  EXPECT_LE(refused, 10) << "at most a backoff's worth of refusals once Redis is back";
  EXPECT_TRUE(c.figures().connected);
  EXPECT_EQ(c.figures().reconnects, 1u);
  EXPECT_EQ(c.figures().in_flight, 0u);
}

TEST(RedisFailure, ServerDownFailsFastThenReconnects) {
  run([](auto) { return outage_and_back(); });
}

Task<void> explicit_disconnect() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-disconnect"));
  co_await c.command(argv("PING"));
  auto kinds = std::make_shared<std::vector<ErrorKind>>();
  spawn_logged(ex, record_kind(c.command(argv("BLPOP", "t:disconnect:never", "5")), kinds), "blpop");
  EXPECT_TRUE(co_await co_eventually([&] { return c.figures().in_flight == 1; }, milliseconds(2000)));
  c.disconnect();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == 1; }, milliseconds(500)));
  EXPECT_EQ(kinds->at(0), ErrorKind::Unavailable);
  EXPECT_EQ(c.figures().errors, 0u) << "a disconnect we asked for is no failure";
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
  EXPECT_EQ(c.figures().reconnects, 1u);
}

TEST(RedisFailure, DisconnectFailsPendingAndNextCommandReconnects) {
  run([](auto) { return explicit_disconnect(); });
}

Task<void> destroy_in_flight() {
  auto ex = co_await asio::this_coro::executor;
  auto c = std::make_unique<Client>(ex, config("t-destroy"));
  co_await c->command(argv("PING"));
  auto kinds = std::make_shared<std::vector<ErrorKind>>();
  constexpr int kPending = 50;
  for (int i = 0; i < kPending; ++i)
    spawn_logged(ex, record_kind(c->command(argv("BLPOP", "t:destroy:never", "5")), kinds), "blpop");
  // Some written to the server, some maybe still in hiredis's buffer.
  EXPECT_TRUE(co_await co_eventually([&] { return c->figures().in_flight == kPending; }, milliseconds(2000)));
  // And one that has not even started yet: it runs after the Client is gone.
  spawn_logged(ex, record_kind(c->command(argv("PING")), kinds), "late");
  c.reset();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == kPending + 1; }, milliseconds(1000)));
  for (ErrorKind k : *kinds) EXPECT_EQ(k, ErrorKind::Unavailable);

  // Destroyed while still connecting, with commands queued in hiredis.
  kinds->clear();
  c = std::make_unique<Client>(ex, config("t-destroy-connecting"));
  for (int i = 0; i < 3; ++i)
    spawn_logged(ex, record_kind(c->command(argv("PING")), kinds), "connecting");
  co_await asio::post(ex, asio::use_awaitable);  // the commands issue; the connect is not done
  EXPECT_EQ(c->figures().in_flight, 3u);
  EXPECT_FALSE(c->figures().connected);
  c.reset();
  EXPECT_TRUE(co_await co_eventually([&] { return kinds->size() == 3; }, milliseconds(1000)));
  for (ErrorKind k : *kinds) EXPECT_EQ(k, ErrorKind::Unavailable);
}

TEST(RedisFailure, DestroyWithCommandsInFlightIsSafe) { run([](auto) { return destroy_in_flight(); }); }

}  // namespace
}  // namespace dine::redis
