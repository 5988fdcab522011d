#include "server/order/expiry.hpp"

#include "core/context.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "server/order/queries.hpp"

namespace dine::order {
namespace {
const log::Logger kLog("order_expiry");
}

Expiry::Expiry(pg::Pool& db, ExpiryConfig cfg, metrics::Registry& metrics, const std::string& shard)
    : db_(db), cfg_(cfg) {
  expired_ = &metrics.counter("dine_order_expired_total", "Unpaid orders cancelled at the end of their TTL",
                              {{"shard", shard}});
}

Task<void> Expiry::round() {
  const auto now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const uint64_t ttl_ms = static_cast<uint64_t>(std::chrono::duration_cast<milliseconds>(cfg_.ttl).count());
  const int64_t cutoff = static_cast<int64_t>(ids::first_id_at(now_ms > ttl_ms ? now_ms - ttl_ms : 0));
  // Bounded per round: a long history is walked over several rounds.
  const Deadline stop = deadline_in(milliseconds(250));
  for (int i = 0; i < 20 && Clock::now() < stop && after_ < cutoff; ++i) {
    Context c = Context::background("expiry", milliseconds(5000));
    pg::Params p = pg::params(after_, cutoff, cfg_.window);
    pg::Result r = co_await db_.execute(c, sql::kExpire, p);
    const int64_t seen = r.int64(0, "seen"), expired = r.int64(0, "expired"), skipped = r.int64(0, "skipped");
    if (expired > 0) {
      expired_->inc(static_cast<uint64_t>(expired));
      kLog.info("expired", {{"orders", std::to_string(expired)}, {"pool", db_.config().name()}});
    }
    if (skipped > 0) break;  // a payment holds one of them: look at this window again next round
    after_ = r.int64(0, "upto");
    if (seen < cfg_.window) break;  // reached the cutoff
  }
}

Task<void> Expiry::run() {
  for (;;) {
    try {
      co_await round();
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;  // stopping
      kLog.warn_limited("expiry_failed", {{"pool", db_.config().name()}, {"error", e.what()}});
    } catch (const std::exception& e) {
      kLog.warn_limited("expiry_failed", {{"pool", db_.config().name()}, {"error", e.what()}});
    }
    co_await sleep_for(cfg_.every);
  }
}

}  // namespace dine::order
