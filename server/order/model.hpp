#pragma once
// The order role's request and response shapes: strict parsing and validation
// of the internal API's bodies (pure functions, unit-tested without servers).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/order/config.hpp"

namespace dine::order {

struct Item {
  uint64_t product_id = 0;
  int64_t qty = 0;
  int64_t price_cents = 0;
};

struct CreateOrder {
  uint64_t user_id = 0;
  uint64_t store_id = 0;
  std::vector<Item> items;
  std::optional<uint64_t> coupon_id;
  int64_t amount_cents = 0;          // sum of qty * price_cents
  std::string idempotency_key;
  std::string request_hash;          // same key, same hash: a replay; else a misuse

  nlohmann::json items_json() const;
};

// Throws dine::Error(BadRequest, ...) naming the field: invalid_json,
// missing_field, invalid_field, unknown_field, invalid_qty, amount_too_large,
// too_many_items, missing_idempotency_key, invalid_idempotency_key.
CreateOrder parse_create(const std::string& body, std::string_view idempotency_key, const OrderConfig& limits);

std::string parse_payment_id(const std::string& body);   // {"payment_id": "..."}
std::string parse_pickup_code(const std::string& body);  // {"pickup_code": "..."}

// Path ids: strict decimal; throws BadRequest "invalid_order_id" / "invalid_user_id".
uint64_t parse_order_id(std::string_view s);
uint64_t parse_user_id(std::string_view s);

// Order states of DESIGN.md §5.
inline constexpr const char* kCreated = "CREATED";
inline constexpr const char* kPaid = "PAID";
inline constexpr const char* kAccepted = "ACCEPTED";
inline constexpr const char* kCompleted = "COMPLETED";
inline constexpr const char* kCancelled = "CANCELLED";

}  // namespace dine::order
