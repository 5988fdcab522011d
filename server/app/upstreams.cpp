#include "server/app/upstreams.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/topology.hpp"

namespace dine::app {

Upstreams::Upstreams(http::Client& client, std::map<std::string, std::vector<const Node*>> nodes)
    : client_(client), nodes_(std::move(nodes)) {}

Task<http::ClientResponse> Upstreams::call(Context ctx, const std::string& purpose, std::string method,
                                           std::string target, std::string body, http::Headers headers) {
  const auto& nodes = nodes_.at(purpose);
  std::size_t& next = next_[purpose];
  for (std::size_t tries = 0; tries < nodes.size(); ++tries) {
    const Node* n = nodes[next++ % nodes.size()];
    http::ClientRequest req;
    req.method = method;
    req.host = n->ip.empty() ? n->host : n->ip;
    req.port = n->port;
    req.target = target;
    req.body = body;
    req.headers = headers;
    req.ctx = ctx;
    try {
      http::ClientResponse r = co_await client_.request(std::move(req));
      co_return r;
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Timeout)
        throw Error(ErrorKind::Timeout, "upstream_timeout", fmt::format("the {} service did not answer in time", purpose),
                    e.detail());
      if (http::never_sent(e) && tries + 1 < nodes.size()) continue;  // the next node may take it
      if (e.kind() == ErrorKind::Unavailable)
        throw Error(ErrorKind::Unavailable, "dependency_unavailable",
                    fmt::format("the {} service is unavailable; retry shortly", purpose), e.detail());
      throw;
    }
  }
  throw Error(ErrorKind::Unavailable, "dependency_unavailable",
              fmt::format("the {} service is unavailable; retry shortly", purpose));
}

}  // namespace dine::app
