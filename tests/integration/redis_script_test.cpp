// dine::redis::Script against a real Redis: EVALSHA by the SHA1 computed here,
// loaded again by itself after SCRIPT FLUSH.
#include <gtest/gtest.h>

#include "core/redis/script.hpp"
#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::config;
using test::ctx_for;
using test::fresh_key;
using test::run;

TEST(RedisScript, Sha1IsRedisName) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Script("return 1").sha(), sha1_hex("return 1"));
}

constexpr const char* kIncrBy = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

Task<void> survives_flush() {
  Client c(co_await asio::this_coro::executor, config("t-script"));
  Script script(kIncrBy);
  const std::string key = fresh_key("t:script");
  // The server names the script as we do.
  Reply loaded = co_await c.command(argv("SCRIPT", "LOAD", kIncrBy));
  EXPECT_EQ(loaded.str, script.sha());

  Reply r = co_await script.run(c, ctx_for(), argv(key), argv("5"));
  EXPECT_EQ(r.type, Reply::Type::Integer);
  EXPECT_EQ(r.integer, 5);

  EXPECT_EQ((co_await c.command(argv("SCRIPT", "FLUSH"))).str, "OK");
  EXPECT_EQ((co_await c.command(argv("SCRIPT", "EXISTS", script.sha()))).elements.at(0).integer, 0);
  r = co_await script.run(c, ctx_for(), argv(key), argv("2"));
  EXPECT_EQ(r.type, Reply::Type::Integer) << r.str;
  EXPECT_EQ(r.integer, 7) << "ran exactly once after the reload";
  EXPECT_EQ((co_await c.command(argv("SCRIPT", "EXISTS", script.sha()))).elements.at(0).integer, 1);
  EXPECT_EQ((co_await c.command(argv("GET", key))).str, "7");

  // Lua errors are replies, as for any command.
  Script broken("return redis.call('INCRBY', KEYS[1], 'not a number')");
  Reply err = co_await broken.run(c, ctx_for(), argv(key), Argv{});
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.str.find("NOSCRIPT"), std::string::npos) << err.str;
  EXPECT_EQ(c.figures().errors, 0u);
}

TEST(RedisScript, EvalshaSurvivesScriptFlush) { run([](auto) { return survives_flush(); }); }

}  // namespace
}  // namespace dine::redis
