#pragma once
// The coupon role (`dine serve coupon`): campaigns, claims and the use of
// coupons, decided atomically on redis-mq and persisted to the coupon
// database through the dine:coupons stream (docs/serve-coupon.md).
#include "core/runtime/role.hpp"

namespace dine::coupon {

const runtime::RoleDescriptor& role();

}  // namespace dine::coupon
