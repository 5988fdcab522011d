#pragma once
// `dine db seed`: stores (store database), their tokens (hashes in the store
// database, tokens in a 0600 file), menus and products (menu database) and
// coupon campaigns (coupon database), sized by a Spec, idempotent: rows are
// only ever added, never changed (an existing campaign keeps its stock), and a
// second run with the same flags inserts nothing. See docs/seed.md.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/topology.hpp"
#include "sim/seed/loader.hpp"
#include "sim/seed/rows.hpp"

namespace dine::seed {

struct Options {
  Spec spec;
  std::string tokens_file;     // where the tokens go (the command defaults it to <state dir>/store-tokens.json)
  bool rotate_tokens = false;  // revoke unrevoked tokens the file lacks and issue new ones
};

struct TableReport {
  std::string table;     // "stores", "menus", "products", "campaigns"
  std::string node;      // "pg-main"
  std::string address;   // "127.0.0.1:25432"
  std::string database;  // "store"
  Counts counts;         // for menus, `changed`: versions raised because products were added to an existing menu
};

struct TokenReport {
  std::string file;
  int64_t kept = 0, issued = 0, registered = 0, rotated = 0, not_in_file = 0;
  bool file_written = false;
  bool mode_fixed = false;  // the file was readable by others: rewritten 0600
};

struct Report {
  std::string topology;
  std::vector<TableReport> tables;
  TokenReport tokens;
  double seconds = 0;

  int64_t rows() const;  // every row offered to a table, and every token hash written
  double rows_per_second() const { return seconds > 0 ? static_cast<double>(rows()) / seconds : 0; }
  nlohmann::json to_json() const;  // never holds a token
};

// The postgres node whose "databases" lists `database`. Throws TopologyError
// naming the topology file and the fix when none (or more than one) does.
const Node& database_node(const Topology& topo, const std::string& database);

// database_node for store, menu and coupon: what run() checks first.
void check_topology(const Topology& topo);

// Called with done = 0 when a table starts, after each chunk, and with done = total at its end.
using Progress = std::function<void(const std::string& table, int64_t done, int64_t total)>;

// Connects to the store, menu and coupon databases and checks their tables
// before writing anything; then loads. Blocking. Throws TopologyError (bad
// topology), DbError (a database: unreachable, not migrated, failing) or
// std::runtime_error (the tokens file), each naming what failed and the fix.
Report run(const Topology& topo, const Options& o, const Progress& progress);

}  // namespace dine::seed
