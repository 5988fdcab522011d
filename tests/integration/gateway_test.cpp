// The gateway in a real nginx, rendered by the code `dine up` uses, in front
// of real app nodes (dine's HTTP server): only the public prefixes pass, the
// cap answers 429 at once, every answer nginx makes is JSON, a dead app node
// is passed over and all of them dead is a 503 naming no address, the
// WebSocket is upgraded, static files carry cache headers, and the access log
// reads back by route without tokens.
#include <gtest/gtest.h>

#include <csignal>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/stack/process.hpp"
#include "tests/integration/gateway_support.hpp"
#include "tests/integration/harness.hpp"

namespace dine::gateway_test {
namespace {

namespace fs = std::filesystem;
using test::eventually;

// An error nginx made itself: the status, a JSON body with `code`, the
// request id, and nothing an app node would have said.
void expect_json_error(const Answer& a, int status, const std::string& code) {
  EXPECT_EQ(a.status, status) << a;
  EXPECT_EQ(a.header("content-type"), "application/json") << a;
  EXPECT_EQ(a.error_code(), code) << a;
  auto j = a.j();
  EXPECT_TRUE(j.is_object() && j.contains("message") && j.contains("request_id")) << a;
  EXPECT_FALSE(j.contains("node")) << "an app node answered: " << a;
}

TEST(Gateway, RenderedConfigPassesNginxTAndABrokenOneDoesNot) {
  AppNode app("app-1");
  Gateway gw({{app.port()}});
  auto check = stack::nginx_check(gw.paths());
  EXPECT_TRUE(check.ok) << check.output;
  EXPECT_NE(check.output.find("test is successful"), std::string::npos) << check.output;
  // The check can fail: the same file with one directive nginx does not know.
  stack::NginxPaths broken = gw.paths();
  broken.dir += "-broken";
  stack::nginx_write(broken, gw.conf() + "\nno_such_directive on;\n");
  auto refused = stack::nginx_check(broken);
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.output.find("no_such_directive"), std::string::npos) << refused.output;
}

TEST(Gateway, InternalRoutesAreNotFoundThroughIt) {
  AppNode app("app-1");
  Gateway gw({{app.port()}});
  // The app node itself answers them...
  for (const char* path : {"/v1/orders/1", "/metrics", "/readyz", "/healthz"})
    ASSERT_EQ(request(app.port(), "GET", path).status, 200) << path;
  const int before = app.hits();
  // ...the gateway does not pass them on, however they are spelled.
  for (const char* path : {"/v1/orders/1", "/metrics", "/readyz", "/healthz", "/api/v1/../../v1/orders/1",
                           "/api/v1/%2e%2e/%2E%2E/metrics", "/api/v1/..%2f..%2fmetrics", "//v1/orders/1", "/api",
                           "/ws/v1/user/x", "/_gateway/error/bad_request"}) {
    auto a = request(gw.port(), "GET", path);
    expect_json_error(a, 404, "not_found");
    EXPECT_EQ(a.body.find("no such route on this gateway") != std::string::npos, true) << path << ": " << a;
  }
  EXPECT_EQ(app.hits(), before) << "an internal route reached the app node through the gateway";
}

TEST(Gateway, PublicRoutesReachTheAppWithTheirRequestIdAndNoInternalHeaders) {
  AppNode app("app-1");
  Gateway gw({{app.port()}});
  auto a = request(gw.port(), "GET", "/api/v1/orders/42?token=abc",
                   {"X-Request-Id: rid-from-caller-1", "X-Request-Budget-Ms: 1", "X-Forwarded-For: 6.6.6.6",
                    "Authorization: Bearer user-token"});
  ASSERT_EQ(a.status, 200) << a;
  auto j = a.j();
  EXPECT_EQ(j["node"], "app-1");
  EXPECT_EQ(j["target"], "/api/v1/orders/42?token=abc");
  EXPECT_EQ(j["request_id"], "rid-from-caller-1");
  EXPECT_EQ(j["budget"], nullptr) << "a public caller set a deadline inside the platform";
  EXPECT_EQ(j["forwarded_for"], "127.0.0.1") << "the caller's own X-Forwarded-For went through";
  EXPECT_EQ(j["authorization"], "Bearer user-token");
  EXPECT_EQ(a.header("x-request-id"), "rid-from-caller-1");
  EXPECT_EQ(a.count("x-request-id"), 1) << a;
  // Without one (or with one that is not plain) the gateway makes the id, and the app uses it.
  auto made = request(gw.port(), "GET", "/api/v1/orders/43", {"X-Request-Id: not plain\"{"});
  ASSERT_EQ(made.status, 200) << made;
  EXPECT_EQ(made.j()["request_id"], made.header("x-request-id"));
  EXPECT_EQ(made.header("x-request-id").size(), 32u) << made;
  // The app sees the path as nginx normalised it, never a /../ past the prefix.
  auto dotted = request(gw.port(), "GET", "/v1/orders/../../api/v1/orders/7");
  ASSERT_EQ(dotted.status, 200) << dotted;
  EXPECT_EQ(dotted.j()["target"], "/api/v1/orders/7");
  // A POST within the limits.
  auto post = request(gw.port(), "POST", "/api/v1/orders", {"Content-Type: application/json"}, R"({"store_id": 1})");
  EXPECT_EQ(post.status, 201) << post;
  EXPECT_EQ(post.j()["body_bytes"], 15);
}

TEST(Gateway, BadInputIsAnsweredByNginxInJson) {
  AppNode app("app-1");
  Gateway gw({{app.port()}, json::object(), {{"body_bytes", 1024}, {"header_bytes", 8192}}});
  const int before = app.hits();
  // A body of exactly body_bytes passes; one byte more does not.
  auto at_limit = request(gw.port(), "POST", "/api/v1/orders", {}, std::string(1024, 'x'));
  ASSERT_EQ(at_limit.status, 201) << at_limit;
  EXPECT_EQ(at_limit.j()["body_bytes"], 1024);
  expect_json_error(request(gw.port(), "POST", "/api/v1/orders", {}, std::string(1025, 'x')), 413, "body_too_large");
  auto chunked = send_raw(gw.port(), "POST /api/v1/orders HTTP/1.1\r\nHost: g\r\nConnection: close\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'y') + "\r\n0\r\n\r\n");
  expect_json_error(chunked, 413, "body_too_large");
  // A 20 KB URI.
  expect_json_error(request(gw.port(), "GET", "/api/v1/orders/" + std::string(20 * 1024, '1')), 414, "uri_too_long");
  // One huge header line (nginx's 494), and headers too large in all.
  expect_json_error(request(gw.port(), "GET", "/api/v1/orders/1", {"X-Huge: " + std::string(10 * 1024, 'h')}), 431,
                    "header_too_large");
  std::vector<std::string> many;
  for (int i = 0; i < 12; ++i) many.push_back(fmt::format("X-Many-{}: {}", i, std::string(1800, 'm')));
  auto all = request(gw.port(), "GET", "/api/v1/orders/1", many);
  EXPECT_TRUE(all.status == 400 || all.status == 431) << all;
  EXPECT_TRUE(all.error_code() == "bad_request" || all.error_code() == "header_too_large") << all;
  EXPECT_EQ(all.header("content-type"), "application/json") << all;
  // Not HTTP at all, and a header line without a colon.
  expect_json_error(send_raw(gw.port(), "GARBAGE\r\n\r\n"), 400, "bad_request");
  expect_json_error(send_raw(gw.port(), "GET /api/v1/orders/1 HTTP/1.1\r\nHost: g\r\nno colon here\r\n\r\n"), 400,
                    "bad_request");
  // A method the static files do not take.
  expect_json_error(request(gw.port(), "DELETE", "/static/x.json"), 405, "method_not_allowed");
  EXPECT_EQ(app.hits(), before + 1) << "only the request within the limits reached the app";
}

TEST(Gateway, OverTheCapRequestsGet429AtOnceAndTheRestAreServed) {
  AppNode app("app-1");
  // qps_cap 10 over two gateway nodes: 5 r/s here; burst 0.
  Gateway gw({{app.port()}, {{"qps_cap", 10}, {"burst", 0}}, json::object(), 2});
  ASSERT_NE(gw.conf().find("rate=5r/s"), std::string::npos);
  const int before = app.hits();
  int ok = 0, limited = 0;
  const auto start = Clock::now();
  for (int i = 0; i < 50; ++i) {
    auto a = request(gw.port(), "GET", fmt::format("/api/v1/orders/{}", i + 1));
    if (a.status == 200) {
      ++ok;
    } else {
      expect_json_error(a, 429, "rate_limited");
      EXPECT_EQ(a.header("retry-after"), "1") << a;
      ++limited;
    }
  }
  const auto elapsed_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  EXPECT_GE(ok, 1);
  EXPECT_GE(limited, 1);
  EXPECT_EQ(ok + limited, 50);
  // 5 r/s admits one request per 200 ms; queued (no nodelay) the burst would take ~10 s.
  EXPECT_LE(ok, 2 + elapsed_ms / 200) << ok << " served in " << elapsed_ms << " ms";
  EXPECT_LT(elapsed_ms, 5000) << "rejected requests were queued, not refused at once";
  EXPECT_EQ(app.hits(), before + ok) << "a rate-limited request reached the app";
  // The rest is still served once the rate allows.
  EXPECT_TRUE(eventually([&] { return request(gw.port(), "GET", "/api/v1/orders/99").status == 200; },
                         milliseconds(3000), milliseconds(50)));
  // The static files are not counted against the app's cap.
  fs::create_directories(gw.paths().static_dir);
  std::ofstream(gw.paths().static_dir + "/cap.json") << "{}";
  for (int i = 0; i < 10; ++i) EXPECT_EQ(request(gw.port(), "GET", "/static/cap.json").status, 200);
}

TEST(Gateway, ADeadAppNodeIsPassedOverAndAllDeadIs503WithoutAddresses) {
  AppNode one("app-1");
  AppNode two("app-2");
  Gateway gw({{one.port(), two.port()}, {{"max_fails", 2}, {"fail_timeout_s", 60}}});
  std::set<std::string> served;
  for (int i = 0; i < 6; ++i) {
    auto a = request(gw.port(), "GET", fmt::format("/api/v1/orders/{}", i + 1));
    ASSERT_EQ(a.status, 200) << a;
    served.insert(a.j()["node"].get<std::string>());
  }
  EXPECT_EQ(served.size(), 2u) << "both app nodes take requests";

  one.stop();
  const auto log_before = gw.access_log_lines().size();
  for (int i = 0; i < 20; ++i) {
    auto get = request(gw.port(), "GET", fmt::format("/api/v1/orders/{}", 100 + i));
    ASSERT_EQ(get.status, 200) << get;
    EXPECT_EQ(get.j()["node"], "app-2");
  }
  // A POST is sent on too: a refused connection never carried its bytes.
  auto post = request(gw.port(), "POST", "/api/v1/orders", {}, "{}");
  EXPECT_EQ(post.status, 201) << post;
  EXPECT_EQ(post.j()["node"], "app-2");
  // Passive health: after max_fails refusals app-1 is left out for fail_timeout.
  const std::string dead = fmt::format("127.0.0.1:{}", one.port());
  int tried_dead = 0;
  auto lines = gw.access_log_lines();
  for (std::size_t i = log_before; i < lines.size(); ++i)
    if (auto e = stack::parse_access_line(lines[i]); e && e->upstream.find(dead) != std::string::npos) ++tried_dead;
  EXPECT_LE(tried_dead, 2) << "app-1 was tried after it failed max_fails times";

  two.stop();
  const std::vector<std::string> internal = {"127.0.0.1", std::to_string(one.port()), std::to_string(two.port()),
                                             "app-1", "app-2", "upstream", "nginx/"};
  for (const std::string method : {"GET", "POST"}) {
    auto a = request(gw.port(), method, method == "GET" ? "/api/v1/orders/1" : "/api/v1/orders", {},
                     method == "GET" ? "" : "{}");
    expect_json_error(a, 503, "dependency_unavailable");
    EXPECT_EQ(a.header("retry-after"), "1") << a;
    for (const auto& word : internal) EXPECT_EQ(a.raw.find(word), std::string::npos) << word << " in " << a;
  }
}

// A master killed with SIGKILL leaves its workers serving the port; dine up
// and dine down find them by the node's files and end them.
TEST(Gateway, WorkersLeftByADeadMasterAreFoundAndKilled) {
  AppNode app("app-1");
  Gateway gw({{app.port()}});
  ASSERT_EQ(request(gw.port(), "GET", "/api/v1/orders/1").status, 200);
  ASSERT_EQ(::kill(gw.pid(), SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !stack::alive(gw.pid()); }, milliseconds(5000)));
  EXPECT_EQ(request(gw.port(), "GET", "/api/v1/orders/2").status, 200) << "no orphaned worker to find";
  EXPECT_EQ(stack::kill_orphaned_workers(gw.paths().dir + "-elsewhere/"), 0);
  EXPECT_GE(stack::kill_orphaned_workers(gw.paths().dir + "/"), 1);
  EXPECT_TRUE(eventually([&] { return !stack::wait_port("127.0.0.1", gw.port(), Clock::now()); }, milliseconds(5000)))
      << "a worker still listens";
}

TEST(Gateway, TheUserWebSocketIsUpgradedAndTunnelled) {
  UpgradeEcho upstream;
  Gateway gw({{upstream.port()}});
  int fd = connect_to(gw.port(), milliseconds(5000));
  ASSERT_GE(fd, 0);
  const std::string handshake =
      "GET /ws/v1/user?token=ws-secret-token HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(::send(fd, handshake.data(), handshake.size(), MSG_NOSIGNAL), static_cast<ssize_t>(handshake.size()));
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "no answer to the upgrade: " << got << gw.error_log();
    got.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(got.rfind("HTTP/1.1 101", 0), 0u) << got;
  got.erase(0, got.find("\r\n\r\n") + 4);
  // Bytes both ways after the upgrade.
  const std::string frame = "frame-bytes-1234";
  ASSERT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL), static_cast<ssize_t>(frame.size()));
  while (got.size() < frame.size()) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "the tunnel closed";
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, frame);
  ::close(fd);
  auto heads = upstream.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].rfind("GET /ws/v1/user?token=ws-secret-token HTTP/1.1", 0), 0u) << heads[0];
  // The access log names the route, never the token in its query.
  ASSERT_TRUE(eventually([&] { return !gw.access_log_lines().empty(); }, milliseconds(3000)));
  auto e = stack::parse_access_line(gw.access_log_lines().back());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->route, "/ws/v1/user");
  EXPECT_EQ(e->status, 101);
  for (const auto& line : gw.access_log_lines()) EXPECT_EQ(line.find("ws-secret-token"), std::string::npos) << line;
}

