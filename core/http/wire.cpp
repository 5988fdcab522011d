#include "core/http/wire.hpp"

#include <cstdint>

namespace dine::http::wire {

std::string_view reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

namespace {

bool header_safe(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; }

}  // namespace

void write_head(std::string& out, const Head& h) {
  out.clear();
  out += "HTTP/1.1 ";
  out += std::to_string(h.status);
  out.push_back(' ');
  out += reason(h.status);
  out += "\r\nContent-Type: ";
  out += h.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(h.content_length);
  if (!h.request_id.empty()) {
    out += "\r\nX-Request-Id: ";
    out += h.request_id;
  }
  if (h.extra != nullptr) {
    for (const auto& [k, v] : *h.extra) {
      if (!header_safe(k) || !header_safe(v)) continue;
      out += "\r\n";
      out += k;
      out += ": ";
      out += v;
    }
  }
  if (!h.keep_alive) out += "\r\nConnection: close";
  else if (h.http10) out += "\r\nConnection: keep-alive";
  out += "\r\n\r\n";
}

}  // namespace dine::http::wire
