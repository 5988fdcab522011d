// Logs: secrets never reach a log line (mask_dsn), level parsing, and the
// key=value / JSON line formats.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "core/log.hpp"

namespace dine::log {
namespace {

void expect_hidden(const std::string& masked, const std::string& secret) {
  EXPECT_EQ(masked.find(secret), std::string::npos) << "secret '" << secret << "' visible in: " << masked;
}

TEST(MaskDsn, HidesKeyValuePasswords) {
  auto m = mask_dsn("host=127.0.0.1 port=5432 dbname=order user=dine password=hunter2 connect_timeout=3");
  expect_hidden(m, "hunter2");
  EXPECT_EQ(m, "host=127.0.0.1 port=5432 dbname=order user=dine password=*** connect_timeout=3");
}

TEST(MaskDsn, HidesQuotedAndSpacedPasswords) {
  auto quoted = mask_dsn("host=h password='two words' user=dine");
  expect_hidden(quoted, "two");
  expect_hidden(quoted, "words");
  EXPECT_NE(quoted.find("user=dine"), std::string::npos);
  auto spaced = mask_dsn("host=h password = s3cret user=dine");
  expect_hidden(spaced, "s3cret");
  auto upper = mask_dsn("host=h PASSWORD=Upper1");
  expect_hidden(upper, "Upper1");
  auto last = mask_dsn("user=dine password=atend");
  expect_hidden(last, "atend");
  EXPECT_EQ(last, "user=dine password=***");
}

TEST(MaskDsn, HidesEscapedQuotesInsideQuotedPasswords) {
  // libpq lets a quoted value hold \' and \\.
  auto m = mask_dsn(R"(host=h password='it\'s secret' user=dine)");
  expect_hidden(m, "secret");
  expect_hidden(m, "it");
  EXPECT_NE(m.find("user=dine"), std::string::npos);
}

TEST(MaskDsn, HidesUriPasswords) {
  auto m = mask_dsn("postgresql://dine:hunter2@127.0.0.1:5432/order?sslmode=disable");
  expect_hidden(m, "hunter2");
  EXPECT_EQ(m, "postgresql://dine:***@127.0.0.1:5432/order?sslmode=disable");
  // Redis URIs often have an empty user name.
  auto r = mask_dsn("redis://:topsecret@127.0.0.1:6379/0");
  expect_hidden(r, "topsecret");
  EXPECT_NE(r.find("127.0.0.1:6379"), std::string::npos);
}

TEST(MaskDsn, LeavesDsnsWithoutPasswordsAlone) {
  for (const char* s : {"host=127.0.0.1 port=5432 dbname=order user=dine", "postgresql://dine@127.0.0.1:5432/order",
                        "postgresql://127.0.0.1:5432/order", ""})
    EXPECT_EQ(mask_dsn(s), s);
}

TEST(Log, ParseLevel) {
  EXPECT_EQ(parse_level("debug"), Level::Debug);
  EXPECT_EQ(parse_level("info"), Level::Info);
  EXPECT_EQ(parse_level("warn"), Level::Warn);
  EXPECT_EQ(parse_level("warning"), Level::Warn);
  EXPECT_EQ(parse_level("error"), Level::Error);
  EXPECT_THROW(parse_level("verbose"), std::invalid_argument);
  EXPECT_THROW(parse_level(""), std::invalid_argument);
}

class LogLines : public ::testing::Test {
 protected:
  void TearDown() override { init("cli", "-", Level::Info, false); }
};

TEST_F(LogLines, KeyValueLineQuotesWhenNeeded) {
  init("order", "order-1", Level::Info, false);
  Logger lg("pg");
  ::testing::internal::CaptureStderr();
  lg.info("connected", {{"dsn", "host=h port=1"}, {"n", "3"}, {"empty", ""}, {"q", "a\"b"}});
  lg.debug("hidden");  // below the level
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  for (const char* part : {"level=info", "role=order", "node=order-1", "sub=pg", "event=connected",
                           "dsn=\"host=h port=1\"", " n=3", "empty=\"\"", R"(q="a\"b")"})
    EXPECT_NE(out.find(part), std::string::npos) << part << " not in " << out;
  EXPECT_TRUE(out.rfind("ts=", 0) == 0) << out;
}

TEST_F(LogLines, JsonLines) {
  init("order", "order-2", Level::Debug, true);
  ::testing::internal::CaptureStderr();
  Logger("relay").debug("published", {{"order_id", "123"}});
  std::string out = ::testing::internal::GetCapturedStderr();
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["role"], "order");
  EXPECT_EQ(j["node"], "order-2");
  EXPECT_EQ(j["sub"], "relay");
  EXPECT_EQ(j["event"], "published");
  EXPECT_EQ(j["order_id"], "123");
}

TEST_F(LogLines, WarnLimitedWritesOncePerWindow) {
  init("order", "order-1", Level::Info, false);
  Logger lg("unit-warn-limited");
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5; ++i) lg.warn_limited("flood", {}, 60);
  lg.warn_limited("other", {}, 60);
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
}

}  // namespace
}  // namespace dine::log
