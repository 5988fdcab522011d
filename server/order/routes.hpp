#pragma once
// The order role's internal HTTP API (see docs/serve-order.md).
#include <memory>

#include "core/http/router.hpp"
#include "server/order/service.hpp"

namespace dine::order {

void add_routes(http::Router& router, std::shared_ptr<OrderService> service);

}  // namespace dine::order