TEST(Gateway, StaticFilesAreServedWithCacheHeadersAndETags) {
  AppNode app("app-1");
  Gateway gw({{app.port()}});
  const std::string dir = gw.paths().static_dir + "/menu";
  fs::create_directories(dir);
  std::ofstream(dir + "/store-7.json") << R"({"store_id": 7, "items": []})";
  auto a = request(gw.port(), "GET", "/static/menu/store-7.json");
  ASSERT_EQ(a.status, 200) << a << gw.error_log();
  EXPECT_EQ(a.body, R"({"store_id": 7, "items": []})");
  EXPECT_EQ(a.header("content-type"), "application/json");
  EXPECT_EQ(a.header("cache-control"), "public, max-age=60");
  const std::string etag = a.header("etag");
  ASSERT_FALSE(etag.empty()) << a;
  auto again = request(gw.port(), "GET", "/static/menu/store-7.json", {"If-None-Match: " + etag});
  EXPECT_EQ(again.status, 304) << again;
  expect_json_error(request(gw.port(), "GET", "/static/menu/nope.json"), 404, "not_found");
  expect_json_error(request(gw.port(), "GET", "/static/menu/"), 404, "not_found");  // no listings
  expect_json_error(request(gw.port(), "GET", "/static/../gw-1/nginx.conf"), 404, "not_found");
}

