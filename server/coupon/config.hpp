#pragma once
// The coupon role's section of the topology: "roles": {"coupon": {...}}, and
// a node's own "config" over it. Every key is optional; unknown keys are errors.
#include "core/config.hpp"

namespace dine::coupon {

struct CouponConfig {
  // How often a node looks for new campaigns in the database (and checks
  // that redis-mq is still the process it reconciled with).
  int sync_every_ms = 2000;
  int reconcile_page = 2000;   // coupons read and restored per round trip when reconciling
  int reconcile_lock_ms = 60'000;  // one reconciler at a time; a dead one's lock lapses after this
  // A reservation this old whose order was never made is released (the
  // sweeper asks the order role, every sweep_every_ms).
  int reservation_ttl_ms = 120'000;
  int sweep_every_ms = 10'000;
  bool consume = true;         // false: serve requests only; other nodes persist claims and follow orders

  static CouponConfig parse(config::Reader& r, const CouponConfig& defaults);
};

}  // namespace dine::coupon
