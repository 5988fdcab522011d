#include "server/coupon/sweeper.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/nodes.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "server/coupon/authority.hpp"
#include "server/coupon/config.hpp"

namespace dine::coupon {

Sweeper::Sweeper(Authority& authority, http::Client& orders, std::vector<const Node*> order_nodes,
                 const CouponConfig& cfg, metrics::Registry& m)
    : authority_(authority),
      orders_(orders, std::move(order_nodes)),
      cfg_(cfg),
      released_(&m.counter("dine_coupon_reservations_released_total",
                           "reservations released by the sweeper: their order was never made")) {}

Task<bool> Sweeper::order_exists(Context ctx, int64_t user_id, const std::string& key) {
  std::string target = fmt::format("/v1/users/{}/orders?idempotency_key={}", user_id, http::url_encode(key));
  http::ClientResponse r = co_await orders_.call(ctx, "GET", std::move(target));
  if (r.status != 200) throw Error(ErrorKind::Unavailable, "order_lookup_failed", "the order role failed");
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("orders"))
    throw Error(ErrorKind::Unavailable, "order_lookup_failed", "the order role answered nonsense");
  co_return !j["orders"].empty();
}

Task<int> Sweeper::sweep(Context ctx) {
  int released = 0;
  auto stale = co_await authority_.stale_reservations(ctx, milliseconds(cfg_.reservation_ttl_ms), 100);
  for (const Reservation& r : stale) {
    if (r.state != "reserved") {
      co_await authority_.forget_reservation(ctx, r.coupon_id);
      continue;
    }
    bool exists = true;
    try {
      exists = co_await order_exists(ctx, r.user_id, r.order_key);
    } catch (const Error& e) {
      log::write(log::Level::Warn, "coupon", "sweep_lookup_failed", {{"error", e.code()}});
      co_return released;  // the order role is away: the next sweep asks again
    }
    if (exists) continue;  // its events will settle the coupon
    Use u = co_await authority_.transition(ctx, "release", r.coupon_id, r.user_id, r.order_key);
    if (!u.replayed) {
      ++released;
      released_->inc();
      log::write(log::Level::Info, "coupon", "reservation_released",
                 {{"coupon_id", std::to_string(r.coupon_id)}, {"reason", "no order was made with its key"}});
    }
  }
  co_return released;
}

Task<void> Sweeper::run() {
  for (;;) {
    co_await sleep_for(milliseconds(cfg_.sweep_every_ms));
    Context ctx = Context::background("coupon-sweep", milliseconds(30'000));
    try {
      co_await sweep(ctx);
    } catch (const Error& e) {
      log::write(log::Level::Warn, "coupon", "sweep_failed", {{"error", e.code()}, {"message", e.what()}});
    }
  }
}

}  // namespace dine::coupon
