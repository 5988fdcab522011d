// The gateway's access log read back: lines in, per-route figures out.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "core/stack/access_log.hpp"

namespace dine::stack {
namespace {

// A line as nginx writes it with the dine_gateway log_format.
std::string line(double msec, const std::string& route, int status, int64_t bytes, double request_time,
                 const std::string& upstream = "127.0.0.1:18201") {
  return fmt::format(R"({{"time":"2026-11-30T12:00:00+00:00","msec":{:.3f},"route":"{}","method":"GET","status":{},)"
                     R"("bytes_sent":{},"request_length":120,"request_time":{:.3f},"upstream_time":"0.001",)"
                     R"("upstream_status":"200","upstream":"{}","request_id":"abc"}})",
                     msec, route, status, bytes, request_time, upstream);
}

TEST(AccessLog, ParsesTheGatewaysLines) {
  auto e = parse_access_line(line(1764504000.123, "/api/v1/orders/{id}", 201, 512, 0.004));
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->at, 1764504000.123);
  EXPECT_EQ(e->route, "/api/v1/orders/{id}");
  EXPECT_EQ(e->method, "GET");
  EXPECT_EQ(e->status, 201);
  EXPECT_EQ(e->bytes_sent, 512);
  EXPECT_EQ(e->request_length, 120);
  EXPECT_DOUBLE_EQ(e->request_time, 0.004);
  EXPECT_EQ(e->upstream, "127.0.0.1:18201");
  EXPECT_EQ(e->request_id, "abc");
  // What nginx escapes with escape=json stays readable.
  auto odd = parse_access_line(R"({"msec":1.5,"route":"other","status":400,"method":"G\"ET\u0001"})");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->method, "G\"ET\x01");
  EXPECT_EQ(odd->bytes_sent, 0);
  EXPECT_FALSE(parse_access_line(""));
  EXPECT_FALSE(parse_access_line("127.0.0.1 - - [30/Nov/2026] \"GET / HTTP/1.1\" 200"));  // nginx's combined format
  EXPECT_FALSE(parse_access_line(R"({"msec":1.5,"route":"x"})"));
  EXPECT_FALSE(parse_access_line(R"({"msec":"1.5","route":"x","status":200})"));
  EXPECT_FALSE(parse_access_line(R"({"msec":1.5,"route":"x","status":200)"));  // cut short
}

TEST(AccessLog, FiguresPerRouteOverTheWindow) {
  AccessStats s(1000.0, 1010.0);  // a 10 s window
  for (int i = 0; i < 100; ++i) s.add(line(1000.0 + i * 0.1, "/api/v1/orders/{id}", 200, 1000, (i + 1) / 1000.0));
  for (int i = 0; i < 5; ++i) s.add(line(1001.0, "/api/v1/orders/{id}", 429, 300, 0.0, ""));
  s.add(line(1002.0, "/api/v1/orders/{id}", 503, 250, 0.002));
  s.add(line(1003.0, "/api/v1/login", 404, 200, 0.001));
  s.add(line(999.0, "/api/v1/login", 200, 7777, 0.001));   // before the window
  s.add(line(1010.5, "/api/v1/login", 200, 7777, 0.001));  // after it
  s.add("not json");
  s.add("");
  auto sum = s.summary();
  EXPECT_DOUBLE_EQ(sum.from, 1000.0);
  EXPECT_DOUBLE_EQ(sum.to, 1010.0);
  EXPECT_EQ(sum.unreadable, 1);  // blank lines are not counted
  ASSERT_EQ(sum.routes.size(), 2u);
  const auto& orders = sum.routes[0];  // most requests first
  EXPECT_EQ(orders.route, "/api/v1/orders/{id}");
  EXPECT_EQ(orders.requests, 106);
  EXPECT_DOUBLE_EQ(orders.per_second, 10.6);
  EXPECT_EQ(orders.bytes_out, 100 * 1000 + 5 * 300 + 250);
  EXPECT_DOUBLE_EQ(orders.bytes_out_per_second, orders.bytes_out / 10.0);
  EXPECT_EQ(orders.bytes_in, 106 * 120);
  EXPECT_EQ(orders.status_4xx, 5);
  EXPECT_EQ(orders.rate_limited, 5);
  EXPECT_EQ(orders.status_5xx, 1);
  // 106 request times: five 0s, 0.001..0.100 and one 0.002. p50 = the 53rd, p99 = the 105th.
  EXPECT_NEAR(orders.p50_ms, 47.0, 1e-3);
  EXPECT_NEAR(orders.p99_ms, 99.0, 1e-3);
  const auto& login = sum.routes[1];
  EXPECT_EQ(login.requests, 1);
  EXPECT_EQ(login.status_4xx, 1);
  EXPECT_EQ(login.bytes_out, 200);
  EXPECT_EQ(sum.total.route, "*");
  EXPECT_EQ(sum.total.requests, 107);
  EXPECT_EQ(sum.total.status_4xx, 6);
  EXPECT_EQ(sum.total.status_5xx, 1);
  EXPECT_EQ(sum.total.rate_limited, 5);
}

TEST(AccessLog, AnEmptyWindowHasNoRoutes) {
  AccessStats s(10.0, 20.0);
  auto sum = s.summary();
  EXPECT_TRUE(sum.routes.empty());
  EXPECT_EQ(sum.total.requests, 0);
  EXPECT_EQ(sum.total.p99_ms, 0.0);
}

// The file reader skips what is older than the window without reading from
// the start, and still finds every line in it.
TEST(AccessLog, ReadsOnlyTheWindowOfALargeFile) {
  const std::string path = ::testing::TempDir() + "dine_access_log_test.log";
  {
    std::ofstream out(path, std::ios::trunc);
    // ~3.5 MB of lines a millisecond apart, then 500 in the window.
    for (int i = 0; i < 12000; ++i) out << line(5000.0 + i * 0.001, "/api/v1/old", 200, 1, 0.001) << "\n";
    out << "a line that is not JSON\n";
    for (int i = 0; i < 500; ++i) out << line(6000.0 + i * 0.001, "/api/v1/orders/{id}", 200, 10, 0.001) << "\n";
  }
  AccessStats recent(6000.0, 7000.0);
  ASSERT_TRUE(read_access_log(path, 6000.0, recent));
  auto sum = recent.summary();
  ASSERT_EQ(sum.routes.size(), 1u);
  EXPECT_EQ(sum.routes[0].requests, 500);
  // The window's start is found a megabyte at a time: the garbage line just
  // before it is read, the first megabytes are not.
  EXPECT_LE(sum.unreadable, 1);
  AccessStats all(0.0, 7000.0);
  ASSERT_TRUE(read_access_log(path, 0.0, all));
  EXPECT_EQ(all.summary().total.requests, 12500);
  EXPECT_EQ(all.summary().unreadable, 1);
  AccessStats none(0.0, 1.0);
  EXPECT_FALSE(read_access_log(path + ".missing", 0.0, none));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace dine::stack
