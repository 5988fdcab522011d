#pragma once
// The order role's internal HTTP API (see docs/serve-order.md).
#include <memory>
#include <string>

#include "core/http/router.hpp"
#include "server/order/service.hpp"

namespace dine::order {

// Writes (create, paid, cancel, accepted) require a service credential made
// with `secret` (core/service_auth.hpp); reads do not.
void add_routes(http::Router& router, std::shared_ptr<OrderService> service, const std::string& secret,
                metrics::Registry* registry);

}  // namespace dine::order
