#include "server/payment/config.hpp"

#include <nlohmann/json.hpp>

namespace dine::payment {
namespace {

double rate(config::Reader& r, const char* key, double dflt) {
  const nlohmann::json* v = r.get(key);
  if (!v) return dflt;
  if (!v->is_number() || v->get<double>() < 0 || v->get<double>() > 1)
    r.fail(r.key(key), "must be a number from 0 to 1", "write a share, e.g. 0.02 for 2 %");
  return v->get<double>();
}

}  // namespace

PaymentConfig PaymentConfig::parse(config::Reader& r, const PaymentConfig& d) {
  PaymentConfig c;
  c.provider_delay_ms = r.integer("provider_delay_ms", d.provider_delay_ms, 0, 60'000);
  c.decline_rate = rate(r, "decline_rate", d.decline_rate);
  c.unknown_rate = rate(r, "unknown_rate", d.unknown_rate);
  c.relay = r.boolean("relay", d.relay);
  c.relay_every_ms = r.integer("relay_every_ms", d.relay_every_ms, 10, 600'000);
  c.relay_batch = r.integer("relay_batch", d.relay_batch, 1, 10'000);
  c.relay_claim_ms = r.integer("relay_claim_ms", d.relay_claim_ms, 1000, 3'600'000);
  c.relay_max_backoff_ms = r.integer("relay_max_backoff_ms", d.relay_max_backoff_ms, 10, 3'600'000);
  c.inline_handoff = r.boolean("inline_handoff", d.inline_handoff);
  c.resolve_after_ms = r.integer("resolve_after_ms", d.resolve_after_ms, 100, 3'600'000);
  if (c.decline_rate + c.unknown_rate > 1)
    r.fail(r.key("unknown_rate"), "decline_rate + unknown_rate is over 1", "lower one of them");
  r.reject_unknown();
  return c;
}

}  // namespace dine::payment
