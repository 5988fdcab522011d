#include "server/order/model.hpp"

#include <cctype>

#include <openssl/evp.h>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/json_body.hpp"

namespace dine::order {
namespace {

using nlohmann::json;

// The strict body checks every role shares (core/json_body).
json parse_object(const std::string& text) { return body::object(text); }
using body::only_keys;

// A positive id: a JSON number, or a string of digits (ids travel as strings).
uint64_t positive_id(const json& obj, const char* key, std::string_view where) {
  return static_cast<uint64_t>(body::id(obj, key, where));
}

int64_t integer_in(const json& obj, const char* key, int64_t lo, int64_t hi, std::string_view where,
                   const char* code) {
  return body::integer(obj, key, lo, hi, code, where);
}

std::string short_text(const std::string& body, const char* key, std::size_t max_len) {
  json j = parse_object(body);
  only_keys(j, {key}, "");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw bad_request("missing_field", fmt::format("{} is required", key));
  if (!it->is_string()) throw bad_request("invalid_field", fmt::format("{} must be a string", key));
  auto s = it->get<std::string>();
  if (s.empty() || s.size() > max_len)
    throw bad_request("invalid_field", fmt::format("{} must be 1..{} characters", key, max_len));
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.'))
      throw bad_request("invalid_field", fmt::format("{} may hold letters, digits, '-', '_' and '.' only", key));
  return s;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

}  // namespace

json CreateOrder::items_json() const {
  json a = json::array();
  for (const auto& i : items)
    a.push_back({{"product_id", i.product_id}, {"qty", i.qty}, {"price_cents", i.price_cents}});
  return a;
}

CreateOrder parse_create(const std::string& body, std::string_view key, const OrderConfig& limits) {
  CreateOrder o;
  if (key.empty())
    throw bad_request("missing_idempotency_key", "the Idempotency-Key header is required on order creation");
  if (key.size() > 128)
    throw bad_request("invalid_idempotency_key", "the Idempotency-Key must be at most 128 characters");
  for (unsigned char c : key)
    if (c < 0x21 || c > 0x7e)
      throw bad_request("invalid_idempotency_key", "the Idempotency-Key must be printable ASCII without spaces");
  o.idempotency_key = std::string(key);

  json j = parse_object(body);
  only_keys(j, {"user_id", "store_id", "items", "coupon_id"}, "");
  o.user_id = positive_id(j, "user_id", "");
  o.store_id = positive_id(j, "store_id", "");
  if (j.contains("coupon_id") && !j["coupon_id"].is_null()) o.coupon_id = positive_id(j, "coupon_id", "");

  auto it = j.find("items");
  if (it == j.end() || it->is_null()) throw bad_request("missing_field", "items is required");
  if (!it->is_array() || it->empty()) throw bad_request("invalid_field", "items must be a non-empty list");
  if (it->size() > static_cast<std::size_t>(limits.max_items))
    throw bad_request("too_many_items", fmt::format("an order holds at most {} items", limits.max_items));
  int64_t total = 0;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    std::string where = fmt::format("items[{}].", i);
    if (!e.is_object()) throw bad_request("invalid_field", fmt::format("items[{}] must be an object", i));
    only_keys(e, {"product_id", "qty", "price_cents"}, where);
    Item item;
    item.product_id = positive_id(e, "product_id", where);
    item.qty = integer_in(e, "qty", 1, limits.max_qty, where, "invalid_qty");
    item.price_cents = integer_in(e, "price_cents", 0, limits.max_amount_cents, where, "invalid_price");
    total += item.qty * item.price_cents;  // each factor is bounded: no overflow
    if (total > limits.max_amount_cents)
      throw bad_request("amount_too_large", fmt::format("the order total exceeds {} cents", limits.max_amount_cents));
    o.items.push_back(item);
  }
  o.amount_cents = total;
  json canonical = {{"store_id", o.store_id}, {"items", o.items_json()},
                    {"coupon_id", o.coupon_id ? json(*o.coupon_id) : json(nullptr)}};
  o.request_hash = sha256_hex(canonical.dump());
  return o;
}

std::string parse_payment_id(const std::string& body) { return short_text(body, "payment_id", 64); }
std::string parse_pickup_code(const std::string& body) { return short_text(body, "pickup_code", 16); }

uint64_t parse_order_id(std::string_view s) {
  if (auto v = ids::parse(s)) return *v;
  throw bad_request("invalid_order_id", "the order id must be a positive decimal number");
}

uint64_t parse_user_id(std::string_view s) {
  if (auto v = ids::parse(s)) return *v;
  throw bad_request("invalid_user_id", "the user id must be a positive decimal number");
}

}  // namespace dine::order
