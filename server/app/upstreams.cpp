#include "server/app/upstreams.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace dine::app {

Upstreams::Upstreams(http::Client& client, std::map<std::string, std::vector<const Node*>> nodes) {
  for (auto& [purpose, list] : nodes) rings_.emplace(purpose, http::NodeRing(client, std::move(list)));
}

Task<http::ClientResponse> Upstreams::call(Context ctx, const std::string& purpose, std::string method,
                                           std::string target, std::string body, http::Headers headers) {
  http::NodeRing& ring = rings_.at(purpose);
  try {
    http::ClientResponse r = co_await ring.call(ctx, std::move(method), std::move(target), std::move(body),
                                                std::move(headers));
    co_return r;
  } catch (const Error& e) {
    // The caller's words: which service, never where it runs.
    if (e.kind() == ErrorKind::Timeout)
      throw Error(ErrorKind::Timeout, "upstream_timeout", fmt::format("the {} service did not answer in time", purpose),
                  e.detail());
    if (e.kind() == ErrorKind::Unavailable)
      throw Error(ErrorKind::Unavailable, "dependency_unavailable",
                  fmt::format("the {} service is unavailable; retry shortly", purpose), e.detail());
    throw;
  }
}

}  // namespace dine::app
