#include "server/payment/service.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/pg/pool.hpp"
#include "server/payment/config.hpp"
#include "server/payment/provider.hpp"

namespace dine::payment {
namespace {

using nlohmann::json;

// $1 order $2 user $3 amount. A new payment, or the one there: a declined one
// is tried again (a new attempt, so a new key at the provider).
constexpr pg::Statement kStart{
    "payment_start",
    "INSERT INTO payments (order_id, user_id, amount_cents, status) VALUES ($1, $2, $3, 'PENDING')"
    " ON CONFLICT (order_id) DO UPDATE SET"
    "   attempts = payments.attempts + (payments.status = 'DECLINED')::int,"
    "   status = CASE WHEN payments.status = 'DECLINED' THEN 'PENDING' ELSE payments.status END,"
    "   updated_at = CASE WHEN payments.status = 'DECLINED' THEN now() ELSE payments.updated_at END"
    " RETURNING status, attempts, amount_cents, payment_id,"
    "   (SELECT outcome FROM outbox o WHERE o.order_id = payments.order_id) AS handoff"};
// $1 order $2 payment_id $3 first relay attempt in ms from now. The capture
// and its hand-off row, in one transaction.
constexpr pg::Statement kCapture{
    "payment_capture",
    "WITH u AS (UPDATE payments SET status = 'CAPTURED', payment_id = $2, updated_at = now()"
    "           WHERE order_id = $1 AND status = 'PENDING' RETURNING order_id)"
    " INSERT INTO outbox (order_id, payment_id, next_at)"
    " SELECT order_id, $2, now() + $3::int * interval '1 millisecond' FROM u ON CONFLICT DO NOTHING"};
constexpr pg::Statement kDecline{
    "payment_decline",
    "UPDATE payments SET status = 'DECLINED', updated_at = now() WHERE order_id = $1 AND status = 'PENDING'"};
// $1 order $2 outcome ('paid' | 'refunded').
constexpr pg::Statement kSettle{
    "payment_settle",
    "WITH o AS (UPDATE outbox SET sent_at = now(), outcome = $2, claimed_until = NULL"
    "           WHERE order_id = $1 AND sent_at IS NULL RETURNING order_id)"
    " UPDATE payments p SET status = 'REFUNDED', updated_at = now()"
    " FROM o WHERE p.order_id = o.order_id AND $2 = 'refunded'"};
// $1 batch $2 claim ms. Rows due, claimed for this relay.
constexpr pg::Statement kClaim{
    "payment_outbox_claim",
    "UPDATE outbox SET claimed_until = now() + $2::int * interval '1 millisecond', attempts = attempts + 1"
    " WHERE order_id IN (SELECT order_id FROM outbox WHERE sent_at IS NULL AND next_at <= now()"
    "                    AND (claimed_until IS NULL OR claimed_until < now())"
    "                    ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
    " RETURNING order_id, payment_id, attempts"};
// $1 order $2 backoff ms $3 error.
constexpr pg::Statement kRetry{
    "payment_outbox_retry",
    "UPDATE outbox SET claimed_until = NULL, next_at = now() + $2::int * interval '1 millisecond', last_error = $3"
    " WHERE order_id = $1 AND sent_at IS NULL"};
// $1 older than ms.
constexpr pg::Statement kPending{
    "payment_pending",
    "SELECT order_id, attempts FROM payments WHERE status = 'PENDING'"
    " AND updated_at < now() - $1::int * interval '1 millisecond' ORDER BY updated_at LIMIT 100"};
constexpr pg::Statement kGet{
    "payment_get",
    "SELECT p.order_id, p.user_id, p.amount_cents, p.status, p.attempts, p.payment_id, o.outcome AS handoff,"
    " o.attempts AS handoff_attempts, o.last_error"
    " FROM payments p LEFT JOIN outbox o ON o.order_id = p.order_id WHERE p.order_id = $1"};

Error dependency_down() {
  return Error(ErrorKind::Unavailable, "dependency_unavailable", "the order service cannot be reached; retry");
}

json status_body(int64_t order_id, const char* status) {
  return {{"order_id", std::to_string(order_id)}, {"status", status}};
}

}  // namespace

std::string charge_key(int64_t order_id, int64_t attempt) { return fmt::format("{}-{}", order_id, attempt); }

PaymentService::PaymentService(pg::Pool& db, http::Client& orders, std::vector<const Node*> order_nodes,
                               const PaymentConfig& cfg, Provider& provider, metrics::Registry& m)
    : db_(db), orders_(orders, std::move(order_nodes)), cfg_(cfg), provider_(provider) {
  auto c = [&](const char* outcome) {
    return &m.counter("dine_payment_charges_total", "charges at the provider by outcome", {{"outcome", outcome}});
  };
  captured_ = c("captured");
  declined_ = c("declined");
  unknown_ = c("unknown");
  handed_off_ = &m.counter("dine_payment_handoffs_total", "captures the order role acknowledged");
  refunded_ = &m.counter("dine_payment_refunds_total", "captures refunded: the order could no longer be paid");
  handoff_retries_ = &m.counter("dine_payment_handoff_retries_total", "hand-offs to retry (order role down or slow)");
}

Task<http::ClientResponse> PaymentService::order_call(Context ctx, std::string method, std::string target,
                                                      std::string body) {
  // /paid is idempotent across nodes (the same payment id is a replay), and
  // the ring never sends one call twice anyway.
  try {
    http::ClientResponse r = co_await orders_.call(ctx, std::move(method), std::move(target), std::move(body));
    co_return r;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Unavailable) throw dependency_down();
    throw;
  }
}

