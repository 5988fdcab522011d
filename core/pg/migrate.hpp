#pragma once
// Applies the embedded SQL migrations (schemas/<database>/NNN_name.sql) to
// every database of every postgres node of a topology, recording versions in
// dine_schema_migrations; safe to run twice and from two processes at once
// (an advisory lock serialises them).
#include <functional>
#include <string>
#include <vector>

#include "core/topology.hpp"

namespace dine {

struct MigrationStep {
  std::string node;      // "pg-order-2"
  std::string database;  // "order"
  std::string version;   // "001_orders"
  bool applied = false;  // false: already there
};

// Creates missing databases first (connecting to "postgres"). Blocking; runs
// its own io_context. Throws std::runtime_error naming the node and file.
std::vector<MigrationStep> migrate_all(const Topology& topo,
                                       const std::function<void(const MigrationStep&)>& progress = {});

}  // namespace dine
