#include "server/order/service.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/pg/errors.hpp"
#include "server/order/queries.hpp"

namespace dine::order {
namespace {

using nlohmann::json;

json opt_text(const pg::Result& r, int row, const char* col) {
  auto v = r.opt(row, col);
  return v ? json(*v) : json(nullptr);
}

json order_json(const pg::Result& r, int row) {
  json items = json::parse(r.text(row, "items"), nullptr, false);
  json coupon = r.is_null(row, r.column("coupon_id")) ? json(nullptr) : json(r.int64(row, "coupon_id"));
  return {{"order_id", std::string(r.text(row, "order_id"))},
          {"user_id", r.int64(row, "user_id")},
          {"store_id", r.int64(row, "store_id")},
          {"items", items},
          {"amount_cents", r.int64(row, "amount_cents")},
          {"coupon_id", coupon},
          {"status", std::string(r.text(row, "status"))},
          {"pickup_code", opt_text(r, row, "pickup_code")},
          {"payment_id", opt_text(r, row, "payment_id")},
          {"version", r.int64(row, "version")},
          {"created_at", opt_text(r, row, "created_at")},
          {"paid_at", opt_text(r, row, "paid_at")},
          {"accepted_at", opt_text(r, row, "accepted_at")}};
}

Error order_not_found(uint64_t id) {
  return not_found("order_not_found", fmt::format("order {} does not exist", id));
}

}  // namespace

OrderService::OrderService(pg::ShardedCluster& shards, ids::OrderIdGenerator& ids, const OrderConfig& cfg,
                           PaidHook on_paid)
    : shards_(shards), ids_(ids), cfg_(cfg), on_paid_(std::move(on_paid)) {
  pg::BatcherConfig bc;
  bc.max_batch = static_cast<std::size_t>(cfg.write_batch);
  bc.concurrency = static_cast<std::size_t>(cfg.write_batch_concurrency);
  bc.linger = std::chrono::microseconds(cfg.write_batch_linger_us);
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    // Creates and pays of a shard share their statements in flight: while
    // one kind's statement runs, both kinds gather.
    auto lane = std::make_shared<pg::BatchLane>(bc.concurrency, bc.linger);
    creates_.push_back(std::make_unique<pg::Batcher>(
        shards_.shard(i), pg::BatchStatement{sql::kCreate, sql::kCreateMany, 0, "order_id"}, bc, lane));
    pays_.push_back(std::make_unique<pg::Batcher>(
        shards_.shard(i), pg::BatchStatement{sql::kPay, sql::kPayMany, 0, "order_id"}, bc, lane));
  }
}

OrderService::~OrderService() = default;

Task<pg::Result> OrderService::insert(Context ctx, std::size_t shard, const CreateOrder& req, uint64_t order_id) {
  pg::Params p{std::to_string(order_id),
               std::to_string(req.user_id),
               std::to_string(req.store_id),
               req.items_json().dump(),
               std::to_string(req.amount_cents),
               req.coupon_id ? std::optional<std::string>(std::to_string(*req.coupon_id)) : std::nullopt,
               req.idempotency_key,
               req.request_hash};
  co_return co_await creates_[shard]->execute(std::move(ctx), std::move(p));
}

Task<Outcome> OrderService::create(Context ctx, CreateOrder req) {
  const std::size_t shard = shards_.shard_of(req.user_id);  // same shard as every id this user gets
  auto& pool = shards_.shard(shard);
  pg::Result r;
  for (int attempt = 1;; ++attempt) {
    try {
      r = co_await insert(ctx, shard, req, ids_.next(req.user_id));
      break;
    } catch (const pg::SqlError& e) {
      // The key's conflict is handled by ON CONFLICT, so a unique violation
      // here is the order id itself (two processes for one node id, or a
      // clock step): take a fresh id.
      if (!e.unique_violation() || attempt == 3) throw;
    }
  }
  if (r.rows() == 0) {  // the key was used before: find that order
    pg::Params key{std::to_string(req.user_id), req.idempotency_key};
    r = co_await pool.execute(ctx, sql::kByKey, key);
  }
  if (r.rows() == 0)  // the other insert is not visible yet (its transaction still open)
    throw Error(ErrorKind::Unavailable, "retry", "the order could not be created; retry with the same key")
        .with_retry_after(1);

  if (r.text(0, "request_hash") != req.request_hash)
    throw conflict("idempotency_key_reused",
                   "this Idempotency-Key was already used for a different order; use a new key");
  Outcome out;
  out.status = 201;
  out.replayed = r.text(0, "created") != "t";
  out.body = {{"order_id", std::string(r.text(0, "order_id"))},
              {"status", std::string(r.text(0, "status"))},
              {"amount_cents", r.int64(0, "amount_cents")}};
  co_return out;
}

Task<Outcome> OrderService::get(Context ctx, uint64_t order_id) {
  pg::Params p{std::to_string(order_id)};
  auto r = co_await shards_.for_id(order_id).execute(ctx, sql::kGet, p);
  if (r.rows() == 0) throw order_not_found(order_id);
  co_return Outcome{200, order_json(r, 0)};
}