Task<Handoff> PaymentService::handoff(Context ctx, int64_t order_id, const std::string& payment_id) {
  http::ClientResponse r;
  try {
    std::string body = json{{"payment_id", payment_id}}.dump();
    r = co_await order_call(ctx, "POST", fmt::format("/v1/orders/{}/paid", order_id), std::move(body));
  } catch (const Error&) {
    co_return Handoff::Retry;
  }
  if (r.status == 200) co_return Handoff::Paid;
  json err = json::parse(r.body, nullptr, false);
  const std::string code = err.is_object() ? err.value("error", "") : "";
  if (r.status == 404) co_return Handoff::Refund;
  if (r.status == 409 && code == "illegal_transition") co_return Handoff::Refund;  // cancelled or expired
  if (r.status == 409 && code == "already_paid") {
    // Paid by another payment id: this capture has no order to pay.
    co_return Handoff::Refund;
  }
  co_return Handoff::Retry;
}

Task<void> PaymentService::settle(Context ctx, int64_t order_id, const std::string& payment_id, Handoff h) {
  if (h == Handoff::Refund) {
    co_await provider_.refund(ctx, payment_id);
    refunded_->inc();
    log::write(log::Level::Warn, "payment", "refunded",
               {{"order_id", std::to_string(order_id)}, {"reason", "the order can no longer be paid"}});
  } else {
    handed_off_->inc();
  }
  pg::Params p{std::to_string(order_id), h == Handoff::Refund ? "refunded" : "paid"};
  co_await db_.execute(ctx, kSettle, p);
}

Task<void> PaymentService::captured(Context ctx, int64_t order_id, const std::string& payment_id) {
  // With an inline hand-off the relay waits a little before trying the row itself.
  pg::Params p{std::to_string(order_id), payment_id, cfg_.inline_handoff ? "2000" : "0"};
  co_await db_.execute(ctx, kCapture, p);
  captured_->inc();
}

