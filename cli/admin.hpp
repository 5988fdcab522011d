#pragma once
// What `dine db migrate`, `dine outbox redrive` and `dine stream redrive` do
// beyond parsing flags: walks over the topology's dine nodes and their roles'
// declarations (RoleDescriptor::consumes, ::outboxes, ::dependencies), and the
// blocking PostgreSQL and Redis calls on what the walks find. The role lookup
// is a parameter (server::find_role in the commands), so tests can walk roles
// the registry does not have. Each walk assumes server::check_topology passed.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pg/migrate.hpp"
#include "core/runtime/role.hpp"
#include "core/topology.hpp"
#include "server/coupon/audit.hpp"

namespace dine::cli {

using RoleLookup = std::function<const runtime::RoleDescriptor*(std::string_view)>;

// ---- consumer groups (dine db migrate) ---------------------------------------

// A consumer group some role reads with, on the Redis node of its purpose.
struct GroupSite {
  const Node* redis = nullptr;
  std::string stream;
  std::string group;
  std::vector<std::string> readers;  // the dine nodes that read with it
};

// Every (Redis node, stream, group) the dine nodes' roles declare in
// `consumes`, once, in topology order. Throws TopologyError naming
// nodes.<id>.uses.<purpose> when the purpose is missing or not a Redis node.
std::vector<GroupSite> consumer_groups(const Topology& topo, const RoleLookup& lookup);

struct GroupResult {
  GroupSite site;
  bool created = false;  // false: it was there already
};

// XGROUP CREATE stream group 0 MKSTREAM on each site (redis::ensure_group:
// BUSYGROUP is fine, a late consumer misses nothing). Blocking. Throws
// std::runtime_error naming the node at the first failure.
std::vector<GroupResult> ensure_groups(const std::vector<GroupSite>& sites,
                                       const std::function<void(const GroupResult&)>& progress = {});

struct MigrateReport {
  std::vector<MigrationStep> steps;
  std::vector<GroupResult> groups;
};

// What `dine db migrate`, `dine up` and `dine demo` do to the datastores: the
// SQL migrations of every database (migrate_all), then the consumer groups.
MigrateReport migrate_with_groups(const Topology& topo, const RoleLookup& lookup,
                                  const std::function<void(const MigrationStep&)>& on_step = {},
                                  const std::function<void(const GroupResult&)>& on_group = {});

// ---- outbox redrive ----------------------------------------------------------

// One outbox table: a PostgreSQL node and the database of the role's
// dependency of that purpose, with the dine nodes that write it.
struct OutboxDb {
  const Node* pg = nullptr;
  std::string database;
  std::vector<std::string> writers;
};

// Every outbox the dine nodes' roles declare in `outboxes`, deduplicated
// across nodes (two order nodes share four shards: four tables), in topology order.
std::vector<OutboxDb> outbox_databases(const Topology& topo, const RoleLookup& lookup);

struct RedriveResult {
  OutboxDb db;
  int64_t requeued = 0;  // rows sent since T, now unsent again
  std::string error;     // "" when it worked
};

// core/outbox/schema.hpp's kRedrive with `since_utc` (RFC 3339) on each
// database; a database that fails is reported, the others still run. Blocking.
std::vector<RedriveResult> redrive_outboxes(const Topology& topo, const std::vector<OutboxDb>& dbs,
                                            const std::string& since_utc,
                                            const std::function<void(const RedriveResult&)>& progress = {});

// ---- stream redrive ----------------------------------------------------------

// A Redis node that may carry `stream`, and why.
struct StreamHome {
  const Node* redis = nullptr;
  std::vector<std::string> why;  // "read by group oms of oms-1 (uses.mq)"
};

// The Redis nodes of the roles that read `stream` (their `consumes`); when no
// role reads it, the Redis dependencies of the roles that write events through
// an outbox (their relays' target). Distinct nodes, in topology order; more
// than one means the caller must choose.
std::vector<StreamHome> stream_homes(const Topology& topo, const RoleLookup& lookup, const std::string& stream);

struct StreamRedrive {
  bool stream_exists = false;
  bool dead_exists = false;
  int moved = 0;      // dead letters XADDed back onto the stream
  int64_t left = 0;   // dead letters still there afterwards
};

// Moves up to `max` dead letters of `dead_stream` back to `stream` on `redis`
// (redis::redrive_dead_letters, in batches), unless neither key exists there.
// Blocking. Throws std::runtime_error naming the node when Redis fails.
StreamRedrive redrive_stream(const Node& redis, const std::string& stream, const std::string& dead_stream, int max);

// ---- coupon audit ------------------------------------------------------------

// coupon::audit on `redis` (the authority) and database `database` of `pg`,
// after waiting up to `settle` for the coupon-db group to have persisted
// every claim (report.in_flight tells what was left). Blocking. Throws
// std::runtime_error naming the node that failed.
coupon::AuditReport audit_coupons(const Topology& topo, const Node& redis, const Node& pg,
                                  const std::string& database, milliseconds settle);

}  // namespace dine::cli
