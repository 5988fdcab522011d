#include "server/coupon/audit.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "core/pg/connection.hpp"
#include "core/redis/client.hpp"
#include "server/coupon/events.hpp"
#include "server/coupon/scripts.hpp"

namespace dine::coupon {
namespace {

using nlohmann::json;

struct Row {
  std::string campaign, user, state;
  int64_t seq = 0;
};

std::map<std::string, std::string> hash_of(const redis::Reply& r) {
  std::map<std::string, std::string> h;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) h[r.elements[i].str] = r.elements[i + 1].str;
  return h;
}

int64_t num(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoll(s);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string describe(const Row& r) { return fmt::format("{} (seq {}, user {})", r.state, r.seq, r.user); }

}  // namespace

json AuditReport::to_json() const {
  json camps = json::array();
  for (const auto& c : campaigns)
    camps.push_back({{"campaign_id", c.campaign_id}, {"total", c.total}, {"redis_granted", c.redis_granted},
                     {"redis_stock", c.redis_stock}, {"db_granted", c.db_granted}});
  return {{"clean", clean()}, {"in_sync", in_sync}, {"in_flight", in_flight}, {"campaigns", camps},
          {"differences", differences}};
}

Task<int64_t> unsettled(Context ctx, redis::Client& mq) {
  redis::Argv info{"XINFO", "GROUPS", lua::kStream};
  redis::Reply r = co_await mq.command(ctx, std::move(info));
  if (r.is_error()) co_return 0;  // no stream: nothing in flight
  for (const auto& g : r.elements) {
    std::map<std::string, const redis::Reply*> f;
    for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) f[g.elements[i].str] = &g.elements[i + 1];
    if (!f.count("name") || f["name"]->str != kPersistGroup) continue;
    int64_t pending = f.count("pending") ? f["pending"]->integer : 0;
    int64_t lag = f.count("lag") && f["lag"]->type == redis::Reply::Type::Integer ? f["lag"]->integer : 0;
    co_return pending + lag;
  }
  co_return 0;
}

Task<AuditReport> audit(Context ctx, redis::Client& mq, pg::Connection& db) {
  AuditReport rep;
  rep.in_flight = co_await unsettled(ctx, mq);
  {
    redis::Argv info{"INFO", "server"};
    redis::Reply i = co_await mq.command(ctx, std::move(info));
    redis::Argv get{"GET", lua::kSyncKey};
    redis::Reply s = co_await mq.command(ctx, std::move(get));
    rep.in_sync = s.type == redis::Reply::Type::String && i.str.find("run_id:" + s.str) != std::string::npos;
  }
  // The database.
  pg::Result camps = co_await db.simple("SELECT campaign_id, stock FROM campaigns ORDER BY campaign_id",
                                        ctx.deadline);
  pg::Result rows = co_await db.simple(
      "SELECT coupon_id, campaign_id, user_id, state, seq FROM coupons ORDER BY coupon_id", ctx.deadline);
  std::map<std::string, Row> in_db;
  std::map<std::string, int64_t> db_granted;
  for (int i = 0; i < rows.rows(); ++i) {
    Row r{std::string(rows.text(i, "campaign_id")), std::string(rows.text(i, "user_id")),
          std::string(rows.text(i, "state")), rows.int64(i, "seq")};
    ++db_granted[r.campaign];
    in_db.emplace(std::string(rows.text(i, "coupon_id")), std::move(r));
  }
  // Redis: each campaign's hash and users, then every coupon they name.
  std::map<std::string, Row> in_redis;
  for (int i = 0; i < camps.rows(); ++i) {
    CampaignAudit a;
    const std::string cid(camps.text(i, "campaign_id"));
    a.campaign_id = camps.int64(i, "campaign_id");
    a.total = camps.int64(i, "stock");
    a.db_granted = db_granted[cid];
    std::vector<redis::Argv> two{{"HGETALL", lua::campaign_key(cid)}, {"HGETALL", lua::users_key(cid)}};
    std::vector<redis::Reply> got = co_await mq.pipeline(ctx, std::move(two));
    auto campaign = hash_of(got[0]);
    auto users = hash_of(got[1]);
    if (!campaign.empty()) {
      a.redis_granted = static_cast<int64_t>(users.size());
      a.redis_stock = num(campaign["stock"]);
      if (a.redis_granted > a.total)
        rep.differences.push_back(fmt::format("campaign {}: oversold: {} granted of {}", cid, a.redis_granted, a.total));
      if (a.redis_stock != a.total - a.redis_granted)
        rep.differences.push_back(fmt::format("campaign {}: stock {} in Redis, but {} total - {} granted = {}", cid,
                                              a.redis_stock, a.total, a.redis_granted, a.total - a.redis_granted));
    } else if (a.db_granted > 0) {
      rep.differences.push_back(
          fmt::format("campaign {}: not in Redis, but the database has {} coupons of it", cid, a.db_granted));
    }
    std::vector<redis::Argv> gets;
    std::vector<std::string> ids;
    for (const auto& [user, id] : users) {
      gets.push_back({"HGETALL", lua::coupon_key(id)});
      ids.push_back(id);
    }
    if (!gets.empty()) {
      std::vector<redis::Reply> coupons = co_await mq.pipeline(ctx, std::move(gets));
      for (std::size_t k = 0; k < coupons.size(); ++k) {
        auto h = hash_of(coupons[k]);
        if (h.empty()) {
          rep.differences.push_back(fmt::format("coupon {}: named by campaign {}'s users but has no hash", ids[k], cid));
          continue;
        }
        in_redis[ids[k]] = Row{h["campaign_id"], h["user_id"], h["state"], num(h["seq"])};
      }
    }
    rep.campaigns.push_back(a);
  }
  for (const auto& [id, r] : in_redis) {
    auto it = in_db.find(id);
    if (it == in_db.end()) {
      rep.differences.push_back(fmt::format("coupon {}: granted in Redis ({}), not in the database", id, describe(r)));
      continue;
    }
    const Row& d = it->second;
    if (d.campaign != r.campaign || d.user != r.user || d.state != r.state || d.seq != r.seq)
      rep.differences.push_back(
          fmt::format("coupon {}: Redis {}, database {}", id, describe(r), describe(d)));
  }
  for (const auto& [id, d] : in_db)
    if (!in_redis.count(id))
      rep.differences.push_back(fmt::format("coupon {}: in the database ({}), not granted in Redis", id, describe(d)));
  co_return rep;
}

}  // namespace dine::coupon
