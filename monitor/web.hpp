#pragma once
// The web board of `dine health --serve` (docs/health.md, "Web board"): one
// self-contained page that draws the board in the browser from the JSON of
// /api/health, polled every second. Socket-free: the routes are plain
// handlers on a core/http Router; the command owns the Server and the loop.
#include <string>
#include <string_view>

#include "core/http/message.hpp"

namespace dine::http {
class Router;
}

namespace dine::monitor {

struct Snapshot;

// Where --serve listens: "127.0.0.1:8090", "[::1]:0", "localhost:8090", or a
// bare port ("8090": 127.0.0.1). Throws std::invalid_argument naming the fix.
struct ServeAddress {
  std::string host;  // an IP literal
  int port = 0;      // 0: any free port
  bool loopback = true;
  std::string url(int bound_port) const;  // "http://127.0.0.1:41234/"
};
ServeAddress parse_serve_address(std::string_view text);

// The page: HTML with its CSS and JS inline, nothing fetched but /api/health.
std::string_view web_page();

class WebBoard {
 public:
  explicit WebBoard(std::string topology);

  // After every round: the JSON /api/health serves until the next one.
  void update(const Snapshot& s);

  http::Response page() const;  // GET /
  http::Response api() const;   // GET /api/health: 503 until the first round is done

  // GET / and GET /api/health; the board outlives the router.
  void add_routes(http::Router& router) const;

 private:
  std::string page_;
  std::string json_;
};

}  // namespace dine::monitor
