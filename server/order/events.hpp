#pragma once
// The order role's events and their Redis stream. Consumers (OMS, notify) read
// `dine:orders` with consumer groups and dedupe by order_id: delivery is
// at-least-once across crashes.
namespace dine::order::events {

inline constexpr const char* kStream = "dine:orders";
inline constexpr const char* kPaid = "order.paid";
inline constexpr const char* kCancelled = "order.cancelled";
// Stream entry fields: type, order_id, data (the JSON event:
// {"type","order_id","user_id","store_id","amount_cents","coupon_id" (string
// or null),"idempotency_key","at"}, and "reason" ("user", "expired") on
// order.cancelled). The coupon role confirms (paid) or releases (cancelled)
// the coupon its reservation key names.

}  // namespace dine::order::events
