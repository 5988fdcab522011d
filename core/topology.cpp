#include "core/topology.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/embedded.hpp"

namespace dine {
namespace {

using nlohmann::json;

constexpr const char* kEmbeddedSource = "<embedded deploy/local.json>";

using config::Reader;

Limits read_limits(const json& obj, const std::string& source, const std::string& path, Limits l) {
  Reader r(obj, source, path);
  l.body_bytes = r.integer("body_bytes", static_cast<int>(l.body_bytes), 256, 64 << 20);
  l.header_bytes = r.integer("header_bytes", static_cast<int>(l.header_bytes), 256, 1 << 20);
  l.idle_timeout_ms = r.integer("idle_timeout_ms", l.idle_timeout_ms, 10, 3'600'000);
  l.client_idle_timeout_ms = r.integer("client_idle_timeout_ms", l.client_idle_timeout_ms, 0, 3'600'000);
  l.request_timeout_ms = r.integer("request_timeout_ms", l.request_timeout_ms, 10, 3'600'000);
  l.max_in_flight = r.integer("max_in_flight", l.max_in_flight, 0, 10'000'000);
  l.db_pool_size = r.integer("db_pool_size", l.db_pool_size, 1, 1000);
  l.db_acquire_timeout_ms = r.integer("db_acquire_timeout_ms", l.db_acquire_timeout_ms, 1, 600'000);
  l.db_query_timeout_ms = r.integer("db_query_timeout_ms", l.db_query_timeout_ms, 1, 600'000);
  l.db_connect_timeout_ms = r.integer("db_connect_timeout_ms", l.db_connect_timeout_ms, 1, 600'000);
  l.db_statement_timeout_ms = r.integer("db_statement_timeout_ms", l.db_statement_timeout_ms, 0, 3'600'000);
  l.db_lock_timeout_ms = r.integer("db_lock_timeout_ms", l.db_lock_timeout_ms, 0, 3'600'000);
  l.db_idle_in_tx_timeout_ms = r.integer("db_idle_in_tx_timeout_ms", l.db_idle_in_tx_timeout_ms, 0, 3'600'000);
  l.redis_timeout_ms = r.integer("redis_timeout_ms", l.redis_timeout_ms, 1, 600'000);
  r.reject_unknown();
  if (l.client_idle_ms() >= l.idle_timeout_ms)
    r.fail(r.key("client_idle_timeout_ms"), fmt::format("is {} ms, not below idle_timeout_ms ({} ms)",
                                                         l.client_idle_ms(), l.idle_timeout_ms),
           "a client must drop an idle keep-alive connection before the server does: make it smaller");
  return l;
}

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

// A Redis node's persistence and memory. An append-only node (streams, coupon
// stock) fsyncs every write and refuses writes when full rather than evict; a
// cache evicts its least recently used keys.
void read_redis(Reader& r, Node& n) {
  n.appendonly = r.boolean("appendonly", false);
  if (n.appendonly) {
    n.appendfsync = r.str("appendfsync", "always");
    if (!one_of(n.appendfsync, {"always", "everysec", "no"}))
      r.fail(r.key("appendfsync"), fmt::format("is \"{}\", not a policy Redis knows", n.appendfsync),
             "use \"always\" (no acknowledged write is lost), \"everysec\" or \"no\"");
  } else if (r.get("appendfsync")) {
    r.fail(r.key("appendfsync"), "is set but appendonly is false, so nothing would be fsynced",
           "set \"appendonly\": true, or remove appendfsync");
  }
  n.maxmemory_mb = r.integer("maxmemory_mb", 256, 1, 1 << 20);
  n.eviction = r.str("eviction", n.appendonly ? "noeviction" : "allkeys-lru");
  if (!one_of(n.eviction, {"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                           "volatile-lfu", "volatile-random", "volatile-ttl"}))
    r.fail(r.key("eviction"), fmt::format("is \"{}\", not a maxmemory-policy Redis knows", n.eviction),
           "use \"noeviction\" (queues: refuse writes when full), \"allkeys-lru\" (caches), \"allkeys-lfu\", "
           "\"allkeys-random\", \"volatile-lru\", \"volatile-lfu\", \"volatile-random\" or \"volatile-ttl\"");
}

void read_uses(Reader& r, Node& n) {
  const json* u = r.get("uses");
  if (!u) return;
  Reader ur(*u, r.source(), r.key("uses"));
  for (auto it = u->begin(); it != u->end(); ++it) n.uses[it.key()] = ur.strings(it.key(), true);
}

// A gateway node: nginx in front of the app nodes it lists under uses.app.
void read_nginx(Reader& r, Node& n) {
  n.workers = r.integer("workers", 1, 1, 256);
  read_uses(r, n);
  for (const auto& [purpose, deps] : n.uses)
    if (purpose != "app")
      r.fail(r.key("uses." + purpose), "is not a purpose of a gateway node",
             "a gateway forwards to app nodes only: write \"uses\": {\"app\": [\"app-1\", ...]}");
  auto app = n.uses.find("app");
  if (app == n.uses.end() || app->second.empty())
    r.fail(r.key("uses.app"), "is missing", "list the app nodes the gateway forwards to: \"uses\": {\"app\": "
                                            "[\"app-1\", \"app-2\"]}");
}

Gateway read_gateway(const json& obj, const std::string& source) {
  Reader r(obj, source, "gateway");
  Gateway g;
  g.qps_cap = r.integer("qps_cap", g.qps_cap, 1, 100'000'000);
  g.burst = r.integer("burst", g.burst, 0, 100'000'000);
  g.static_dir = r.str("static_dir", "");
  g.max_fails = r.integer("max_fails", g.max_fails, 0, 1000);
  g.fail_timeout_s = r.integer("fail_timeout_s", g.fail_timeout_s, 1, 86400);
  r.reject_unknown();
  return g;
}

NodeKind parse_kind(Reader& r, const std::string& k) {
  auto s = r.str(k);
  if (s == "postgres") return NodeKind::Postgres;
  if (s == "redis") return NodeKind::Redis;
  if (s == "nginx") return NodeKind::Nginx;
  if (s == "dine") return NodeKind::Dine;
  r.fail(r.key(k), fmt::format("is \"{}\", not a known kind", s), "use postgres, redis, nginx or dine");
}

Node read_node(const json& obj, const std::string& source, const std::string& path, const Limits& defaults) {
  Reader r(obj, source, path);
  Node n;
  n.id = r.str("id");
  n.kind = parse_kind(r, "kind");
  n.host = r.str("host", "127.0.0.1");
  n.port = r.integer("port", std::nullopt, 1, 65535);
  n.limits = defaults;
  if (const json* l = r.get("limits")) n.limits = read_limits(*l, source, r.key("limits"), defaults);
  switch (n.kind) {
    case NodeKind::Postgres:
      n.databases = r.strings("databases", true);
      n.user = r.str("user", "dine");
      n.password = r.str("password", "");
      break;
    case NodeKind::Redis:
      read_redis(r, n);
      break;
    case NodeKind::Nginx:
      read_nginx(r, n);
      break;
    case NodeKind::Dine: {
      n.role = r.str("role");
      n.node_id = r.integer("node_id", std::nullopt, 0, 255);
      n.threads = r.integer("threads", 0, 0, 256);
      read_uses(r, n);
      if (const json* c = r.get("config")) {
        if (!c->is_object()) r.fail(r.key("config"), "must be an object", "write \"config\": {...}");
        n.config = c->dump();
      }
      break;
    }
  }
  r.reject_unknown();
  return n;
}

void validate(const Topology& t) {
  std::set<std::string> ids;
  std::set<std::string> addresses;
  std::set<std::pair<std::string, int>> role_ids;
  for (const auto& n : t.nodes) {
    if (!ids.insert(n.id).second)
      throw TopologyError(fmt::format("{}: nodes: id \"{}\" appears twice; fix: give every node its own id",
                                      t.source, n.id));
    if (!addresses.insert(n.address()).second)
      throw TopologyError(fmt::format("{}: nodes.{}: address {} is already used by another node; fix: "
                                      "give it another port", t.source, n.id, n.address()));
    if (n.kind == NodeKind::Dine && !role_ids.insert({n.role, n.node_id}).second)
      throw TopologyError(fmt::format("{}: nodes.{}.node_id: {} is already used by another {} node; fix: "
                                      "node ids must be unique per role (they are part of every id it makes)",
                                      t.source, n.id, n.node_id, n.role));
  }
  for (const auto& n : t.nodes)
    for (const auto& [purpose, deps] : n.uses)
      for (const auto& d : deps) {
        const Node* dep = t.find(d);
        if (!dep)
          throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: \"{}\" is not a node of this topology; fix: "
                                          "add a node with that id or correct the name",
                                          t.source, n.id, purpose, d));
        if (n.kind == NodeKind::Nginx && dep->kind != NodeKind::Dine)
          throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: \"{}\" is a {} node, not a dine node; fix: a "
                                          "gateway forwards to app nodes only: list nodes of kind dine",
                                          t.source, n.id, purpose, d, to_string(dep->kind)));
        // A client must drop an idle keep-alive connection before the server
        // does, or a request sent as the server closes fails (a 5xx for a user).
        if (dep->kind == NodeKind::Dine && n.limits.client_idle_ms() >= dep->limits.idle_timeout_ms)
          throw TopologyError(fmt::format(
              "{}: nodes.{}.limits.client_idle_timeout_ms: {} ms is not below the idle_timeout_ms of {} ({} ms) "
              "it calls; fix: lower the client's or raise the server's",
              t.source, n.id, n.limits.client_idle_ms(), d, dep->limits.idle_timeout_ms));
      }
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw TopologyError(fmt::format("{}: cannot read the topology file; fix: check the path "
                                           "(or omit --topology to use the embedded local one)", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const char* to_string(NodeKind k) {
  switch (k) {
    case NodeKind::Postgres: return "postgres";
    case NodeKind::Redis: return "redis";
    case NodeKind::Nginx: return "nginx";
    case NodeKind::Dine: return "dine";
  }
  return "?";
}

std::vector<std::string> Node::uses_all() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& [purpose, deps] : uses)
    for (const auto& d : deps)
      if (seen.insert(d).second) out.push_back(d);
  return out;
}

std::string Node::address() const { return fmt::format("{}:{}", host, port); }

const Node* Topology::find(const std::string& id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

const Node& Topology::node(const std::string& id) const {
  if (const Node* n = find(id)) return *n;
  std::string known;
  for (const auto& n : nodes) known += (known.empty() ? "" : ", ") + n.id;
  throw TopologyError(fmt::format("{}: no node \"{}\"; fix: use one of: {}", source, id, known));
}

std::vector<const Node*> Topology::by_role(const std::string& role) const {
  std::vector<const Node*> out;
  for (const auto& n : nodes)
    if (n.kind == NodeKind::Dine && n.role == role) out.push_back(&n);
  return out;
}

std::vector<const Node*> Topology::by_kind(NodeKind kind) const {
  std::vector<const Node*> out;
  for (const auto& n : nodes)
    if (n.kind == kind) out.push_back(&n);
  return out;
}

int Gateway::rate_per_node(std::size_t gateway_nodes) const {
  const auto n = static_cast<int64_t>(std::max<std::size_t>(gateway_nodes, 1));
  return static_cast<int>((qps_cap + n - 1) / n);
}

DsnOptions DsnOptions::for_pools(const std::string& node_id, const Limits& l) {
  DsnOptions o;
  o.application_name = node_id;
  o.connect_timeout_ms = l.db_connect_timeout_ms;
  o.statement_timeout_ms = l.statement_timeout_ms();
  o.lock_timeout_ms = l.db_lock_timeout_ms;
  o.idle_in_tx_timeout_ms = l.db_idle_in_tx_timeout_ms;
  o.client_check_ms = 1000;
  o.oltp_plans = true;
  return o;
}

namespace {
// libpq: a quoted value escapes ' and \ with a backslash.
std::string dsn_quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}
}  // namespace

std::string Topology::dsn(const Node& pg, const std::string& database) const {
  static const DsnOptions defaults;
  return dsn(pg, database, defaults);
}

std::string Topology::dsn(const Node& pg, const std::string& database, const DsnOptions& o) const {
  std::string password = pg.password;
  if (password.empty())
    if (const char* p = std::getenv("DINE_PG_PASSWORD")) password = p;
  std::string dsn = fmt::format("host={} port={} dbname={} user={} application_name={}", dsn_quote(pg.host), pg.port,
                                dsn_quote(database), dsn_quote(pg.user), dsn_quote(o.application_name));
  if (!pg.ip.empty() && pg.ip != pg.host) dsn += " hostaddr=" + dsn_quote(pg.ip);
  // libpq's own connect_timeout counts whole seconds, at least 2.
  if (o.connect_timeout_ms > 0) dsn += fmt::format(" connect_timeout={}", std::max(2, (o.connect_timeout_ms + 999) / 1000));
  if (o.keepalives) dsn += " keepalives=1 keepalives_idle=10 keepalives_interval=5 keepalives_count=2 tcp_user_timeout=20000";
  std::string options;
  auto set = [&](const char* name, int ms) {
    if (ms > 0) options += fmt::format("{}-c {}={}", options.empty() ? "" : " ", name, ms);
  };
  set("statement_timeout", o.statement_timeout_ms);
  set("lock_timeout", o.lock_timeout_ms);
  set("idle_in_transaction_session_timeout", o.idle_in_tx_timeout_ms);
  set("client_connection_check_interval", o.client_check_ms);
  if (o.oltp_plans)
    options += fmt::format("{}-c plan_cache_mode=force_generic_plan -c enable_seqscan=off", options.empty() ? "" : " ");
  if (!options.empty()) dsn += " options=" + dsn_quote(options);
  if (!password.empty()) dsn += " password=" + dsn_quote(password);
  return dsn;
}

std::vector<const Node*> Topology::uses(const Node& n, const std::string& purpose) const {
  auto it = n.uses.find(purpose);
  if (it == n.uses.end() || it->second.empty())
    throw TopologyError(fmt::format("{}: nodes.{}.uses.{} is missing; fix: list the nodes it uses, e.g. "
                                    "\"uses\": {{\"{}\": [\"...\"]}}", source, n.id, purpose, purpose));
  std::vector<const Node*> out;
  for (const auto& id : it->second) out.push_back(&node(id));
  return out;
}

std::string strip_json_comments(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) out.push_back(text[++i]);
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n') ++i;
      if (i < text.size()) out.push_back('\n');
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      i += 2;
      while (i + 1 < text.size() && !(text[i] == '*' && text[i + 1] == '/')) {
        if (text[i] == '\n') out.push_back('\n');
        ++i;
      }
      ++i;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Topology parse_topology(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(strip_json_comments(text));
  } catch (const json::parse_error& e) {
    throw TopologyError(fmt::format("{}: not valid JSON ({}); fix: check commas and quotes near that byte",
                                    source, e.what()));
  }
  Reader r(doc, source, "");
  Topology t;
  t.source = source;
  t.name = r.str("name");
  t.secret = r.str("secret", "");
  Limits defaults;
  if (const json* l = r.get("limits")) defaults = read_limits(*l, source, "limits", defaults);
  if (const json* roles = r.get("roles")) {
    if (!roles->is_object()) r.fail("roles", "must be an object", "write \"roles\": {\"order\": {...}}");
    for (auto it = roles->begin(); it != roles->end(); ++it) {
      if (!it->is_object())
        r.fail("roles." + it.key(), "must be an object", "write \"" + it.key() + "\": {...}");
      t.roles[it.key()] = it->dump();
    }
  }
  if (const json* g = r.get("gateway")) t.gateway = read_gateway(*g, source);
  if (const json* h = r.get("health")) {
    if (!h->is_object()) r.fail("health", "must be an object", "write \"health\": {\"p99_red_ms\": 500, ...}");
    t.health = h->dump();  // read by `dine health` (monitor/), which knows its keys
  }
  const json* nodes = r.get("nodes");
  if (!nodes || !nodes->is_array() || nodes->empty())
    r.fail("nodes", "must be a non-empty list", "list the nodes: [{\"id\": ..., \"kind\": ..., ...}]");
  for (std::size_t i = 0; i < nodes->size(); ++i) {
    std::string path = fmt::format("nodes[{}]", i);
    if ((*nodes)[i].is_object() && (*nodes)[i].contains("id") && (*nodes)[i]["id"].is_string())
      path = "nodes." + (*nodes)[i]["id"].get<std::string>();
    t.nodes.push_back(read_node((*nodes)[i], source, path, defaults));
  }
  r.reject_unknown();
  validate(t);
  return t;
}

Topology load_topology(const std::string& path_in) {
  std::string path = path_in;
  if (path.empty())
    if (const char* env = std::getenv("DINE_TOPOLOGY")) path = env;
  Topology t;
  if (path.empty()) {
    auto text = embedded::find("deploy/local.json");
    if (!text) throw TopologyError("the embedded deploy/local.json is missing from this build");
    t = parse_topology(std::string(*text), kEmbeddedSource);
  } else {
    t = parse_topology(read_file(path), path);
  }
  t.secret_source = t.source + ": secret";
  if (const char* secret = std::getenv("DINE_SECRET"); secret && *secret) {
    t.secret = secret;
    t.secret_source = "DINE_SECRET";
  }
  resolve_hosts(t);
  return t;
}

void resolve_hosts(Topology& t) {
  for (auto& n : t.nodes) {
    if (is_ip_literal(n.host)) {
      n.ip = n.host;
      continue;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(n.host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || !res)
      throw TopologyError(fmt::format("{}: nodes.{}.host: \"{}\" does not resolve ({}); fix: use an IP address "
                                      "or a name this machine can resolve",
                                      t.source, n.id, n.host, gai_strerror(rc)));
    // Prefer IPv4 (loopback setups), else the first answer.
    const addrinfo* pick = res;
    for (const addrinfo* a = res; a; a = a->ai_next)
      if (a->ai_family == AF_INET) {
        pick = a;
        break;
      }
    char buf[INET6_ADDRSTRLEN] = {};
    const void* addr = pick->ai_family == AF_INET
                           ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr)
                           : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr);
    inet_ntop(pick->ai_family, addr, buf, sizeof buf);
    freeaddrinfo(res);
    n.ip = buf;
  }
}

}  // namespace dine
