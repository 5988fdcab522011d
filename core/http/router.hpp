#pragma once
// Routes (method, path pattern) to handlers. Patterns are literal segments and
// {name} parameters: "/v1/orders/{order_id}/paid". A dine::Error thrown by a
// handler becomes its JSON error response; anything else becomes a 500 without
// details (the message goes to the log, never to the client).
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/async.hpp"
#include "core/http/message.hpp"

namespace dine::http {

using Handler = std::function<Task<Response>(Request&)>;

// The answer to a handler that threw: a dine::Error of the client's making
// keeps its status, code and message; a failure of a dependency keeps its code
// and plain message and logs its detail with the request id; a deadline that
// passed is 504 request_timeout; anything else is 500 "internal error". Every
// error body carries the request id. Never the text of an unknown exception.
Response error_response(const Request& req, std::exception_ptr failure);

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  void get(std::string pattern, Handler h) { add("GET", std::move(pattern), std::move(h)); }
  void post(std::string pattern, Handler h) { add("POST", std::move(pattern), std::move(h)); }
  // Wraps every route added so far (middleware for a whole role: the node's
  // in-flight cap). Routes added later are not wrapped.
  void wrap_routes(const std::function<Handler(Handler)>& wrap);

  struct Match {
    const Handler* handler = nullptr;  // null: no route
    std::string pattern;               // matched pattern (metrics label); "unmatched" otherwise
    PathParams params;
    bool method_mismatch = false;      // path known, method not: 405
  };
  Match match(std::string_view method, std::string_view path) const;

  // Matches, fills req.params and req.route, runs the handler, maps errors.
  Task<Response> handle(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{x}" segments are parameters
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace dine::http
