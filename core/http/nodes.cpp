#include "core/http/nodes.hpp"

#include <cctype>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/topology.hpp"

namespace dine::http {

NodeRing::NodeRing(Client& client, std::vector<const Node*> nodes) : client_(client), nodes_(std::move(nodes)) {}

Task<ClientResponse> NodeRing::call(Context ctx, std::string method, std::string target, std::string body,
                                    Headers headers) {
  for (std::size_t tries = 0; tries < nodes_.size(); ++tries) {
    const Node* n = nodes_[next_++ % nodes_.size()];
    ClientRequest req;
    req.method = method;
    req.host = n->ip.empty() ? n->host : n->ip;
    req.port = n->port;
    req.target = target;
    req.body = body;
    req.headers = headers;
    req.ctx = ctx;
    try {
      ClientResponse r = co_await client_.request(std::move(req));
      co_return r;
    } catch (const Error& e) {
      if (!never_sent(e) || tries + 1 == nodes_.size()) throw;
    }
  }
  throw Error(ErrorKind::Unavailable, "upstream_unavailable", "a service is unavailable", "no node to call");
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace dine::http
