// The gateway's nginx.conf as rendered from a topology: the pieces each
// promise of docs/gateway.md rests on. (tests/integration/gateway_test.cpp
// runs the same text in a real nginx.)
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "core/stack/nginx_conf.hpp"

namespace dine::stack {
namespace {

// Gateway node gw-<i> on port 18080 + i, in front of both app nodes.
std::string fmt_gateway(int i, const std::string& extra) {
  return ",\n    {\"id\": \"gw-" + std::to_string(i) + "\", \"kind\": \"nginx\", \"port\": " +
         std::to_string(18080 + i) + R"(, "uses": {"app": ["app-1", "app-2"]})" + extra + "}";
}

// Two app nodes, `gateways` nginx nodes in front of them, the "gateway"
// section `section` (JSON, "" for none).
Topology topo(int gateways = 1, const std::string& section = "", const std::string& gw_fields = "") {
  std::string nodes = R"(
    {"id": "app-1", "kind": "dine", "role": "app", "host": "10.0.0.11", "port": 18201, "node_id": 1},
    {"id": "app-2", "kind": "dine", "role": "app", "host": "10.0.0.12", "port": 18202, "node_id": 2,
     "limits": {"request_timeout_ms": 15000}})";
  for (int i = 1; i <= gateways; ++i)
    nodes += fmt_gateway(i, gw_fields);
  std::string text = R"({"name": "t", )" + (section.empty() ? "" : R"("gateway": )" + section + ", ") +
                     R"("limits": {"body_bytes": 4096, "header_bytes": 8192}, "nodes": [)" + nodes + "]}";
  Topology t = parse_topology(text, "t.json");
  resolve_hosts(t);
  return t;
}

std::string render(const Topology& t, const std::string& node = "gw-1", const std::string& user = "") {
  const Node& gw = t.node(node);
  return render_nginx_conf(t, gw, nginx_paths(t, gw, "/var/dine/state"), user);
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The text of the block that starts at the first line containing `opening`.
std::string block(const std::string& text, const std::string& opening) {
  auto at = text.find(opening);
  if (at == std::string::npos) return "";
  int depth = 0;
  for (auto i = text.find('{', at); i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) return text.substr(at, i - at + 1);
  }
  return "";
}

TEST(NginxConf, UpstreamListsTheAppNodesWithPassiveChecksAndKeepalive) {
  auto t = topo(1, R"({"max_fails": 3, "fail_timeout_s": 7})");
  auto up = block(render(t), "upstream app {");
  EXPECT_TRUE(has(up, "server 10.0.0.11:18201 max_fails=3 fail_timeout=7s;")) << up;
  EXPECT_TRUE(has(up, "server 10.0.0.12:18202 max_fails=3 fail_timeout=7s;")) << up;
  EXPECT_TRUE(has(up, "keepalive 64;"));
  // Idle upstream connections go before the app's idle timeout (30 s) would drop them.
  EXPECT_TRUE(has(up, "keepalive_timeout 15000ms;")) << up;
  auto api = block(render(t), "location /api/v1/ {");
  EXPECT_TRUE(has(api, "proxy_pass http://app/api/v1/;")) << api;
  EXPECT_TRUE(has(api, "proxy_http_version 1.1;"));
  EXPECT_TRUE(has(api, "proxy_set_header Connection \"\";"));
  EXPECT_TRUE(has(api, "proxy_set_header X-Request-Id $gw_request_id;"));
  EXPECT_TRUE(has(api, "proxy_set_header X-Forwarded-For $remote_addr;"));
  EXPECT_TRUE(has(api, "proxy_set_header X-Request-Budget-Ms \"\";"));
  EXPECT_TRUE(has(api, "proxy_next_upstream error timeout;"));
  EXPECT_FALSE(std::regex_search(api, std::regex("proxy_next_upstream[^;]*non_idempotent")))
      << "a POST that reached an app node must never be sent twice";
  // Past the slowest app node's own request timeout (15 s), so its 504 comes first.
  EXPECT_TRUE(has(api, "proxy_read_timeout 16000ms;")) << api;
}

TEST(NginxConf, TheGlobalCapIsSplitOverTheGatewaysAndRejectsAtOnce) {
  auto one = render(topo(1, R"({"qps_cap": 10})"));
  EXPECT_TRUE(has(one, "limit_req_zone gateway zone=gateway:1m rate=10r/s;")) << one;
  EXPECT_TRUE(has(block(one, "location /api/v1/ {"), "limit_req zone=gateway nodelay;"));  // burst 0
  auto three = topo(3, R"({"qps_cap": 10, "burst": 4})");
  for (const char* node : {"gw-1", "gw-2", "gw-3"}) {
    auto text = render(three, node);
    EXPECT_TRUE(has(text, "rate=4r/s;")) << node << ": ceil(10 / 3) = 4";
    EXPECT_TRUE(has(text, "limit_req_status 429;"));
    // nodelay: over the rate (and the burst) is a 429 now, never a wait.
    auto api = block(text, "location /api/v1/ {");
    EXPECT_TRUE(has(api, "limit_req zone=gateway burst=4 nodelay;")) << api;
    EXPECT_TRUE(has(block(text, "location = /ws/v1/user {"), "limit_req zone=gateway burst=4 nodelay;"));
  }
  // One key for the whole node: a cap on traffic, not per client address.
  EXPECT_FALSE(has(one, "$binary_remote_addr"));
}

TEST(NginxConf, BurstIsAtLeastWhatNginxCountsWithinAMillisecond) {
  Gateway g;
  g.burst = 0;
  EXPECT_EQ(effective_burst(g, 5), 0);
  EXPECT_EQ(effective_burst(g, 20000), 20);
  g.burst = 50;
  EXPECT_EQ(effective_burst(g, 20000), 50);
  auto text = render(topo(2, R"({"qps_cap": 40000})"));
  EXPECT_TRUE(has(text, "rate=20000r/s;"));
  EXPECT_TRUE(has(text, "burst=20 nodelay;"));
}

TEST(NginxConf, OnlyThePublicPrefixesAreRouted) {
  auto text = render(topo());
  auto server = block(text, "server {");
  std::regex location(R"(location\s+([=~]?\s*)?([^\s{]+)\s*\{)");
  std::vector<std::string> found;
  for (auto it = std::sregex_iterator(server.begin(), server.end(), location); it != std::sregex_iterator(); ++it)
    found.push_back((*it)[2]);
  for (const auto& l : found) {
    const bool public_prefix = l == "/api/v1/" || l == "/ws/v1/user" || l == "/static/" || l == "/";
    const bool error_page = l.rfind("@json_", 0) == 0 || l.rfind("/_gateway/error/", 0) == 0;
    const bool own_health = l == "/gateway/health";  // nginx's own answer, nothing proxied
    EXPECT_TRUE(public_prefix || error_page || own_health) << "unexpected location " << l;
  }
  EXPECT_TRUE(has(block(text, "location / {"), "return 404;"));
  // `dine health` asks nginx itself: answered there, never proxied, not logged.
  auto health = block(text, "location = /gateway/health {");
  EXPECT_TRUE(has(health, "return 200"));
  EXPECT_TRUE(has(health, "access_log off;"));
  EXPECT_FALSE(has(health, "proxy_pass"));
  // Internal error pages cannot be asked for from outside.
  EXPECT_TRUE(has(block(text, "location = /_gateway/error/bad_request {"), "internal;"));
  // The WebSocket is upgraded.
  auto ws = block(text, "location = /ws/v1/user {");
  EXPECT_TRUE(has(ws, "proxy_set_header Upgrade $http_upgrade;"));
  EXPECT_TRUE(has(ws, "proxy_set_header Connection $gw_connection_upgrade;"));
}

TEST(NginxConf, EveryErrorNginxMakesIsJsonWithAnErrorCode) {
  auto text = render(topo());
  for (const auto& e : gateway_errors()) {
    for (int from : e.from)
      EXPECT_TRUE(std::regex_search(text, std::regex("error_page [0-9 ]*\\b" + std::to_string(from) + "\\b[0-9 ]*= ")))
          << "no error_page for " << from;
    const std::string ret = "return " + std::to_string(e.status) + " '{\"error\":\"" + std::string(e.code) + "\"";
    auto at = text.find(ret);
    ASSERT_NE(at, std::string::npos) << ret;
    // Its block says application/json.
    auto start = text.rfind("location", at);
    EXPECT_TRUE(has(text.substr(start, at - start), "default_type application/json;")) << e.code;
  }
  for (const char* code : {"bad_request", "body_too_large", "uri_too_long", "header_too_large", "not_found",
                           "dependency_unavailable", "rate_limited"})
    EXPECT_TRUE(has(text, std::string("{\"error\":\"") + code + "\"")) << code;
  // A 502/504 (no app node answered) is a 503 dependency_unavailable that names no host.
  auto unavailable = block(text, "location @json_dependency_unavailable {");
  EXPECT_TRUE(has(unavailable, "return 503 "));
  EXPECT_FALSE(has(unavailable, "10.0.0.1")) << unavailable;
  EXPECT_FALSE(has(unavailable, "$upstream")) << unavailable;
  EXPECT_TRUE(has(block(text, "location @json_rate_limited {"), "add_header Retry-After 1 always;"));
  // Upstream answers pass as they are: the app's own JSON errors are not replaced.
  EXPECT_FALSE(has(text, "proxy_intercept_errors on"));
}

TEST(NginxConf, SizeLimitsComeFromTheGatewayNodesLimits) {
  auto text = render(topo());
  EXPECT_TRUE(has(text, "client_max_body_size 4096;"));
  EXPECT_TRUE(has(text, "large_client_header_buffers 4 2048;"));  // header_bytes 8192 / 4
  auto own = render(topo(1, "", R"(, "limits": {"body_bytes": 1000, "header_bytes": 16384})"));
  EXPECT_TRUE(has(own, "client_max_body_size 1000;"));
  EXPECT_TRUE(has(own, "large_client_header_buffers 4 4096;"));
}

TEST(NginxConf, TheAccessLogIsJsonByRoutePatternWithoutTokens) {
  auto text = render(topo());
  auto at = text.find("log_format dine_gateway escape=json '");
  ASSERT_NE(at, std::string::npos);
  auto format = text.substr(at, text.find("';", at) - at);
  for (const char* field : {"\"time\":", "\"msec\":", "\"route\":\"$gw_route\"", "\"method\":", "\"status\":$status",
                            "\"bytes_sent\":$bytes_sent", "\"request_length\":", "\"request_time\":$request_time",
                            "\"upstream_time\":", "\"request_id\":"})
    EXPECT_TRUE(has(format, field)) << field;
  // Neither the raw URI (query strings carry tokens) nor any header of the caller's.
  for (const char* leak : {"$request_uri", "$args", "$query_string", "$arg_", "$http_", "$request\""})
    EXPECT_FALSE(has(format, leak)) << leak;
  EXPECT_TRUE(has(text, "access_log \"/var/dine/state/gw-1/access.log\" dine_gateway;"));
  // Ids become {id}; the route comes from the normalised $uri.
  auto map = block(text, "map $uri $gw_route {");
  EXPECT_TRUE(has(map, "\"~^/api/v1/orders/[0-9]+$\" \"/api/v1/orders/{id}\";")) << map;
  EXPECT_TRUE(has(map, "default other;"));
  EXPECT_TRUE(has(map, "/ws/v1/user /ws/v1/user;"));
  for (const auto& r : public_routes()) {
    EXPECT_TRUE(std::regex_search(std::string("/api/v1/orders/123/pay"), std::regex(std::string(r.regex))) ==
                (r.pattern == "/api/v1/orders/{id}/pay"))
        << r.regex;
  }
}

TEST(NginxConf, StaticFilesAreServedWithCacheHeaders) {
  auto text = render(topo());
  auto stat = block(text, "location /static/ {");
  EXPECT_TRUE(has(stat, "alias \"/var/dine/state/static/\";")) << stat;
  EXPECT_TRUE(has(stat, "etag on;"));
  EXPECT_TRUE(has(stat, "add_header Cache-Control \"public, max-age=60\";"));
  auto own = topo(1, R"({"static_dir": "/srv/menu/"})");
  EXPECT_TRUE(has(render(own), "alias \"/srv/menu/\";"));
}

TEST(NginxConf, PathsLiveInTheNodesStateDir) {
  auto t = topo();
  auto p = nginx_paths(t, t.node("gw-1"), "/var/dine/state/");
  EXPECT_EQ(p.dir, "/var/dine/state/gw-1");
  EXPECT_EQ(p.static_dir, "/var/dine/state/static");
  EXPECT_EQ(p.conf(), "/var/dine/state/gw-1/nginx.conf");
  auto text = render(t);
  for (const char* part : {"pid \"/var/dine/state/gw-1/nginx.pid\";", "error_log \"/var/dine/state/gw-1/nginx.log\"",
                           "client_body_temp_path \"/var/dine/state/gw-1/client_body_temp\";",
                           "proxy_temp_path \"/var/dine/state/gw-1/proxy_temp\";", "daemon off;"})
    EXPECT_TRUE(has(text, part)) << part;
  // A relative state dir is made absolute (nginx would read it against its prefix).
  auto rel = nginx_paths(t, t.node("gw-1"), "rel/state");
  EXPECT_EQ(rel.dir.front(), '/');
  // A path nginx would read as a variable is refused, naming the key.
  auto bad = topo(1, R"({"static_dir": "/srv/$menu"})");
  try {
    nginx_paths(bad, bad.node("gw-1"), "/var/dine/state");
    ADD_FAILURE() << "a '$' in static_dir was accepted";
  } catch (const TopologyError& e) {
    EXPECT_TRUE(has(e.what(), "gateway.static_dir")) << e.what();
    EXPECT_TRUE(has(e.what(), "fix:")) << e.what();
  }
}

TEST(NginxConf, WorkersAndTheUserDirective) {
  EXPECT_TRUE(has(render(topo()), "worker_processes 1;"));
  EXPECT_TRUE(has(render(topo(1, "", R"(, "workers": 3)")), "worker_processes 3;"));
  EXPECT_FALSE(has(render(topo()), "\nuser "));
  EXPECT_TRUE(has(render(topo(), "gw-1", "nobody nogroup"), "\nuser nobody nogroup;"));
  auto text = render(topo(2));
  EXPECT_TRUE(has(text, "listen 127.0.0.1:18081 default_server;"));
  EXPECT_TRUE(has(render(topo(2), "gw-2"), "listen 127.0.0.1:18082 default_server;"));
}

TEST(NginxConf, OnlyGatewayNodesRender) {
  auto t = topo();
  EXPECT_THROW(render_nginx_conf(t, t.node("app-1"), nginx_paths(t, t.node("app-1"), "/s"), ""), TopologyError);
}

}  // namespace
}  // namespace dine::stack
