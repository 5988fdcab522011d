#pragma once
// Reservations whose order never came (the app stopped between reserving the
// coupon and making the order): after reservation_ttl_ms the sweeper asks the
// order role for the user's order with the reservation's key. No such order:
// the coupon is released. An order: nothing to do here (its payment confirms
// the coupon, its cancellation or expiry releases it, through dine:orders).
// The order role unreachable: asked again at the next sweep.
#include <cstdint>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/http/nodes.hpp"
#include "core/fwd.hpp"

namespace dine::coupon {

class Authority;
struct CouponConfig;

class Sweeper {
 public:
  Sweeper(Authority& authority, http::Client& orders, std::vector<const Node*> order_nodes, const CouponConfig& cfg,
          metrics::Registry& m);
  // One sweep: returns the reservations released.
  Task<int> sweep(Context ctx);
  Task<void> run();  // a background component: sweeps every sweep_every_ms

 private:
  // Whether the user made an order with this key; throws when no order node answers.
  Task<bool> order_exists(Context ctx, int64_t user_id, const std::string& key);

  Authority& authority_;
  http::NodeRing orders_;
  const CouponConfig& cfg_;
  metrics::Counter* released_;
};

}  // namespace dine::coupon
