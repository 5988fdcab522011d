#pragma once
// Calls to the nodes of one dependency (the order nodes, the coupon nodes...)
// in turn, one client for all. A node that could not even be connected to is
// skipped for the next: nothing of the request was sent, so whatever its
// method, no call is ever made twice. Any other failure (sent and broken, a
// timeout) is the caller's: a POST is never repeated here. Used by the app
// (its basic services), payment (the order role) and coupon (its sweeper).
#include <string>
#include <string_view>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/http/client.hpp"

namespace dine {
struct Node;
}

namespace dine::http {

class NodeRing {
 public:
  NodeRing(Client& client, std::vector<const Node*> nodes);

  // Throws what Client::request throws (dine::Error Unavailable
  // "upstream_unavailable", Timeout "upstream_timeout"), after trying each
  // node at most once; Unavailable "upstream_unavailable" when there is none.
  Task<ClientResponse> call(Context ctx, std::string method, std::string target, std::string body = {},
                            Headers headers = {});

  std::size_t size() const { return nodes_.size(); }

 private:
  Client& client_;
  std::vector<const Node*> nodes_;
  std::size_t next_ = 0;
};

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string url_encode(std::string_view s);

}  // namespace dine::http
