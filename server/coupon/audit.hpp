#pragma once
// `dine audit coupons`: what the authority (redis-mq) granted against what the
// coupon database holds, campaign by campaign and coupon by coupon.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/context.hpp"

namespace dine {
namespace pg {
class Connection;
}
namespace redis {
class Client;
}
}  // namespace dine

namespace dine::coupon {

struct CampaignAudit {
  int64_t campaign_id = 0;
  int64_t total = 0;           // the database's stock (coupons to grant in all)
  int64_t redis_granted = -1;  // -1: Redis does not have the campaign
  int64_t redis_stock = -1;
  int64_t db_granted = 0;
};

struct AuditReport {
  std::vector<CampaignAudit> campaigns;
  std::vector<std::string> differences;  // one line each, e.g. "coupon 123: redis used (seq 3), database reserved (seq 2)"
  int64_t in_flight = 0;   // dine:coupons entries the coupon-db group has not acknowledged (pending + lag)
  bool in_sync = false;    // coupon:sync names the running Redis process

  bool clean() const { return differences.empty(); }
  nlohmann::json to_json() const;
};

// Compares everything; reads only. Differences include: a campaign's grants
// over its total (oversold), stock != total - granted, a coupon in one store
// and not the other, a coupon whose user, campaign, state or seq differ, two
// coupons of one user in one campaign.
Task<AuditReport> audit(Context ctx, redis::Client& mq, pg::Connection& db);
// Pending + lag of the coupon-db group on dine:coupons (0 when settled).
Task<int64_t> unsettled(Context ctx, redis::Client& mq);

}  // namespace dine::coupon
