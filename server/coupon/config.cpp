#include "server/coupon/config.hpp"

namespace dine::coupon {

CouponConfig CouponConfig::parse(config::Reader& r, const CouponConfig& d) {
  CouponConfig c;
  c.sync_every_ms = r.integer("sync_every_ms", d.sync_every_ms, 100, 600'000);
  c.reconcile_page = r.integer("reconcile_page", d.reconcile_page, 10, 100'000);
  c.reconcile_lock_ms = r.integer("reconcile_lock_ms", d.reconcile_lock_ms, 1000, 3'600'000);
  c.reservation_ttl_ms = r.integer("reservation_ttl_ms", d.reservation_ttl_ms, 100, 86'400'000);
  c.sweep_every_ms = r.integer("sweep_every_ms", d.sweep_every_ms, 50, 3'600'000);
  c.consume = r.boolean("consume", d.consume);
  r.reject_unknown();
  return c;
}

}  // namespace dine::coupon
