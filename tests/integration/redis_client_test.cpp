// dine::redis::Client against a real Redis from the harness: reply types,
// argument vectors, pipelining, streams.
#include <gtest/gtest.h>

#include <memory>
#include <regex>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::config;
using test::run;
using Type = Reply::Type;

Task<void> set_get_nil() {
  Client c(co_await asio::this_coro::executor, config("t-setget"));
  Reply set = co_await c.command(argv("SET", "t:setget", "hello"));
  EXPECT_EQ(set.type, Type::Status);
  EXPECT_EQ(set.str, "OK");
  Reply got = co_await c.command(argv("GET", "t:setget"));
  EXPECT_EQ(got.type, Type::String);
  EXPECT_EQ(got.str, "hello");
  Reply nil = co_await c.command(argv("GET", "t:setget:missing"));
  EXPECT_TRUE(nil.is_nil());
  EXPECT_TRUE(c.figures().connected);
  EXPECT_EQ(c.figures().commands, 3u);
  EXPECT_EQ(c.figures().in_flight, 0u);
}

TEST(RedisClient, SetGetAndNil) { run([](auto) { return set_get_nil(); }); }

Task<void> error_replies() {
  Client c(co_await asio::this_coro::executor, config("t-errors"));
  co_await c.command(argv("SET", "t:errors", "not a number"));
  Reply incr = co_await c.command(argv("INCR", "t:errors"));
  EXPECT_TRUE(incr.is_error());
  EXPECT_EQ(incr.str.rfind("ERR", 0), 0u) << incr.str;
  Reply unknown = co_await c.command(argv("NO_SUCH_COMMAND", "x"));
  EXPECT_TRUE(unknown.is_error());
  // An error reply is an answer, not a failure: the connection carries on.
  Reply pong = co_await c.command(argv("PING"));
  EXPECT_EQ(pong.str, "PONG");
  EXPECT_EQ(c.figures().errors, 0u);
  EXPECT_EQ(c.figures().reconnects, 0u);
}

TEST(RedisClient, ErrorReplyIsAReplyNotAThrow) { run([](auto) { return error_replies(); }); }

Task<void> integers_and_arrays() {
  Client c(co_await asio::this_coro::executor, config("t-arrays"));
  co_await c.command(argv("DEL", "t:list", "t:stream"));
  Reply n = co_await c.command(argv("RPUSH", "t:list", "a", "b", "c"));
  EXPECT_EQ(n.type, Type::Integer);
  EXPECT_EQ(n.integer, 3);
  Reply neg = co_await c.command(argv("INCRBY", "t:counter:neg", "-9000000000"));
  EXPECT_EQ(neg.integer, -9000000000LL);
  co_await c.command(argv("DEL", "t:counter:neg"));

  Reply list = co_await c.command(argv("LRANGE", "t:list", "0", "-1"));
  DINE_CO_ASSERT_EQ(list.type, Type::Array);
  DINE_CO_ASSERT_EQ(list.elements.size(), 3u);
  EXPECT_EQ(list.elements[0].str, "a");
  EXPECT_EQ(list.elements[2].str, "c");
  Reply empty = co_await c.command(argv("LRANGE", "t:list:none", "0", "-1"));
  EXPECT_EQ(empty.type, Type::Array);
  EXPECT_TRUE(empty.elements.empty());

  co_await c.command(argv("XADD", "t:stream", "1-1", "f1", "v1", "f2", "v2"));
  Reply range = co_await c.command(argv("XRANGE", "t:stream", "-", "+"));
  DINE_CO_ASSERT_EQ(range.type, Type::Array);
  DINE_CO_ASSERT_EQ(range.elements.size(), 1u);
  const Reply& entry = range.elements[0];
  DINE_CO_ASSERT_EQ(entry.elements.size(), 2u);
  EXPECT_EQ(entry.elements[0].str, "1-1");
  DINE_CO_ASSERT_EQ(entry.elements[1].elements.size(), 4u);
  EXPECT_EQ(entry.elements[1].elements[3].str, "v2");
}

TEST(RedisClient, IntegersAndNestedArrays) { run([](auto) { return integers_and_arrays(); }); }

