#include "server/coupon/authority.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/redis/client.hpp"
#include "core/redis/script.hpp"
#include "core/single_flight.hpp"
#include "server/coupon/config.hpp"
#include "server/coupon/scripts.hpp"

namespace dine::coupon {
namespace {

using nlohmann::json;

const redis::Script& claim_script() {
  static const redis::Script s(lua::kClaim);
  return s;
}
const redis::Script& transition_script() {
  static const redis::Script s(lua::kTransition);
  return s;
}
const redis::Script& load_campaign_script() {
  static const redis::Script s(lua::kLoadCampaign);
  return s;
}
const redis::Script& restore_script() {
  static const redis::Script s(lua::kRestore);
  return s;
}
const redis::Script& fix_stock_script() {
  static const redis::Script s(lua::kFixStock);
  return s;
}

constexpr pg::Statement kCampaigns{
    "coupon_campaigns",
    "SELECT campaign_id, name, product_id, price_cents, stock AS total,"
    " (extract(epoch FROM starts_at) * 1000)::bigint AS starts_ms,"
    " (extract(epoch FROM ends_at) * 1000)::bigint AS ends_ms"
    " FROM campaigns ORDER BY campaign_id"};
// $1 after coupon_id $2 page.
constexpr pg::Statement kCouponsPage{
    "coupon_page",
    "SELECT coupon_id, campaign_id, user_id, state, coalesce(order_key, '') AS order_key, seq,"
    " (extract(epoch FROM claimed_at) * 1000)::bigint AS claimed_ms"
    " FROM coupons WHERE coupon_id > $1::bigint ORDER BY coupon_id LIMIT $2::int"};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string iso_time(int64_t ms) {
  auto tp = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  return fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::seconds>(tp));
}

namespace {

std::string iso(int64_t ms) { return iso_time(ms); }

Error syncing() {
  return Error(ErrorKind::Unavailable, "coupon_syncing",
               "coupons are being reconciled with the database after a restart of their store; retry in a second");
}

// The first element of a script's array reply.
std::string outcome(const redis::Reply& r) {
  if (r.is_error()) throw Error(ErrorKind::Internal, "coupon_script_failed", "a coupon script failed: " + r.str);
  if (r.type != redis::Reply::Type::Array || r.elements.empty())
    throw Error(ErrorKind::Internal, "coupon_script_failed", "a coupon script gave an unexpected reply");
  return r.elements[0].str;
}

const std::string& element(const redis::Reply& r, std::size_t i) {
  static const std::string empty;
  return i < r.elements.size() ? r.elements[i].str : empty;
}

int64_t to_int(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoll(s);
  } catch (const std::exception&) {
    return 0;
  }
}

redis::Argv evalsha(const redis::Script& s, std::vector<std::string> keys, std::vector<std::string> args) {
  redis::Argv a{"EVALSHA", s.sha(), std::to_string(keys.size())};
  for (auto& k : keys) a.push_back(std::move(k));
  for (auto& v : args) a.push_back(std::move(v));
  return a;
}

json hash_json(const redis::Reply& r) {
  json out = json::object();
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out[r.elements[i].str] = r.elements[i + 1].str;
  return out;
}

}  // namespace

NodeState::NodeState(uint32_t node_id)
    : ids(std::make_unique<ids::OrderIdGenerator>(node_id)), flight(std::make_unique<SingleFlight>()) {}
NodeState::~NodeState() = default;

Authority::Authority(redis::Client& mq, pg::Pool& db, NodeState& node, const CouponConfig& cfg,
                     metrics::Registry& m)
    : mq_(mq),
      db_(db),
      node_(node),
      cfg_(cfg),
      granted_(&m.counter("dine_coupon_granted_total", "coupons granted by claims")),
      sold_out_(&m.counter("dine_coupon_sold_out_total", "claims refused because the stock was gone")),
      reconciles_(&m.counter("dine_coupon_reconciles_total", "reconciliations of redis-mq from the database")),
      restored_(&m.counter("dine_coupon_restored_total", "coupons written back to redis-mq by reconciliation")) {}

