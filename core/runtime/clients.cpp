#include "core/runtime/clients.hpp"


#include <fmt/format.h>

#include "core/http/client.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sharded.hpp"
#include "core/redis/client.hpp"
#include "core/service_auth.hpp"

namespace dine::runtime {

namespace {
std::size_t share(const ClientSite& at, int total) {
  std::size_t n = static_cast<std::size_t>(std::max(1, at.workers));
  return std::max<std::size_t>(1, (static_cast<std::size_t>(total) + n - 1) / n);
}
}  // namespace

std::unique_ptr<pg::Pool> make_pool(const ClientSite& at, const Node& pg, const std::string& database) {
  const Limits& l = at.self->limits;
  pg::PoolConfig cfg;
  cfg.node = pg.id;
  cfg.database = database;
  cfg.dsn = at.topology->dsn(pg, database, DsnOptions::for_pools(at.self->id, l));
  cfg.max_size = share(at, l.db_pool_size);
  cfg.acquire_timeout = milliseconds(l.db_acquire_timeout_ms);
  cfg.connect_timeout = milliseconds(l.db_connect_timeout_ms);
  cfg.query_timeout = milliseconds(l.db_query_timeout_ms);
  cfg.metrics = at.metrics;
  cfg.worker = at.worker;
  return std::make_unique<pg::Pool>(at.executor, std::move(cfg));
}

std::unique_ptr<pg::ShardedCluster> make_shards(const ClientSite& at, const std::string& purpose,
                                                const std::string& database) {
  auto nodes = at.topology->uses(*at.self, purpose);
  if (16 % nodes.size() != 0)
    throw TopologyError(fmt::format("{}: nodes.{}.uses.{}: {} shards; fix: use 1, 2, 4, 8 or 16 shards "
                                    "(the shard count must divide 16)",
                                    at.topology->source, at.self->id, purpose, nodes.size()));
  std::vector<std::unique_ptr<pg::Pool>> pools;
  for (const Node* n : nodes) pools.push_back(make_pool(at, *n, database));
  return std::make_unique<pg::ShardedCluster>(std::move(pools));
}

std::unique_ptr<redis::Client> make_redis(const ClientSite& at, const Node& node) {
  redis::ClientConfig rc;
  rc.name = node.id;
  rc.host = node.ip.empty() ? node.host : node.ip;
  rc.port = node.port;
  rc.command_timeout = milliseconds(at.self->limits.redis_timeout_ms);
  rc.metrics = at.metrics;
  rc.worker = at.worker;
  return std::make_unique<redis::Client>(at.executor, rc);
}

std::unique_ptr<http::Client> make_http(const ClientSite& at) {
  http::ClientOptions o;
  o.timeout = milliseconds(at.self->limits.request_timeout_ms);
  o.idle_timeout = milliseconds(at.self->limits.client_idle_ms());  // below every callee's (checked at load)
  o.metrics = at.metrics;
  o.worker = at.worker;
  auto client = std::make_unique<http::Client>(at.executor, o);
  if (at.topology && at.self) client->present_service_credential(service_credential(at.topology->secret, at.self->id));
  return client;
}

}  // namespace dine::runtime
