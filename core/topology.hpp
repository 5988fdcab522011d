#pragma once
// The topology file: the one source of truth for a deployment. Loaded into
// typed structs and validated; every error names the file, the key and the fix.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dine {

// Limits every node kind shares (a role's own limits live in its section of
// the topology, see Topology::roles and Node::config).
struct Limits {
  std::size_t body_bytes = 64 * 1024;
  std::size_t header_bytes = 8 * 1024;
  int idle_timeout_ms = 30000;         // server keep-alive: a connection idle this long is closed
  int client_idle_timeout_ms = 0;      // client keep-alive; 0: half of idle_timeout_ms. Must stay below
                                       // the idle timeout of every node it calls (checked at load)
  int request_timeout_ms = 10000;
  int max_in_flight = 0;               // concurrent requests per node; 0: no cap
  int db_pool_size = 16;               // per node, shared out over its worker threads
  int db_acquire_timeout_ms = 1000;
  int db_query_timeout_ms = 5000;
  int db_connect_timeout_ms = 2000;
  int db_statement_timeout_ms = 0;     // server-side backstop; 0: db_query_timeout_ms + 500
  int db_lock_timeout_ms = 2000;
  int db_idle_in_tx_timeout_ms = 10000;
  int redis_timeout_ms = 2000;

  int client_idle_ms() const { return client_idle_timeout_ms > 0 ? client_idle_timeout_ms : idle_timeout_ms / 2; }
  int statement_timeout_ms() const {
    return db_statement_timeout_ms > 0 ? db_statement_timeout_ms : db_query_timeout_ms + 500;
  }
};

// Session settings put into a PostgreSQL connection string.
struct DsnOptions {
  std::string application_name = "dine";  // the client node's id: pg_stat_activity shows who
  int connect_timeout_ms = 0;             // 0: not set
  int statement_timeout_ms = 0;
  int lock_timeout_ms = 0;
  int idle_in_tx_timeout_ms = 0;
  int client_check_ms = 0;   // client_connection_check_interval: a query of a vanished client ends
  bool keepalives = true;    // TCP keepalives: a dead peer is noticed in ~20 s
  // Point-statement plans, made once: plan_cache_mode=force_generic_plan and
  // enable_seqscan=off. dine's request statements are keyed reads and writes
  // (by primary key, by index, by arrays of keys in a batch). A plan is kept
  // by its connection until the table's statistics change, and a table that
  // was small (or never analyzed) when the plan was made gets a sequential
  // scan, which then reads the whole table on every call as it grows: a
  // measured 4x the buffer hits per order on a fresh stack. With sequential
  // scans priced out, the index plan is chosen whatever the size; a
  // statement with no index to use still gets its scan.
  bool oltp_plans = false;

  // The session settings of a node's request pools, from its limits.
  static DsnOptions for_pools(const std::string& node_id, const Limits& l);
};

enum class NodeKind { Postgres, Redis, Nginx, Dine };
const char* to_string(NodeKind k);

struct Node {
  std::string id;  // "pg-order-0", "order-1"
  NodeKind kind = NodeKind::Dine;
  std::string host = "127.0.0.1";
  std::string ip;  // host resolved once at load: no name lookup ever blocks an event loop
  int port = 0;
  // postgres
  std::vector<std::string> databases;
  std::string user = "dine";
  std::string password;  // empty: trust / DINE_PG_PASSWORD
  // redis: persistence and memory, passed to redis-server by `dine up`
  bool appendonly = false;
  std::string appendfsync;  // "always" | "everysec" | "no"; appendonly nodes only ("always"), else ""
  int maxmemory_mb = 256;   // maxmemory: a full node evicts or refuses writes, it never swaps
  std::string eviction;     // maxmemory-policy: "noeviction" for appendonly nodes, else "allkeys-lru"
  // dine roles
  std::string role;  // "order", ...
  int node_id = 0;   // 0..255, unique per role: part of every id the node makes
  int threads = 0;   // 0: the --threads flag or the number of cores
  // nginx (a gateway node): its worker_processes; its only purpose in `uses` is "app"
  int workers = 1;
  // dine roles and nginx: purpose -> node ids
  std::map<std::string, std::vector<std::string>> uses;
  std::string config;  // the node's "config" object (JSON text; "" when absent): its role reads it
  Limits limits;

  std::vector<std::string> uses_all() const;  // every dependency, in order, once
  std::string address() const;                // "127.0.0.1:18101"
};

// The "gateway" section: what every nginx node of the topology shares
// (docs/gateway.md). The cap is global: each of the N nginx nodes admits
// ceil(qps_cap / N) requests a second to the app nodes.
struct Gateway {
  int qps_cap = 20000;      // requests/s over all gateway nodes; above it: 429 at once, never queued
  int burst = 0;            // requests a node admits above its rate at once (nginx limit_req burst, nodelay)
  std::string static_dir;   // what /static/ serves; "": <state dir>/static
  int max_fails = 2;        // failed attempts within fail_timeout_s that mark an app node down
  int fail_timeout_s = 5;   // ... and how long it then stays out

  int rate_per_node(std::size_t gateway_nodes) const;  // ceil(qps_cap / gateway_nodes)
};

struct Topology {
  std::string name;    // "local"
  std::string source;  // the file it came from, or "<embedded deploy/local.json>"
  std::string secret;  // HS256 secret for tokens
  std::string secret_source = "the topology's \"secret\"";  // where it came from, for error messages
  std::vector<Node> nodes;
  // "roles": {"order": {...}}: each role's section (JSON text), the defaults of
  // every node of that role; a node's own "config" overrides key by key.
  std::map<std::string, std::string> roles;
  Gateway gateway;
  // "health": {...}: the thresholds of `dine health` (JSON text; "" when absent).
  std::string health;

  const Node* find(const std::string& id) const;
  const Node& node(const std::string& id) const;  // throws TopologyError
  std::vector<const Node*> by_role(const std::string& role) const;
  std::vector<const Node*> by_kind(NodeKind kind) const;
  // libpq DSN for one database of a postgres node (password from the node or
  // DINE_PG_PASSWORD; hostaddr = the resolved address, so libpq does no lookup).
  std::string dsn(const Node& pg, const std::string& database, const DsnOptions& opts) const;
  // Default session options. An overload, not a default argument: GCC 12
  // destroys a default-argument temporary wrongly inside a co_await expression.
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
// DINE_SECRET (and DINE_TOPOLOGY when path is empty) and resolves every host
// name once (resolve_hosts).
Topology load_topology(const std::string& path);

// Fills Node::ip of every node (IP literals as they are, names through the
// resolver). Throws TopologyError naming the node's host key when a name does
// not resolve. Blocking: call it before any event loop runs.
void resolve_hosts(Topology& topo);

// Strips // and /* */ comments outside strings (keeps line numbers).
std::string strip_json_comments(const std::string& text);

}  // namespace dine
