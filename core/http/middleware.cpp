#include "core/http/middleware.hpp"

#include <string>

namespace dine::http {

Task<Response> ready(Response response) { co_return response; }

metrics::Counter* refused_counter(metrics::Registry* registry, std::string_view reason) {
  if (registry == nullptr) return nullptr;
  return &registry->counter("dine_http_refused_total", "HTTP requests refused by a middleware, by reason",
                            {{"reason", std::string(reason)}});
}

}  // namespace dine::http
