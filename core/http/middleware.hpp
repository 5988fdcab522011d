#pragma once
// Middleware: a Handler that wraps a Handler. A role declares its routes and
// wraps each handler with what the route needs, outermost first:
//
//   router.post("/v1/orders", rate_limit(limit_in_flight(require_bearer(create, auth), cap), limiter));
//
//   middleware_rate.hpp      TokenBucket, RateLimiter, rate_limit       429 rate_limited
//   middleware_inflight.hpp  InFlightLimit, limit_in_flight             503 overloaded
//   middleware_auth.hpp      BearerAuth, require_bearer, check_token_secret  401 / 403
//
// A middleware answers its refusals itself rather than throwing: they carry
// headers the router does not add (WWW-Authenticate) and cost no exception
// under load. Each counts what it refuses in dine_http_refused_total{reason}.
// The wrappers are plain functions, not coroutines: their checks run at once
// and they hand on the inner handler's Task (see docs/middleware.md).
#include <string_view>

#include "core/async.hpp"
#include "core/http/message.hpp"
#include "core/metrics.hpp"

namespace dine::http {

// A response that is ready at once, as the Task a Handler returns.
Task<Response> ready(Response response);

// dine_http_refused_total{reason="<reason>"}; null without a registry.
metrics::Counter* refused_counter(metrics::Registry* registry, std::string_view reason);

}  // namespace dine::http
