#include "server/order/role.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/pg/sharded.hpp"
#include "core/redis/client.hpp"
#include "server/order/queries.hpp"
#include "server/order/relay.hpp"
#include "server/order/routes.hpp"

namespace dine::order {
namespace {


// Pools and clients belong to their worker's thread, and /metrics may be
// answered by any worker: each worker copies its figures into atomic gauges on
// its own loop once a second, and the scrape reads only those.
struct FigureGauges {
  struct PoolGauges {
    pg::Pool* pool;
    metrics::Gauge *size, *idle, *waiting, *acquire_timeouts;
  };
  std::vector<PoolGauges> pools;
  redis::Client* mq = nullptr;
  metrics::Gauge *connected = nullptr, *commands = nullptr, *errors = nullptr, *in_flight = nullptr;

  void add_pool(metrics::Registry& m, pg::Pool& pool, int worker) {
    metrics::Labels l{{"pool", pool.config().name}, {"worker", std::to_string(worker)}};
    pools.push_back({&pool, &m.gauge("dine_pg_pool_connections", "Open connections of a PostgreSQL pool", l),
                     &m.gauge("dine_pg_pool_idle", "Idle connections of a PostgreSQL pool", l),
                     &m.gauge("dine_pg_pool_waiting", "Coroutines waiting for a PostgreSQL connection", l),
                     &m.gauge("dine_pg_pool_acquire_timeouts", "Acquires that timed out since start", l)});
  }
  void set_redis(metrics::Registry& m, redis::Client& c, int worker) {
    metrics::Labels l{{"redis", c.config().name}, {"worker", std::to_string(worker)}};
    mq = &c;
    connected = &m.gauge("dine_redis_connected", "1 when the Redis connection is up", l);
    commands = &m.gauge("dine_redis_commands", "Commands sent since start", l);
    errors = &m.gauge("dine_redis_errors", "Connection failures and timeouts since start", l);
    in_flight = &m.gauge("dine_redis_in_flight", "Commands awaiting a reply", l);
  }
  void publish() {
    for (auto& p : pools) {
      auto f = p.pool->figures();
      p.size->set(double(f.size));
      p.idle->set(double(f.idle));
      p.waiting->set(double(f.waiting));
      p.acquire_timeouts->set(double(f.acquire_timeouts));
    }
    if (mq) {
      auto f = mq->figures();
      connected->set(f.connected ? 1 : 0);
      commands->set(double(f.commands));
      errors->set(double(f.errors));
      in_flight->set(double(f.in_flight));
    }
  }
};

Task<void> publish_figures(std::shared_ptr<FigureGauges> g) {
  for (;;) {
    g->publish();
    co_await sleep_for(milliseconds(1000));
  }
}

// What one worker owns; destroyed with the worker.
struct WorkerParts {
  std::unique_ptr<pg::ShardedCluster> shards;
  std::unique_ptr<redis::Client> mq;
  std::vector<std::unique_ptr<OutboxRelay>> relays;
  std::shared_ptr<OrderService> service;
  std::shared_ptr<FigureGauges> figures = std::make_shared<FigureGauges>();
};

// What the workers of one node share: the id generator and, per shard, the
// relay (on one of the workers) that a payment on any worker wakes.
struct NodeShared {
  explicit NodeShared(uint32_t node_id) : ids(node_id) {}
  ids::OrderIdGenerator ids;
  std::vector<OutboxRelay*> relays;  // by shard; filled before the workers run
};

void setup_worker(runtime::Worker& w, NodeShared& shared) {
  const Topology& topo = *w.topology;
  const Node& node = *w.node;
  const Limits& lim = node.limits;
  auto parts = std::make_shared<WorkerParts>();

  std::vector<std::unique_ptr<pg::Pool>> pools;
  for (const Node* shard : topo.uses(node, "shards")) {
    pg::PoolConfig cfg;
    cfg.name = shard->id;
    cfg.dsn = topo.dsn(*shard, "order");
    cfg.max_size = w.share(static_cast<std::size_t>(lim.db_pool_size));
    cfg.acquire_timeout = milliseconds(lim.db_acquire_timeout_ms);
    cfg.query_timeout = milliseconds(lim.db_query_timeout_ms);
    pools.push_back(std::make_unique<pg::Pool>(w.executor, cfg));
  }
  std::size_t n = pools.size();
  if (16 % n != 0)
    throw TopologyError(fmt::format("{}: nodes.{}.uses.shards: {} shards; fix: use 1, 2, 4, 8 or 16 shards "
                                    "(the shard count must divide 16)", topo.source, node.id, n));
  parts->shards = std::make_unique<pg::ShardedCluster>(std::move(pools));

  const Node& mq = *topo.uses(node, "mq").front();
  redis::ClientConfig rc;
  rc.name = mq.id;
  rc.host = mq.host;
  rc.port = mq.port;
  rc.command_timeout = milliseconds(lim.redis_timeout_ms);
  parts->mq = std::make_unique<redis::Client>(w.executor, rc);

  shared.relays.resize(n, nullptr);
  NodeShared* sh = &shared;
  parts->service = std::make_shared<OrderService>(*parts->shards, shared.ids, lim, [sh](std::size_t shard) {
    if (OutboxRelay* r = sh->relays[shard]) r->wake();
  });
  add_routes(*w.router, parts->service);

  for (std::size_t i = 0; i < n; ++i) {
    auto& pool = parts->shards->shard(i);
    parts->figures->add_pool(*w.metrics, pool, w.index);
    w.ready_checks->push_back({pool.config().name, [&pool]() -> Task<void> {
                                 pg::Params none;
                                 co_await pool.execute(sql::kPing, none);
                               }});
    // Each shard's relay runs on one worker of this node.
    if (static_cast<int>(i % static_cast<std::size_t>(w.count)) == w.index) {
      RelayConfig cfg;
      cfg.shard_name = pool.config().name;
      cfg.dsn = pool.config().dsn;
      cfg.query_timeout = milliseconds(lim.db_query_timeout_ms);
      parts->relays.push_back(std::make_unique<OutboxRelay>(w.executor, cfg, *parts->mq, *w.metrics));
      shared.relays[i] = parts->relays.back().get();
      spawn_logged(w.executor, parts->relays.back()->run(), "outbox_relay " + cfg.shard_name);
    }
  }
  parts->figures->set_redis(*w.metrics, *parts->mq, w.index);
  spawn_logged(w.executor, publish_figures(parts->figures), "publish_figures");
  redis::Client* mqc = parts->mq.get();
  w.ready_checks->push_back({mq.id, [mqc]() -> Task<void> {
                               redis::Argv ping{"PING"};
                               auto r = co_await mqc->command(ping);
                               if (r.is_error()) throw std::runtime_error("PING: " + r.str);
                             }});
  w.keep->push_back(parts);
}

}  // namespace

std::function<void(runtime::Worker&)> make_role(const Topology& topo, const Node& node) {
  auto shared = std::make_shared<NodeShared>(static_cast<uint32_t>(node.node_id));
  return [shared](runtime::Worker& w) { setup_worker(w, *shared); };
}

}  // namespace dine::order