Task<http::Response> PaymentService::pay(Context ctx, int64_t order_id, int64_t user_id) {
  // The order as the order role has it: its owner, status and amount.
  http::ClientResponse o;
  try {
    o = co_await order_call(ctx, "GET", fmt::format("/v1/orders/{}", order_id), "");
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Timeout) throw;
    throw dependency_down();
  }
  if (o.status >= 500) throw dependency_down();  // (the order role's own 5xx: it cannot tell)
  json order = json::parse(o.body, nullptr, false);
  if (o.status == 404 || !order.is_object() || order.value("user_id", int64_t{0}) != user_id)
    throw not_found("order_not_found", fmt::format("order {} is not one of yours", order_id));
  const std::string status = order.value("status", "");
  if (status == "CANCELLED")
    throw conflict("order_not_payable", fmt::format("order {} was cancelled and cannot be paid", order_id));
  if (status != "CREATED") co_return http::Response::json(200, status_body(order_id, "PAID"));
  const int64_t amount = order.value("amount_cents", int64_t{-1});
  if (amount < 0) throw dependency_down();

  pg::Params p{std::to_string(order_id), std::to_string(user_id), std::to_string(amount)};
  pg::Result r = co_await db_.execute(ctx, kStart, p);
  const std::string state(r.text(0, "status"));
  const int64_t attempt = r.int64(0, "attempts");
  std::string payment_id(r.text(0, "payment_id"));
  if (state == "REFUNDED")
    throw conflict("order_not_payable", fmt::format("order {}'s payment was refunded", order_id));
  if (state == "PENDING") {
    const std::string key = charge_key(order_id, attempt);
    Outcome out = co_await provider_.charge(ctx, key, r.int64(0, "amount_cents"));
    if (out == Outcome::Unknown) {
      unknown_->inc();
      co_return http::Response::json(202, status_body(order_id, "PAYING"));
    }
    if (out == Outcome::Declined) {
      declined_->inc();
      pg::Params d{std::to_string(order_id)};
      co_await db_.execute(ctx, kDecline, d);
      throw Error(ErrorKind::PaymentRequired, "payment_declined",
                  fmt::format("the payment of order {} was declined; pay again to retry", order_id));
    }
    payment_id = provider_ref(key);
    co_await captured(ctx, order_id, payment_id);
  } else if (state == "CAPTURED" && !r.is_null(0, r.column("handoff"))) {
    co_return http::Response::json(200, status_body(order_id, "PAID"));
  }
  // Captured: hand it off now if the deadline allows; the relay does it otherwise.
  if (cfg_.inline_handoff && !ctx.expired()) {
    Handoff h = co_await handoff(ctx, order_id, payment_id);
    if (h == Handoff::Paid) {
      co_await settle(ctx, order_id, payment_id, h);
      json body = status_body(order_id, "PAID");
      body["payment_id"] = payment_id;
      co_return http::Response::json(200, body);
    }
  }
  co_return http::Response::json(202, status_body(order_id, "PAYING"));
}

Task<json> PaymentService::get(Context ctx, int64_t order_id) {
  pg::Params p{std::to_string(order_id)};
  pg::Result r = co_await db_.execute(ctx, kGet, p);
  if (r.rows() == 0) throw not_found("payment_not_found", fmt::format("order {} has no payment", order_id));
  co_return json{{"order_id", std::string(r.text(0, "order_id"))},
                 {"user_id", r.int64(0, "user_id")},
                 {"amount_cents", r.int64(0, "amount_cents")},
                 {"status", std::string(r.text(0, "status"))},
                 {"attempts", r.int64(0, "attempts")},
                 {"payment_id", r.opt(0, "payment_id") ? json(*r.opt(0, "payment_id")) : json(nullptr)},
                 {"handoff", r.opt(0, "handoff") ? json(*r.opt(0, "handoff")) : json(nullptr)}};
}

Task<int> PaymentService::relay_round(Context ctx) {
  pg::Params p{std::to_string(cfg_.relay_batch), std::to_string(cfg_.relay_claim_ms)};
  pg::Result rows = co_await db_.execute(ctx, kClaim, p);
  int settled = 0;
  for (int i = 0; i < rows.rows(); ++i) {
    const int64_t order_id = rows.int64(i, "order_id");
    const std::string payment_id(rows.text(i, "payment_id"));
    Handoff h = co_await handoff(ctx, order_id, payment_id);
    if (h == Handoff::Retry) {
      handoff_retries_->inc();
      const int64_t attempts = rows.int64(i, "attempts");
      const int64_t backoff =
          std::min<int64_t>(cfg_.relay_max_backoff_ms, 100LL << std::min<int64_t>(attempts, 16));
      pg::Params q{std::to_string(order_id), std::to_string(backoff), "order role unreachable or failing"};
      co_await db_.execute(ctx, kRetry, q);
      continue;
    }
    co_await settle(ctx, order_id, payment_id, h);
    ++settled;
  }
  co_return settled;
}

Task<int> PaymentService::resolve_round(Context ctx) {
  pg::Params p{std::to_string(cfg_.resolve_after_ms)};
  pg::Result rows = co_await db_.execute(ctx, kPending, p);
  int resolved = 0;
  for (int i = 0; i < rows.rows(); ++i) {
    const int64_t order_id = rows.int64(i, "order_id");
    const std::string key = charge_key(order_id, rows.int64(i, "attempts"));
    Outcome out = co_await provider_.query(ctx, key);
    if (out == Outcome::Captured) {
      co_await captured(ctx, order_id, provider_ref(key));
    } else if (out == Outcome::Declined) {
      declined_->inc();
      pg::Params d{std::to_string(order_id)};
      co_await db_.execute(ctx, kDecline, d);
    }
    ++resolved;
  }
  co_return resolved;
}

}  // namespace dine::payment
