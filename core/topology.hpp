#pragma once
// The topology file: the one source of truth for a deployment. Loaded into
// typed structs and validated; every error names the file, the key and the fix.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dine {

struct Limits {
  std::size_t body_bytes = 64 * 1024;
  std::size_t header_bytes = 8 * 1024;
  int idle_timeout_ms = 30000;
  int request_timeout_ms = 10000;
  int db_pool_size = 16;          // per node, shared out over its worker threads
  int db_acquire_timeout_ms = 1000;
  int db_query_timeout_ms = 5000;
  int redis_timeout_ms = 2000;
  int max_amount_cents = 10'000'000;  // an order above this is refused as absurd
  int max_items = 50;
  int max_qty = 99;
};

enum class NodeKind { Postgres, Redis, Nginx, Dine };
const char* to_string(NodeKind k);

struct Node {
  std::string id;  // "pg-order-0", "order-1"
  NodeKind kind = NodeKind::Dine;
  std::string host = "127.0.0.1";
  int port = 0;
  // postgres
  std::vector<std::string> databases;
  std::string user = "dine";
  std::string password;  // empty: trust / DINE_PG_PASSWORD
  // redis
  bool appendonly = false;
  // dine roles
  std::string role;  // "order", ...
  int node_id = 0;   // 0..255, unique per role: part of every id the node makes
  int threads = 0;   // 0: the --threads flag or the number of cores
  std::map<std::string, std::vector<std::string>> uses;  // purpose -> node ids
  Limits limits;

  std::vector<std::string> uses_all() const;  // every dependency, in order, once
  std::string address() const;                // "127.0.0.1:18101"
};

struct Topology {
  std::string name;    // "local"
  std::string source;  // the file it came from, or "<embedded deploy/local.json>"
  std::string secret;  // HS256 secret for tokens
  std::vector<Node> nodes;

  const Node* find(const std::string& id) const;
  const Node& node(const std::string& id) const;  // throws TopologyError
  std::vector<const Node*> by_role(const std::string& role) const;
  // libpq DSN for one database of a postgres node (password from the node or DINE_PG_PASSWORD).
  std::string dsn(const Node& pg, const std::string& database) const;
  // The nodes of `uses[purpose]` of `n`; throws TopologyError naming the key when absent.
  std::vector<const Node*> uses(const Node& n, const std::string& purpose) const;
};

class TopologyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses JSON with // and /* */ comments. `source` names the file in errors.
Topology parse_topology(const std::string& text, const std::string& source);

// Loads `path`, or the embedded deploy/local.json when empty; then applies
// DINE_SECRET (and DINE_TOPOLOGY when path is empty).
Topology load_topology(const std::string& path);

// Strips // and /* */ comments outside strings (keeps line numbers).
std::string strip_json_comments(const std::string& text);

}  // namespace dine
