#pragma once
// The app's calls to the basic services (member, store, menu, coupon, order,
// payment): each purpose's nodes in turn (http::NodeRing: a node that could
// not even be connected to is skipped for the next; nothing was sent, so a
// POST is never sent twice). Every call carries the request id and the remaining deadline
// (core/http/client.hpp) and the service credential. A service that cannot be
// reached is 503 dependency_unavailable, one that does not answer in time 504
// upstream_timeout; never an internal address in the answer.
#include <map>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/http/client.hpp"
#include "core/http/nodes.hpp"

namespace dine::app {

class Upstreams {
 public:
  Upstreams(http::Client& client, std::map<std::string, std::vector<const Node*>> nodes);

  // Throws dine::Error 503 dependency_unavailable / 504 upstream_timeout.
  Task<http::ClientResponse> call(Context ctx, const std::string& purpose, std::string method, std::string target,
                                  std::string body = {}, http::Headers headers = {});

 private:
  std::map<std::string, http::NodeRing> rings_;
};

}  // namespace dine::app
