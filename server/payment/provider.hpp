#pragma once
// The simulated payment provider (a stand-in for the chat app's pay API).
// A payment's final outcome is a pure function of its idempotency key, so a
// repeated charge, a query after a timeout, and a node restarted in between
// all see the same result, as with a real provider keyed by idempotency key.
#include <cstdint>
#include <string>

#include "core/async.hpp"
#include "core/context.hpp"

namespace dine::payment {

struct PaymentConfig;

enum class Outcome { Captured, Declined, Unknown };
const char* to_string(Outcome o);

// Captured or Declined for this key: a share decline_rate of keys decline.
Outcome final_outcome(const std::string& key, double decline_rate);
// The provider's reference of a capture: stable for the key.
std::string provider_ref(const std::string& key);

class Provider {
 public:
  explicit Provider(const PaymentConfig& cfg) : cfg_(cfg) {}
  // Takes provider_delay_ms (or the time to ctx's deadline: then Unknown);
  // a share unknown_rate of calls is Unknown whatever the final outcome.
  Task<Outcome> charge(Context ctx, const std::string& key, int64_t amount_cents);
  // The final outcome of a key charged before (a query after Unknown).
  Task<Outcome> query(Context ctx, const std::string& key);
  // Gives a capture back. Idempotent by key.
  Task<void> refund(Context ctx, const std::string& key);

 private:
  const PaymentConfig& cfg_;
};

}  // namespace dine::payment