Task<Claim> Authority::claim(Context ctx, int64_t campaign_id, int64_t user_id) {
  const std::string cid = std::to_string(campaign_id), uid = std::to_string(user_id);
  const std::string id = std::to_string(node_.ids->next(static_cast<uint64_t>(user_id)));
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> keys{lua::campaign_key(cid), lua::users_key(cid), lua::user_key(uid), lua::coupon_key(id),
                                  lua::kStream};
    std::vector<std::string> args{cid, uid, id, std::to_string(now_ms())};
    redis::Reply r = co_await claim_script().run(mq_, ctx, std::move(keys), std::move(args));
    const std::string what = outcome(r);
    if (what == "granted") {
      granted_->inc();
      co_return Claim{element(r, 1), false, to_int(element(r, 2))};
    }
    if (what == "replayed") co_return Claim{element(r, 1), true, to_int(element(r, 2))};
    if (what == "syncing" && attempt == 0) {
      co_await reconcile(ctx);
      continue;
    }
    if (what == "syncing") throw syncing();
    if (what == "sold_out") {
      sold_out_->inc();
      throw Error(ErrorKind::Conflict, "sold_out", fmt::format("campaign {} has no coupons left", campaign_id));
    }
    if (what == "campaign_not_found") {
      // New in the database since the last look? Load it and try once more.
      if (attempt == 0 && co_await load_new_campaigns(ctx) > 0) continue;
      throw not_found("campaign_not_found", fmt::format("campaign {} does not exist", campaign_id));
    }
    if (what == "campaign_not_started")
      throw Error(ErrorKind::Conflict, "campaign_not_started", fmt::format("campaign {} has not started", campaign_id));
    if (what == "campaign_ended")
      throw Error(ErrorKind::Conflict, "campaign_ended", fmt::format("campaign {} has ended", campaign_id));
    throw Error(ErrorKind::Internal, "coupon_script_failed", "unexpected claim outcome " + what);
  }
}

Task<Use> Authority::transition(Context ctx, const std::string& op, int64_t coupon_id, int64_t user_id,
                                const std::string& order_key) {
  const std::string id = std::to_string(coupon_id);
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> keys{lua::coupon_key(id), lua::kStream};
    std::vector<std::string> args{op, user_id > 0 ? std::to_string(user_id) : std::string(), order_key,
                                  std::to_string(now_ms()), id};
    redis::Reply r = co_await transition_script().run(mq_, ctx, std::move(keys), std::move(args));
    const std::string what = outcome(r);
    if (what == "ok" || what == "replayed") {
      Use u;
      u.state = element(r, 1);
      u.campaign_id = element(r, 2);
      u.product_id = to_int(element(r, 3));
      u.price_cents = to_int(element(r, 4));
      u.replayed = what == "replayed";
      co_return u;
    }
    if (what == "noop") {
      Use u;
      u.state = element(r, 1);
      u.replayed = true;
      co_return u;
    }
    if (what == "syncing" && attempt == 0) {
      co_await reconcile(ctx);
      continue;
    }
    if (what == "syncing") throw syncing();
    if (what == "coupon_not_found")
      throw not_found("coupon_not_found", fmt::format("coupon {} is not one of yours", coupon_id));
    if (what == "coupon_in_use")
      throw Error(ErrorKind::Conflict, "coupon_in_use",
                  fmt::format("coupon {} is {} by another order", coupon_id, element(r, 1)));
    if (what == "coupon_expired")
      throw Error(ErrorKind::Conflict, "coupon_expired", fmt::format("coupon {}'s campaign has ended", coupon_id));
    throw Error(ErrorKind::Internal, "coupon_script_failed", "unexpected outcome " + what);
  }
}

Task<json> Authority::active_campaigns(Context ctx) {
  redis::Argv members{"SMEMBERS", lua::kCampaigns};
  redis::Reply ids = co_await mq_.command(ctx, std::move(members));
  std::vector<redis::Argv> gets;
  for (const auto& e : ids.elements) gets.push_back({"HGETALL", lua::campaign_key(e.str)});
  json out = json::array();
  if (gets.empty()) co_return out;
  std::vector<redis::Reply> hashes = co_await mq_.pipeline(ctx, std::move(gets));
  const int64_t now = now_ms();
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    json h = hash_json(hashes[i]);
    if (!h.contains("stock")) continue;
    const int64_t stock = to_int(h["stock"]), starts = to_int(h["starts_ms"]), ends = to_int(h["ends_ms"]);
    if (stock <= 0 || now < starts || now >= ends) continue;
    out.push_back({{"campaign_id", to_int(ids.elements[i].str)},
                   {"name", h["name"]},
                   {"product_id", to_int(h["product_id"])},
                   {"price_cents", to_int(h["price_cents"])},
                   {"stock", stock},
                   {"total", to_int(h["total"])},
                   {"starts_at", iso(starts)},
                   {"ends_at", iso(ends)}});
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["campaign_id"] < b["campaign_id"]; });
  co_return out;
}

Task<json> Authority::user_coupons(Context ctx, int64_t user_id) {
  redis::Argv members{"SMEMBERS", lua::user_key(std::to_string(user_id))};
  redis::Reply ids = co_await mq_.command(ctx, std::move(members));
  json out = json::array();
  if (ids.elements.empty()) co_return out;
  std::vector<redis::Argv> gets;
  for (const auto& e : ids.elements) gets.push_back({"HGETALL", lua::coupon_key(e.str)});
  std::vector<redis::Reply> hashes = co_await mq_.pipeline(ctx, std::move(gets));
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    json h = hash_json(hashes[i]);
    if (!h.contains("state")) continue;
    out.push_back({{"coupon_id", ids.elements[i].str},
                   {"campaign_id", to_int(h["campaign_id"])},
                   {"state", h["state"]},
                   {"claimed_at", iso(to_int(h["claimed_ms"]))}});
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["coupon_id"] < b["coupon_id"]; });
  co_return out;
}