Task<void> binary_safe() {
  Client c(co_await asio::this_coro::executor, config("t-binary"));
  const std::string key = "t:bin key\r\nwith spaces";
  std::string value = "a b\r\nSET t:injected 1\r\n*1\r\n$4\r\nPING\r\n";
  value.push_back('\0');
  value += "after nul \xff\xfe";
  co_await c.command(argv("DEL", "t:injected"));
  Reply set = co_await c.command(argv("SET", key, value));
  EXPECT_EQ(set.str, "OK");
  Reply got = co_await c.command(argv("GET", key));
  EXPECT_EQ(got.str, value);
  EXPECT_EQ(got.str.size(), value.size());
  Reply injected = co_await c.command(argv("EXISTS", "t:injected"));
  EXPECT_EQ(injected.integer, 0);
  Reply empty_arg = co_await c.command(argv("SET", "t:empty", ""));
  EXPECT_EQ(empty_arg.str, "OK");
  EXPECT_EQ((co_await c.command(argv("STRLEN", "t:empty"))).integer, 0);
}

TEST(RedisClient, ArgumentsAreBinarySafe) { run([](auto) { return binary_safe(); }); }

Task<void> large_values() {
  Client c(co_await asio::this_coro::executor, config("t-large"));
  // Far beyond hiredis's 16 KiB read chunk and one socket buffer both ways.
  std::string big(4 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  EXPECT_EQ((co_await c.command(argv("SET", "t:large", big))).str, "OK");
  Reply got = co_await c.command(argv("GET", "t:large"));
  EXPECT_EQ(got.str.size(), big.size());
  EXPECT_TRUE(got.str == big);
  co_await c.command(argv("DEL", "t:large", "t:large:list"));
  std::vector<Argv> pushes;
  for (int i = 0; i < 20; ++i) {
    Argv push = argv("RPUSH", "t:large:list");
    for (int j = 0; j < 1000; ++j) push.push_back(std::to_string(i * 1000 + j));
    pushes.push_back(std::move(push));
  }
  co_await c.pipeline(std::move(pushes));
  Reply all = co_await c.command(argv("LRANGE", "t:large:list", "0", "-1"));
  DINE_CO_ASSERT_EQ(all.elements.size(), 20000u);
  for (int i = 0; i < 20000; ++i) DINE_CO_ASSERT_EQ(all.elements[i].str, std::to_string(i));
  co_await c.command(argv("DEL", "t:large", "t:large:list"));
}

TEST(RedisClient, LargeValuesAndReplies) { run([](auto) { return large_values(); }); }

// One of many coroutines sharing one Client: each checks its own answers.
Task<void> worker(Client& c, int id, int rounds, std::shared_ptr<int> ok, std::shared_ptr<int> finished) {
  for (int i = 0; i < rounds; ++i) {
    std::string key = "t:conc:" + std::to_string(id);
    std::string value = std::to_string(id * 1000 + i);
    if (i % 2 == 0) {
      Reply r = co_await c.command(argv("SET", key, value));
      if (r.str == "OK") ++*ok;
    } else {
      Reply r = co_await c.command(argv("INCR", key));
      if (r.integer == id * 1000 + i) ++*ok;  // the value set just before, plus one
    }
  }
  ++*finished;
}

Task<void> watch_in_flight(Client& c, std::shared_ptr<std::size_t> peak, std::shared_ptr<bool> stop) {
  while (!*stop) {
    *peak = std::max(*peak, c.figures().in_flight);
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  }
}

Task<void> thousand_concurrent() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-concurrent"));
  co_await c.command(argv("PING"));
  auto ok = std::make_shared<int>(0);
  auto peak = std::make_shared<std::size_t>(0);
  auto stop = std::make_shared<bool>(false);
  spawn_logged(ex, watch_in_flight(c, peak, stop), "watch_in_flight");
  constexpr int kWorkers = 100, kRounds = 10;
  auto finished = std::make_shared<int>(0);
  for (int w = 0; w < kWorkers; ++w)
    spawn_logged(ex, worker(c, w, kRounds, ok, finished), "worker");
  bool all = co_await test::co_eventually([&] { return *finished == kWorkers; }, milliseconds(10000));
  *stop = true;
  EXPECT_TRUE(all);
  EXPECT_EQ(*ok, kWorkers * kRounds);
  EXPECT_EQ(c.figures().commands, 1u + kWorkers * kRounds);
  EXPECT_GT(*peak, 50u) << "commands were not pipelined";
  EXPECT_EQ(c.figures().in_flight, 0u);
  EXPECT_EQ(c.figures().reconnects, 0u);
  EXPECT_EQ(c.figures().errors, 0u);
}

