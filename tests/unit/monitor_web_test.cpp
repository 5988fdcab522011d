// The web board without a network: --serve's address rule, the JSON of
// /api/health (the snapshot's, uncached, each node's "uses" for the links),
// and a page that loads nothing from anywhere.
#include <gtest/gtest.h>

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/http/router.hpp"
#include "core/topology.hpp"
#include "monitor/monitor.hpp"
#include "monitor/web.hpp"

namespace dine::monitor {
namespace {

using nlohmann::json;

std::string header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

const char* kTopology = R"({"name": "web", "secret": "web-secret-0123456789abcdef0123456789", "nodes": [
  {"id": "pg", "kind": "postgres", "port": 45901, "databases": ["menu"]},
  {"id": "cache", "kind": "redis", "port": 45902},
  {"id": "menu-1", "kind": "dine", "role": "menu", "port": 45903, "node_id": 1,
   "uses": {"db": ["pg"], "cache": ["cache"]}}]})";

TEST(MonitorWeb, ServeAddressesAreLoopbackByDefault) {
  ServeAddress a = parse_serve_address("127.0.0.1:8090");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8090);
  EXPECT_TRUE(a.loopback);
  EXPECT_EQ(a.url(8090), "http://127.0.0.1:8090/");
  EXPECT_EQ(parse_serve_address("8090").host, "127.0.0.1");
  EXPECT_EQ(parse_serve_address("localhost:0").host, "127.0.0.1");
  ServeAddress v6 = parse_serve_address("[::1]:0");
  EXPECT_TRUE(v6.loopback);
  EXPECT_EQ(v6.url(41234), "http://[::1]:41234/");
  EXPECT_FALSE(parse_serve_address("0.0.0.0:8090").loopback);
  EXPECT_FALSE(parse_serve_address("10.1.2.3:8090").loopback);
  EXPECT_FALSE(parse_serve_address("[::]:8090").loopback);
  for (const char* bad : {"127.0.0.1:", "board.local:80", "127.0.0.1:70000", "::1:80", "[::1]80", "1.2.3.4:-1"}) {
    try {
      parse_serve_address(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("fix:"), std::string::npos) << e.what();
    }
  }
}

TEST(MonitorWeb, TheApiServesTheSnapshotUncachedWithEachNodesUses) {
  Topology topo = parse_topology(kTopology, "web.json");
  Monitor mon(topo, Thresholds{});
  WebBoard board(topo.name);
  http::Response before = board.api();
  EXPECT_EQ(before.status, 503) << "no round yet: " << before.body;
  EXPECT_EQ(header(before, "Cache-Control"), "no-store");

  Snapshot s = mon.snapshot();
  board.update(s);
  http::Response r = board.api();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  json body = json::parse(r.body);
  EXPECT_EQ(body, s.to_json());
  std::map<std::string, json> uses;
  for (const auto& n : body["nodes"]) uses[n["id"]] = n["uses"];
  EXPECT_EQ(uses["menu-1"], json::array({"cache", "pg"}));
  EXPECT_EQ(uses["pg"], json::array());
  EXPECT_EQ(uses["cache"], json::array());
}

TEST(MonitorWeb, ThePageLoadsNothingButTheApiAndEscapesTheName) {
  WebBoard board("<b>&'x'");
  http::Response p = board.page();
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.content_type, "text/html; charset=utf-8");
  EXPECT_NE(header(p, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(p.body.find("fetch(\"/api/health\""), std::string::npos);
  for (const char* external : {"src=", "href=", "@import", "url(http", "//cdn", "{{TOPOLOGY}}", "<b>&"})
    EXPECT_EQ(p.body.find(external), std::string::npos) << external;
  EXPECT_NE(p.body.find("&lt;b&gt;&amp;&#39;x&#39;"), std::string::npos);

  http::Router router;
  board.add_routes(router);
  EXPECT_NE(router.match("GET", "/").handler, nullptr);
  EXPECT_NE(router.match("GET", "/api/health").handler, nullptr);
  EXPECT_EQ(router.match("GET", "/api/other").handler, nullptr);
}

}  // namespace
}  // namespace dine::monitor