Task<Outcome> OrderService::find_by_key(Context ctx, uint64_t user_id, std::string key) {
  pg::Params p{std::to_string(user_id), std::move(key)};
  auto r = co_await shards_.for_id(user_id).execute(ctx, sql::kFindByKey, p);
  json orders = json::array();
  for (int i = 0; i < r.rows(); ++i) orders.push_back(order_json(r, i));
  co_return Outcome{200, {{"user_id", user_id}, {"orders", std::move(orders)}}};
}

Task<Outcome> OrderService::list_for_user(Context ctx, uint64_t user_id, int limit) {
  pg::Params p{std::to_string(user_id), std::to_string(limit)};
  auto r = co_await shards_.for_id(user_id).execute(ctx, sql::kListByUser, p);
  json orders = json::array();
  for (int i = 0; i < r.rows(); ++i) orders.push_back(order_json(r, i));
  co_return Outcome{200, {{"user_id", user_id}, {"orders", std::move(orders)}}};
}

Task<Outcome> OrderService::pay(Context ctx, uint64_t order_id, std::string payment_id) {
  const std::size_t shard = shards_.shard_of(order_id);
  auto& pool = shards_.shard(shard);
  pg::Params p{std::to_string(order_id), payment_id};
  auto r = co_await pays_[shard]->execute(ctx, std::move(p));
  if (r.rows() == 1) {
    if (on_paid_) on_paid_(shard);
    co_return Outcome{200, {{"order_id", std::to_string(order_id)}, {"status", kPaid}}};
  }
  // Not CREATED: read it to tell a repeat from an illegal call.
  pg::Params id{std::to_string(order_id)};
  auto cur = co_await pool.execute(ctx, sql::kGet, id);
  if (cur.rows() == 0) throw order_not_found(order_id);
  std::string status(cur.text(0, "status"));
  if (status == kCancelled)
    throw conflict("illegal_transition", fmt::format("order {} is CANCELLED and cannot be paid", order_id));
  if (status == kCreated)  // a concurrent transition rolled back meanwhile: let the client retry
    throw Error(ErrorKind::Unavailable, "retry", "the payment raced with another; retry").with_retry_after(1);
  // PAID or later: a repeat. Same payment: a no-op; another payment: a double charge to refuse.
  if (cur.text(0, "payment_id") != payment_id)
    throw conflict("already_paid", fmt::format("order {} was already paid by another payment", order_id));
  co_return Outcome{200, {{"order_id", std::to_string(order_id)}, {"status", status}}, true};
}

Task<Outcome> OrderService::cancel(Context ctx, uint64_t order_id) {
  const std::size_t shard = shards_.shard_of(order_id);
  auto& pool = shards_.shard(shard);
  pg::Params p{std::to_string(order_id), std::string("user")};
  auto r = co_await pool.execute(ctx, sql::kCancel, p);
  json body = {{"order_id", std::to_string(order_id)}, {"status", kCancelled}};
  if (r.rows() == 1) {
    if (on_paid_) on_paid_(shard);  // the relay sends order.cancelled at once too
    co_return Outcome{200, body};
  }
  pg::Params id{std::to_string(order_id)};
  auto cur = co_await pool.execute(ctx, sql::kGet, id);
  if (cur.rows() == 0) throw order_not_found(order_id);
  std::string status(cur.text(0, "status"));
  if (status == kCancelled) co_return Outcome{200, body, true};
  if (status == kCreated)  // a concurrent transition rolled back meanwhile: let the client retry
    throw Error(ErrorKind::Unavailable, "retry", "the cancel raced with another change; retry").with_retry_after(1);
  throw conflict("illegal_transition", fmt::format("order {} is {} and cannot be cancelled", order_id, status));
}

Task<Outcome> OrderService::accept(Context ctx, uint64_t order_id, std::string pickup_code) {
  auto& pool = shards_.for_id(order_id);
  pg::Params p{std::to_string(order_id), pickup_code};
  auto r = co_await pool.execute(ctx, sql::kAccept, p);
  json body = {{"order_id", std::to_string(order_id)}, {"status", kAccepted}, {"pickup_code", pickup_code}};
  if (r.rows() == 1) co_return Outcome{200, body};
  pg::Params id{std::to_string(order_id)};
  auto cur = co_await pool.execute(ctx, sql::kGet, id);
  if (cur.rows() == 0) throw order_not_found(order_id);
  std::string status(cur.text(0, "status"));
  if (status != kAccepted && status != kCompleted)
    throw conflict("illegal_transition", fmt::format("order {} is {} and cannot be accepted", order_id, status));
  if (cur.text(0, "pickup_code") != pickup_code)
    throw conflict("pickup_code_mismatch",
                   fmt::format("order {} was already accepted with another pickup code", order_id));
  body["status"] = status;
  co_return Outcome{200, body, true};
}

}  // namespace dine::order
