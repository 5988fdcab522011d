#pragma once
// The coupon role's two stream handlers (docs/serve-coupon.md):
// - persist: each entry of dine:coupons (a coupon's whole state after a
//   change, with its seq) upserted into the coupon database; an entry older
//   than the row is ignored, so replays and reordering converge;
// - follow orders: order.paid confirms the coupon its reservation key names,
//   order.cancelled (by the user or by expiry) releases it.
#include "core/async.hpp"
#include "core/redis/streams.hpp"
#include "core/fwd.hpp"

namespace dine::coupon {

class Authority;

inline constexpr const char* kPersistGroup = "coupon-db";
inline constexpr const char* kOrdersStream = "dine:orders";
inline constexpr const char* kOrdersGroup = "coupon";

// Throws dine::Error(BadRequest) for an entry that can never be written (dead-lettered).
Task<void> persist(pg::Pool& db, redis::Entry e);
Task<void> follow_order(Authority& authority, metrics::Registry& m, redis::Entry e);

}  // namespace dine::coupon
