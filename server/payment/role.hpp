#pragma once
// The payment role (`dine serve payment`): charges the simulated provider,
// hands captures off to the order role through its outbox, refunds what has
// no order to pay (docs/serve-payment.md).
#include "core/runtime/role.hpp"

namespace dine::payment {

const runtime::RoleDescriptor& role();

}  // namespace dine::payment
