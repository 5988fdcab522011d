#include "server/coupon/events.hpp"

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/json_body.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/pg/pool.hpp"
#include "server/coupon/authority.hpp"

namespace dine::coupon {
namespace {

// $1 coupon $2 campaign $3 user $4 state $5 order_key ('' = none) $6 seq $7 claimed unix ms.
constexpr pg::Statement kUpsert{
    "coupon_upsert",
    "INSERT INTO coupons (coupon_id, campaign_id, user_id, state, order_key, seq, claimed_at)"
    " VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, to_timestamp($7::bigint / 1000.0))"
    " ON CONFLICT (coupon_id) DO UPDATE SET state = EXCLUDED.state, order_key = EXCLUDED.order_key,"
    "   seq = EXCLUDED.seq, updated_at = now()"
    " WHERE coupons.seq < EXCLUDED.seq"};

const std::string& need(const redis::Entry& e, const char* name) {
  const std::string* v = e.field(name);
  if (!v) throw bad_request("invalid_entry", std::string("the entry has no ") + name);
  return *v;
}

}  // namespace

Task<void> persist(pg::Pool& db, redis::Entry e) {
  if (e.gone) co_return;
  const std::string state = need(e, "state");
  if (state != "granted" && state != "reserved" && state != "used")
    throw bad_request("invalid_entry", "unknown coupon state " + state);
  body::path_id(need(e, "coupon_id"), "invalid_entry");
  body::path_id(need(e, "campaign_id"), "invalid_entry");
  body::path_id(need(e, "user_id"), "invalid_entry");
  body::path_id(need(e, "seq"), "invalid_entry");
  body::path_id(need(e, "claimed_ms"), "invalid_entry");
  pg::Params p{need(e, "coupon_id"), need(e, "campaign_id"), need(e, "user_id"), state, need(e, "order_key"),
               need(e, "seq"), need(e, "claimed_ms")};
  co_await db.execute(e.ctx, kUpsert, p);
}

Task<void> follow_order(Authority& authority, metrics::Registry& m, redis::Entry e) {
  if (e.gone) co_return;
  const std::string* type = e.field("type");
  if (!type || (*type != "order.paid" && *type != "order.cancelled")) co_return;
  const std::string* data = e.field("data");
  if (!data) throw bad_request("invalid_entry", "the order event has no data");
  nlohmann::json j = nlohmann::json::parse(*data, nullptr, false);
  if (!j.is_object()) throw bad_request("invalid_entry", "the order event's data is not a JSON object");
  if (!body::has(j, "coupon_id")) co_return;  // an order without a coupon
  const int64_t coupon = body::id(j, "coupon_id");
  const int64_t user = body::id(j, "user_id");
  if (!j.contains("idempotency_key") || !j["idempotency_key"].is_string())
    throw bad_request("invalid_entry", "the order event has no idempotency_key");
  const std::string key = j["idempotency_key"].get<std::string>();
  const std::string op = *type == "order.paid" ? "confirm" : "release";
  try {
    Use u = co_await authority.transition(e.ctx, op, coupon, user, key);
    m.counter("dine_coupon_order_events_total", "order events applied to coupons", {{"op", op}}).inc();
    (void)u;
  } catch (const Error& err) {
    // A paid order whose coupon another order holds, or a coupon that does
    // not exist: nothing to retry; counted and logged for the audit.
    if (err.kind() != ErrorKind::Conflict && err.kind() != ErrorKind::NotFound) throw;
    m.counter("dine_coupon_order_conflicts_total", "order events that could not be applied to their coupon").inc();
    log::write(log::Level::Error, "coupon", "order_event_conflict",
               {{"op", op}, {"coupon_id", std::to_string(coupon)}, {"order_id", j.value("order_id", "")},
                {"error", err.code()}});
  }
}

}  // namespace dine::coupon