TEST(Gateway, TheAccessLogReadsBackByRouteWithoutTokens) {
  AppNode app("app-1");
  Gateway gw({{app.port()}, {{"qps_cap", 100000}}});
  const std::vector<std::string> secret = {"Authorization: Bearer SECRET-AUTH-TOKEN"};
  // nginx's own answer for `dine health`: not proxied, not logged (the count below stays 10).
  const int hits = app.hits();
  auto health = request(gw.port(), "GET", "/gateway/health");
  EXPECT_EQ(health.status, 200) << health;
  EXPECT_NE(health.body.find("\"ok\""), std::string::npos) << health;
  EXPECT_EQ(app.hits(), hits);
  for (int i = 0; i < 7; ++i)
    ASSERT_EQ(request(gw.port(), "GET", fmt::format("/api/v1/orders/{}?token=SECRET-QUERY-TOKEN", 1000 + i), secret)
                  .status,
              200);
  ASSERT_EQ(request(gw.port(), "POST", "/api/v1/orders", secret, "{}").status, 201);
  ASSERT_EQ(request(gw.port(), "GET", "/metrics?token=SECRET-QUERY-TOKEN", secret).status, 404);
  ASSERT_EQ(request(gw.port(), "GET", "/api/v1/orders/" + std::string(20 * 1024, '2')).status, 414);
  ASSERT_TRUE(eventually([&] { return gw.access_log_lines().size() >= 10; }, milliseconds(3000)));
  auto lines = gw.access_log_lines();
  ASSERT_EQ(lines.size(), 10u);
  std::map<std::string, int> routes;
  for (const auto& line : lines) {
    EXPECT_EQ(line.find("SECRET"), std::string::npos) << line;
    auto e = stack::parse_access_line(line);
    ASSERT_TRUE(e) << line;
    EXPECT_GT(e->bytes_sent, 0) << line;
    EXPECT_FALSE(e->request_id.empty()) << line;
    ++routes[e->route];
  }
  EXPECT_EQ(routes["/api/v1/orders/{id}"], 7);
  EXPECT_EQ(routes["/api/v1/orders"], 1);
  EXPECT_EQ(routes["other"], 1);
  EXPECT_EQ(routes["-"], 1);  // refused before the URI was read
  // The figures `dine gateway stats` prints.
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  stack::AccessStats stats(now - 60, now + 1);
  ASSERT_TRUE(stack::read_access_log(gw.paths().access_log(), now - 60, stats));
  auto sum = stats.summary();
  EXPECT_EQ(sum.unreadable, 0);
  EXPECT_EQ(sum.total.requests, 10);
  ASSERT_FALSE(sum.routes.empty());
  EXPECT_EQ(sum.routes[0].route, "/api/v1/orders/{id}");
  EXPECT_EQ(sum.routes[0].requests, 7);
  EXPECT_EQ(sum.total.status_4xx, 2);
  EXPECT_GT(sum.routes[0].bytes_out, 7 * 100);
}

}  // namespace
}  // namespace dine::gateway_test
