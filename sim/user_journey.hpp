#pragma once
// Users of the mini-program, end to end through the gateways: each virtual
// user logs in, opens a store's menu, looks at the campaigns, claims a
// coupon, orders the meal set with it (or, sold out, at the menu price) plus
// one more dish, and pays. Every call goes to /api/v1 on a gateway node, as
// the mini-program's would. Used by `dine sim users` and `dine demo`.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/latency.hpp"
#include "sim/order_load.hpp"

namespace dine::sim {

struct JourneyConfig {
  std::vector<Target> gateways;  // used in turn
  int users = 300;
  int concurrency = 32;          // users in flight
  int threads = 2;               // driver threads, each with its own loop and connections
  int stores = 20;               // users pick stores 1..stores (those the seed made)
  std::string run_id;            // part of each user's openid and Idempotency-Key
  int timeout_ms = 10000;
};

struct JourneyReport {
  int users = 0;           // journeys finished
  int logins = 0;
  int claims_granted = 0;  // coupons claimed
  int sold_out = 0;        // claims refused: no stock left
  int already_claimed = 0;
  int orders = 0;          // created
  int with_coupon = 0;     // of which with the coupon
  int paid = 0;
  int paying = 0;          // 202: outcome not known within the deadline
  int declined = 0;        // 402
  int rate_limited = 0;    // journeys cut short by a gateway's 429 (the cap), not failures
  int failed = 0;          // journeys that ended on an unexpected answer
  int64_t coupon_revenue_cents = 0;  // what the coupon orders cost (the meal set at the campaign price, one dish at the menu's)
  std::map<std::string, int> errors;  // "order 409 coupon_in_use" -> count
  double seconds = 0;
  Latencies login_ms, menu_ms, claim_ms, order_ms, pay_ms;

  nlohmann::json to_json();
};

JourneyReport run_journeys(const JourneyConfig& cfg, const std::function<void(int done, int failed)>& progress = {});

}  // namespace dine::sim
