#pragma once
// Socket-free HTTP request and response, so handlers are plain functions that
// unit tests can call without a network (Beast types stay in server.cpp).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/context.hpp"

namespace dine::http {

using Headers = std::vector<std::pair<std::string, std::string>>;
using PathParams = std::vector<std::pair<std::string, std::string>>;

// "a%20b+c" -> "a b c" (with plus_as_space); malformed escapes are kept as they are.
std::string percent_decode(std::string_view s, bool plus_as_space = true);

// Who made a request: set by an authenticating middleware (require_bearer in
// core/http/middleware_auth.hpp) before the handler runs.
struct Principal {
  std::string subject;  // the token's "sub": "user:42", "store:7"
  std::string kind;     // the token's "kind" claim, "user" when absent: "user", "store"
  std::shared_ptr<const nlohmann::json> claims;  // every verified claim
};

struct Request {
  std::string method;      // "GET", "POST", ...
  std::string target;      // raw target, "/v1/orders/12?x=1"
  std::string path;        // "/v1/orders/12"
  std::string query;       // "x=1"
  Headers headers;         // names lower-cased
  std::string body;
  std::string peer;        // the client's IP address ("127.0.0.1"), "" when unknown
  // The request id (X-Request-Id, made when absent) and the deadline (the
  // node's request_timeout_ms, or less when the caller's X-Request-Budget-Ms
  // says so): pass it to every call the handler makes.
  Context ctx;
  PathParams params;       // filled by the router: {"order_id", "12"}
  std::string route;       // the matched pattern, "/v1/orders/{order_id}"
  std::optional<Principal> principal;  // empty unless a middleware authenticated the caller

  std::string_view header(std::string_view name) const;  // "" when absent; name lower-case
  std::string_view param(std::string_view name) const;   // "" when absent
  std::optional<std::string> query_param(std::string_view name) const;  // percent-decoded
};

// The header by which a caller tells how many milliseconds of its own budget
// are left; the callee's deadline is never later than that.
inline constexpr std::string_view kBudgetHeader = "x-request-budget-ms";

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  Headers headers;

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"error": code, "message": message[, "request_id": id]}
  static Response error(int status, std::string_view code, std::string_view message,
                        std::string_view request_id = {});
};

}  // namespace dine::http