TEST(RedisClient, ThousandConcurrentCommandsAnsweredCorrectly) {
  run([](auto) { return thousand_concurrent(); });
}

Task<void> pipeline_order() {
  Client c(co_await asio::this_coro::executor, config("t-pipeline"));
  std::vector<Argv> cmds{
      {"DEL", "t:pipe", "t:pipe:list"},
      {"SET", "t:pipe", "10"},
      {"INCRBY", "t:pipe", "5"},
      {"GET", "t:pipe"},
      {"HSET", "t:pipe", "f", "v"},  // WRONGTYPE: an error in the middle
      {"RPUSH", "t:pipe:list", "x", "y"},
      {"LRANGE", "t:pipe:list", "0", "-1"},
      {"GET", "t:pipe:none"},
  };
  std::vector<Reply> r = co_await c.pipeline(cmds);
  DINE_CO_ASSERT_EQ(r.size(), cmds.size());
  EXPECT_EQ(r[1].str, "OK");
  EXPECT_EQ(r[2].integer, 15);
  EXPECT_EQ(r[3].str, "15");
  EXPECT_TRUE(r[4].is_error());
  EXPECT_EQ(r[5].integer, 2);
  DINE_CO_ASSERT_EQ(r[6].elements.size(), 2u);
  EXPECT_EQ(r[6].elements[1].str, "y");
  EXPECT_TRUE(r[7].is_nil());

  std::vector<Argv> many;
  for (int i = 0; i < 500; ++i) many.push_back(argv("ECHO", std::to_string(i)));
  std::vector<Reply> echoes = co_await c.pipeline(many);
  DINE_CO_ASSERT_EQ(echoes.size(), 500u);
  for (int i = 0; i < 500; ++i) DINE_CO_ASSERT_EQ(echoes[i].str, std::to_string(i));
  EXPECT_TRUE((co_await c.pipeline({})).empty());
}

TEST(RedisClient, PipelineRepliesInOrder) { run([](auto) { return pipeline_order(); }); }

Task<void> xadd_stream() {
  Client c(co_await asio::this_coro::executor, config("t-xadd"));
  co_await c.command(argv("DEL", "t:events"));
  using Fields = std::vector<std::pair<std::string, std::string>>;
  Fields first, second, bad;
  first.emplace_back("type", "order.paid");
  first.emplace_back("order_id", "42");
  second.emplace_back("type", "order.paid");
  second.emplace_back("order_id", "43");
  bad.emplace_back("a", "b");
  std::string id1 = co_await c.xadd("t:events", first);
  std::string id2 = co_await c.xadd("t:events", second);
  std::regex id_form(R"(\d+-\d+)");
  EXPECT_TRUE(std::regex_match(id1, id_form)) << id1;
  EXPECT_NE(id1, id2);
  EXPECT_EQ((co_await c.command(argv("XLEN", "t:events"))).integer, 2);
  Reply last = co_await c.command(argv("XRANGE", "t:events", id2, id2));
  DINE_CO_ASSERT_EQ(last.elements.size(), 1u);
  EXPECT_EQ(last.elements[0].elements[1].elements[3].str, "43");

  co_await c.command(argv("SET", "t:events:str", "x"));
  EXPECT_THROW(co_await c.xadd("t:events:str", bad), Error);
}

TEST(RedisClient, XaddReturnsIdAndStreamGrows) { run([](auto) { return xadd_stream(); }); }

Task<void> push_mode_refused() {
  Client c(co_await asio::this_coro::executor, config("t-subscribe"));
  EXPECT_THROW(co_await c.command(argv("SUBSCRIBE", "ch")), Error);
  EXPECT_THROW(co_await c.command(argv("psubscribe", "ch*")), Error);
  EXPECT_THROW(co_await c.command(Argv{}), Error);
  EXPECT_EQ((co_await c.command(argv("PING"))).str, "PONG");
}

TEST(RedisClient, RefusesPushModeCommands) { run([](auto) { return push_mode_refused(); }); }

}  // namespace
}  // namespace dine::redis
