#pragma once
// The order service of one worker: creates orders on the shard of their user,
// moves them through the state machine, reads them back. Every write is
// idempotent, keyed by order id (or Idempotency-Key), guarded by the state.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/ids.hpp"
#include "core/pg/batcher.hpp"
#include "core/pg/sharded.hpp"
#include "server/order/config.hpp"
#include "server/order/model.hpp"

namespace dine::order {

struct Outcome {
  int status = 200;        // HTTP status
  nlohmann::json body;
  bool replayed = false;   // an idempotent repeat: nothing was written
};

class OrderService {
 public:
  // on_paid(shard) is told of every order this service moved to PAID, so the
  // shard's outbox relay can go at once.
  using PaidHook = std::function<void(std::size_t shard)>;
  OrderService(pg::ShardedCluster& shards, ids::OrderIdGenerator& ids, const OrderConfig& cfg, PaidHook on_paid = {});
  ~OrderService();

  // Each call runs under the request's context: its id goes into the logs,
  // its deadline bounds every query.
  Task<Outcome> create(Context ctx, CreateOrder req);
  Task<Outcome> get(Context ctx, uint64_t order_id);
  Task<Outcome> list_for_user(Context ctx, uint64_t user_id, int limit);
  // The user's order made with this Idempotency-Key, as a list of 0 or 1.
  Task<Outcome> find_by_key(Context ctx, uint64_t user_id, std::string key);
  Task<Outcome> pay(Context ctx, uint64_t order_id, std::string payment_id);
  Task<Outcome> accept(Context ctx, uint64_t order_id, std::string pickup_code);
  // CREATED -> CANCELLED (and order.cancelled); a repeat is a 200 no-op; an
  // order past CREATED is 409 illegal_transition.
  Task<Outcome> cancel(Context ctx, uint64_t order_id);

  const OrderConfig& config() const { return cfg_; }

 private:
  Task<pg::Result> insert(Context ctx, std::size_t shard, const CreateOrder& req, uint64_t order_id);
  pg::ShardedCluster& shards_;
  // Per shard: creates and pays go to the database in groups (group commit).
  std::vector<std::unique_ptr<pg::Batcher>> creates_;
  std::vector<std::unique_ptr<pg::Batcher>> pays_;
  ids::OrderIdGenerator& ids_;
  const OrderConfig& cfg_;
  PaidHook on_paid_;
};

}  // namespace dine::order
