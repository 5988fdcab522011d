#include "core/topology.hpp"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/embedded.hpp"

namespace dine {
namespace {

using nlohmann::json;

constexpr const char* kEmbeddedSource = "<embedded deploy/local.json>";

// Reads typed values out of one JSON object, naming file and key in every error
// and rejecting keys it does not know (a typo must not silently fall back).
class Reader {
 public:
  Reader(const json& obj, std::string source, std::string path)
      : obj_(obj), source_(std::move(source)), path_(std::move(path)) {
    if (!obj_.is_object()) fail(path_, "must be an object", "write it as {...}");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what, const std::string& fix) const {
    throw TopologyError(fmt::format("{}: {}: {}; fix: {}", source_, key, what, fix));
  }
  std::string key(const std::string& k) const { return path_.empty() ? k : path_ + "." + k; }
  const json* get(const std::string& k) {
    seen_.insert(k);
    auto it = obj_.find(k);
    return it == obj_.end() ? nullptr : &*it;
  }

  std::string str(const std::string& k, std::optional<std::string> dflt = std::nullopt) {
    const json* v = get(k);
    if (!v) {
      if (dflt) return *dflt;
      fail(key(k), "is missing", fmt::format("add \"{}\": \"...\"", k));
    }
    if (!v->is_string()) fail(key(k), "must be a string", fmt::format("write \"{}\": \"...\"", k));
    return v->get<std::string>();
  }
  int integer(const std::string& k, std::optional<int> dflt, int lo, int hi) {
    const json* v = get(k);
    if (!v) {
      if (dflt) return *dflt;
      fail(key(k), "is missing", fmt::format("add \"{}\": <number {}..{}>", k, lo, hi));
    }
    if (!v->is_number_integer()) fail(key(k), "must be an integer", fmt::format("write a number {}..{}", lo, hi));
    auto n = v->get<int64_t>();
    if (n < lo || n > hi) fail(key(k), fmt::format("is {}, out of range", n), fmt::format("use {}..{}", lo, hi));
    return static_cast<int>(n);
  }
  bool boolean(const std::string& k, bool dflt) {
    const json* v = get(k);
    if (!v) return dflt;
    if (!v->is_boolean()) fail(key(k), "must be true or false", "write true or false");
    return v->get<bool>();
  }
  std::vector<std::string> strings(const std::string& k, bool required) {
    const json* v = get(k);
    std::vector<std::string> out;
    if (!v) {
      if (required) fail(key(k), "is missing", fmt::format("add \"{}\": [\"...\"]", k));
      return out;
    }
    if (v->is_string()) return {v->get<std::string>()};
    if (!v->is_array()) fail(key(k), "must be a list of strings", fmt::format("write \"{}\": [\"...\"]", k));
    for (const auto& e : *v) {
      if (!e.is_string()) fail(key(k), "must be a list of strings", "quote every entry");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  void reject_unknown() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it)
      if (!seen_.count(it.key()))
        fail(key(it.key()), "is not a known key", "remove it or check its spelling (see deploy/local.json)");
  }
  const std::string& source() const { return source_; }

 private:
  const json& obj_;
  std::string source_;
  std::string path_;
  std::set<std::string> seen_;
};

Limits read_limits(const json& obj, const std::string& source, const std::string& path, Limits l) {
  Reader r(obj, source, path);
  l.body_bytes = r.integer("body_bytes", static_cast<int>(l.body_bytes), 256, 64 << 20);
  l.header_bytes = r.integer("header_bytes", static_cast<int>(l.header_bytes), 256, 1 << 20);
  l.idle_timeout_ms = r.integer("idle_timeout_ms", l.idle_timeout_ms, 10, 3'600'000);
  l.request_timeout_ms = r.integer("request_timeout_ms", l.request_timeout_ms, 10, 3'600'000);
  l.db_pool_size = r.integer("db_pool_size", l.db_pool_size, 1, 1000);
  l.db_acquire_timeout_ms = r.integer("db_acquire_timeout_ms", l.db_acquire_timeout_ms, 1, 600'000);
  l.db_query_timeout_ms = r.integer("db_query_timeout_ms", l.db_query_timeout_ms, 1, 600'000);
  l.redis_timeout_ms = r.integer("redis_timeout_ms", l.redis_timeout_ms, 1, 600'000);
  l.max_amount_cents = r.integer("max_amount_cents", l.max_amount_cents, 1, 2'000'000'000);
  l.max_items = r.integer("max_items", l.max_items, 1, 10'000);
  l.max_qty = r.integer("max_qty", l.max_qty, 1, 1'000'000);
  r.reject_unknown();
  return l;
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
      n.appendonly = r.boolean("appendonly", false);
      break;
    case NodeKind::Nginx:
      break;
    case NodeKind::Dine: {
      n.role = r.str("role");
      n.node_id = r.integer("node_id", std::nullopt, 0, 255);
      n.threads = r.integer("threads", 0, 0, 256);
      if (const json* u = r.get("uses")) {
        Reader ur(*u, source, r.key("uses"));
        for (auto it = u->begin(); it != u->end(); ++it) n.uses[it.key()] = ur.strings(it.key(), true);
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
      for (const auto& d : deps)
        if (!ids.count(d))
          throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: \"{}\" is not a node of this topology; fix: "
                                          "add a node with that id or correct the name",
                                          t.source, n.id, purpose, d));
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

std::string Topology::dsn(const Node& pg, const std::string& database) const {
  std::string password = pg.password;
  if (password.empty())
    if (const char* p = std::getenv("DINE_PG_PASSWORD")) password = p;
  std::string dsn = fmt::format("host={} port={} dbname={} user={} connect_timeout=3 application_name=dine",
                                pg.host, pg.port, database, pg.user);
  if (!password.empty()) {
    std::string quoted;  // libpq: a quoted value escapes ' and \ with a backslash
    for (char c : password) {
      if (c == '\'' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    dsn += fmt::format(" password='{}'", quoted);
  }
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
  if (const char* secret = std::getenv("DINE_SECRET"); secret && *secret) t.secret = secret;
  return t;
}

}  // namespace dine
