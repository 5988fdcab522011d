#pragma once
// The payment role's section of the topology: "roles": {"payment": {...}},
// and a node's own "config" over it. Every key is optional; unknown keys are errors.
#include "core/config.hpp"

namespace dine::payment {

struct PaymentConfig {
  // The simulated provider: each charge takes provider_delay_ms; a share
  // decline_rate of payments is declined, and a share unknown_rate of calls
  // ends without an answer (a timeout: the capture may or may not have
  // happened; the resolver asks the provider later).
  int provider_delay_ms = 50;
  double decline_rate = 0.02;
  double unknown_rate = 0.01;
  // The hand-off of captures to the order role (the outbox relay).
  bool relay = true;                // false: this node charges only; others hand off its captures
  int relay_every_ms = 500;         // backstop poll; a capture wakes the relay at once
  int relay_batch = 50;
  int relay_claim_ms = 30'000;      // a relay's claim on a row lapses after this (a dead relay's rows move on)
  int relay_max_backoff_ms = 10'000;
  bool inline_handoff = true;       // hand off in the pay call itself (PAID at once); the relay is the backstop
  int resolve_after_ms = 3000;      // a payment PENDING this long is asked of the provider

  static PaymentConfig parse(config::Reader& r, const PaymentConfig& defaults);
};

}  // namespace dine::payment
