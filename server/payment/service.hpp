#pragma once
// Payments (docs/serve-payment.md): charge the simulated provider for the
// amount stored with the order, record the capture and its hand-off to the
// order role in one transaction, hand it off until the order role
// acknowledges, refund it when the order can no longer be paid.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/http/client.hpp"
#include "core/http/nodes.hpp"
#include "core/http/message.hpp"
#include "core/fwd.hpp"

namespace dine::payment {

struct PaymentConfig;
class Provider;

enum class Handoff { Paid, Refund, Retry };

class PaymentService {
 public:
  PaymentService(pg::Pool& db, http::Client& orders, std::vector<const Node*> order_nodes, const PaymentConfig& cfg,
                 Provider& provider, metrics::Registry& m);

  // Pays order `order_id` of `user_id`: 200 {"status": "PAID"}, 202
  // {"status": "PAYING"} when the outcome is not known yet, 402
  // payment_declined, 404 order_not_found (also someone else's), 409
  // order_not_payable (cancelled, or refunded), 503 dependency_unavailable.
  Task<http::Response> pay(Context ctx, int64_t order_id, int64_t user_id);
  // The payment of an order as stored: 404 payment_not_found.
  Task<nlohmann::json> get(Context ctx, int64_t order_id);

  // One round of the outbox relay: hands off (or refunds) the captures due;
  // returns how many rows it settled.
  Task<int> relay_round(Context ctx);
  // One round of the resolver: payments left PENDING by an unknown outcome
  // are asked of the provider; returns how many it resolved.
  Task<int> resolve_round(Context ctx);

 private:
  Task<http::ClientResponse> order_call(Context ctx, std::string method, std::string target, std::string body);
  Task<Handoff> handoff(Context ctx, int64_t order_id, const std::string& payment_id);
  Task<void> settle(Context ctx, int64_t order_id, const std::string& payment_id, Handoff h);
  Task<void> captured(Context ctx, int64_t order_id, const std::string& payment_id);

  pg::Pool& db_;
  http::NodeRing orders_;
  const PaymentConfig& cfg_;
  Provider& provider_;
  metrics::Counter* captured_;
  metrics::Counter* declined_;
  metrics::Counter* unknown_;
  metrics::Counter* handed_off_;
  metrics::Counter* refunded_;
  metrics::Counter* handoff_retries_;
};

// The provider's idempotency key of an order's attempt.
std::string charge_key(int64_t order_id, int64_t attempt);

}  // namespace dine::payment
