#pragma once
// Client factories: the clients of a role's declared dependencies, made per
// worker from the topology. Each client publishes its own metrics (labelled
// with its worker) and the node's limits decide its sizes and deadlines.
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/topology.hpp"

namespace dine::metrics {
class Registry;
}
namespace dine::http {
class Client;
}
namespace dine::pg {
class Pool;
class ShardedCluster;
}  // namespace dine::pg
namespace dine::redis {
class Client;
}

namespace dine::runtime {

struct ClientSite {
  asio::any_io_executor executor;
  const Topology* topology = nullptr;
  const Node* self = nullptr;  // the node that makes the calls (its limits, its id)
  metrics::Registry* metrics = nullptr;
  int worker = 0;
  int workers = 1;
};

// A pool to `database` on `pg`: share(db_pool_size) connections, the node's
// session settings (statement and lock timeouts, application_name = node id).
std::unique_ptr<pg::Pool> make_pool(const ClientSite& at, const Node& pg, const std::string& database);
// One pool per shard node, routed by id mod N. Throws TopologyError when N does not divide 16.
std::unique_ptr<pg::ShardedCluster> make_shards(const ClientSite& at, const std::string& purpose,
                                                const std::string& database);
std::unique_ptr<redis::Client> make_redis(const ClientSite& at, const Node& redis);
std::unique_ptr<http::Client> make_http(const ClientSite& at);

}  // namespace dine::runtime