Task<std::vector<Reservation>> Authority::stale_reservations(Context ctx, milliseconds older_than, int max) {
  redis::Argv range{"ZRANGEBYSCORE", lua::kReserved, "-inf", std::to_string(now_ms() - older_than.count()),
                    "LIMIT", "0", std::to_string(max)};
  redis::Reply ids = co_await mq_.command(ctx, std::move(range));
  std::vector<Reservation> out;
  if (ids.elements.empty()) co_return out;
  std::vector<redis::Argv> gets;
  for (const auto& e : ids.elements) gets.push_back({"HMGET", lua::coupon_key(e.str), "user_id", "state", "order_key"});
  std::vector<redis::Reply> rows = co_await mq_.pipeline(ctx, std::move(gets));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Reservation r;
    r.coupon_id = to_int(ids.elements[i].str);
    r.user_id = to_int(element(rows[i], 0));
    r.state = element(rows[i], 1);
    r.order_key = element(rows[i], 2);
    out.push_back(std::move(r));
  }
  co_return out;
}

Task<void> Authority::forget_reservation(Context ctx, int64_t coupon_id) {
  redis::Argv rem{"ZREM", lua::kReserved, std::to_string(coupon_id)};
  co_await mq_.command(ctx, std::move(rem));
}

Task<std::string> Authority::run_id(Context ctx) {
  redis::Argv info{"INFO", "server"};
  redis::Reply r = co_await mq_.command(ctx, std::move(info));
  auto at = r.str.find("run_id:");
  if (at == std::string::npos) throw Error(ErrorKind::Internal, "redis_info", "INFO server has no run_id");
  auto end = r.str.find_first_of("\r\n", at);
  co_return r.str.substr(at + 7, end - at - 7);
}

Task<bool> Authority::in_sync(Context ctx) {
  std::string rid = co_await run_id(ctx);
  redis::Argv get{"GET", lua::kSyncKey};
  redis::Reply r = co_await mq_.command(ctx, std::move(get));
  co_return r.type == redis::Reply::Type::String && r.str == rid;
}

Task<ReconcileReport> Authority::reconcile(Context ctx) {
  // One per node: concurrent callers on any worker join the one in flight.
  ReconcileReport report;
  SingleFlight::Loader load = [this, rid = ctx.request_id]() -> Task<SingleFlight::Value> {
    Context lctx{rid, deadline_in(milliseconds(cfg_.reconcile_lock_ms))};
    ReconcileReport r = co_await reconcile_now(lctx);
    co_return json{{"campaigns", r.campaigns}, {"coupons", r.coupons}, {"restored", r.restored},
                   {"conflicts", r.conflicts}}
        .dump();
  };
  SingleFlight::Outcome out = co_await node_.flight->run(ctx, "reconcile", load);
  if (out.value) {
    json j = json::parse(*out.value);
    report.campaigns = j["campaigns"];
    report.coupons = j["coupons"];
    report.restored = j["restored"];
    report.conflicts = j["conflicts"];
  }
  co_return report;
}

