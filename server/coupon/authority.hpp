#pragma once
// The coupon authority: the Lua scripts on redis-mq (server/coupon/scripts.hpp)
// behind typed calls, and the reconciliation that rebuilds Redis's state from
// the coupon database after any restart of redis-mq (docs/serve-coupon.md).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/fwd.hpp"

namespace dine::coupon {

struct CouponConfig;

// What the node's workers share.
struct NodeState {
  explicit NodeState(uint32_t node_id);
  ~NodeState();
  std::unique_ptr<ids::OrderIdGenerator> ids;  // coupon ids
  std::unique_ptr<SingleFlight> flight;         // one reconciliation per node at a time
  std::string node;
};

struct Claim {
  std::string coupon_id;
  bool replayed = false;  // the user already held this one
  int64_t expires_ms = 0;  // the campaign's end: the coupon cannot be used after it
};

struct Use {
  std::string state;        // after the call: "reserved", "used", "granted"
  std::string campaign_id;
  int64_t product_id = 0;   // the meal set the coupon buys
  int64_t price_cents = 0;  // its price with the coupon
  bool replayed = false;    // nothing changed: the call had been made already
};

// A coupon reserved for an order (coupon:reserved).
struct Reservation {
  int64_t coupon_id = 0;
  int64_t user_id = 0;
  std::string state;  // "reserved" unless it moved since
  std::string order_key;
};

struct ReconcileReport {
  int campaigns = 0;
  int coupons = 0;    // read from the database
  int restored = 0;   // written back to Redis
  int conflicts = 0;  // a user holding another coupon of the campaign in Redis (left as it was)
};

// "2026-12-07T23:48:29Z" of unix ms.
std::string iso_time(int64_t ms);

class Authority {
 public:
  Authority(redis::Client& mq, pg::Pool& db, NodeState& node, const CouponConfig& cfg, metrics::Registry& m);

  // Throws dine::Error: 404 campaign_not_found, 409 campaign_not_started,
  // campaign_ended, sold_out; 503 coupon_syncing when Redis is being reconciled.
  Task<Claim> claim(Context ctx, int64_t campaign_id, int64_t user_id);
  // op: "reserve", "confirm", "release". user_id 0: any user (the order
  // events' own user is checked by the script when given). Throws 404
  // coupon_not_found (also someone else's), 409 coupon_in_use,
  // coupon_expired, 503 coupon_syncing. A release of a coupon not reserved by
  // this key changes nothing (state as it is, replayed = true).
  Task<Use> transition(Context ctx, const std::string& op, int64_t coupon_id, int64_t user_id,
                       const std::string& order_key);

  // Campaigns on sale now with stock left: [{"campaign_id", "name",
  // "product_id", "price_cents", "stock", "total", "starts_at", "ends_at"}].
  Task<nlohmann::json> active_campaigns(Context ctx);
  // The user's coupons: [{"coupon_id", "campaign_id", "state", ...}].
  Task<nlohmann::json> user_coupons(Context ctx, int64_t user_id);

  // Rebuilds Redis from the database unless it is in sync already: campaigns
  // (stock only for those new to Redis), every persisted coupon Redis lacks
  // or holds older, then stock = total - granted for every campaign, then
  // coupon:sync = this Redis process's run_id. One per node at a time (the
  // node's single-flight) and one across nodes (coupon:sync:lock).
  Task<ReconcileReport> reconcile(Context ctx);
  // Whether redis-mq's state is the one reconciled (coupon:sync == run_id).
  Task<bool> in_sync(Context ctx);
  // Campaigns of the database that Redis does not have yet, loaded (their
  // stock = total). Returns how many.
  Task<int> load_new_campaigns(Context ctx);

  // Up to `max` coupons reserved longer ago than `older_than`, oldest first.
  Task<std::vector<Reservation>> stale_reservations(Context ctx, milliseconds older_than, int max);
  // Drops a coupon from coupon:reserved (it is no longer reserved).
  Task<void> forget_reservation(Context ctx, int64_t coupon_id);

 private:
  Task<ReconcileReport> reconcile_now(Context ctx);
  Task<std::string> run_id(Context ctx);

  redis::Client& mq_;
  pg::Pool& db_;
  NodeState& node_;
  const CouponConfig& cfg_;
  metrics::Counter* granted_;
  metrics::Counter* sold_out_;
  metrics::Counter* reconciles_;
  metrics::Counter* restored_;
};

}  // namespace dine::coupon
