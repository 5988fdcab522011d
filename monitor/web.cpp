#include "monitor/web.hpp"

#include <charconv>
#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/router.hpp"
#include "monitor/monitor.hpp"

namespace dine::monitor {
namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

[[noreturn]] void bad_address(std::string_view text, std::string_view why) {
  throw std::invalid_argument(fmt::format(
      "--serve {}: {}; fix: give HOST:PORT with an IP address, e.g. 127.0.0.1:8090 (port 0: any free port)", text,
      why));
}

// Answers on the board's loop: nothing to wait for, the handler is done at once.
Task<http::Response> answer(http::Response r) { co_return r; }

}  // namespace

std::string ServeAddress::url(int bound_port) const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/", v6 ? "[" : "", host, v6 ? "]" : "", bound_port);
}

ServeAddress parse_serve_address(std::string_view text) {
  std::string_view host = "127.0.0.1", port = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      bad_address(text, "an IPv6 address is written [ADDR]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) bad_address(text, "an IPv6 address is written [ADDR]:PORT");
  }
  ServeAddress out;
  const auto* end = port.data() + port.size();
  auto [p, ec] = std::from_chars(port.data(), end, out.port);
  if (port.empty() || ec != std::errc{} || p != end || out.port < 0 || out.port > 65535)
    bad_address(text, fmt::format("'{}' is not a port (0..65535)", port));
  out.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  boost::system::error_code bad;
  const auto ip = boost::asio::ip::make_address(out.host, bad);
  if (bad) bad_address(text, fmt::format("'{}' is not an IP address", host));
  out.loopback = ip.is_loopback();
  return out;
}

WebBoard::WebBoard(std::string topology) : page_(web_page()) {
  const std::string_view mark = "{{TOPOLOGY}}";
  const std::string name = html_escape(topology);
  for (auto at = page_.find(mark); at != std::string::npos; at = page_.find(mark, at + name.size()))
    page_.replace(at, mark.size(), name);
}

void WebBoard::update(const Snapshot& s) { json_ = s.to_json().dump(); }

http::Response WebBoard::page() const {
  auto r = http::Response::text(200, page_, "text/html; charset=utf-8");
  r.headers.emplace_back("Cache-Control", "no-store");
  // The page loads nothing from anywhere: only its own inline script and style, and /api/health.
  r.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
  return r;
}

http::Response WebBoard::api() const {
  http::Response r = json_.empty()
                         ? http::Response::error(503, "no_round_yet", "the first round has not finished yet")
                         : http::Response::text(200, json_, "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

void WebBoard::add_routes(http::Router& router) const {
  const WebBoard* self = this;
  router.get("/", [self](http::Request&) { return answer(self->page()); });
  router.get("/api/health", [self](http::Request&) { return answer(self->api()); });
}

}  // namespace dine::monitor
