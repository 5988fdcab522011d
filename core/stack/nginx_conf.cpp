// Renders a gateway node's nginx.conf. The text is built section by section;
// every value in it comes from the topology (checked at load) or from the
// tables below, so no client-controlled byte ever reaches the file.
#include "core/stack/nginx_conf.hpp"

#include <algorithm>
#include <array>
#include <filesystem>

#include <fmt/format.h>

namespace dine::stack {
namespace {

namespace fs = std::filesystem;

// Keep in step with the app role's routes (DESIGN.md §6): a path listed here
// gets its own line in `dine gateway stats`; ids become {id}.
constexpr std::array kRoutes = {
    RoutePattern{"^/api/v1/login$", "/api/v1/login"},
    RoutePattern{"^/api/v1/stores$", "/api/v1/stores"},
    RoutePattern{"^/api/v1/stores/[0-9]+$", "/api/v1/stores/{id}"},
    RoutePattern{"^/api/v1/stores/[0-9]+/menu$", "/api/v1/stores/{id}/menu"},
    RoutePattern{"^/api/v1/campaigns$", "/api/v1/campaigns"},
    RoutePattern{"^/api/v1/coupons$", "/api/v1/coupons"},
    RoutePattern{"^/api/v1/coupons/claim$", "/api/v1/coupons/claim"},
    RoutePattern{"^/api/v1/orders$", "/api/v1/orders"},
    RoutePattern{"^/api/v1/orders/[0-9]+$", "/api/v1/orders/{id}"},
    RoutePattern{"^/api/v1/orders/[0-9]+/pay$", "/api/v1/orders/{id}/pay"},
    RoutePattern{"^/api/v1/orders/[0-9]+/cancel$", "/api/v1/orders/{id}/cancel"},
};

constexpr int k400[] = {400};
constexpr int k414[] = {414};
constexpr int k494[] = {494};
constexpr int k404[] = {403, 404};
constexpr int k405[] = {405};
constexpr int k408[] = {408};
constexpr int k413[] = {413};
constexpr int k429[] = {429};
constexpr int k500[] = {500};
constexpr int k501[] = {501};
constexpr int k503[] = {502, 503, 504};

// 403 (a directory under /static/) is a 404: the gateway shows no layout.
// 494 is nginx's own code for a header line over its buffer; clients get
// 431, as from a dine node. 502 and 504 (no app node accepted or answered in
// time) are the clients' 503: a dependency is down, never a host or a port.
constexpr std::array kErrors = {
    GatewayError{k400, 400, "bad_request", "the request is malformed"},
    GatewayError{k414, 414, "uri_too_long", "the request URI is too long"},
    GatewayError{k494, 431, "header_too_large", "a request header is too large"},
    GatewayError{k404, 404, "not_found", "no such route on this gateway"},
    GatewayError{k405, 405, "method_not_allowed", "the method is not allowed here"},
    GatewayError{k408, 408, "request_timeout", "the request was not received in time"},
    GatewayError{k413, 413, "body_too_large", "the request body is too large"},
    GatewayError{k429, 429, "rate_limited", "the platform is at its request cap; retry shortly"},
    GatewayError{k500, 500, "internal", "internal error"},
    GatewayError{k501, 501, "not_implemented", "the request uses a feature the gateway does not support"},
    GatewayError{k503, 503, "dependency_unavailable", "the service is unavailable; retry shortly"},
};

// Refused before nginx has the request's URI (a bad request line, a URI over
// the buffer): a named location cannot take those ("empty URI in redirect"),
// so their error_page goes to an internal URI instead.
bool before_uri(const GatewayError& e) { return e.code == "bad_request" || e.code == "uri_too_long"; }

constexpr std::string_view kErrorUriPrefix = "/_gateway/error/";

// Paths are written in double quotes; nginx would still read a '$' in them as
// a variable, and a quote or a backslash would end or escape the string.
std::string check_path(const std::string& path, const Topology& topo, const std::string& what) {
  const bool control = std::any_of(path.begin(), path.end(), [](char ch) { return ch >= 0 && ch < 0x20; });
  if (control || path.find_first_of("\"$\\") != std::string::npos)
    throw TopologyError(fmt::format("{}: {}: \"{}\" cannot be written into an nginx configuration; fix: use a "
                                    "path without quotes, '$', backslashes or control characters",
                                    topo.source, what, path));
  return path;
}

std::string quoted(const std::string& path) { return "\"" + path + "\""; }

// 127.0.0.1:8080, [::1]:8080
std::string endpoint(const Node& n) {
  const std::string& host = n.ip.empty() ? n.host : n.ip;
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, n.port)
                                             : fmt::format("{}:{}", host, n.port);
}

// The upstream's read timeout: past the slowest app node's own request
// timeout, so a slow request gets the app's 504 request_timeout (with its
// request id) before the gateway gives up on it.
int proxy_read_timeout_ms(const Topology& topo, const Node& gw) {
  int ms = 0;
  for (const Node* app : topo.uses(gw, "app")) ms = std::max(ms, app->limits.request_timeout_ms);
  return ms + 1000;
}

class Conf {
 public:
  void line(int depth, std::string_view text) {
    out_.append(static_cast<std::size_t>(depth) * 2, ' ');
    out_.append(text);
    out_.push_back('\n');
  }
  void blank() { out_.push_back('\n'); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void render_globals(Conf& c, const Node& gw, const NginxPaths& p, const std::string& worker_user) {
  if (!worker_user.empty()) c.line(0, fmt::format("user {};  # the master runs as root", worker_user));
  c.line(0, "daemon off;  # dine up supervises the master by its pid");
  c.line(0, "master_process on;");
  c.line(0, fmt::format("worker_processes {};", gw.workers));
  c.line(0, "worker_shutdown_timeout 5s;  # a graceful stop (SIGQUIT) does not wait for WebSockets forever");
  c.line(0, fmt::format("pid {};", quoted(p.pid_file())));
  c.line(0, fmt::format("error_log {} warn;", quoted(p.error_log())));
  c.line(0, "worker_rlimit_nofile 8192;  # a proxied request holds two descriptors");
  c.line(0, "pcre_jit on;");
  c.blank();
  c.line(0, "events {");
  c.line(1, "worker_connections 4096;");
  c.line(0, "}");
  c.blank();
}

void render_limits(Conf& c, const Node& gw, const NginxPaths& p) {
  const Limits& l = gw.limits;
  // A request line or one header line may take a quarter of header_bytes;
  // the buffers hold about header_bytes in all.
  const std::size_t line_buffer = std::max<std::size_t>(1024, l.header_bytes / 4);
  c.line(1, "server_tokens off;");
  c.line(1, "sendfile on;");
  c.line(1, "tcp_nopush on;");
  c.line(1, "reset_timedout_connection on;");
  c.line(1, fmt::format("keepalive_timeout {}ms;", l.idle_timeout_ms));
  c.line(1, fmt::format("client_header_timeout {}ms;", l.request_timeout_ms));
  c.line(1, fmt::format("client_body_timeout {}ms;", l.request_timeout_ms));
  c.line(1, fmt::format("send_timeout {}ms;", l.request_timeout_ms));
  c.line(1, fmt::format("client_max_body_size {};", l.body_bytes));
  c.line(1, fmt::format("client_body_buffer_size {};  # a body within the limit stays in memory", l.body_bytes));
  c.line(1, "client_header_buffer_size 1k;");
  c.line(1, fmt::format("large_client_header_buffers 4 {};", line_buffer));
  for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
    c.line(1, fmt::format("{}_temp_path {};", temp, quoted(fmt::format("{}/{}_temp", p.dir, temp))));
  c.blank();
  c.line(1, "types {");
  for (const char* t : {"application/json json", "text/html html", "text/css css", "text/plain txt",
                        "application/javascript js", "image/png png", "image/jpeg jpg jpeg", "image/webp webp",
                        "image/svg+xml svg"})
    c.line(2, fmt::format("{};", t));
  c.line(1, "}");
  c.line(1, "default_type application/octet-stream;");
  c.blank();
}

void render_maps_and_log(Conf& c, const NginxPaths& p) {
  c.line(1, "# The caller's X-Request-Id when it is plain (as a dine node keeps it), else nginx's own.");
  c.line(1, "map $http_x_request_id $gw_request_id {");
  c.line(2, "\"~^[A-Za-z0-9._:-]{1,128}$\" $http_x_request_id;");
  c.line(2, "default $request_id;");
  c.line(1, "}");
  c.line(1, "map $http_upgrade $gw_connection_upgrade {");
  c.line(2, "default upgrade;");
  c.line(2, "\"\" close;");
  c.line(1, "}");
  c.line(1, "# The route pattern the access log names (ids replaced): from the normalised path, never the query.");
  c.line(1, "map $uri $gw_route {");
  c.line(2, "default other;");
  c.line(2, "/ws/v1/user /ws/v1/user;");
  for (const auto& r : kRoutes) c.line(2, fmt::format("\"~{}\" \"{}\";", r.regex, r.pattern));
  c.line(2, "\"~^/api/v1/\" \"/api/v1/*\";");
  c.line(2, "\"~^/static/\" \"/static/*\";");
  c.line(2, fmt::format("\"~^{}\" \"-\";", kErrorUriPrefix));
  c.line(1, "}");
  c.line(1, "# One JSON object per line (docs/gateway.md). No $request_uri, $args or header of the");
  c.line(1, "# caller's: tokens in a query string or an Authorization header never reach the log.");
  c.line(1, "log_format dine_gateway escape=json '{\"time\":\"$time_iso8601\",\"msec\":$msec,"
            "\"route\":\"$gw_route\",\"method\":\"$request_method\",\"status\":$status,"
            "\"bytes_sent\":$bytes_sent,\"request_length\":$request_length,\"request_time\":$request_time,"
            "\"upstream_time\":\"$upstream_response_time\",\"upstream_status\":\"$upstream_status\","
            "\"upstream\":\"$upstream_addr\",\"request_id\":\"$gw_request_id\"}';");
  c.line(1, fmt::format("access_log {} dine_gateway;", quoted(p.access_log())));
  c.blank();
}

void render_cap_and_upstream(Conf& c, const Topology& topo, const Node& gw) {
  const std::size_t gateways = topo.by_kind(NodeKind::Nginx).size();
  const int rate = topo.gateway.rate_per_node(gateways);
  c.line(1, fmt::format("# The global cap of {} requests/s over {} gateway node(s): {} r/s here, one zone for the",
                        topo.gateway.qps_cap, gateways, rate));
  c.line(1, "# whole node (a constant key: a cap on traffic, not per client).");
  c.line(1, fmt::format("limit_req_zone gateway zone=gateway:1m rate={}r/s;", rate));
  c.line(1, "limit_req_status 429;");
  c.line(1, "limit_req_log_level notice;  # rejections are counted in the access log, not logged one by one");
  c.blank();
  c.line(1, "# The app nodes, with passive health checks: max_fails failures within fail_timeout take a");
  c.line(1, "# node out for fail_timeout. Idle connections are dropped before the app would drop them.");
  c.line(1, "upstream app {");
  for (const Node* app : topo.uses(gw, "app"))
    c.line(2, fmt::format("server {} max_fails={} fail_timeout={}s;  # {}", endpoint(*app), topo.gateway.max_fails,
                          topo.gateway.fail_timeout_s, app->id));
  c.line(2, "keepalive 64;");
  c.line(2, fmt::format("keepalive_timeout {}ms;", gw.limits.client_idle_ms()));
  c.line(1, "}");
  c.blank();
}

// JSON bodies of the errors nginx makes itself.
void render_error_pages(Conf& c) {
  for (const auto& e : kErrors) {
    std::string statuses;
    for (int s : e.from) statuses += fmt::format("{} ", s);
    const std::string target = before_uri(e) ? fmt::format("{}{}", kErrorUriPrefix, e.code)
                                             : fmt::format("@json_{}", e.code);
    c.line(2, fmt::format("error_page {}= {};", statuses, target));
  }
  c.blank();
  for (const auto& e : kErrors) {
    if (before_uri(e)) {
      c.line(2, fmt::format("location = {}{} {{", kErrorUriPrefix, e.code));
      c.line(3, "internal;");
    } else {
      c.line(2, fmt::format("location @json_{} {{", e.code));
    }
    c.line(3, "default_type application/json;");
    c.line(3, "add_header X-Request-Id $gw_request_id always;");
    if (e.status == 429 || e.status == 503) c.line(3, "add_header Retry-After 1 always;");
    c.line(3, fmt::format("return {} '{{\"error\":\"{}\",\"message\":\"{}\",\"request_id\":\"$gw_request_id\"}}';",
                          e.status, e.code, e.message));
    c.line(2, "}");
  }
}

// What every proxied location sends the app nodes.
void render_proxy(Conf& c, std::string_view connection, int read_timeout_ms) {
  c.line(3, "proxy_http_version 1.1;");
  c.line(3, "proxy_set_header Host $host;");
  c.line(3, fmt::format("proxy_set_header Connection {};", connection));
  c.line(3, "proxy_set_header X-Request-Id $gw_request_id;");
  c.line(3, "proxy_set_header X-Forwarded-For $remote_addr;  # the edge: a caller's own value is replaced");
  c.line(3, "proxy_set_header X-Forwarded-Proto $scheme;");
  c.line(3, "proxy_set_header X-Request-Budget-Ms \"\";  # a public caller sets no deadline inside");
  c.line(3, "proxy_hide_header X-Request-Id;  # the gateway's own header carries the same id");
  c.line(3, "proxy_connect_timeout 1s;");
  c.line(3, fmt::format("proxy_read_timeout {}ms;", read_timeout_ms));
  c.line(3, fmt::format("proxy_send_timeout {}ms;", read_timeout_ms));
  c.line(3, "# Another app node after a refused connection or a timeout; a POST whose bytes reached an");
  c.line(3, "# app node is never sent to another (nginx's default for non-idempotent methods).");
  c.line(3, "proxy_next_upstream error timeout;");
}

void render_server(Conf& c, const Topology& topo, const Node& gw, const NginxPaths& p) {
  const int rate = topo.gateway.rate_per_node(topo.by_kind(NodeKind::Nginx).size());
  const int burst = effective_burst(topo.gateway, rate);  // nginx refuses "burst=0": it is the default
  const std::string limit = burst > 0 ? fmt::format("limit_req zone=gateway burst={} nodelay;", burst)
                                      : std::string("limit_req zone=gateway nodelay;");
  c.line(1, "server {");
  c.line(2, fmt::format("listen {} default_server;", endpoint(gw)));
  c.line(2, "server_name _;");
  c.line(2, "add_header X-Request-Id $gw_request_id always;");
  c.blank();
  c.line(2, "# The public API: the path as nginx normalised it (no /../ past this prefix) goes on.");
  c.line(2, "location /api/v1/ {");
  c.line(3, limit);
  c.line(3, "proxy_pass http://app/api/v1/;");
  render_proxy(c, "\"\"", proxy_read_timeout_ms(topo, gw));
  c.line(2, "}");
  c.blank();
  c.line(2, "# The user's WebSocket: upgraded, then held open up to an hour without a frame.");
  c.line(2, "location = /ws/v1/user {");
  c.line(3, limit);
  c.line(3, "proxy_pass http://app/ws/v1/user;");
  render_proxy(c, "$gw_connection_upgrade", 3'600'000);
  c.line(3, "proxy_set_header Upgrade $http_upgrade;");
  c.line(2, "}");
  c.blank();
  c.line(2, "# The files `dine prewarm menu --export` writes (a CDN's share of the traffic).");
  c.line(2, "location /static/ {");
  c.line(3, fmt::format("alias {};", quoted(p.static_dir + "/")));
  c.line(3, "etag on;");
  c.line(3, "add_header Cache-Control \"public, max-age=60\";");
  c.line(3, "add_header X-Request-Id $gw_request_id always;");
  c.line(2, "}");
  c.blank();
  c.line(2, "# `dine health` asks here that the gateway answers; not logged, so its figures are the users'.");
  c.line(2, "location = /gateway/health {");
  c.line(3, "access_log off;");
  c.line(3, "default_type application/json;");
  c.line(3, "return 200 '{\"status\":\"ok\"}';");
  c.line(2, "}");
  c.blank();
  c.line(2, "# Everything else, the internal routes of every role (/v1/..., /metrics, /readyz, /healthz)");
  c.line(2, "# among them, is not found here.");
  c.line(2, "location / {");
  c.line(3, "return 404;");
  c.line(2, "}");
  c.blank();
  render_error_pages(c);
  c.line(1, "}");
}

}  // namespace

std::span<const RoutePattern> public_routes() { return kRoutes; }
std::span<const GatewayError> gateway_errors() { return kErrors; }

int effective_burst(const Gateway& g, int rate_per_node) { return std::max(g.burst, rate_per_node / 1000); }

NginxPaths nginx_paths(const Topology& topo, const Node& gateway, const std::string& state_dir) {
  const fs::path state = fs::absolute(state_dir).lexically_normal();
  NginxPaths p;
  p.dir = check_path((state / gateway.id).string(), topo, "the state dir of nodes." + gateway.id);
  const fs::path static_dir = topo.gateway.static_dir.empty() ? state / "static" : fs::path(topo.gateway.static_dir);
  p.static_dir = fs::absolute(static_dir).lexically_normal().string();
  while (p.static_dir.size() > 1 && p.static_dir.back() == '/') p.static_dir.pop_back();
  check_path(p.static_dir, topo, "gateway.static_dir");
  return p;
}

std::string render_nginx_conf(const Topology& topo, const Node& gw, const NginxPaths& paths,
                              const std::string& worker_user) {
  if (gw.kind != NodeKind::Nginx)
    throw TopologyError(fmt::format("{}: nodes.{}: is a {} node, not a gateway; fix: name a node of kind nginx",
                                    topo.source, gw.id, to_string(gw.kind)));
  Conf c;
  c.line(0, fmt::format("# nginx.conf of gateway node {} ({}) of topology '{}' ({}).", gw.id, endpoint(gw),
                        topo.name, topo.source));
  c.line(0, "# Rendered by dine (`dine gen nginx`, `dine up`): change the topology and render again rather");
  c.line(0, "# than editing this file. What each part does: docs/gateway.md.");
  c.blank();
  render_globals(c, gw, paths, worker_user);
  c.line(0, "http {");
  render_limits(c, gw, paths);
  render_maps_and_log(c, paths);
  render_cap_and_upstream(c, topo, gw);
  render_server(c, topo, gw, paths);
  c.line(0, "}");
  return c.take();
}

}  // namespace dine::stack
