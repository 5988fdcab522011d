#include "server/order/role.hpp"

#include <fmt/format.h>

#include "core/outbox/relay.hpp"
#include "core/pg/sharded.hpp"
#include "server/order/config.hpp"
#include "server/order/events.hpp"
#include "server/order/expiry.hpp"
#include "server/order/routes.hpp"

namespace dine::order {
namespace {

// What the workers of one node share: the id generator and, per shard, the
// relay (on one of the workers) that a payment on any worker wakes.
struct NodeState {
  explicit NodeState(uint32_t node_id) : ids(node_id) {}
  ids::OrderIdGenerator ids;
  std::vector<outbox::Relay*> relays;  // by shard; filled before the workers run
};

outbox::RelayConfig relay_config(const OrderConfig& c, const std::string& shard, const std::string& relay_id) {
  outbox::RelayConfig r;
  r.name = shard;
  r.relay_id = relay_id;
  r.key_field = "order_id";
  r.batch = c.relay_batch;
  r.poll = milliseconds(c.relay_poll_ms);
  r.linger = milliseconds(c.relay_linger_ms);
  r.claim_for = milliseconds(c.relay_claim_ms);
  r.retention = std::chrono::seconds(c.outbox_retention_s);
  r.prune_every = std::chrono::seconds(c.outbox_prune_every_s);
  return r;
}

void setup(runtime::WorkerContext& w) {
  const auto& cfg = w.config<OrderConfig>();
  auto& state = w.node_state<NodeState>();
  pg::ShardedCluster& shards = w.shards("shards");
  const std::size_t n = shards.size();
  state.relays.resize(n, nullptr);

  NodeState* st = &state;
  auto service = std::make_shared<OrderService>(shards, state.ids, cfg, [st](std::size_t shard) {
    if (outbox::Relay* r = st->relays[shard]) r->wake();
  });
  add_routes(w.router(), service, w.topology().secret, &w.metrics());
  w.keep(service);

  // Each shard's relay runs on one worker of this node.
  for (std::size_t i = 0; cfg.relay && i < n; ++i) {
    if (static_cast<int>(i % static_cast<std::size_t>(w.count())) != w.index()) continue;
    pg::Pool& pool = shards.shard(i);
    auto relay = std::make_shared<outbox::Relay>(
        w.executor(), relay_config(cfg, pool.config().node, fmt::format("{}/w{}", w.node().id, w.index())), pool,
        w.redis("mq"), w.metrics());
    state.relays[i] = relay.get();
    w.keep(relay);
    outbox::Relay* r = relay.get();
    w.background("outbox_relay " + pool.config().node, [r] { return r->run(); });

    ExpiryConfig ec;
    ec.ttl = std::chrono::seconds(cfg.unpaid_ttl_s);
    ec.every = milliseconds(cfg.expiry_every_ms);
    auto expiry = std::make_shared<Expiry>(pool, ec, w.metrics(), pool.config().node);
    w.keep(expiry);
    Expiry* e = expiry.get();
    w.background("order_expiry " + pool.config().node, [e] { return e->run(); });
  }
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "order";
    r.summary = "orders on 4 PostgreSQL shards, state machine, outbox relay to the dine:orders stream";
    // A shard down leaves the node serving the other shards' orders; Redis
    // down leaves orders paid, their events waiting in the outbox.
    r.dependencies = {runtime::sharded_postgres("shards", "order", runtime::Need::Degradable),
                      runtime::redis("mq", runtime::Need::Degradable)};
    r.outboxes = {{"shards"}};
    r.config = runtime::typed_config<OrderConfig>();
    r.node_state = [](const Topology&, const Node& node, const std::any&) -> std::shared_ptr<void> {
      return std::make_shared<NodeState>(static_cast<uint32_t>(node.node_id));
    };
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::order