Task<ReconcileReport> Authority::reconcile_now(Context ctx) {
  ReconcileReport rep;
  if (co_await in_sync(ctx)) co_return rep;
  // One reconciler across the nodes; the others wait until it is done.
  const std::string token = fmt::format("{}-{}", node_.node, now_ms());
  for (;;) {
    redis::Argv lock{"SET", lua::kSyncLock, token, "NX", "PX", std::to_string(cfg_.reconcile_lock_ms)};
    redis::Reply got = co_await mq_.command(ctx, std::move(lock));
    if (got.type == redis::Reply::Type::Status) break;
    if (co_await in_sync(ctx)) co_return rep;
    if (ctx.expired()) throw syncing();
    co_await sleep_for(milliseconds(50));
  }
  const std::string rid = co_await run_id(ctx);
  log::write(log::Level::Warn, "coupon", "reconcile_start", {{"run_id", rid}});
  for (const redis::Script* s :
       {&claim_script(), &transition_script(), &load_campaign_script(), &restore_script(), &fix_stock_script()}) {
    redis::Argv load{"SCRIPT", "LOAD", s->source()};
    co_await mq_.command(ctx, std::move(load));
  }
  // 1. Campaigns: fixed fields, and stock where Redis has none.
  pg::Params none;
  pg::Result camps = co_await db_.execute(ctx, kCampaigns, none);
  std::vector<redis::Argv> cmds;
  for (int i = 0; i < camps.rows(); ++i) {
    const std::string cid(camps.text(i, "campaign_id"));
    cmds.push_back(evalsha(load_campaign_script(), {lua::campaign_key(cid), lua::users_key(cid), lua::kCampaigns},
                           {cid, std::string(camps.text(i, "name")), std::string(camps.text(i, "product_id")),
                            std::string(camps.text(i, "price_cents")), std::string(camps.text(i, "total")),
                            std::string(camps.text(i, "starts_ms")), std::string(camps.text(i, "ends_ms"))}));
  }
  rep.campaigns = camps.rows();
  if (!cmds.empty()) co_await mq_.pipeline(ctx, std::move(cmds));
  // 2. Every persisted coupon, a page at a time.
  int64_t after = 0;
  for (;;) {
    pg::Params p{std::to_string(after), std::to_string(cfg_.reconcile_page)};
    pg::Result page = co_await db_.execute(ctx, kCouponsPage, p);
    if (page.rows() == 0) break;
    std::vector<redis::Argv> restores;
    for (int i = 0; i < page.rows(); ++i) {
      const std::string id(page.text(i, "coupon_id")), cid(page.text(i, "campaign_id")),
          uid(page.text(i, "user_id"));
      restores.push_back(evalsha(restore_script(), {lua::coupon_key(id), lua::users_key(cid), lua::user_key(uid)},
                                 {id, cid, uid, std::string(page.text(i, "state")),
                                  std::string(page.text(i, "order_key")), std::string(page.text(i, "seq")),
                                  std::string(page.text(i, "claimed_ms")), std::to_string(now_ms())}));
    }
    std::vector<redis::Reply> replies = co_await mq_.pipeline(ctx, std::move(restores));
    for (const auto& r : replies) {
      if (r.is_error()) throw Error(ErrorKind::Internal, "coupon_restore_failed", r.str);
      rep.restored += r.str == "restored";
      rep.conflicts += r.str == "conflict";
    }
    rep.coupons += page.rows();
    after = page.int64(page.rows() - 1, "coupon_id");
  }
  // 3. Stock = total - granted, then the mark that lets claims through.
  cmds.clear();
  for (int i = 0; i < camps.rows(); ++i) {
    const std::string cid(camps.text(i, "campaign_id"));
    cmds.push_back(evalsha(fix_stock_script(), {lua::campaign_key(cid), lua::users_key(cid)}, {}));
  }
  if (!cmds.empty()) co_await mq_.pipeline(ctx, std::move(cmds));
  redis::Argv mark{"SET", lua::kSyncKey, rid};
  co_await mq_.command(ctx, std::move(mark));
  redis::Argv unlock{"DEL", lua::kSyncLock};
  co_await mq_.command(ctx, std::move(unlock));
  reconciles_->inc();
  restored_->inc(static_cast<uint64_t>(rep.restored));
  log::write(log::Level::Warn, "coupon", "reconcile_done",
             {{"run_id", rid}, {"campaigns", std::to_string(rep.campaigns)}, {"coupons", std::to_string(rep.coupons)},
              {"restored", std::to_string(rep.restored)}, {"conflicts", std::to_string(rep.conflicts)}});
  co_return rep;
}

Task<int> Authority::load_new_campaigns(Context ctx) {
  pg::Params none;
  pg::Result camps = co_await db_.execute(ctx, kCampaigns, none);
  if (camps.rows() == 0) co_return 0;
  redis::Argv ask{"SMISMEMBER", lua::kCampaigns};
  for (int i = 0; i < camps.rows(); ++i) ask.emplace_back(camps.text(i, "campaign_id"));
  redis::Reply known = co_await mq_.command(ctx, std::move(ask));
  std::vector<redis::Argv> cmds;
  for (int i = 0; i < camps.rows(); ++i) {
    if (static_cast<std::size_t>(i) < known.elements.size() && known.elements[i].integer == 1) continue;
    const std::string cid(camps.text(i, "campaign_id"));
    cmds.push_back(evalsha(load_campaign_script(), {lua::campaign_key(cid), lua::users_key(cid), lua::kCampaigns},
                           {cid, std::string(camps.text(i, "name")), std::string(camps.text(i, "product_id")),
                            std::string(camps.text(i, "price_cents")), std::string(camps.text(i, "total")),
                            std::string(camps.text(i, "starts_ms")), std::string(camps.text(i, "ends_ms"))}));
  }
  const int n = static_cast<int>(cmds.size());
  if (n == 0) co_return 0;
  redis::Argv load{"SCRIPT", "LOAD", load_campaign_script().source()};
  co_await mq_.command(ctx, std::move(load));
  co_await mq_.pipeline(ctx, std::move(cmds));
  co_return n;
}

}  // namespace dine::coupon
